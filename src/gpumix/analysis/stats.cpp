#include "gpumix/analysis/stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "gpumix/percentile.hpp"

namespace gpumix::analysis {
namespace {

// Continued fraction of the incomplete beta function (modified Lentz).
double beta_continued_fraction(double a, double b, double x) {
  constexpr int kMaxIterations = 500;
  constexpr double kEpsilon = 1e-15;
  constexpr double kTiny = 1e-300;
  const double qab = a + b, qap = a + 1, qam = a - 1;
  double c = 1, d = 1 - qab * x / qap;
  if (std::fabs(d) < kTiny) d = kTiny;
  d = 1 / d;
  double h = d;
  for (int m = 1; m <= kMaxIterations; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    h *= d * c;
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = 1 + aa / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const double step = d * c;
    h *= step;
    if (std::fabs(step - 1) < kEpsilon) break;
  }
  return h;
}

// The regularized incomplete beta function I_x(a, b).
double incomplete_beta(double a, double b, double x) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return front * beta_continued_fraction(a, b, x) / a;
  return 1 - front * beta_continued_fraction(b, a, 1 - x) / b;
}

}  // namespace

std::optional<double> percentile(std::vector<double> values, double p) {
  return percentiles(std::move(values), {p})[0];
}

std::vector<std::optional<double>> percentiles(std::vector<double> values, const std::vector<double>& ps) {
  std::vector<std::optional<double>> out(ps.size());
  if (values.empty()) return out;
  std::sort(values.begin(), values.end());
  for (size_t i = 0; i < ps.size(); ++i) out[i] = percentile_of_sorted(values, ps[i]);
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

double student_t_cdf(double t, double dof) {
  if (!(dof > 0) || std::isnan(t)) return std::numeric_limits<double>::quiet_NaN();
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  const double tail = 0.5 * incomplete_beta(dof / 2, 0.5, dof / (dof + t * t));
  return t > 0 ? 1 - tail : tail;
}

double student_t_quantile(double p, double dof) {
  if (!(dof > 0) || !(p > 0) || !(p < 1)) return std::numeric_limits<double>::quiet_NaN();
  if (p == 0.5) return 0;
  if (p < 0.5) return -student_t_quantile(1 - p, dof);
  double lo = 0, hi = 1;
  for (int i = 0; i < 2000 && student_t_cdf(hi, dof) < p; ++i) hi *= 2;
  for (int i = 0; i < 300 && hi - lo > 1e-13 * hi; ++i) {
    const double mid = 0.5 * (lo + hi);
    (student_t_cdf(mid, dof) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

std::optional<double> Estimate::margin() const {
  if (!ci_low || !ci_high) return std::nullopt;
  return (*ci_high - *ci_low) / 2;
}

Estimate estimate(std::vector<double> values, double confidence) {
  Estimate e;
  e.values = std::move(values);
  e.confidence = confidence;
  if (e.values.empty()) return e;
  if (std::any_of(e.values.begin(), e.values.end(), [](double v) { return std::isinf(v) && v > 0; })) {
    e.mean = std::numeric_limits<double>::infinity();
    return e;
  }
  e.mean = mean(e.values);
  e.stddev = stddev(e.values);
  if (e.stddev) {
    const double n = static_cast<double>(e.values.size());
    const double half = student_t_quantile(0.5 + confidence / 2, n - 1) * *e.stddev / std::sqrt(n);
    e.ci_low = *e.mean - half;
    e.ci_high = *e.mean + half;
  }
  return e;
}

std::string to_string(Noise n) {
  switch (n) {
    case Noise::distinct: return "distinct";
    case Noise::within_noise: return "within noise";
    case Noise::unknown: break;
  }
  return "unknown";
}

Difference difference(const std::vector<double>& a, const std::vector<double>& b, double confidence) {
  Difference d;
  auto finite = [](const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
  };
  if (a.empty() || b.empty() || !finite(a) || !finite(b)) return d;
  d.delta = *mean(b) - *mean(a);
  if (a.size() < 2 || b.size() < 2) return d;
  const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  const double va = std::pow(*stddev(a), 2) / na, vb = std::pow(*stddev(b), 2) / nb;
  const double se = std::sqrt(va + vb);
  if (se == 0) {  // no spread at all: any difference is real
    d.ci_low = d.ci_high = d.delta;
    d.verdict = *d.delta == 0 ? Noise::within_noise : Noise::distinct;
    return d;
  }
  d.dof = (va + vb) * (va + vb) / (va * va / (na - 1) + vb * vb / (nb - 1));
  const double half = student_t_quantile(0.5 + confidence / 2, *d.dof) * se;
  d.ci_low = *d.delta - half;
  d.ci_high = *d.delta + half;
  d.verdict = (*d.ci_low <= 0 && *d.ci_high >= 0) ? Noise::within_noise : Noise::distinct;
  return d;
}

Difference paired_difference(const std::vector<double>& a, const std::vector<double>& b, double confidence) {
  if (a.size() != b.size()) return difference(a, b, confidence);
  Difference d;
  std::vector<double> diffs;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return d;
    diffs.push_back(b[i] - a[i]);
  }
  if (diffs.empty()) return d;
  d.delta = *mean(diffs);
  if (diffs.size() < 2) return d;
  const double se = *stddev(diffs) / std::sqrt(static_cast<double>(diffs.size()));
  if (se == 0) {  // the same difference every repeat
    d.ci_low = d.ci_high = d.delta;
    d.verdict = *d.delta == 0 ? Noise::within_noise : Noise::distinct;
    return d;
  }
  d.dof = static_cast<double>(diffs.size() - 1);
  const double half = student_t_quantile(0.5 + confidence / 2, *d.dof) * se;
  d.ci_low = *d.delta - half;
  d.ci_high = *d.delta + half;
  d.verdict = (*d.ci_low <= 0 && *d.ci_high >= 0) ? Noise::within_noise : Noise::distinct;
  return d;
}

}  // namespace gpumix::analysis
