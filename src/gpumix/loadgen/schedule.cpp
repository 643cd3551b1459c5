#include "gpumix/loadgen/schedule.hpp"

#include <charconv>
#include <cmath>
#include <string_view>
#include <utility>

#include "gpumix/util/errors.hpp"

namespace gpumix::loadgen {

PoissonSchedule::PoissonSchedule(double rate, uint64_t seed) : rng_(seed), gap_s_(rate) {}

Duration PoissonSchedule::next() {
  const double t = t_s_;
  t_s_ += gap_s_(rng_);
  return Duration(static_cast<int64_t>(std::llround(t * 1e9)));
}

namespace {

Slo parse_slo(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return InputError("--slo: '" + text + "': " + why +
                      " (expected pNN=DURATION, e.g. p99=25ms; of tokens ttft_pNN= or tpot_pNN=, e.g. ttft_p99=500ms)");
  };
  Slo s;
  s.text = text;
  std::string rest = text;
  for (const auto& [prefix, metric] : {std::pair{"ttft_", SloMetric::ttft}, std::pair{"tpot_", SloMetric::tpot},
                                       std::pair{"e2e_", SloMetric::e2e}})
    if (rest.rfind(prefix, 0) == 0) {
      s.metric = metric;
      rest = rest.substr(std::string_view(prefix).size());
      break;
    }
  const auto eq = rest.find('=');
  if (rest.size() < 2 || rest[0] != 'p' || eq == std::string::npos) throw bad("not an objective");
  const std::string pct = rest.substr(1, eq - 1);
  auto [p, ec] = std::from_chars(pct.data(), pct.data() + pct.size(), s.percentile);
  if (pct.empty() || ec != std::errc() || p != pct.data() + pct.size() || !(s.percentile > 0 && s.percentile < 100))
    throw bad("the percentile must be a number in (0, 100)");
  auto limit = parse_duration(rest.substr(eq + 1));
  if (!limit || limit->count() <= 0) throw bad("the limit must be a positive duration");
  s.limit = *limit;
  return s;
}

}  // namespace

const char* to_string(SloMetric m) {
  switch (m) {
    case SloMetric::e2e: return "e2e";
    case SloMetric::ttft: return "ttft";
    case SloMetric::tpot: return "tpot";
  }
  return "e2e";
}

std::vector<Slo> parse_slos(const std::string& text) {
  std::vector<Slo> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    out.push_back(parse_slo(text.substr(start, end - start)));
    start = end + 1;
  }
  return out;
}

}  // namespace gpumix::loadgen
