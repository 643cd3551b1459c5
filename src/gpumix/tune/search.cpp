#include "gpumix/tune/search.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <utility>

#include "gpumix/util/errors.hpp"

namespace gpumix::tune {

const char* to_string(Knob::Setting s) { return s == Knob::Setting::sm_percent ? "sm_percent" : "priority"; }

const char* to_string(Trial::Status s) {
  switch (s) {
    case Trial::Status::pending: return "pending";
    case Trial::Status::measured: return "measured";
    case Trial::Status::pruned: return "pruned";
  }
  return "?";
}

Space make_space(const spec::Mix& mix, const SpaceOptions& options) {
  if (options.sm_step < 1 || options.sm_step > 100)
    throw InputError(fmt::format("--sm-step: expected a whole percentage from 1 to 100, got {}", options.sm_step));
  for (const auto& [name, values] : options.sm_values) {
    const auto* w = mix.find(name);
    if (!w) throw InputError("--sm " + name + "=…: the mix has no workload named '" + name + "'");
    if (w->role == spec::Role::client) throw InputError("--sm " + name + "=…: '" + name + "' is a load generator: it runs on no GPU");
    if (values.empty()) throw InputError("--sm " + name + "=…: no values");
    for (int v : values)
      if (v < 1 || v > 100) throw InputError(fmt::format("--sm {}={}: a percentage is from 1 to 100", name, v));
  }
  Space space;
  for (const auto& w : mix.workloads) {
    if (w.role == spec::Role::client) continue;
    if (!w.slos.empty()) space.slo_workloads.push_back(w.name);
  }
  // A server's SLO is measured at its load generator: the client's SLO is
  // the server's to keep.
  for (const auto& w : mix.workloads)
    if (w.role == spec::Role::client && !w.slos.empty() && w.start_after &&
        std::find(space.slo_workloads.begin(), space.slo_workloads.end(), *w.start_after) == space.slo_workloads.end())
      space.slo_workloads.push_back(*w.start_after);
  for (const auto& w : mix.workloads) {
    if (w.role == spec::Role::client) continue;
    Knob sm{w.name, Knob::Setting::sm_percent, {}, w.mps.sm_percent.value_or(100)};
    if (auto it = options.sm_values.find(w.name); it != options.sm_values.end()) {
      sm.values = it->second;
    } else {
      for (int v = 100; v >= 1; v -= options.sm_step) sm.values.push_back(v);
    }
    std::sort(sm.values.begin(), sm.values.end());
    sm.values.erase(std::unique(sm.values.begin(), sm.values.end()), sm.values.end());
    space.knobs.push_back(std::move(sm));
  }
  if (options.priorities)
    for (const auto& w : mix.workloads)
      if (w.role != spec::Role::client &&
          std::find(space.slo_workloads.begin(), space.slo_workloads.end(), w.name) == space.slo_workloads.end())
        space.knobs.push_back({w.name, Knob::Setting::priority, {0, 1}, w.mps.priority.value_or(0)});
  if (space.knobs.empty()) throw InputError("the mix has no workload whose MPS settings could be tuned (load generators have none)");
  return space;
}

Point unlimited_point(const Space& space) {
  Point p;
  for (const auto& k : space.knobs) p.push_back(k.setting == Knob::Setting::sm_percent ? static_cast<int>(k.values.size()) - 1 : 0);
  return p;
}

spec::ModeVariant variant_of(const Space& space, const Point& point) {
  spec::ModeVariant v{"mps", {}};
  for (size_t i = 0; i < space.knobs.size(); ++i) {
    const auto& k = space.knobs[i];
    const int value = k.values[static_cast<size_t>(point[i])];
    if (value == k.own) continue;
    auto& o = v.mps[k.workload];
    (k.setting == Knob::Setting::sm_percent ? o.sm_percent : o.priority) = value;
  }
  return v;
}

std::string label_of(const Space& space, const Point& point) { return spec::variant_label(variant_of(space, point)); }

std::string describe(const Space& space, const Point& point) {
  std::map<std::string, std::string> parts;
  std::vector<std::string> order;
  for (size_t i = 0; i < space.knobs.size(); ++i) {
    const auto& k = space.knobs[i];
    const int value = k.values[static_cast<size_t>(point[i])];
    if (!parts.count(k.workload)) order.push_back(k.workload);
    auto& text = parts[k.workload];
    if (k.setting == Knob::Setting::sm_percent)
      text = fmt::format("{} {}%{}", k.workload, value, text);
    else if (value != 0)
      text += fmt::format(" (priority {})", value);
  }
  std::string out;
  for (const auto& w : order) out += (out.empty() ? "" : ", ") + parts[w];
  return out;
}

bool Outcome::feasible() const { return measured && worst_excess() <= 0; }

double Outcome::worst_excess() const {
  double worst = -std::numeric_limits<double>::infinity();
  for (const auto& [_, e] : slo_excess) worst = std::max(worst, e);
  return slo_excess.empty() ? 0 : worst;
}

bool better(const Outcome& a, const Outcome& b, double min_gain) {
  if (!a.measured) return false;
  if (!b.measured) return true;
  if (a.feasible() != b.feasible()) return a.feasible();
  if (a.feasible()) return a.objective > b.objective + min_gain * std::abs(b.objective);
  return a.worst_excess() < b.worst_excess() - min_gain;
}

PatternSearch::PatternSearch(Space space, Point start, double min_gain, double prune_margin)
    : space_(std::move(space)), min_gain_(min_gain), prune_margin_(prune_margin), incumbent_(std::move(start)) {
  // A first move of about a third of the range: 100 → 70 → 40 → 10 in steps of 10.
  for (const auto& k : space_.knobs) steps_.push_back(std::max(1, static_cast<int>(k.values.size() - 1) / 3));
}

const Trial* PatternSearch::find(const Point& point) const {
  for (const auto& t : trials_)
    if (t.point == point) return &t;
  return nullptr;
}
Trial* PatternSearch::find(const Point& point) { return const_cast<Trial*>(std::as_const(*this).find(point)); }

// No kinder to an SLO workload s than a point b that broke s's SLO: s has no
// more SMs and no better priority, every other workload no fewer SMs and no
// worse priority.
std::optional<std::string> PatternSearch::pruned_by(const Point& point) const {
  for (const auto& b : trials_) {
    if (b.status != Trial::Status::measured || !b.outcome.measured) continue;
    for (const auto& [s, excess] : b.outcome.slo_excess) {
      if (excess <= prune_margin_) continue;
      bool no_kinder = true;
      for (size_t i = 0; i < space_.knobs.size() && no_kinder; ++i) {
        const auto& k = space_.knobs[i];
        const bool own = k.workload == s;
        const bool more_for_it = k.setting == Knob::Setting::sm_percent ? point[i] > b.point[i] : point[i] < b.point[i];
        const bool less_for_it = k.setting == Knob::Setting::sm_percent ? point[i] < b.point[i] : point[i] > b.point[i];
        no_kinder = own ? !more_for_it : !less_for_it;
      }
      if (no_kinder)
        return fmt::format("gives {} no more of the GPU than {}, which missed its SLO by {:.0f}%", s, b.label, excess * 100);
    }
  }
  return std::nullopt;
}

void PatternSearch::build_poll() {
  for (;;) {
    if (shrink_before_next_poll_) {
      if (std::all_of(steps_.begin(), steps_.end(), [](int s) { return s == 1; })) {
        converged_ = true;
        return;
      }
      for (auto& s : steps_) s = std::max(1, s / 2);
    }
    shrink_before_next_poll_ = true;  // unless a move succeeds first
    for (size_t i = 0; i < space_.knobs.size(); ++i)
      for (int dir : {-1, +1}) {
        Point p = incumbent_;
        p[i] = std::clamp(p[i] + dir * steps_[i], 0, static_cast<int>(space_.knobs[i].values.size()) - 1);
        if (p != incumbent_ && std::find(poll_.begin(), poll_.end(), p) == poll_.end()) poll_.push_back(p);
      }
    if (!poll_.empty()) return;
  }
}

std::optional<Point> PatternSearch::next() {
  while (!converged_) {
    if (poll_.empty()) build_poll();
    if (converged_) break;
    Point p = poll_.front();
    poll_.erase(poll_.begin());
    if (const Trial* t = find(p)) {
      if (t->status == Trial::Status::pending) return p;  // asked again before its outcome came
      continue;  // measured earlier: record() already compared it with the incumbent of its time
    }
    Trial trial{p, label_of(space_, p)};
    if (auto why = pruned_by(p)) {
      trial.status = Trial::Status::pruned;
      trial.reason = *why;
      trials_.push_back(std::move(trial));
      continue;
    }
    trials_.push_back(std::move(trial));
    return p;
  }
  return std::nullopt;
}

void PatternSearch::record(const Point& point, const Outcome& outcome) {
  Trial* t = find(point);
  if (!t) {
    trials_.push_back({point, label_of(space_, point)});
    t = &trials_.back();
  }
  t->status = Trial::Status::measured;
  t->outcome = outcome;
  const Trial* inc = find(incumbent_);
  if (point != incumbent_ && (!inc || inc->status != Trial::Status::measured || better(outcome, inc->outcome, min_gain_))) {
    incumbent_ = point;
    poll_.clear();
    shrink_before_next_poll_ = false;  // poll around the new point at the same step
  }
}

}  // namespace gpumix::tune
