// How a workload is started and stopped. The runner owns time and order; a
// launcher only turns a LaunchRequest into a running Workload handle. The
// process launcher (process_launcher) forks the workload; the container
// launcher (container_launcher) runs it with podman or docker.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/modes/mode.hpp"
#include "gpumix/spec/mix.hpp"

namespace gpumix::run {

struct LaunchRequest {
  std::string name;
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // added to (and overriding) gpumix's own environment
  std::filesystem::path workdir;
  std::filesystem::path stdout_path;
  std::filesystem::path stderr_path;
  int metrics_fd = -1;  // write end of the metrics channel, inherited by the workload
  // The cgroup v2 folder the workload joins before it execs (empty: none;
  // a container has its engine's own).
  std::filesystem::path cgroup;
  // Set for a container workload: its settings and the container's name.
  const spec::ContainerOptions* container = nullptr;
  std::string container_name;
  modes::ContainerNeeds container_needs;  // what the cell's mode asks of the container
};

struct ExitInfo {
  std::optional<int> exit_code;  // set when it exited
  std::optional<int> signal;     // set when a signal ended it
  int64_t peak_rss_kb = 0;        // 0: not known (a container's)
  std::string how;                // when set, says how it ended better than the code does
};

class RunningWorkload {
 public:
  virtual ~RunningWorkload() = default;
  // The workload's process (for a container: its top process on this host,
  // once it runs; the engine client before).
  virtual pid_t pid() const = 0;
  // Non-blocking: the exit, once it has happened.
  virtual std::optional<ExitInfo> poll() = 0;
  // Sends `sig` to the workload and everything it started.
  virtual void signal(int sig) = 0;
};

class Launcher {
 public:
  virtual ~Launcher() = default;
  // Throws RunError (with the reason: program not found, exec failed, ...)
  // when the workload cannot be started.
  virtual std::unique_ptr<RunningWorkload> start(const LaunchRequest& request) = 0;
};

}  // namespace gpumix::run
