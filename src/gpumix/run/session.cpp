#include "gpumix/run/session.hpp"

#include <spdlog/spdlog.h>

#include "gpumix/gpu/nvml.hpp"
#include "gpumix/modes/mps_control.hpp"
#include "gpumix/run/cgroup.hpp"
#include "gpumix/run/container_launcher.hpp"
#include "gpumix/run/process_launcher.hpp"

namespace gpumix::run {

Session::Session(const Options& options) : guard_(options.container_engines), nvml_(gpu::Nvml::open(&why_no_gpu_)) {
  if (!options.stale_mps_dir.empty())
    if (int n = modes::stop_stale_mps_daemons(options.stale_mps_dir); n > 0)
      spdlog::warn("stopped {} MPS daemon(s) left running by an earlier, killed gpumix", n);
  for (const auto& engine : options.container_engines)
    if (int n = remove_stale_containers(engine); n > 0)
      spdlog::warn("removed {} {} container(s) left by an earlier, killed gpumix", n, engine);
  if (int n = kill_stale_cgroups(); n > 0)
    spdlog::warn("killed {} process(es) left in the cgroup of an earlier, killed gpumix", n);
  become_subreaper();
}

std::vector<std::string> Session::sweep_adopted() { return kill_adopted({guard_.pid()}); }

}  // namespace gpumix::run
