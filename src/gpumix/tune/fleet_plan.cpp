#include "gpumix/tune/fleet_plan.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "gpumix/spec/sharing_mode.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::tune {

namespace {

std::vector<Point> whole_grid(const Space& space) {
  std::vector<Point> out{Point{}};
  for (const auto& k : space.knobs) {
    std::vector<Point> longer;
    for (const auto& p : out)
      for (size_t v = 0; v < k.values.size(); ++v) {
        auto q = p;
        q.push_back(static_cast<int>(v));
        longer.push_back(std::move(q));
      }
    out = std::move(longer);
  }
  return out;
}

std::vector<Point> one_setting_away(const Space& space, const Point& from) {
  std::vector<Point> out;
  for (size_t i = 0; i < space.knobs.size(); ++i)
    for (size_t v = space.knobs[i].values.size(); v-- > 0;) {  // from the highest value down
      if (static_cast<int>(v) == from[i]) continue;
      auto p = from;
      p[i] = static_cast<int>(v);
      out.push_back(std::move(p));
    }
  return out;
}

// The point a configured mode's settings are in `space`, when they are.
std::optional<Point> point_of(const Space& space, const spec::ModeVariant& variant) {
  Point p;
  for (const auto& k : space.knobs) {
    int value = k.own;
    if (const auto it = variant.mps.find(k.workload); it != variant.mps.end()) {
      const auto& set = k.setting == Knob::Setting::sm_percent ? it->second.sm_percent : it->second.priority;
      if (set) value = *set;
    }
    const auto at = std::find(k.values.begin(), k.values.end(), value);
    if (at == k.values.end()) return std::nullopt;
    p.push_back(static_cast<int>(at - k.values.begin()));
  }
  return p;
}

}  // namespace

std::vector<std::string> CandidatePlan::modes() const {
  std::vector<std::string> out = {std::string(spec::baseline_mode().name)};
  out.insert(out.end(), controls.begin(), controls.end());
  out.insert(out.end(), candidates.begin(), candidates.end());
  return out;
}

CandidatePlan candidate_plan(const Space& space, size_t max_candidates) {
  CandidatePlan plan;
  const auto start = unlimited_point(space);
  plan.controls = {"timeslice", label_of(space, start)};
  auto add = [&](const std::vector<Point>& points) {
    for (const auto& p : points) {
      auto label = label_of(space, p);
      if (std::find(plan.controls.begin(), plan.controls.end(), label) == plan.controls.end() &&
          std::find(plan.candidates.begin(), plan.candidates.end(), label) == plan.candidates.end())
        plan.candidates.push_back(std::move(label));
    }
  };
  // The grid's size without building it: it may be astronomically large.
  double grid = 1;
  for (const auto& k : space.knobs) grid *= static_cast<double>(k.values.size());
  if (grid - 1 <= static_cast<double>(max_candidates)) {
    plan.shape = "the whole grid";
    add(whole_grid(space));
    return plan;
  }
  plan.shape = "one setting at a time from MPS without limits";
  add(one_setting_away(space, start));
  if (plan.candidates.size() > max_candidates)
    throw InputError(fmt::format("--emit-candidates: the space has {:.0f} configurations, and even one setting at a time from MPS "
                                 "without limits gives {} candidates, more than --max-candidates {}: narrow it with --sm-step, "
                                 "--sm WORKLOAD=LIST or --no-priorities, or raise --max-candidates",
                                 grid, plan.candidates.size(), max_candidates));
  return plan;
}

TuneRecord plan_record(const spec::Mix& mix, const Space& space, const Objective& objective, const std::vector<std::string>& run_modes) {
  TuneRecord record;
  record.objective = objective;
  record.knobs = space.knobs;
  record.controls = {"timeslice", label_of(space, unlimited_point(space))};
  for (const auto& w : mix.workloads)
    if (w.role == spec::Role::client && w.start_after) record.slo_owners[w.name] = *w.start_after;
  for (const auto& mode : run_modes) {
    const auto variant = spec::parse_mode_variant(mode, nullptr);
    if (!variant || variant->base != "mps" || spec::is_baseline(mode)) continue;
    if (std::find(record.controls.begin(), record.controls.end(), mode) != record.controls.end()) continue;
    const auto point = point_of(space, *variant);
    record.trials.push_back({mode, point ? describe(space, *point) : mode, to_string(Trial::Status::measured), ""});
  }
  return record;
}

}  // namespace gpumix::tune
