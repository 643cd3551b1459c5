#include "gpumix/report/tune_view.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "gpumix/spec/effective_plan.hpp"


namespace gpumix::report {

namespace {
std::vector<std::string> np_columns(const tune::Answer& a) {
  std::vector<std::string> names;
  for (const auto& r : a.rows)
    for (const auto& [w, _] : r.np)
      if (std::find(names.begin(), names.end(), w) == names.end()) names.push_back(w);
  return names;
}
}  // namespace

Table tune_table(const tune::Answer& a) {
  Table t;
  const auto workloads = np_columns(a);
  t.columns = {"mode", "kind", "settings", "status", "repeats", "stp", "stp_ci_low", "stp_ci_high", a.objective.text(), "headroom_pct",
               "meets_slos", "front"};
  if (a.objective.kind == tune::Objective::Kind::stp) t.columns.erase(t.columns.begin() + 8);
  for (const auto& w : workloads) t.columns.push_back("np_" + w);
  t.columns.push_back("note");
  for (const auto& r : a.rows) {
    std::vector<Value> row = {r.mode, r.kind, r.settings, r.status, static_cast<int64_t>(r.repeats), opt(r.stp.mean),
                              opt(r.stp.ci_low), opt(r.stp.ci_high)};
    if (a.objective.kind != tune::Objective::Kind::stp) row.push_back(opt(r.objective));
    row.push_back(r.headroom ? Value(*r.headroom * 100) : Value());
    row.push_back(r.status == "measured" ? Value(r.feasible) : Value());
    row.push_back(r.status == "measured" ? Value(r.on_front) : Value());
    for (const auto& w : workloads) {
      auto it = r.np.find(w);
      row.push_back(it == r.np.end() ? Value() : opt(it->second));
    }
    row.push_back(r.note);
    t.add(std::move(row));
  }
  return t;
}

std::string tune_summary(const tune::Answer& a, const tune::TuneRecord& record) {
  std::string out = (a.best ? "best: " : "answer: ") + a.verdict + "\n";
  for (const auto& n : a.control_notes) out += "  control " + n + "\n";
  if (!record.stopped_because.empty()) out += "search stopped: " + record.stopped_because + "\n";
  if (!record.confirmed.empty()) out += fmt::format("measured again with fresh baselines: {}\n", fmt::join(record.confirmed, ", "));
  return out;
}

nlohmann::json tune_json(const tune::Answer& a, const tune::TuneRecord& record) {
  return {{"objective", a.objective.text()},
          {"best", a.best ? nlohmann::json(*a.best) : nlohmann::json(nullptr)},
          {"verdict", a.verdict},
          {"controls", a.control_notes},
          {"stopped_because", record.stopped_because},
          {"confirmed", record.confirmed},
          {"budget_s", record.budget_s ? nlohmann::json(*record.budget_s) : nlohmann::json(nullptr)},
          {"elapsed_s", record.elapsed_s ? nlohmann::json(*record.elapsed_s) : nlohmann::json(nullptr)},
          {"candidates", table_json(tune_table(a))}};
}

std::optional<TunedRun> tuned_run(const analysis::Analysis& a) {
  const auto plan = spec::EffectivePlan::from_json(a.run.plan_json);
  if (plan.search_json.empty()) return std::nullopt;
  auto record = tune::TuneRecord::from_json_text(plan.search_json);
  if (!record) return std::nullopt;
  auto answer = tune::answer(a, *record);
  return TunedRun{std::move(*record), std::move(answer)};
}

std::string tune_versus_recommendation(const tune::Answer& a, const analysis::Recommendation& rec) {
  const std::string objective = a.objective.text();
  if (a.best && rec.mode && *a.best == *rec.mode)
    return fmt::format("The tuning answer and the recommendation agree: {}.", *a.best);
  if (a.best)
    return fmt::format(
        "The tuning answer is {}: of the configurations that meet every SLO, the one with the highest {} (the search's "
        "objective). The recommendation ranks by STP and also asks for every workload's NP and a margin beyond noise: {}.",
        *a.best, objective, rec.mode ? "it names " + *rec.mode : "it names no mode (" + analysis::to_string(rec.no_mode) + ")");
  if (rec.mode)
    return fmt::format(
        "The tuning answer names no configuration (none meets every SLO by its worst repeat against the limit), while the "
        "recommendation names {}: see its verdict for the SLOs it counts.",
        *rec.mode);
  return "Neither the tuning answer nor the recommendation names a configuration: none meets every SLO.";
}

}  // namespace gpumix::report
