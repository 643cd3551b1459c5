#include "gpumix/report/mps_view.hpp"

#include "gpumix/util/text.hpp"

namespace gpumix::report {
namespace {

Value mib(const std::optional<int64_t>& bytes) {
  return bytes ? Value(static_cast<double>(*bytes) / (1024.0 * 1024.0)) : Value{};
}

}  // namespace

Table mps_shares_table(const analysis::MpsShares& s) {
  Table t;
  t.columns = {"cell",  "mode", "workload",         "requested_sm_pct", "requested_from", "priority", "delivered_sm_pct",
               "scaled", "np",  "pinned_limit_mib", "memory_peak_mib",  "memory",         "note"};
  for (const auto& r : s.cells)
    t.add({r.cell, r.mode, r.workload, opt(r.requested_sm_percent), std::string(analysis::to_string(r.requested_from)),
           opt(r.priority), opt(r.delivered_sm_percent), r.delivered_sm_percent ? Value(r.scaled) : Value{}, opt(r.np),
           mib(r.pinned_limit_bytes), mib(r.memory_peak_bytes), r.memory.empty() ? Value{} : Value(r.memory),
           r.delivered_missing.empty() ? Value{} : Value(r.delivered_missing)});
  return t;
}

Table mps_share_modes_table(const analysis::MpsShares& s) {
  Table t;
  t.columns = {"mode", "workload", "requested_sm_pct", "requested_from", "cells", "delivered_sm_pct_mean", "np_mean", "np_ci_low",
               "np_ci_high", "memory_above"};
  for (const auto& m : s.modes)
    t.add({m.mode, m.workload, opt(m.requested_sm_percent), std::string(analysis::to_string(m.requested_from)),
           static_cast<int64_t>(m.cells), opt(m.delivered_sm_percent.mean), opt(m.np.mean), opt(m.np.ci_low), opt(m.np.ci_high),
           static_cast<int64_t>(m.memory_above)});
  return t;
}

Table priority_table(const std::vector<analysis::PriorityEffect>& effects) {
  Table t;
  t.columns = {"slo",         "owner",   "lowered",   "mode_without",         "mode_with",          "p99_without_ms",
               "p99_with_ms", "slo_without", "slo_with", "neighbours_np_without", "neighbours_np_with"};
  for (const auto& e : effects)
    t.add({e.slo, e.owner, join(e.lowered, ", "), e.mode_without, e.mode_with, opt(e.p99_without_ms), opt(e.p99_with_ms),
           e.verdict_without, e.verdict_with, opt(e.neighbours_np_without),
           opt(e.neighbours_np_with)});
  return t;
}

nlohmann::json mps_shares_json(const analysis::MpsShares& s) {
  return {{"cells", table_json(mps_shares_table(s))}, {"modes", table_json(mps_share_modes_table(s))}};
}

}  // namespace gpumix::report
