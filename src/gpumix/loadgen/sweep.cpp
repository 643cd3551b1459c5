#include "gpumix/loadgen/sweep.hpp"

#include <algorithm>

#include "gpumix/util/errors.hpp"

namespace gpumix::loadgen {

void check_sweep_options(const SweepOptions& o) {
  if (!(o.start > 0)) throw InputError("--sweep-start must be > 0");
  if (!(o.max >= o.start)) throw InputError("--sweep-max must be at least --sweep-start");
  if (!(o.min > 0 && o.min <= o.start)) throw InputError("--sweep-min must be > 0 and at most --sweep-start");
  if (!(o.factor > 1)) throw InputError("--sweep-factor must be > 1");
  if (!(o.tolerance > 0)) throw InputError("--sweep-tolerance must be > 0");
}

SweepResult sweep(const SweepOptions& o, const std::function<Summary(double)>& step,
                  const std::function<bool()>& interrupted) {
  check_sweep_options(o);

  SweepResult r;
  auto run = [&](double rate) {
    r.steps.push_back(step(rate));
    r.interrupted = interrupted();
    return r.steps.back().verdict() == Verdict::met;
  };
  if (run(o.start)) {
    // Geometric growth until a step is bad (or `max`).
    r.best_rate = o.start;
    for (double rate = o.start; !r.interrupted;) {
      if (rate >= o.max) {
        r.reached_max = true;
        return r;
      }
      rate = std::min(rate * o.factor, o.max);
      (run(rate) ? r.best_rate : r.first_bad) = rate;
      if (r.first_bad) break;
    }
  } else {
    // Geometric descent until a step is good (or `min`).
    r.first_bad = o.start;
    for (double rate = o.start; !r.interrupted;) {
      if (rate <= o.min) {
        r.reached_min = true;
        return r;
      }
      rate = std::max(rate / o.factor, o.min);
      (run(rate) ? r.best_rate : r.first_bad) = rate;
      if (r.best_rate) break;
    }
  }
  if (r.interrupted) return r;
  // Bisection between the highest good and the lowest bad rate.
  while (*r.first_bad - *r.best_rate > o.tolerance * *r.best_rate) {
    const double mid = (*r.best_rate + *r.first_bad) / 2;
    const bool good = run(mid);
    if (r.interrupted) return r;
    (good ? r.best_rate : r.first_bad) = mid;
  }
  return r;
}

}  // namespace gpumix::loadgen
