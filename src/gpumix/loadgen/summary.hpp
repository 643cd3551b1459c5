// From every measured request to the numbers the load generator reports:
// exact percentiles of the successful requests' latencies, failures by kind,
// achieved against offered rate, SLO attainment.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/loadgen/engine.hpp"
#include "gpumix/loadgen/schedule.hpp"
#include "gpumix/report/table.hpp"

namespace gpumix::loadgen {

struct SloResult {
  Slo slo;
  // Share of all measured requests (failures included) answered successfully
  // within the limit; the objective is met when it is at least percentile/100.
  double attainment = 0;
  bool met = false;
};

struct Summary {
  double offered_rps = 0;  // open loop; 0 in closed loop
  int concurrency = 0;     // closed loop; 0 in open loop
  int64_t requests = 0;    // measured: ok + errors + timeouts
  int64_t ok = 0, errors = 0, timeouts = 0, late = 0, discarded = 0;
  double span_s = 0;
  double achieved_rps = 0;  // successful responses per second over the span
  // Latencies of the successful requests, in milliseconds.
  std::optional<double> p50, p90, p95, p99, p999, mean, max;
  std::vector<SloResult> slos;
  // Failures by HTTP status (0: no response), with the first message of each.
  std::map<int, std::pair<int64_t, std::string>> failures;

  bool slo_met() const;  // every objective met (true without objectives)
};

Summary summarize(const LoadResult& result, const std::vector<Slo>& slos, double offered_rps, int concurrency);

// One row per summary (a plain run has one, a sweep one per step).
report::Table summary_table(const std::vector<Summary>& rows, const std::vector<Slo>& slos);
// Failures by status, with a message each.
report::Table failure_table(const Summary& s);

}  // namespace gpumix::loadgen
