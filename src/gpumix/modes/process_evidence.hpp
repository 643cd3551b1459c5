// Evidence any mode can gather from the operating system: which workload
// processes were alive at the moment of looking, each in its own process.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "gpumix/modes/mode.hpp"

namespace gpumix::modes {

// {"processes":[{"workload":..,"pid":..,"alive":true}], "alive": N, "distinct_pids": true}
nlohmann::json process_evidence(const std::vector<RunningProcess>& running);

}  // namespace gpumix::modes
