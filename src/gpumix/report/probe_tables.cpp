#include "gpumix/report/probe_tables.hpp"

#include <algorithm>
#include <map>

#include "gpumix/analysis/stats.hpp"

namespace gpumix::report {
namespace {

std::optional<double> median_of(const std::vector<std::optional<double>>& values) {
  std::vector<double> v;
  for (const auto& x : values)
    if (x) v.push_back(*x);
  return analysis::percentile(v, 50);
}

// (max − min) ÷ mean in percent; nothing with fewer than two values.
std::optional<double> spread_percent(const std::vector<std::optional<double>>& values) {
  std::vector<double> v;
  for (const auto& x : values)
    if (x) v.push_back(*x);
  if (v.size() < 2) return std::nullopt;
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  const double m = *analysis::mean(v);
  if (m == 0) return std::nullopt;
  return (*hi - *lo) / m * 100.0;
}

template <typename Row, typename Key>
std::vector<std::pair<Key, std::vector<const Row*>>> grouped(const std::vector<Row>& rows, Key (*key)(const Row&)) {
  std::vector<std::pair<Key, std::vector<const Row*>>> out;
  for (const auto& r : rows) {
    auto k = key(r);
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& p) { return p.first == k; });
    if (it == out.end()) out.push_back({k, {&r}});
    else it->second.push_back(&r);
  }
  return out;
}

using ModeCount = std::pair<std::string, int>;
ModeCount slice_key(const probe::TimesliceRow& r) { return {r.mode, r.processes}; }
ModeCount slowdown_key(const probe::SlowdownRow& r) { return {r.mode, r.others}; }

}  // namespace

Table timeslice_table(const std::vector<probe::TimesliceRow>& rows) {
  Table t;
  t.columns = {"mode", "processes", "repeats", "slice_p10_us", "slice_p50_us", "slice_p90_us", "gap_p50_us",
               "switch_overhead_us", "switches", "efficiency", "concurrency", "slice_spread_pct", "note"};
  for (const auto& [key, group] : grouped(rows, &slice_key)) {
    std::vector<std::optional<double>> p10, p50, p90, gap, ovh, eff, conc;
    int64_t switches = 0;
    std::string note;
    int valid = 0;
    for (const auto* r : group) {
      if (!r->valid) {
        if (note.empty()) note = r->note;
        continue;
      }
      ++valid;
      p10.push_back(r->slice_p10_us), p50.push_back(r->slice_p50_us), p90.push_back(r->slice_p90_us);
      gap.push_back(r->gap_p50_us), ovh.push_back(r->overhead_p50_us);
      eff.push_back(r->efficiency), conc.push_back(r->concurrency);
      switches += r->switches;
      if (note.empty()) note = r->note;
    }
    t.add({key.first, int64_t{key.second}, int64_t{valid}, opt(median_of(p10)), opt(median_of(p50)), opt(median_of(p90)),
           opt(median_of(gap)), opt(median_of(ovh)), valid ? Value(switches / valid) : Value{}, opt(median_of(eff)),
           opt(median_of(conc)), opt(spread_percent(p50)), note});
  }
  t.precision = 3;
  return t;
}

Table slowdown_table(const std::vector<probe::SlowdownRow>& rows) {
  Table t;
  t.columns = {"mode", "others", "repeats", "kernels_per_s_alone", "kernels_per_s_shared", "slowdown", "fair_share",
               "throughput", "slowdown_spread_pct"};
  for (const auto& [key, group] : grouped(rows, &slowdown_key)) {
    std::vector<std::optional<double>> alone, shared, slow, thr;
    for (const auto* r : group) {
      alone.push_back(r->rate_alone), shared.push_back(r->rate_shared), slow.push_back(r->slowdown);
      thr.push_back(r->throughput);
    }
    t.add({key.first, int64_t{key.second}, int64_t(group.size()), opt(median_of(alone)), opt(median_of(shared)),
           opt(median_of(slow)), int64_t{key.second + 1}, opt(median_of(thr)), opt(spread_percent(slow))});
  }
  t.precision = 3;
  return t;
}

Table isolation_table(const std::vector<probe::IsolationRow>& rows) {
  Table t;
  t.columns = {"mode", "case", "variant", "isolated", "value", "unit", "outcome"};
  for (const auto& r : rows)
    t.add({r.mode, r.case_name, r.variant, r.isolated ? Value(*r.isolated) : Value{}, opt(r.value), r.unit, r.outcome});
  t.precision = 3;
  return t;
}

}  // namespace gpumix::report
