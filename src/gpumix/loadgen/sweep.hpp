// The rate sweep: the highest Poisson rate whose latency objectives hold.
//
// Each step runs the open-loop load at one rate (warm-up, then the step's
// measured duration) and checks every objective; a step counts as good only
// when it met them over enough requests (Verdict::met). The rate starts at
// `start` and is multiplied by `factor` while the steps are good, up to
// `max`; when the start is already bad, it is divided by `factor` until a
// step is good, down to `min`. Between the highest good rate and the lowest
// bad one, bisection (midpoint of the two) narrows the interval until it is
// within `tolerance` of the good rate. The answer is the highest good rate.
// A sweep bad down to `min` has no answer; one good up to `max` answers `max`.
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
  double min = 1;
};

struct SweepResult {
  std::vector<Summary> steps;        // in the order they ran
  std::optional<double> best_rate;   // highest rate that met every objective over enough requests
  std::optional<double> first_bad;   // lowest rate that did not (if any)
  bool reached_max = false;          // good up to `max`: the real limit is higher
  bool reached_min = false;          // bad down to `min`: no answer
  bool interrupted = false;
};

// Throws InputError for options that cannot make a sweep, naming the option.
void check_sweep_options(const SweepOptions& options);

// `step(rate)` measures one rate; `interrupted()` is asked after each step.
// Checks the options first (check_sweep_options).
SweepResult sweep(const SweepOptions& options, const std::function<Summary(double)>& step,
                  const std::function<bool()>& interrupted);

}  // namespace gpumix::loadgen
