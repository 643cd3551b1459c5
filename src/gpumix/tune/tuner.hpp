// `gpumix tune`'s driver: the run::PlanExtension that grows a run cell by
// cell. The run starts with the baselines and the two controls (timeslice,
// MPS without limits); after each cell the tuner reads the run's analysis,
// gives the search the outcome and asks it for the next point, until the
// search converges or the budget would be exceeded; then, if the budget
// allows, it measures the best configurations again with fresh baselines (a
// second repeat) so that the answer rests on two measurements each.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/analysis/interference.hpp"
#include "gpumix/run/runner.hpp"
#include "gpumix/spec/mix.hpp"
#include "gpumix/tune/record.hpp"
#include "gpumix/tune/search.hpp"

namespace gpumix::tune {

struct TuneOptions {
  Objective objective;
  SpaceOptions space;
  Duration budget = std::chrono::minutes(30);  // the run's wall time, cells and their setup
  int confirm = 2;        // best configurations measured again
  double min_gain = 0.01;  // a move must improve the objective by this much (relative)
};

// The run's analysis so far (the caller reads it from the store).
using AnalyzeRun = std::function<analysis::Analysis(int64_t run_id)>;

class Tuner {
 public:
  // `mix` must outlive the tuner.
  Tuner(const spec::Mix& mix, AnalyzeRun analyze, TuneOptions options);

  // The mix the run starts from: the baselines, timeslice and MPS without
  // limits, one repeat (the rest comes from step()).
  const spec::Mix& start_mix() const { return start_mix_; }
  // Plugs into run::Runner::set_plan_extension; the budget counts from the first call's run start.
  run::PlanStep step(int64_t run_id, const std::vector<run::Cell>& plan);
  const TuneRecord& record() const { return record_; }

 private:
  void sync_record();

  const spec::Mix& mix_;
  spec::Mix start_mix_;
  AnalyzeRun analyze_;
  TuneOptions options_;
  PatternSearch search_;
  std::string unlimited_;
  std::optional<Point> pending_;
  enum class Phase { start, search, confirm, done } phase_ = Phase::start;
  std::chrono::steady_clock::time_point started_;
  TuneRecord record_;
};

}  // namespace gpumix::tune
