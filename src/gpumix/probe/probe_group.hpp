// A group of gpumix-probe processes sharing the GPU under one mode: the mode
// is set up for the group (its own cell folder; ModeSession: torn down on
// every way out), each process gets the mode's environment for its name and
// the run token (the orphan guard's), starts in its own process group, and
// the group's processes are lined up by a file barrier: each creates its
// `ready` file once initialized and starts measuring when the `go` file
// appears. Destroying the group kills what still runs, then tears the mode down.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/modes/mode.hpp"
#include "gpumix/modes/registry.hpp"
#include "gpumix/run/launcher.hpp"
#include "gpumix/spec/mix.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix {
class StopSignals;
}

namespace gpumix::probe {

// Ctrl-C (or SIGTERM) while probes ran.
class ProbeInterrupted : public RunError {
 public:
  using RunError::RunError;
};

// What every probe needs: the program, where its files go, the GPU and token.
struct ProbeEnv {
  std::filesystem::path probe_exe;
  std::filesystem::path work_dir;
  modes::ModeContext context;
  const StopSignals* signals = nullptr;
  // The results folder where a telemetry::Sampler stores the NVML events
  // (Xid errors) of the probe session; empty when none watches.
  std::filesystem::path results_dir;
};

struct ProbeSpec {
  std::string name;  // unique in the group; also the mode's workload name
  std::string role;
  std::vector<std::string> args;
  spec::MpsOptions mps;  // its limits under MPS
  bool ready = true;     // creates a ready file once initialized
  bool go = true;        // then waits for the go file
};

struct ProbeOutcome {
  std::string name;
  std::optional<int> exit_code, signal;
  bool timed_out = false;
  nlohmann::json out;  // what the probe wrote (null when nothing)
  std::string stderr_tail;

  bool ok() const { return exit_code == 0 && out.is_object() && out.value("ok", false); }
  // The probe's CUDA error, or how it ended when it wrote none.
  std::string error() const;
  // Evidence: exit, signal, error strings, timings; large arrays left out.
  nlohmann::json evidence() const;
};

class ProbeGroup {
 public:
  // Throws modes::ModeUnavailable when the mode cannot be used here.
  ProbeGroup(const ProbeEnv& env, const std::string& mode, const std::string& label, const std::vector<ProbeSpec>& specs);
  ~ProbeGroup();
  ProbeGroup(const ProbeGroup&) = delete;
  ProbeGroup& operator=(const ProbeGroup&) = delete;

  const std::filesystem::path& dir() const { return dir_; }

  // Starts the spec named `name` (from the constructor's list), as file `file`
  // (default: the name; a second start of one spec needs another).
  void start(const std::string& name, const std::string& file = "");
  // Waits until every started process with a ready file has created it (or
  // exited). Throws RunError after `timeout`.
  void wait_ready(std::chrono::milliseconds timeout);
  void go();
  // Waits for the process started as `file` to exit; kills it after `timeout`.
  ProbeOutcome wait(const std::string& file, std::chrono::milliseconds timeout);
  // Every process still running, in start order.
  std::vector<ProbeOutcome> wait_all(std::chrono::milliseconds timeout);
  // SIGTERM, then waits (SIGKILL after 5 s).
  ProbeOutcome stop(const std::string& file);
  // The mode's proof that it took effect, taken now.
  nlohmann::json evidence();
  // Tears the mode down now; returns its report.
  nlohmann::json finish();

 private:
  struct Running;
  void check_signals() const;

  const ProbeEnv& env_;
  std::filesystem::path dir_;
  std::vector<spec::Workload> workloads_;
  std::map<std::string, ProbeSpec> specs_;
  std::unique_ptr<modes::Mode> mode_;
  std::unique_ptr<modes::ModeSession> session_;
  std::vector<std::unique_ptr<Running>> running_;  // destroyed first: kills before teardown
};

}  // namespace gpumix::probe
