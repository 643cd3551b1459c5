// `gpumix tune` across a fleet of nodes: a search measures one configuration
// at a time and chooses the next from the last, so a fleet instead gets its
// candidates up front (`--emit-candidates`), measures them all at once (the
// fleet Indexed Job of `gpumix k8s render`, then `gpumix merge`), and the
// answer is read back from the merged run (`--from-run`). Pure functions.
#pragma once

#include <string>
#include <vector>

#include "gpumix/spec/mix.hpp"
#include "gpumix/tune/record.hpp"
#include "gpumix/tune/search.hpp"

namespace gpumix::tune {

struct CandidatePlan {
  std::string shape;                    // "the whole grid" or "one setting at a time from MPS without limits"
  std::vector<std::string> controls;    // timeslice, MPS without limits
  std::vector<std::string> candidates;  // configured modes, none a control
  // What the emitted mix lists: the exclusive baselines, the controls, the candidates.
  std::vector<std::string> modes() const;
};

// The whole grid of `space` when it has at most `max_candidates` points
// besides the controls; else every point one setting away from MPS without
// limits (the search's first poll around its start). InputError when even
// that is more than `max_candidates`, saying how to narrow the space.
CandidatePlan candidate_plan(const Space& space, size_t max_candidates);

// The record of a run measured from a candidate plan, which no search took:
// the space's knobs, the controls, and each configured MPS mode of
// `run_modes` (a run's modes, in order) as a measured trial.
TuneRecord plan_record(const spec::Mix& mix, const Space& space, const Objective& objective,
                       const std::vector<std::string>& run_modes);

}  // namespace gpumix::tune
