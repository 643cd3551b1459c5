// Per-workload figures of a run, computed from stored rows (pure).
//
// Throughput is measured in steady state: from the workload's `ready` event
// (or, without one, from its first `iter`, whose samples are then excluded)
// to its last `iter`.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gpumix/store/store.hpp"

namespace gpumix::analysis {

struct SloResult {
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
  std::string role;
  std::string status;
  std::string reason;
  std::optional<int> exit_code;
  std::optional<int> signal;
  double wall_s = 0;
  int64_t peak_rss_kb = 0;

  int64_t iterations = 0;  // every iter event
  int64_t samples = 0;     // every iter event's n
  std::optional<double> throughput;  // samples/s in steady state
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
  std::vector<SloResult> slos;

  // The largest `peak_device_mem_bytes` an `info` event reported.
  std::optional<int64_t> peak_device_mem_bytes;

  int64_t malformed = 0;  // lines that broke the protocol
  bool reported_ready = false;
  bool reported_done = false;
};

inline constexpr size_t kCdfPoints = 200;

// The empirical CDF of `values` as summarize() stores it in latency_cdf.
std::vector<std::pair<double, double>> empirical_cdf(std::vector<double> values);

std::vector<WorkloadSummary> summarize(const std::vector<store::CellRow>& cells,
                                       const std::vector<store::WorkloadRow>& workloads,
                                       const std::vector<store::EventRow>& events);

}  // namespace gpumix::analysis
