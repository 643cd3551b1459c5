// When requests are sent, and what they must achieve.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gpumix/util/units.hpp"

namespace gpumix::loadgen {

// Poisson arrivals, as MLPerf LoadGen's Server scenario: exponential
// inter-arrival times with mean 1/rate from a seeded mt19937_64. The same seed
// and rate give the same schedule.
class PoissonSchedule {
 public:
  PoissonSchedule(double rate, uint64_t seed);
  // The next send time, as an offset from the start.
  Duration next();

 private:
  std::mt19937_64 rng_;
  std::exponential_distribution<double> gap_s_;
  double t_s_ = 0;
};

// What an objective limits: the request's end-to-end latency, or (streamed
// completions) its time to first token or time per output token.
enum class SloMetric { e2e, ttft, tpot };
const char* to_string(SloMetric m);

// A latency objective: the `percentile`-th percentile at most `limit`.
struct Slo {
  std::string text;  // as given, e.g. "p99=25ms" or "ttft_p99=500ms"
  SloMetric metric = SloMetric::e2e;
  double percentile = 99;
  Duration limit{};
};
// "p99=25ms" (also "e2e_p99=25ms"), "ttft_p99=500ms", "tpot_p99=50ms", or
// several separated by commas; throws InputError naming the bad one and the
// expected form.
std::vector<Slo> parse_slos(const std::string& text);

}  // namespace gpumix::loadgen
