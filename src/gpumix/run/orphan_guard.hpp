// If gpumix itself dies without cleaning up (SIGKILL, a crash), its workloads'
// direct processes die with it (PR_SET_PDEATHSIG), but their own children
// would live on. The guard is a small process forked when a run starts: it
// waits for gpumix to go away (end of file on a pipe only gpumix holds) and
// then kills every process that carries this run's token in its environment
// (GPUMIX_RUN_TOKEN, inherited by everything a workload starts, also by
// children that left its process group), and removes the containers labelled
// with it (run/container_launcher). Before that, it kills the run's cgroup
// (run/cgroup.hpp), which holds every process the workloads started, also
// those that cleared their environment; the token is the fallback where no
// cgroup could be made.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "gpumix/run/cgroup.hpp"

namespace gpumix::run {

class OrphanGuard {
 public:
  // Forks the guard; call before starting threads. `container_engines`: the
  // engines (podman, docker) whose containers it removes.
  explicit OrphanGuard(std::vector<std::string> container_engines = {});
  ~OrphanGuard();  // lets the guard finish and reaps it
  OrphanGuard(const OrphanGuard&) = delete;
  OrphanGuard& operator=(const OrphanGuard&) = delete;

  const std::string& token() const { return token_; }
  pid_t pid() const { return pid_; }
  // The run's cgroup (made before the fork), or why there is none.
  const RunCgroup& cgroup() const { return cgroup_; }

 private:
  std::string token_;
  RunCgroup cgroup_;
  pid_t pid_ = -1;
  int pipe_w_ = -1;
};

// Kills every process whose environment holds `variable=token` (also used by
// the guard); returns how many it killed.
int kill_by_token(const std::string& variable, const std::string& token);

}  // namespace gpumix::run
