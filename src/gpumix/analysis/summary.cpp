#include "gpumix/analysis/summary.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "gpumix/analysis/stats.hpp"

namespace gpumix::analysis {

std::vector<std::pair<double, double>> empirical_cdf(std::vector<double> values) {
  std::vector<std::pair<double, double>> out;
  if (values.empty()) return out;
  std::sort(values.begin(), values.end());
  const double n = static_cast<double>(values.size());
  if (values.size() <= kCdfPoints) {
    for (size_t i = 0; i < values.size(); ++i)
      if (i + 1 == values.size() || values[i + 1] != values[i]) out.emplace_back(values[i], static_cast<double>(i + 1) / n);
    return out;
  }
  // Shares 0.5 %, 1 %, ... 95 %, then 95.5 % ... 99 %, then 99.1 % ... 99.9 %, 99.99 %, and the maximum.
  std::vector<double> shares;
  for (int i = 1; i <= 190; ++i) shares.push_back(i * 0.005);
  for (int i = 1; i <= 8; ++i) shares.push_back(0.95 + i * 0.005);
  for (int i = 1; i <= 9; ++i) shares.push_back(0.99 + i * 0.001);
  shares.push_back(0.9999);
  for (double q : shares) {
    const auto rank = static_cast<size_t>(std::ceil(q * n)) - 1;  // the smallest value with share >= q
    const double v = values[std::min(rank, values.size() - 1)];
    if (!out.empty() && out.back().first == v) out.back().second = q;
    else out.emplace_back(v, q);
  }
  if (out.back().first == values.back()) out.back().second = 1.0;
  else out.emplace_back(values.back(), 1.0);
  return out;
}

std::vector<WorkloadSummary> summarize(const std::vector<store::CellRow>& cells,
                                       const std::vector<store::WorkloadRow>& workloads,
                                       const std::vector<store::EventRow>& events) {
  std::map<int64_t, const store::CellRow*> cell_by_id;
  for (const auto& c : cells) cell_by_id[c.id] = &c;
  std::map<int64_t, std::vector<const store::EventRow*>> events_by_workload;
  for (const auto& e : events) events_by_workload[e.workload_id].push_back(&e);

  std::vector<WorkloadSummary> out;
  for (const auto& w : workloads) {
    WorkloadSummary s;
    s.workload_id = w.id;
    if (auto it = cell_by_id.find(w.cell_id); it != cell_by_id.end()) {
      s.cell = it->second->label;
      s.mode = it->second->mode;
      s.repeat = it->second->repeat;
      s.baseline = it->second->baseline;
    }
    s.name = w.name;
    s.role = w.role;
    s.status = w.status;
    s.reason = w.reason;
    s.exit_code = w.exit_code;
    s.signal = w.signal;
    s.peak_rss_kb = w.peak_rss_kb;
    if (w.started_ns > 0 && w.ended_ns >= w.started_ns) s.wall_s = static_cast<double>(w.ended_ns - w.started_ns) / 1e9;

    auto evs = events_by_workload[w.id];
    std::stable_sort(evs.begin(), evs.end(), [](auto* a, auto* b) { return a->t_ns < b->t_ns; });
    std::optional<int64_t> ready_ns;
    std::vector<const store::EventRow*> iters;
    std::vector<double> step_ms, latencies;
    for (const auto* e : evs) {
      if (e->ev == "ready" && !ready_ns) ready_ns = e->t_ns;
      if (e->ev == "done") s.reported_done = true;
      if (e->ev == "malformed") ++s.malformed;
      if (e->ev == "info") {
        auto j = nlohmann::json::parse(e->data, nullptr, false);
        if (j.is_object() && j.contains("peak_device_mem_bytes") && j["peak_device_mem_bytes"].is_number()) {
          const double v = j["peak_device_mem_bytes"].get<double>();
          if (v >= 0 && v < 9e18) {
            const auto bytes = static_cast<int64_t>(v);
            s.peak_device_mem_bytes = std::max(s.peak_device_mem_bytes.value_or(bytes), bytes);
          }
        }
      }
      if (e->ev == "iter") {
        iters.push_back(e);
        s.samples += e->n.value_or(0);
        if (e->ms) step_ms.push_back(*e->ms);
      }
      if (e->ev == "latency" && e->ms) {
        auto j = nlohmann::json::parse(e->data, nullptr, false);
        bool ok = !(j.is_object() && j.contains("ok") && j["ok"].is_boolean() && !j["ok"].get<bool>());
        if (ok) {
          latencies.push_back(*e->ms);
          ++s.requests;
        } else {
          ++s.request_errors;
        }
      }
    }
    s.reported_ready = ready_ns.has_value();
    s.iterations = static_cast<int64_t>(iters.size());

    // Steady-state window.
    int64_t window_start = 0;
    int64_t window_samples = 0;
    size_t first = 0;
    if (ready_ns) {
      window_start = *ready_ns;
      while (first < iters.size() && iters[first]->t_ns < *ready_ns) ++first;
    } else if (!iters.empty()) {
      window_start = iters[0]->t_ns;
      first = 1;
    }
    for (size_t i = first; i < iters.size(); ++i) window_samples += iters[i]->n.value_or(0);
    if (first < iters.size()) {
      const double secs = static_cast<double>(iters.back()->t_ns - window_start) / 1e9;
      if (secs > 0) s.throughput = static_cast<double>(window_samples) / secs;
    }

    auto steps = percentiles(step_ms, {50, 95, 99});
    s.step_ms_p50 = steps[0];
    s.step_ms_p95 = steps[1];
    s.step_ms_p99 = steps[2];
    auto lat = percentiles(latencies, {50, 90, 95, 99, 99.9});
    s.latency_p50 = lat[0];
    s.latency_p90 = lat[1];
    s.latency_p95 = lat[2];
    s.latency_p99 = lat[3];
    s.latency_p999 = lat[4];
    s.latency_mean = mean(latencies);
    s.latency_cdf = empirical_cdf(latencies);

    auto slos = nlohmann::json::parse(w.slo_json.empty() ? "[]" : w.slo_json, nullptr, false);
    if (slos.is_array()) {
      for (const auto& slo : slos) {
        SloResult r;
        r.percentile = slo.value("percentile", 99.0);
        r.limit_ms = slo.value("ms", 0.0);
        r.actual_ms = percentile(latencies, r.percentile);
        r.attainment = fraction_at_most(latencies, r.limit_ms);
        r.met = r.actual_ms && *r.actual_ms <= r.limit_ms;
        s.slos.push_back(r);
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace gpumix::analysis
