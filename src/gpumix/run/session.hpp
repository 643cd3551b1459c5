// What every command that starts work on the GPU sets up first (gpumix run,
// gpumix probe), in the order it must happen:
//   1. the orphan guard, forked before anything starts a thread (run/orphan_guard);
//   2. NVML (null on a machine without a usable GPU, with the reason);
//   3. what an earlier, killed gpumix left behind: MPS daemons under
//      `stale_mps_dir`, containers of the mix's engines, processes in its
//      cgroup (run/cgroup.hpp);
//   4. gpumix as the subreaper of everything it starts, so that a daemonized
//      grandchild can still be found and stopped (sweep_adopted).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gpumix/run/orphan_guard.hpp"

namespace gpumix::gpu {
class Nvml;
}

namespace gpumix::run {

class Session {
 public:
  struct Options {
    std::vector<std::string> container_engines;  // whose stale containers to remove (and the guard's)
    std::filesystem::path stale_mps_dir;         // where an earlier run's MPS pipe folders live
  };
  explicit Session(const Options& options);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  OrphanGuard& guard() { return guard_; }
  const std::shared_ptr<gpu::Nvml>& nvml() const { return nvml_; }
  const std::string& why_no_gpu() const { return why_no_gpu_; }
  // Kills what was re-parented to gpumix and is still running (not the
  // guard); returns a description of each.
  std::vector<std::string> sweep_adopted();

 private:
  OrphanGuard guard_;
  std::string why_no_gpu_;
  std::shared_ptr<gpu::Nvml> nvml_;
};

}  // namespace gpumix::run
