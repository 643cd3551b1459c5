#include "gpumix/modes/exclusive.hpp"

#include "gpumix/modes/process_evidence.hpp"

#include <algorithm>

namespace gpumix::modes {

void ExclusiveMode::setup(const CellContext& cell) {
  // One workload, plus the servers it needs (a client's baseline, run/plan.cpp).
  const auto others = std::count_if(cell.workloads.begin(), cell.workloads.end(),
                                    [](const spec::Workload* w) { return w->role != spec::Role::server; });
  if (cell.workloads.empty() || others > 1)
    throw RunError("exclusive cell '" + cell.label + "' must hold one workload (and the servers it starts after), not " +
                   std::to_string(cell.workloads.size()));
}

std::map<std::string, std::string> ExclusiveMode::env_for(const spec::Workload&) const { return {}; }

nlohmann::json ExclusiveMode::evidence(const std::vector<RunningProcess>& running) {
  auto e = process_evidence(running);
  add_gpu_evidence(e, running, nvml_);
  // Alone: nothing on the GPU but the cell's own processes (a client's baseline also holds its server).
  e["alone"] = !e["gpu"].value("available", false) || e["gpu"]["other_pids"].empty();
  return e;
}

nlohmann::json ExclusiveMode::teardown() noexcept { return nullptr; }

}  // namespace gpumix::modes
