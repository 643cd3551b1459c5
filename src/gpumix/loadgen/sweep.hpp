// The rate sweep: the highest Poisson rate whose latency objectives hold.
//
// Each step runs the open-loop load at one rate (warm-up, then the step's
// measured duration) and checks every objective. The rate starts at `start`
// and is multiplied by `factor` while the objectives hold, up to `max`. At the
// first step that misses them, the answer lies between the last good rate and
// that bad one: bisection (midpoint of the two) narrows it until the interval
// is within `tolerance` of the good rate. The answer is the last good rate.
// A first step that already misses leaves no answer; a sweep that holds up to
// `max` answers `max`.
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "gpumix/loadgen/summary.hpp"

namespace gpumix::loadgen {

struct SweepOptions {
  double start = 100;
  double max = 100000;
  double factor = 2;
  double tolerance = 0.02;
};

struct SweepResult {
  std::vector<Summary> steps;        // in the order they ran
  std::optional<double> best_rate;   // highest rate that met every objective
  std::optional<double> first_bad;   // lowest rate that missed (if any)
  bool reached_max = false;          // met up to `max`: the real limit is higher
  bool interrupted = false;
};

// `step(rate)` measures one rate; `interrupted()` is asked after each step.
// Throws InputError for options that cannot make a sweep.
SweepResult sweep(const SweepOptions& options, const std::function<Summary(double)>& step,
                  const std::function<bool()>& interrupted);

}  // namespace gpumix::loadgen
