// Per-workload figures of a run, computed from stored rows (pure).
//
// Only the cell's measured window counts (store::CellRow::window_*_ns: it
// opens for every workload at once when the last one is ready and lasts
// cell_duration). A workload is measured over its part of it: from the
// window's start (or its own start, when it starts later) to the window's end
// (or its own end, when earlier). Throughput is the samples it processed in
// that span ÷ the span, with the iterations at its edges counted in
// proportion (samples are spread evenly over each step); latency figures use
// the requests that completed in it. Events outside it stay in the store.
// Runs recorded before windows existed (schema 1) are measured from each
// workload's `ready` to its last `iter`, as then.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gpumix/spec/mix.hpp"
#include "gpumix/store/store.hpp"

namespace gpumix::analysis {

struct SloResult {
  spec::SloMetric metric = spec::SloMetric::latency;  // what it bounds: latency, ttft or tpot
  double percentile = 0;  // e.g. 99
  double limit_ms = 0;
  std::optional<double> actual_ms;  // nullopt: no requests
  std::optional<double> attainment;  // share of requests within the limit
  bool met = false;
};


struct WorkloadSummary {
  int64_t workload_id = 0;
  std::string cell;
  std::string mode;
  int repeat = 0;
  bool baseline = false;
  std::string name;
  spec::Role role = spec::Role::other;
  store::WorkloadStatus status = store::WorkloadStatus::pending;
  std::string reason;
  std::optional<int> exit_code;
  std::optional<int> signal;
  double wall_s = 0;
  int64_t peak_rss_kb = 0;

  // The measured span: the window, or the part of it the workload ran.
  bool windowed = false;  // false: a run from before windows (see above)
  std::optional<double> window_s;
  std::optional<double> ready_s;  // its warm-up: start → ready
  std::optional<double> late_ready_s;  // reported ready this long after the window opened (warmup: detect)
  std::optional<double> jct_s;   // a job that completed in the window: window start → its end (set by analyze)

  int64_t iterations = 0;  // iter events in the measured span (every one for runs before windows)
  int64_t samples = 0;     // their n
  int64_t iterations_total = 0;  // every iter event, warm-up included
  std::optional<double> throughput;  // samples/s over the measured span
  std::optional<double> rate_first_half, rate_second_half;  // samples/s in each half of it
  std::optional<double> drift;  // second ÷ first − 1 (throughput, else mean latency)
  // Whether the halves differ beyond their own noise (Welch, 95 %, on the time
  // per sample of each step, or on the latencies): a notebook's think times
  // make its rate jump about without any trend.
  bool drift_significant = false;
  std::optional<double> step_ms_p50;
  std::optional<double> step_ms_p95;
  std::optional<double> step_ms_p99;

  int64_t requests = 0;  // latency events with ok != false
  int64_t request_errors = 0;
  std::optional<double> latency_p50, latency_p90, latency_p95, latency_p99, latency_p999;
  std::optional<double> latency_mean;
  // The latency distribution, compact: (ms, share of requests at most ms),
  // every request up to kCdfPoints requests, else quantiles on a grid that
  // is finer in the tail.
  std::vector<std::pair<double, double>> latency_cdf;
  // Its streamed LLM completions (latency events with `ttft_ms`; `tpot_ms`
  // when they had two tokens or more), over the same requests: percentiles,
  // the mean TPOT (NP by TPOT) and the distributions (as latency_cdf).
  int64_t ttft_requests = 0, tpot_requests = 0;
  std::optional<double> ttft_p50, ttft_p90, ttft_p99, tpot_p50, tpot_p90, tpot_p99;
  std::optional<double> tpot_mean;
  std::vector<std::pair<double, double>> ttft_cdf, tpot_cdf;
  std::vector<SloResult> slos;
  // Evidence gates: why a figure is withheld ("12 iterations in the window,
  // needs 30"); empty when there was enough.
  std::string throughput_gate;
  std::string latency_gate;             // for the mean latency (NP by latency)
  std::string tpot_gate;                // for the mean TPOT (NP by TPOT)
  std::vector<std::string> percentile_gates;  // "p99.9: 412 requests, needs 1000"

  // The largest `peak_device_mem_bytes` an `info` event reported.
  std::optional<int64_t> peak_device_mem_bytes;
  // The choices it made at run time ("kernels=fused,..."), from the last `info`
  // event with `effective_config` (docs/metrics-protocol.md); empty if none.
  std::string effective_config;

  int64_t malformed = 0;  // lines that broke the protocol
  // Events the collector dropped in the measured span, because the workload
  // sent more than GPUMIX_MAX_EVENTS_PER_SECOND: its counts there are short,
  // so its throughput and latencies are withheld (the gates say why).
  int64_t dropped_events = 0;
  bool reported_ready = false;
  bool reported_done = false;
};

inline constexpr size_t kCdfPoints = 200;

// The empirical CDF of `values` as summarize() stores it in latency_cdf.
std::vector<std::pair<double, double>> empirical_cdf(std::vector<double> values);

std::vector<WorkloadSummary> summarize(const std::vector<store::CellRow>& cells,
                                       const std::vector<store::WorkloadRow>& workloads,
                                       const std::vector<store::EventRow>& events, const spec::EvidenceGates& gates = {});

}  // namespace gpumix::analysis
