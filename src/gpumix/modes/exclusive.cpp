#include "gpumix/modes/exclusive.hpp"

#include "gpumix/modes/process_evidence.hpp"

namespace gpumix::modes {

void ExclusiveMode::setup(const CellContext& cell) {
  if (cell.workloads.size() != 1)
    throw RunError("exclusive cell '" + cell.label + "' must hold one workload, not " +
                   std::to_string(cell.workloads.size()));
}

std::map<std::string, std::string> ExclusiveMode::env_for(const spec::Workload&) const { return {}; }

nlohmann::json ExclusiveMode::evidence(const std::vector<RunningProcess>& running) {
  auto e = process_evidence(running);
  add_gpu_evidence(e, running, nvml_);
  e["alone"] = running.size() == 1 && (!e["gpu"].value("available", false) || e["gpu"]["other_pids"].empty());
  return e;
}

nlohmann::json ExclusiveMode::teardown() noexcept { return nullptr; }

}  // namespace gpumix::modes
