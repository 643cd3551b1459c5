// From every measured request to the numbers the load generator reports:
// exact percentiles of the successful requests' latencies, failures by kind,
// achieved against offered rate, SLO attainment, and whether there were
// enough requests for the numbers to mean something.
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

// What a measurement needs to count, as MLPerf LoadGen's min_query_count
// and min_duration: both.
struct Minimum {
  int64_t requests = 0;
  Duration duration{};
};

// The fewest samples for the p-th percentile to say something about its tail:
// at least one sample beyond it (p99: 100, p99.9: 1000, p50: 2).
int64_t samples_for_percentile(double p);

// How the server settled before a sweep step (all steps but the first).
struct Settle {
  double quiet_s = 0;              // the quiet period
  double waited_s = 0;             // quiet period and probes
  int64_t probes = 0;              // sequential probe requests sent
  std::optional<double> probe_ms;  // the last probe round's median latency
  std::optional<double> target_ms; // what it had to be at most (none: no baseline)
  bool settled = false;            // back near the unloaded latency in time
};

// Streamed completions: over the successful requests (TTFT, TPOT) or their
// tokens (inter-token latency), in milliseconds.
struct TokenStats {
  std::optional<double> ttft_p50, ttft_p90, ttft_p99, ttft_mean;
  std::optional<double> tpot_p50, tpot_p90, tpot_p99, tpot_mean;  // requests of 2 tokens or more
  std::optional<double> itl_p50, itl_p99;
  int64_t output_tokens = 0;
  double output_tps = 0;  // output tokens per second, over the same time as achieved_rps
  // Requests meeting every objective's limit (vLLM's goodput), and per
  // second; none without objectives.
  int64_t good = 0;
  std::optional<double> goodput_rps;
};

enum class Verdict { none, met, missed, insufficient };  // none: no objectives
const char* to_string(Verdict v);

struct Summary {
  double offered_rps = 0;  // open loop; 0 in closed loop
  int concurrency = 0;     // closed loop; 0 in open loop
  int64_t requests = 0;    // measured: ok + errors + timeouts
  int64_t ok = 0, errors = 0, timeouts = 0, late = 0, discarded = 0;
  int64_t unsent = 0;       // timeouts never sent (every connection busy until the drain ended)
  bool drain_expired = false;
  bool stopped = false;     // ended by a signal
  double window_s = 0;      // the measured part of the schedule
  double span_s = 0;        // from the end of warm-up to the last response
  // Successful responses per second over max(window, span): a server that
  // answers late is not credited with the offered rate, and a few requests
  // early in a window are not divided by their own short span.
  double achieved_rps = 0;
  // Latencies of the successful requests, in milliseconds.
  std::optional<double> p50, p90, p95, p99, p999, mean, max;
  // The percentiles above ("p99", ...) with fewer samples than their tail needs.
  std::vector<std::string> thin_percentiles;
  std::vector<SloResult> slos;
  // Failures by HTTP status (0: no response), with the first message of each.
  std::map<int, std::pair<int64_t, std::string>> failures;
  // Why the measurement is too small to count (too few requests, too short,
  // an objective's percentile beyond what the requests can show); none when
  // it counts.
  std::optional<std::string> insufficient;
  std::optional<Settle> settle;  // sweep steps after the first
  std::optional<TokenStats> tokens;  // streamed completions
  int64_t started_ns = 0, ended_ns = 0;  // wall clock, Unix ns, set by whoever ran it (0: unknown)

  bool slo_met() const;  // every objective met (true without objectives)
  // missed when an objective is missed; insufficient when every one is met
  // but the measurement is too small to count; met otherwise.
  Verdict verdict() const;
};

Summary summarize(const LoadResult& result, const std::vector<Slo>& slos, double offered_rps, int concurrency,
                  const Minimum& minimum = {});

// One row per summary (a plain run has one, a sweep one per step).
report::Table summary_table(const std::vector<Summary>& rows, const std::vector<Slo>& slos);
// What makes rows weaker than their numbers look, one sentence each, for
// under the text table: too few requests, tail percentiles over too few
// samples (one line per percentile for several rows), a drain that ran out,
// a server that had not settled.
std::vector<std::string> summary_notes(const std::vector<Summary>& rows);
// Failures by status, with a message each.
report::Table failure_table(const Summary& s);

}  // namespace gpumix::loadgen
