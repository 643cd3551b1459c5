#include "gpumix/tune/answer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace gpumix::tune {

namespace {

std::string owner_of(const std::string& workload, const std::map<std::string, std::string>& owners) {
  auto it = owners.find(workload);
  return it == owners.end() ? workload : it->second;
}

std::optional<double> objective_value(const analysis::ModeAnalysis& m, const Objective& o) {
  switch (o.kind) {
    case Objective::Kind::stp: return m.stp.mean;
    case Objective::Kind::min_np: {
      std::optional<double> lowest;
      for (const auto& w : m.workloads)
        if (w.role != spec::Role::client && w.np.mean) lowest = std::min(lowest.value_or(*w.np.mean), *w.np.mean);
      return lowest;
    }
    case Objective::Kind::throughput:
      if (const auto* w = m.workload(o.workload)) return w->np.mean;
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

Outcome outcome_of(const analysis::Analysis& a, const std::string& mode, const Objective& objective,
                   const std::map<std::string, std::string>& slo_owners) {
  Outcome o;
  const auto* m = a.mode(mode);
  if (!m || !m->measured()) {
    o.why_not = m && m->skipped() ? "skipped: " + m->skip_reason : "not measured";
    return o;
  }
  if (!m->disqualifications.empty()) {
    o.why_not = m->disqualifications.front();
    return o;
  }
  const auto value = objective_value(*m, objective);
  if (!value) {
    o.why_not = "no " + objective.text() + " could be measured";
    return o;
  }
  o.measured = true;
  o.objective = *value;
  for (const auto* v : m->slos()) {
    const auto owner = owner_of(v->workload, slo_owners);
    double e = v->excess().value_or(std::numeric_limits<double>::infinity());  // unmeasured: as bad as can be
    if (!v->met && e <= 0) e = std::numeric_limits<double>::min();  // a repeat broke it or went unmeasured
    auto [it, fresh] = o.slo_excess.emplace(owner, e);
    if (!fresh) it->second = std::max(it->second, e);
  }
  return o;
}

const CandidateRow* Answer::row(const std::string& mode) const {
  for (const auto& r : rows)
    if (r.mode == mode) return &r;
  return nullptr;
}

Answer answer(const analysis::Analysis& a, const TuneRecord& record) {
  Answer out;
  out.objective = record.objective;
  auto add = [&](const std::string& mode, const std::string& kind, const TrialRecord* trial) {
    CandidateRow r;
    r.mode = mode;
    r.kind = kind;
    r.settings = trial ? trial->settings : "";
    if (trial && trial->status == to_string(Trial::Status::pruned)) {
      r.status = "pruned";
      r.note = trial->reason;
      out.rows.push_back(std::move(r));
      return;
    }
    const auto* m = a.mode(mode);
    const auto outcome = outcome_of(a, mode, record.objective, record.slo_owners);
    r.status = m && m->measured() ? "measured" : "not measured";
    if (!outcome.measured) r.note = outcome.why_not;
    if (m) {
      r.repeats = m->cells_run - m->cells_skipped;
      r.stp = m->stp;
      for (const auto& w : m->workloads)
        if (w.role != spec::Role::client) r.np[w.workload] = w.np.mean;
      for (const auto* v : m->slos()) {
        if (!v->worst_ms || v->limit_ms <= 0) continue;
        const double headroom = 1 - *v->worst_ms / v->limit_ms;
        if (!r.headroom || headroom < *r.headroom) {
          r.headroom = headroom;
          r.tightest_slo = v->label();
        }
        if (!v->met && r.note.empty())
          r.note = fmt::format("missed {}: {:.3g} ms ({:+.0f}%)", v->label(), *v->worst_ms, (*v->worst_ms / v->limit_ms - 1) * 100);
      }
    }
    if (outcome.measured) r.objective = outcome.objective;
    r.feasible = outcome.feasible();
    out.rows.push_back(std::move(r));
  };
  for (const auto& c : record.controls) add(c, "control", nullptr);
  for (const auto& t : record.trials)
    if (std::find(record.controls.begin(), record.controls.end(), t.mode) == record.controls.end()) add(t.mode, "candidate", &t);

  // The Pareto front: no other measured row has as much STP and as much headroom, and more of one.
  for (auto& r : out.rows) {
    if (!r.stp.mean || r.status != "measured") continue;
    const double h = r.headroom.value_or(0);
    r.on_front = std::none_of(out.rows.begin(), out.rows.end(), [&](const CandidateRow& o) {
      if (&o == &r || !o.stp.mean || o.status != "measured") return false;
      const double oh = o.headroom.value_or(0);
      return *o.stp.mean >= *r.stp.mean && oh >= h && (*o.stp.mean > *r.stp.mean || oh > h);
    });
  }

  const CandidateRow* best = nullptr;
  for (const auto& r : out.rows)
    if (r.feasible && r.objective && (!best || *r.objective > *best->objective)) best = &r;
  const std::string what = record.objective.text();
  if (best) {
    out.best = best->mode;
    const CandidateRow* best_control = nullptr;
    for (const auto& r : out.rows)
      if (r.kind == "control" && r.feasible && r.objective && (!best_control || *r.objective > *best_control->objective))
        best_control = &r;
    if (best->kind == "control")
      out.verdict = fmt::format("{} meets every SLO with the highest {} ({:.3g}): no MPS setting tried did better", best->mode, what,
                                *best->objective);
    else if (best_control)
      out.verdict = fmt::format("{} meets every SLO with {} {:.3g}, {:+.0f}% over the better control that meets them ({}, {:.3g})",
                                best->mode, what, *best->objective, (*best->objective / *best_control->objective - 1) * 100,
                                best_control->mode, *best_control->objective);
    else
      out.verdict = fmt::format("{} meets every SLO with {} {:.3g}; no control meets them", best->mode, what, *best->objective);
  } else {
    const CandidateRow* closest = nullptr;
    for (const auto& r : out.rows)
      if (r.headroom && (!closest || *r.headroom > *closest->headroom)) closest = &r;
    out.verdict = closest ? fmt::format("no configuration measured meets every SLO; the closest is {} ({})", closest->mode,
                                        closest->note.empty() ? closest->tightest_slo : closest->note)
                          : "no configuration could be measured";
  }
  for (const auto& r : out.rows) {
    if (r.kind != "control") continue;
    if (out.best && r.mode == *out.best)
      out.control_notes.push_back(r.mode + ": the best");
    else if (!r.objective)
      out.control_notes.push_back(r.mode + ": " + (r.note.empty() ? "not measured" : r.note));
    else if (!r.feasible)
      out.control_notes.push_back(r.mode + ": " + r.note);
    else if (best)
      out.control_notes.push_back(fmt::format("{}: meets every SLO, but {} {:.3g} is {:.0f}% below the best", r.mode, what, *r.objective,
                                              (1 - *r.objective / *best->objective) * 100));
  }
  return out;
}

}  // namespace gpumix::tune
