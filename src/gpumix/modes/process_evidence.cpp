#include "gpumix/modes/process_evidence.hpp"

#include <algorithm>
#include <set>

#include "gpumix/util/procfs.hpp"
#include "gpumix/gpu/nvml.hpp"

namespace gpumix::modes {

nlohmann::json process_evidence(const std::vector<RunningProcess>& running) {
  nlohmann::json procs = nlohmann::json::array();
  std::set<pid_t> pids;
  int alive = 0;
  for (const auto& p : running) {
    bool a = process_alive(p.pid);
    alive += a ? 1 : 0;
    pids.insert(p.pid);
    procs.push_back({{"workload", p.workload}, {"pid", p.pid}, {"alive", a}});
  }
  return {{"processes", procs}, {"alive", alive}, {"distinct_pids", pids.size() == running.size()}};
}

void add_gpu_evidence(nlohmann::json& evidence, const std::vector<RunningProcess>& running,
                      const std::shared_ptr<gpu::Nvml>& nvml) {
  if (!nvml) {
    evidence["gpu"] = {{"available", false}, {"reason", "NVML is not available on this machine"}};
    return;
  }
  std::set<pid_t> compute, mps;
  try {
    for (int d = 0; d < nvml->device_count(); ++d) {
      for (const auto& p : nvml->compute_processes(d)) compute.insert(static_cast<pid_t>(p.pid));
      for (const auto& p : nvml->mps_compute_processes(d)) mps.insert(static_cast<pid_t>(p.pid));
    }
  } catch (const std::exception& e) {
    evidence["gpu"] = {{"available", false}, {"reason", e.what()}};
    return;
  }
  nlohmann::json workloads = nlohmann::json::array();
  std::set<pid_t> claimed;
  bool every_on_gpu = !running.empty(), separate = true;
  for (const auto& r : running) {
    std::vector<pid_t> on_gpu, on_mps;
    for (pid_t p : with_descendants(r.pid)) {
      if (compute.count(p)) on_gpu.push_back(p);
      if (mps.count(p)) on_mps.push_back(p);
    }
    for (pid_t p : on_gpu) separate = claimed.insert(p).second && separate;
    for (pid_t p : on_mps) claimed.insert(p);
    every_on_gpu = every_on_gpu && (!on_gpu.empty() || !on_mps.empty());
    workloads.push_back({{"workload", r.workload}, {"gpu_pids", on_gpu}, {"mps_pids", on_mps}});
  }
  std::vector<pid_t> others;
  for (pid_t p : compute)
    if (!claimed.count(p)) others.push_back(p);
  evidence["gpu"] = {{"available", true},
                     {"compute_pids", std::vector<pid_t>(compute.begin(), compute.end())},
                     {"mps_pids", std::vector<pid_t>(mps.begin(), mps.end())},
                     {"workloads", workloads},
                     {"other_pids", others},
                     {"every_workload_on_gpu", every_on_gpu},
                     {"separate_gpu_processes", separate && every_on_gpu}};
}

}  // namespace gpumix::modes
