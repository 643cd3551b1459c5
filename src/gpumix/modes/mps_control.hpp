// gpumix's own MPS control daemon: started with private pipe and log folders
// (never the system default /tmp/nvidia-mps), asked questions through
// `nvidia-cuda-mps-control` on stdin, and always stopped.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/modes/mode.hpp"

namespace gpumix::modes {

inline constexpr const char* kMpsControl = "nvidia-cuda-mps-control";
inline constexpr const char* kMpsPidFile = "nvidia-cuda-mps-control.pid";
// A Unix socket path holds at most 107 bytes, and the daemon and its server
// add names of their own to the pipe folder, longer than "/control": on the
// H200 with driver 580 a pipe folder of 82 characters worked and one of 88
// made `nvidia-cuda-mps-control -d` exit 1 without a word (2026-12-01).
inline constexpr size_t kMaxMpsPipeDirLength = 82;
// When the pipe folder asked for is longer (a deep --results folder, a fleet
// pod's /results/<job>/<uid>/cell-N/...), the daemon gets a short private one
// under /tmp instead, removed when it stops, and this file beside the asked
// path names it, so that stop_stale_mps_daemons still finds its daemon.
inline constexpr const char* kMpsPipePathFile = "mps-pipe-path";

// Pure: the PIDs in the control daemon's answer (one number per line or
// separated by spaces; anything else is ignored).
std::vector<pid_t> parse_pid_list(const std::string& text);

// Pure: "0=8192M" for CUDA_MPS_PINNED_DEVICE_MEM_LIMIT (device 0, MiB rounded up).
std::string pinned_memory_limit_value(int64_t bytes, int device = 0);

// Pure: active-thread percentages for mps-split, in proportion to weights,
// each at least 1, rounded down so the sum never exceeds 100.
std::vector<int> split_percentages(const std::vector<double>& weights);

class MpsDaemon {
 public:
  // Throws ModeUnavailable when nvidia-cuda-mps-control is not installed.
  // A `pipe_dir` longer than kMaxMpsPipeDirLength is replaced (see above).
  MpsDaemon(std::filesystem::path pipe_dir, std::filesystem::path log_dir, std::string run_token);
  ~MpsDaemon();  // stop()
  MpsDaemon(const MpsDaemon&) = delete;
  MpsDaemon& operator=(const MpsDaemon&) = delete;

  // Starts the daemon and waits for its pid file. Throws RunError/ModeUnavailable.
  void start();
  // `quit`, then SIGKILL of the daemon and its servers if they are still
  // there after `patience`. Idempotent; never throws. Returns what it did.
  std::string stop(std::chrono::milliseconds patience = std::chrono::seconds(10)) noexcept;

  // Sends one command and returns the answer (stdout).
  std::string command(const std::string& line) const;
  std::vector<pid_t> servers() const;
  std::vector<pid_t> clients(pid_t server) const;

  const std::filesystem::path& pipe_dir() const { return pipe_dir_; }
  const std::filesystem::path& log_dir() const { return log_dir_; }
  std::optional<pid_t> daemon_pid() const;

 private:
  std::string control_;  // path of nvidia-cuda-mps-control
  std::filesystem::path pipe_dir_, log_dir_;
  std::filesystem::path pipe_path_file_;  // set when pipe_dir_ is a private folder under /tmp
  std::string run_token_;
  bool started_ = false;
  std::optional<pid_t> pid_;
};

// Stops MPS daemons left behind by killed gpumix runs: every pid file under
// `runs_dir` (or in the folder a kMpsPipePathFile there names) whose process
// is still an MPS control daemon. Returns the count.
int stop_stale_mps_daemons(const std::filesystem::path& runs_dir);

}  // namespace gpumix::modes
