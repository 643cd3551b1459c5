#include "gpumix/report/plan_view.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "gpumix/util/text.hpp"
#include "gpumix/util/units.hpp"

namespace gpumix::report {

namespace {

std::vector<std::string> workload_names(const spec::Mix& mix, const run::Cell& c) {
  std::vector<std::string> names;
  for (size_t wi : c.workloads) names.push_back(mix.workloads[wi].name);
  return names;
}

const char* kind(const run::Cell& c) { return c.baseline ? "baseline" : "shared"; }

std::string as_duration(double seconds) {
  return format_duration(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds)));
}

}  // namespace

PlanTime plan_time(const spec::Mix& mix, size_t cells) {
  const auto n = static_cast<double>(cells);
  return {to_seconds(mix.cell_duration) * n, to_seconds(mix.setup_timeout) * n};
}

Table plan_table(const spec::Mix& mix, const std::vector<run::Cell>& cells) {
  Table t;
  t.columns = {"index", "label", "mode", "repeat", "kind", "workloads"};
  for (const auto& c : cells)
    t.add({static_cast<int64_t>(c.index), c.label, c.mode, static_cast<int64_t>(c.repeat), std::string(kind(c)),
           join(workload_names(mix, c), ", ")});
  return t;
}

std::string plan_summary(const spec::Mix& mix, const std::vector<run::Cell>& cells) {
  const auto time = plan_time(mix, cells.size());
  std::string text = fmt::format("{} cell(s): measured windows of {} in all, plus each cell's warm-up (at most {} each): at most {}",
                                 cells.size(), as_duration(time.measured_s), format_duration(mix.setup_timeout),
                                 as_duration(time.total_max_s()));
  if (mix.auto_repeats.enabled && cells.size() > 1)
    text += fmt::format("\nrepeats: auto: this is the most that may run (max_repeats {}); the run stops earlier once the answer is clear",
                        mix.auto_repeats.max);
  return text;
}

nlohmann::json plan_json(const spec::Mix& mix, const std::vector<run::Cell>& plan, std::optional<int> selected) {
  const auto cells = selected ? std::vector<run::Cell>{run::cell_at(plan, *selected)} : plan;
  nlohmann::json cells_json = nlohmann::json::array();
  for (const auto& c : cells)
    cells_json.push_back({{"index", c.index},
                          {"label", c.label},
                          {"mode", c.mode},
                          {"repeat", c.repeat},
                          {"kind", kind(c)},
                          {"workloads", workload_names(mix, c)}});
  auto effective = spec::EffectivePlan::of(mix, run::planned_cells(plan));
  effective.selected_cell = selected;
  const auto time = plan_time(mix, cells.size());
  return {{"schema_version", kPlanSchemaVersion},
          {"kind", "gpumix.plan"},
          {"mix", mix.name},
          {"mix_file", mix.source_path.string()},
          {"repeats_auto", mix.auto_repeats.enabled},
          {"selected_cell", selected ? nlohmann::json(*selected) : nlohmann::json(nullptr)},
          {"cells", cells_json},
          {"cell_duration_s", to_seconds(mix.cell_duration)},
          {"setup_timeout_s", to_seconds(mix.setup_timeout)},
          {"measured_s", time.measured_s},
          {"warmup_max_s", time.warmup_max_s},
          {"total_max_s", time.total_max_s()},
          {"effective_plan", effective.to_json()}};
}

}  // namespace gpumix::report
