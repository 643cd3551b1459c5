#include "gpumix/analysis/stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace gpumix::analysis {
namespace {

double sorted_percentile(const std::vector<double>& v, double p) {
  p = std::clamp(p, 0.0, 100.0);
  const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(rank));
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (rank - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

}  // namespace

std::optional<double> percentile(std::vector<double> values, double p) {
  return percentiles(std::move(values), {p})[0];
}

std::vector<std::optional<double>> percentiles(std::vector<double> values, const std::vector<double>& ps) {
  std::vector<std::optional<double>> out(ps.size());
  if (values.empty()) return out;
  std::sort(values.begin(), values.end());
  for (size_t i = 0; i < ps.size(); ++i) out[i] = sorted_percentile(values, ps[i]);
  return out;
}

std::optional<double> mean(const std::vector<double>& values) {
  if (values.empty()) return std::nullopt;
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

std::optional<double> stddev(const std::vector<double>& values) {
  if (values.size() < 2) return std::nullopt;
  const double m = *mean(values);
  double ss = 0;
  for (double v : values) ss += (v - m) * (v - m);
  return std::sqrt(ss / static_cast<double>(values.size() - 1));
}

std::optional<double> fraction_at_most(const std::vector<double>& values, double limit) {
  if (values.empty()) return std::nullopt;
  auto n = std::count_if(values.begin(), values.end(), [&](double v) { return v <= limit; });
  return static_cast<double>(n) / static_cast<double>(values.size());
}

}  // namespace gpumix::analysis
