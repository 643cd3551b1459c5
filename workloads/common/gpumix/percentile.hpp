// The one percentile definition of gpumix and its built-in workloads, so that
// a p99 a workload prints and the p99 gpumix computes from its events agree:
// linear interpolation between the closest ranks (NumPy's default, Hyndman &
// Fan type 7), the p-th percentile of n sorted values at rank p/100 · (n − 1).
// Header-only and torch-free: both sides include it.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace gpumix {

// `sorted` ascending and not empty; p in [0, 100] (clamped).
inline double percentile_of_sorted(const std::vector<double>& sorted, double p) {
  p = std::clamp(p, 0.0, 100.0);
  const double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  const auto hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (rank - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

}  // namespace gpumix
