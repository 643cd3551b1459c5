// The plan of a run as `gpumix run --dry-run` prints it: each cell in order
// with its index (as --cell-index takes it), mode, repeat, kind and
// workloads, and how long the cells take at most.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <vector>

#include "gpumix/report/table.hpp"
#include "gpumix/run/plan.hpp"
#include "gpumix/spec/mix.hpp"

namespace gpumix::report {

inline constexpr int kPlanSchemaVersion = 1;

// The time `cells` take: their measured windows, plus each one's warm-up at
// most (setup_timeout); what `gpumix validate` says for a whole plan.
struct PlanTime {
  double measured_s = 0;
  double warmup_max_s = 0;
  double total_max_s() const { return measured_s + warmup_max_s; }
};
PlanTime plan_time(const spec::Mix& mix, size_t cells);

// One row per cell: index, label, mode, repeat, kind (baseline, shared), workloads.
Table plan_table(const spec::Mix& mix, const std::vector<run::Cell>& cells);
// The sentence under the table: the cells' time, and with `repeats: auto`
// that the plan shows the most cells that may run.
std::string plan_summary(const spec::Mix& mix, const std::vector<run::Cell>& cells);
// {"schema_version", "kind": "gpumix.plan", the mix, the cells (only
// `selected` when set), their times, and the effective plan a run would
// store}; docs/cli.md describes it.
nlohmann::json plan_json(const spec::Mix& mix, const std::vector<run::Cell>& plan, std::optional<int> selected);

}  // namespace gpumix::report
