// How a workload's end becomes its status: a pure function of why gpumix
// stopped it (if it did) and how the process ended. Tested as a table.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "gpumix/spec/mix.hpp"
#include "gpumix/store/status.hpp"

namespace gpumix::run {

// Why gpumix asked a workload to stop.
enum class StopCause {
  none,            // it ended by itself
  planned,         // its stop condition (a duration or an iteration count)
  window_end,      // the measured window closed
  timeout,         // its own `timeout`
  not_ready,       // its warm-up did not end within setup_timeout
  warmup_failed,   // another workload was not ready in time: the cell measures nothing
  interrupted,     // gpumix got SIGINT/SIGTERM
};

struct ExitFacts {
  StopCause cause = StopCause::none;
  bool killed = false;  // needed SIGKILL after stop_grace
  std::optional<int> exit_code;
  std::optional<int> signal;
  spec::StopKind stop_kind = spec::StopKind::duration;
  // For the reason's words.
  std::string how;           // "exit status 3", "killed by SIGSEGV", or the launcher's account
  std::string detail;        // its `error` event, else its last stderr line
  std::string stop_grace;    // "10s"
  std::string expected;      // what its stop condition asked ("running until the window closes")
  double ran_s = 0;
  std::string timeout;       // its own, "10m"
  std::string setup_timeout; // "5m"
  std::string window;        // cell_duration, "20s"
  std::string not_ready_hint;  // why it may never have been ready, in words
};

struct StatusDecision {
  store::WorkloadStatus status = store::WorkloadStatus::ok;
  std::string reason;
};

StatusDecision decide_status(const ExitFacts& facts);

// The last non-empty line of a workload's output file (its stderr), for a
// failure reason: only the file's last kOutputTailBytes are read, whatever
// its size; a longer line is shown by its end and marked as cut, and any line
// is shortened to 300 bytes.
inline constexpr size_t kOutputTailBytes = 64 * 1024;
std::string last_output_line(const std::filesystem::path& file);

}  // namespace gpumix::run
