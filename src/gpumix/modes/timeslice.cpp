#include "gpumix/modes/timeslice.hpp"

#include "gpumix/modes/process_evidence.hpp"

namespace gpumix::modes {

void TimesliceMode::setup(const CellContext& cell) { expected_ = cell.workloads.size(); }

std::map<std::string, std::string> TimesliceMode::env_for(const spec::Workload&) const { return {}; }

nlohmann::json TimesliceMode::evidence(const std::vector<RunningProcess>& running) {
  auto e = process_evidence(running);
  // Time slicing needs each workload in a process (context) of its own, all
  // alive together.
  e["separate_processes"] = e["distinct_pids"].get<bool>() && e["alive"].get<int>() == static_cast<int>(expected_);
  return e;
}

void TimesliceMode::teardown() noexcept {}

}  // namespace gpumix::modes
