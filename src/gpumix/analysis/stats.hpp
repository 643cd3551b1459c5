// Descriptive statistics. Pure functions on plain numbers.
#pragma once

#include <optional>
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

}  // namespace gpumix::analysis
