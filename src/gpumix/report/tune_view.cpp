#include "gpumix/report/tune_view.hpp"

#include <fmt/format.h>

#include <algorithm>


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

}  // namespace gpumix::report
