#include "gpumix/analysis/summary.hpp"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <limits>
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

namespace {

// Samples processed by time t, each step's samples spread evenly over the
// step (from the previous iter event to this one): a piecewise-linear count,
// so a window's edges cut steps in proportion.
class Progress {
 public:
  explicit Progress(const std::vector<const store::EventRow*>& iters) {
    double total = 0;
    for (const auto* e : iters) {
      total += static_cast<double>(e->n.value_or(0));
      points_.emplace_back(e->t_ns, total);
    }
  }
  // Before the first event nothing counts: its step began at an unknown time.
  double at(int64_t t) const {
    if (points_.empty() || t <= points_.front().first) return 0;
    auto it = std::lower_bound(points_.begin(), points_.end(), t, [](const auto& p, int64_t v) { return p.first < v; });
    if (it == points_.end()) return points_.back().second;
    const auto& [t1, c1] = *it;
    const auto& [t0, c0] = *(it - 1);
    if (t1 == t0) return c1;
    return c0 + (c1 - c0) * static_cast<double>(t - t0) / static_cast<double>(t1 - t0);
  }
  // Samples in (a, b] as a rate.
  std::optional<double> rate(int64_t a, int64_t b) const {
    if (b <= a) return std::nullopt;
    return (at(b) - at(a)) / (static_cast<double>(b - a) / 1e9);
  }

 private:
  std::vector<std::pair<int64_t, double>> points_;  // (t, samples by then)
};

struct Span {
  int64_t start = 0, end = 0;
  double seconds() const { return static_cast<double>(end - start) / 1e9; }
};

// The part of the cell's window the workload ran: the window, from its own
// start when later, to its own end when earlier.
std::optional<Span> measured_span(const store::CellRow& c, const store::WorkloadRow& w, int64_t last_event_ns) {
  if (c.window_start_ns <= 0 || w.started_ns <= 0) return std::nullopt;
  Span s;
  s.start = std::max(c.window_start_ns, w.ready_ns > 0 ? w.ready_ns : w.started_ns);
  // An open window (gpumix died in it) ends with what was recorded.
  s.end = c.window_end_ns > 0 ? c.window_end_ns : std::max(w.ended_ns, last_event_ns);
  if (w.ended_ns > 0) s.end = std::min(s.end, w.ended_ns);
  if (s.end <= s.start) return std::nullopt;
  return s;
}

}  // namespace

std::vector<WorkloadSummary> summarize(const std::vector<store::CellRow>& cells,
                                       const std::vector<store::WorkloadRow>& workloads,
                                       const std::vector<store::EventRow>& events, const spec::EvidenceGates& gates) {
  std::map<int64_t, const store::CellRow*> cell_by_id;
  for (const auto& c : cells) cell_by_id[c.id] = &c;
  std::map<int64_t, std::vector<const store::EventRow*>> events_by_workload;
  for (const auto& e : events) events_by_workload[e.workload_id].push_back(&e);

  std::vector<WorkloadSummary> out;
  for (const auto& w : workloads) {
    WorkloadSummary s;
    s.workload_id = w.id;
    const store::CellRow* cell = nullptr;
    if (auto it = cell_by_id.find(w.cell_id); it != cell_by_id.end()) {
      cell = it->second;
      s.cell = cell->label;
      s.mode = cell->mode;
      s.repeat = cell->repeat;
      s.baseline = cell->baseline;
    }
    s.name = w.name;
    s.role = w.role;
    s.status = w.status;
    s.reason = w.reason;
    s.exit_code = w.exit_code;
    s.signal = w.signal;
    s.peak_rss_kb = w.peak_rss_kb;
    if (w.started_ns > 0 && w.ended_ns >= w.started_ns) s.wall_s = static_cast<double>(w.ended_ns - w.started_ns) / 1e9;
    if (w.ready_ns > 0 && w.started_ns > 0 && w.ready_ns >= w.started_ns)
      s.ready_s = static_cast<double>(w.ready_ns - w.started_ns) / 1e9;

    auto evs = events_by_workload[w.id];
    std::stable_sort(evs.begin(), evs.end(), [](auto* a, auto* b) { return a->t_ns < b->t_ns; });
    std::optional<int64_t> ready_ns;
    std::vector<const store::EventRow*> iters;
    std::vector<std::pair<int64_t, double>> latency_events;  // (t, ms) of successful requests
    std::vector<std::pair<int64_t, double>> ttft_events, tpot_events;  // (t, ms) of those that streamed tokens
    std::vector<int64_t> error_times;
    std::vector<std::pair<int64_t, int64_t>> drops;  // (t, events dropped in the second before t)
    for (const auto* e : evs) {
      if (e->ev == "ready" && !ready_ns) ready_ns = e->t_ns;
      if (e->ev == "done") s.reported_done = true;
      if (e->ev == "malformed") ++s.malformed;
      if (e->ev == "dropped") drops.emplace_back(e->t_ns, e->n.value_or(0));
      if (e->ev == "info") {
        auto j = nlohmann::json::parse(e->data, nullptr, false);
        if (j.is_object() && j.contains("effective_config") && j["effective_config"].is_string())
          s.effective_config = j["effective_config"].get<std::string>();
        if (j.is_object() && j.contains("peak_device_mem_bytes") && j["peak_device_mem_bytes"].is_number()) {
          const double v = j["peak_device_mem_bytes"].get<double>();
          if (v >= 0 && v < 9e18) {
            const auto bytes = static_cast<int64_t>(v);
            s.peak_device_mem_bytes = std::max(s.peak_device_mem_bytes.value_or(bytes), bytes);
          }
        }
      }
      if (e->ev == "iter") iters.push_back(e);
      if (e->ev == "latency" && e->ms) {
        auto j = nlohmann::json::parse(e->data, nullptr, false);
        const bool ok = !(j.is_object() && j.contains("ok") && j["ok"].is_boolean() && !j["ok"].get<bool>());
        if (ok) {
          latency_events.emplace_back(e->t_ns, *e->ms);
          if (e->ttft_ms) ttft_events.emplace_back(e->t_ns, *e->ttft_ms);
          if (e->tpot_ms) tpot_events.emplace_back(e->t_ns, *e->tpot_ms);
        } else {
          error_times.push_back(e->t_ns);
        }
      }
    }
    s.reported_ready = ready_ns.has_value();
    s.iterations_total = static_cast<int64_t>(iters.size());
    if (cell && cell->window_start_ns > 0 && ready_ns && *ready_ns > cell->window_start_ns && w.ready_ns > 0 &&
        w.ready_ns < *ready_ns - 1'000'000)
      s.late_ready_s = static_cast<double>(*ready_ns - cell->window_start_ns) / 1e9;

    const int64_t last_event = evs.empty() ? 0 : evs.back()->t_ns;
    const auto span = cell ? measured_span(*cell, w, last_event) : std::nullopt;
    std::vector<double> step_ms, latencies, ttfts, tpots;
    if (span) {
      // The measured window: only what happened in it counts.
      s.windowed = true;
      s.window_s = span->seconds();
      const auto in = [&](int64_t t) { return t > span->start && t <= span->end; };
      for (const auto* e : iters)
        if (in(e->t_ns)) {
          ++s.iterations;
          s.samples += e->n.value_or(0);
          if (e->ms) step_ms.push_back(*e->ms);
        }
      for (const auto& [t, ms] : latency_events)
        if (in(t)) latencies.push_back(ms);
      for (const auto& [t, ms] : ttft_events)
        if (in(t)) ttfts.push_back(ms);
      for (const auto& [t, ms] : tpot_events)
        if (in(t)) tpots.push_back(ms);
      for (int64_t t : error_times)
        if (in(t)) ++s.request_errors;
      for (const auto& [t, n] : drops)
        if (in(t)) s.dropped_events += n;
      const Progress progress(iters);
      const int64_t mid = span->start + (span->end - span->start) / 2;
      if (!iters.empty()) {
        s.throughput = progress.rate(span->start, span->end);
        s.rate_first_half = progress.rate(span->start, mid);
        s.rate_second_half = progress.rate(mid, span->end);
        if (s.rate_first_half && *s.rate_first_half > 0 && s.rate_second_half)
          s.drift = *s.rate_second_half / *s.rate_first_half - 1;
        // Time per sample of each step, by half.
        std::vector<double> a, b;
        for (size_t i = 1; i < iters.size(); ++i) {
          const auto* e = iters[i];
          if (!in(e->t_ns) || e->n.value_or(0) <= 0) continue;
          (e->t_ns <= mid ? a : b).push_back(static_cast<double>(e->t_ns - iters[i - 1]->t_ns) / static_cast<double>(*e->n));
        }
        s.drift_significant = difference(a, b).verdict == Noise::distinct;
      } else if (latencies.size() >= 2 * static_cast<size_t>(gates.min_iterations)) {
        // Paced by requests: the drift of its mean latency instead.
        std::vector<double> a, b;
        for (const auto& [t, ms] : latency_events)
          if (in(t)) (t <= mid ? a : b).push_back(ms);
        if (auto ma = mean(a), mb = mean(b); ma && mb && *ma > 0) s.drift = *mb / *ma - 1;
        s.drift_significant = difference(a, b).verdict == Noise::distinct;
      }
    } else {
      // Before windows existed: from `ready` (or the first iter, excluded) to the last iter.
      int64_t window_start = 0, window_samples = 0;
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
      for (const auto* e : iters) {
        ++s.iterations;
        s.samples += e->n.value_or(0);
        if (e->ms) step_ms.push_back(*e->ms);
      }
      for (const auto& [t, ms] : latency_events) latencies.push_back(ms);
      for (const auto& [t, ms] : ttft_events) ttfts.push_back(ms);
      for (const auto& [t, ms] : tpot_events) tpots.push_back(ms);
      s.request_errors = static_cast<int64_t>(error_times.size());
    }
    s.requests = static_cast<int64_t>(latencies.size());
    s.ttft_requests = static_cast<int64_t>(ttfts.size());
    s.tpot_requests = static_cast<int64_t>(tpots.size());

    // Evidence gates (windowed runs only: older ones are shown as they were).
    if (s.windowed) {
      if (s.throughput && s.iterations < gates.min_iterations)
        s.throughput_gate = fmt::format("insufficient data: {} iteration(s) in the window, needs {}", s.iterations, gates.min_iterations);
      if (!latencies.empty() && s.requests < gates.min_iterations)
        s.latency_gate = fmt::format("insufficient data: {} request(s) in the window, needs {}", s.requests, gates.min_iterations);
      if (!tpots.empty() && s.tpot_requests < gates.min_iterations)
        s.tpot_gate = fmt::format("insufficient data: {} request(s) with a TPOT in the window, needs {}", s.tpot_requests,
                                  gates.min_iterations);
      if (s.dropped_events > 0) {
        const auto why = fmt::format("{} event(s) dropped in the window: the workload sent more than the collector keeps "
                                     "per second (GPUMIX_MAX_EVENTS_PER_SECOND), so its counts there are short",
                                     s.dropped_events);
        if (s.throughput) s.throughput_gate = why;
        if (!latencies.empty()) s.latency_gate = why;
        if (!tpots.empty()) s.tpot_gate = why;
      }
    }
    // A percentile of `values` (latency, ttft or tpot), or why it is withheld.
    auto gated_percentile_of = [&](const std::vector<double>& values, spec::SloMetric metric, double p) -> std::optional<double> {
      if (values.empty()) return std::nullopt;
      const auto key = spec::slo_key(metric, p);
      if (s.windowed && s.dropped_events > 0) {
        s.percentile_gates.push_back(fmt::format("{}: {} event(s) dropped in the window", key, s.dropped_events));
        return std::nullopt;
      }
      if (s.windowed && static_cast<int64_t>(values.size()) < gates.requests_for(p)) {
        s.percentile_gates.push_back(fmt::format("{}: {} request(s) in the window, needs {}", key, values.size(), gates.requests_for(p)));
        return std::nullopt;
      }
      return percentile(values, p);
    };
    auto gated_percentile = [&](double p) { return gated_percentile_of(latencies, spec::SloMetric::latency, p); };

    auto steps = percentiles(step_ms, {50, 95, 99});
    s.step_ms_p50 = steps[0];
    s.step_ms_p95 = steps[1];
    s.step_ms_p99 = steps[2];
    s.latency_p50 = gated_percentile(50);
    s.latency_p90 = gated_percentile(90);
    s.latency_p95 = gated_percentile(95);
    s.latency_p99 = gated_percentile(99);
    s.latency_p999 = gated_percentile(99.9);
    s.latency_mean = mean(latencies);
    s.latency_cdf = empirical_cdf(latencies);
    s.ttft_p50 = gated_percentile_of(ttfts, spec::SloMetric::ttft, 50);
    s.ttft_p90 = gated_percentile_of(ttfts, spec::SloMetric::ttft, 90);
    s.ttft_p99 = gated_percentile_of(ttfts, spec::SloMetric::ttft, 99);
    s.tpot_p50 = gated_percentile_of(tpots, spec::SloMetric::tpot, 50);
    s.tpot_p90 = gated_percentile_of(tpots, spec::SloMetric::tpot, 90);
    s.tpot_p99 = gated_percentile_of(tpots, spec::SloMetric::tpot, 99);
    s.tpot_mean = mean(tpots);
    s.ttft_cdf = empirical_cdf(ttfts);
    s.tpot_cdf = empirical_cdf(tpots);

    auto slos = nlohmann::json::parse(w.slo_json.empty() ? "[]" : w.slo_json, nullptr, false);
    if (slos.is_array()) {
      for (const auto& slo : slos) {
        SloResult r;
        r.metric = spec::slo_metric_from_string(slo.value("metric", "latency")).value_or(spec::SloMetric::latency);
        r.percentile = slo.value("percentile", 99.0);
        r.limit_ms = slo.value("ms", 0.0);
        const auto& values = r.metric == spec::SloMetric::ttft ? ttfts : r.metric == spec::SloMetric::tpot ? tpots : latencies;
        const bool enough = !s.windowed || static_cast<int64_t>(values.size()) >= gates.requests_for(r.percentile);
        if (enough) r.actual_ms = percentile(values, r.percentile);
        r.attainment = fraction_at_most(values, r.limit_ms);
        r.met = r.actual_ms && *r.actual_ms <= r.limit_ms;
        s.slos.push_back(r);
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace gpumix::analysis
