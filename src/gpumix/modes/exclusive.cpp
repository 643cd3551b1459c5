// exclusive: the baseline. One workload has the GPU to itself.
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
  e["alone"] = running.size() == 1;
  return e;
}

void ExclusiveMode::teardown() noexcept {}

}  // namespace gpumix::modes
