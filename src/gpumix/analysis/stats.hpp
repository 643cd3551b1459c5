// Descriptive statistics. Pure functions on plain numbers.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace gpumix::analysis {

// The p-th percentile (0 ≤ p ≤ 100) by linear interpolation between the
// closest ranks (NumPy's default, Hyndman & Fan type 7); nullopt when empty.
std::optional<double> percentile(std::vector<double> values, double p);

// The same for several percentiles at once (one sort).
std::vector<std::optional<double>> percentiles(std::vector<double> values, const std::vector<double>& ps);

std::optional<double> mean(const std::vector<double>& values);
// Sample standard deviation (n − 1); nullopt with fewer than two values.
std::optional<double> stddev(const std::vector<double>& values);
// Share of values ≤ limit; nullopt when empty.
std::optional<double> fraction_at_most(const std::vector<double>& values, double limit);

// Student's t distribution with `dof` > 0 degrees of freedom (not necessarily
// an integer, as Welch's test needs): P(T <= t), and the t with P(T <= t) = p
// (0 < p < 1). NaN for arguments outside those ranges.
double student_t_cdf(double t, double dof);
double student_t_quantile(double p, double dof);

// A quantity measured once per repeat: its mean, sample standard deviation and
// two-sided confidence interval (Student t, n - 1 degrees of freedom). With
// one value there is a mean but no spread; with none, nothing. An infinite
// value (a starved workload's 1/NP) makes the mean infinite and leaves the
// spread empty.
struct Estimate {
  std::vector<double> values;
  std::optional<double> mean;
  std::optional<double> stddev;
  std::optional<double> ci_low, ci_high;
  double confidence = 0.95;
  size_t n() const { return values.size(); }
  // Half the interval's width, when there is one.
  std::optional<double> margin() const;
};
Estimate estimate(std::vector<double> values, double confidence = 0.95);

// Whether two quantities measured over repeats differ by more than their noise:
// Welch's t interval for mean(b) - mean(a) at `confidence`. `distinct` when the
// interval excludes 0, `within_noise` when it holds 0, `unknown` when either
// side has fewer than two values (one repeat says nothing about noise).
enum class Noise { distinct, within_noise, unknown };
std::string to_string(Noise n);
struct Difference {
  std::optional<double> delta;  // mean(b) - mean(a)
  std::optional<double> ci_low, ci_high;
  std::optional<double> dof;  // Welch–Satterthwaite
  Noise verdict = Noise::unknown;
};
Difference difference(const std::vector<double>& a, const std::vector<double>& b, double confidence = 0.95);
// The same for paired measurements (a[i] and b[i] from the same repeat, whose
// cells ran one after the other): the t interval of the mean of b[i] − a[i].
// Falls back to Welch when the sizes differ.
Difference paired_difference(const std::vector<double>& a, const std::vector<double>& b, double confidence = 0.95);

}  // namespace gpumix::analysis
