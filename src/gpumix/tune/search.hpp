// `gpumix tune`'s search over MPS settings, as pure functions and one small
// state machine over measured outcomes: no process, clock or store here, so
// CI tests every decision with outcomes it makes up.
//
// The space: per workload (load generators excepted) its SM percentage from
// a list of values, and, for a workload without an SLO, its client priority
// (0 normal, 1 below normal: the latency-critical ones keep the GPU first).
// The search is an opportunistic pattern search (coordinate moves of a
// step, the step halved when no move helps), started from MPS without
// limits: it needs a handful of cells per setting, not the grid's product.
// A point that is no kinder to an SLO's workload than one that already broke
// that SLO by more than the noise margin is pruned unmeasured: taking SMs
// from a workload or giving its neighbours more never shortens its tail.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/spec/mix.hpp"
#include "gpumix/spec/mode_variant.hpp"

namespace gpumix::tune {

struct Knob {
  enum class Setting { sm_percent, priority };
  std::string workload;
  Setting setting = Setting::sm_percent;
  std::vector<int> values;  // ascending; priority: {0, 1}
  int own = 0;              // the mix's own value (sm_percent 100 when it declares none, priority 0)
};
const char* to_string(Knob::Setting setting);

struct Space {
  std::vector<Knob> knobs;
  std::vector<std::string> slo_workloads;  // workloads with a latency SLO
};

struct SpaceOptions {
  int sm_step = 10;                                   // 10 → 10, 20, …, 100
  std::map<std::string, std::vector<int>> sm_values;  // a workload's own list instead
  bool priorities = true;                             // search priorities of workloads without an SLO
};

// The space of `mix`. InputError for a list naming no tunable workload or
// holding a value out of 1..100, or a step out of 1..100.
Space make_space(const spec::Mix& mix, const SpaceOptions& options);

// One value index per knob.
using Point = std::vector<int>;

// MPS without limits: every SM knob at 100 (its highest value), priorities 0.
Point unlimited_point(const Space& space);
// The configured mode a point is: the settings that differ from the mix's own.
spec::ModeVariant variant_of(const Space& space, const Point& point);
std::string label_of(const Space& space, const Point& point);
// "server 100%, train 30% (priority 1)".
std::string describe(const Space& space, const Point& point);

// What a measured point gave: its objective and how far each SLO-holding
// workload is from its limits (worst measured ÷ limit − 1: ≤ 0 meets it).
struct Outcome {
  bool measured = false;   // it has an objective; else `why_not`
  std::string why_not;     // "train made no progress in mps-c3-r1"
  double objective = 0;
  std::map<std::string, double> slo_excess;  // workload → its worst SLO's excess
  bool feasible() const;
  double worst_excess() const;  // the largest excess (0 without SLOs)
};

// Whether `a` beats `b`: feasible over infeasible; then a higher objective by
// more than `min_gain` (relative); between infeasible ones, a smaller excess
// by more than `min_gain`. An unmeasured outcome beats nothing.
bool better(const Outcome& a, const Outcome& b, double min_gain);

struct Trial {
  Point point;
  std::string label;
  enum class Status { pending, measured, pruned } status = Status::pending;
  Outcome outcome;     // when measured
  std::string reason;  // when pruned: which measured point it would do no better than
};
const char* to_string(Trial::Status status);

class PatternSearch {
 public:
  // `start` must have been measured before the first next() (record it).
  PatternSearch(Space space, Point start, double min_gain = 0.01, double prune_margin = 0.05);

  // The next point to measure, or nullopt once the search has converged.
  std::optional<Point> next();
  // A measured point's outcome (the start's, next()'s, or any other).
  void record(const Point& point, const Outcome& outcome);

  const Space& space() const { return space_; }
  const std::vector<Trial>& trials() const { return trials_; }
  const Point& incumbent() const { return incumbent_; }
  bool converged() const { return converged_; }
  // The current step of each knob, in value indexes.
  const std::vector<int>& steps() const { return steps_; }

 private:
  const Trial* find(const Point& point) const;
  Trial* find(const Point& point);
  std::optional<std::string> pruned_by(const Point& point) const;
  void build_poll();

  Space space_;
  double min_gain_, prune_margin_;
  Point incumbent_;
  std::vector<int> steps_;
  std::vector<Point> poll_;  // points still to try around the incumbent
  bool shrink_before_next_poll_ = false;
  bool converged_ = false;
  std::vector<Trial> trials_;
};

}  // namespace gpumix::tune
