// The tables `gpumix show`, `gpumix run` and `gpumix export` print.
#pragma once

#include <vector>

#include "gpumix/analysis/summary.hpp"
#include "gpumix/report/table.hpp"
#include "gpumix/store/store.hpp"

namespace gpumix::report {

// One row per workload per cell: status, throughput, latency, SLOs, memory.
Table summary_table(const std::vector<analysis::WorkloadSummary>& summaries);
Table runs_table(const std::vector<store::RunRow>& runs, const std::vector<int>& cell_counts);
Table cells_table(const std::vector<store::CellRow>& cells);
Table workloads_table(const std::vector<store::WorkloadRow>& workloads);
Table events_table(const std::vector<store::EventRow>& events);

}  // namespace gpumix::report
