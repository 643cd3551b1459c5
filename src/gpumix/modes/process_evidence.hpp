// Evidence any mode can gather: which workload processes were alive when
// looked at (from /proc) and, with NVML, which of them (or their children)
// the driver listed as compute processes on a GPU.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "gpumix/modes/mode.hpp"

namespace gpumix::gpu {
class Nvml;
}

namespace gpumix::modes {

// {"processes":[{"workload":..,"pid":..,"alive":true}], "alive": N, "distinct_pids": true}
nlohmann::json process_evidence(const std::vector<RunningProcess>& running);

// Adds to `evidence`: "gpu": {"available": bool, "reason"?, "compute_pids": [...],
// "mps_pids": [...], "workloads": [{"workload", "gpu_pids": [...], "mps_pids": [...]}],
// "other_pids": [...], "every_workload_on_gpu": bool, "separate_gpu_processes": bool}.
void add_gpu_evidence(nlohmann::json& evidence, const std::vector<RunningProcess>& running,
                      const std::shared_ptr<gpu::Nvml>& nvml);

}  // namespace gpumix::modes
