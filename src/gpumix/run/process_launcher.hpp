#pragma once

#include <string>
#include <vector>

#include "gpumix/run/launcher.hpp"

namespace gpumix::run {

// fork/exec with argv (no shell), the workload in a process group of its own,
// stdin from /dev/null, stdout/stderr to files, and SIGKILL to the workload
// if gpumix dies. Destroying a handle whose process still runs kills its
// whole group and reaps it.
class ProcessLauncher final : public Launcher {
 public:
  std::unique_ptr<RunningWorkload> start(const LaunchRequest& request) override;
};

// Makes gpumix the reaper of processes orphaned by its workloads, so that a
// daemonized grandchild can still be found and stopped (see kill_adopted).
void become_subreaper();

// Kills and reaps the processes that were orphaned and re-parented to gpumix
// except `keep` (exited ones are only reaped). Returns the killed ones as
// "pid (command)".
std::vector<std::string> kill_adopted(const std::vector<pid_t>& keep = {});

}  // namespace gpumix::run
