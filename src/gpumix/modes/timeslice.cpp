#include "gpumix/modes/timeslice.hpp"

#include "gpumix/modes/process_evidence.hpp"

namespace gpumix::modes {

void TimesliceMode::setup(const CellContext& cell) { expected_ = cell.workloads.size(); }

std::map<std::string, std::string> TimesliceMode::env_for(const spec::Workload&) const { return {}; }

nlohmann::json TimesliceMode::evidence(const std::vector<RunningProcess>& running) {
  auto e = process_evidence(running);
  add_gpu_evidence(e, running, nvml_);
  // Time slicing needs each workload in a process (context) of its own, all
  // alive together; with NVML, each a compute process of its own.
  bool separate = e["distinct_pids"].get<bool>() && e["alive"].get<int>() == static_cast<int>(expected_);
  if (e["gpu"].value("available", false)) separate = separate && e["gpu"]["separate_gpu_processes"].get<bool>();
  e["separate_processes"] = separate;
  return e;
}

nlohmann::json TimesliceMode::teardown() noexcept { return nullptr; }

}  // namespace gpumix::modes
