#include "gpumix/tune/tuner.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "gpumix/run/plan.hpp"
#include "gpumix/spec/sharing_mode.hpp"
#include "gpumix/tune/answer.hpp"

namespace gpumix::tune {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The search over the mix's space, from MPS without limits.
PatternSearch start_search(const spec::Mix& mix, const TuneOptions& options) {
  auto space = make_space(mix, options.space);
  auto start = unlimited_point(space);
  return PatternSearch(std::move(space), std::move(start), options.min_gain);
}
}  // namespace

Tuner::Tuner(const spec::Mix& mix, AnalyzeRun analyze, TuneOptions options)
    : mix_(mix),
      start_mix_(mix),
      analyze_(std::move(analyze)),
      options_(std::move(options)),
      search_(start_search(mix, options_)),
      started_(std::chrono::steady_clock::now()) {
  unlimited_ = label_of(search_.space(), search_.incumbent());
  start_mix_.modes = {std::string(spec::baseline_mode().name), "timeslice", unlimited_};
  start_mix_.repeats = 1;
  start_mix_.auto_repeats.enabled = false;
  record_.objective = options_.objective;
  record_.budget_s = to_seconds(options_.budget);
  record_.knobs = search_.space().knobs;
  record_.controls = {"timeslice", unlimited_};
  for (const auto& w : mix.workloads)
    if (w.role == spec::Role::client && w.start_after) record_.slo_owners[w.name] = *w.start_after;
  sync_record();
}

void Tuner::sync_record() {
  record_.trials.clear();
  for (const auto& t : search_.trials())
    record_.trials.push_back({t.label, describe(search_.space(), t.point), to_string(t.status), t.reason});
  record_.elapsed_s = seconds_since(started_);
}

run::PlanStep Tuner::step(int64_t run_id, const std::vector<run::Cell>& plan) {
  const auto analysis = analyze_(run_id);
  const double elapsed = seconds_since(started_);
  const double per_cell = elapsed / static_cast<double>(std::max<size_t>(plan.size(), 1));
  const double left = to_seconds(options_.budget) - elapsed;
  const auto baselines = run::repeat_cells(mix_, {std::string(spec::baseline_mode().name)}, 2, plan).size();
  const double confirm_cost = static_cast<double>(baselines + static_cast<size_t>(options_.confirm)) * per_cell;
  std::vector<run::Cell> next;

  if (phase_ == Phase::start) {
    const auto outcome = outcome_of(analysis, unlimited_, options_.objective, record_.slo_owners);
    search_.record(search_.incumbent(), outcome);
    const auto* mps = analysis.mode(unlimited_);
    if (mps && mps->skipped()) {
      record_.stopped_because = "MPS is unavailable here: " + mps->skip_reason;
      phase_ = Phase::done;
    } else {
      phase_ = Phase::search;
    }
  } else if (phase_ == Phase::search && pending_) {
    search_.record(*pending_, outcome_of(analysis, label_of(search_.space(), *pending_), options_.objective, record_.slo_owners));
    pending_.reset();
  }

  if (phase_ == Phase::search) {
    if (left < per_cell + confirm_cost) {
      record_.stopped_because = fmt::format("the budget: {:.0f} s left, a cell takes about {:.0f} s and confirming the best {:.0f} s",
                                            std::max(left, 0.0), per_cell, confirm_cost);
      phase_ = Phase::confirm;
    } else if (auto p = search_.next()) {
      pending_ = *p;
      next = run::repeat_cells(mix_, {label_of(search_.space(), *p)}, 1, plan);
      spdlog::info("tune: trying {} ({})", label_of(search_.space(), *p), describe(search_.space(), *p));
    } else {
      record_.stopped_because = "converged: no single setting moved by its smallest step improved on " + label_of(search_.space(), search_.incumbent());
      phase_ = Phase::confirm;
    }
  }

  if (phase_ == Phase::confirm && next.empty()) {
    phase_ = Phase::done;
    sync_record();
    const auto a = answer(analysis, record_);
    std::vector<const CandidateRow*> ranked;
    for (const auto& r : a.rows)
      if (r.feasible && r.objective) ranked.push_back(&r);
    std::stable_sort(ranked.begin(), ranked.end(), [](auto* x, auto* y) { return *x->objective > *y->objective; });
    if (ranked.size() > static_cast<size_t>(options_.confirm)) ranked.resize(static_cast<size_t>(options_.confirm));
    if (ranked.empty()) {
      record_.stopped_because += "; nothing to confirm: no configuration met every SLO";
    } else if (left < confirm_cost) {
      record_.stopped_because += "; the best were not measured again: the budget had no room for it";
    } else {
      std::vector<std::string> modes = {std::string(spec::baseline_mode().name)};
      for (const auto* r : ranked) {
        modes.push_back(r->mode);
        record_.confirmed.push_back(r->mode);
      }
      next = run::repeat_cells(mix_, modes, 2, plan);
      spdlog::info("tune: measuring the best again with fresh baselines: {}", fmt::join(record_.confirmed, ", "));
    }
  }
  sync_record();
  return {std::move(next), record_.to_json_text()};
}

}  // namespace gpumix::tune
