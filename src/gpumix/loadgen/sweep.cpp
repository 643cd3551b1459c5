#include "gpumix/loadgen/sweep.hpp"

#include <algorithm>

#include "gpumix/util/errors.hpp"

namespace gpumix::loadgen {

SweepResult sweep(const SweepOptions& o, const std::function<Summary(double)>& step,
                  const std::function<bool()>& interrupted) {
  if (!(o.start > 0)) throw InputError("--sweep-start must be > 0");
  if (!(o.max >= o.start)) throw InputError("--sweep-max must be at least --sweep-start");
  if (!(o.factor > 1)) throw InputError("--sweep-factor must be > 1");
  if (!(o.tolerance > 0 && o.tolerance < 1)) throw InputError("--sweep-tolerance must be in (0, 1)");

  SweepResult r;
  auto run = [&](double rate) {
    r.steps.push_back(step(rate));
    r.interrupted = interrupted();
    return r.steps.back().slo_met();
  };
  // Geometric growth until the objectives break (or `max`).
  for (double rate = o.start;;) {
    const bool met = run(rate);
    if (r.interrupted) return r;
    if (!met) {
      r.first_bad = rate;
      break;
    }
    r.best_rate = rate;
    if (rate >= o.max) {
      r.reached_max = true;
      return r;
    }
    rate = std::min(rate * o.factor, o.max);
  }
  if (!r.best_rate) return r;
  // Bisection between the last good and the first bad rate.
  while (*r.first_bad - *r.best_rate > o.tolerance * *r.best_rate) {
    const double mid = (*r.best_rate + *r.first_bad) / 2;
    const bool met = run(mid);
    if (r.interrupted) return r;
    (met ? r.best_rate : r.first_bad) = mid;
  }
  return r;
}

}  // namespace gpumix::loadgen
