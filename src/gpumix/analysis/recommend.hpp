// Which mode to use: the shared mode with the highest STP among those that
// meet every SLO in every repeat, under which no workload failed, was
// not_ready or made no progress, and every workload has an NP (enough
// evidence); when the best two cannot be told apart, neither; every
// other mode with the reasons it was passed over (which SLO it broke, by how
// much, in how many repeats). When none qualifies, the closest one: fewest
// failures, then the smallest worst SLO excess, then the highest STP. A run
// whose cells ran on the CPU (Analysis::cpu_only) gets its verdicts but no
// mode. Pure.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "gpumix/analysis/interference.hpp"

namespace gpumix::analysis {

enum class VerdictState { recommended, eligible, rejected, skipped, unmeasured };
std::string to_string(VerdictState s);

// Why a recommendation names no mode, for scripts (the JSON's
// recommendation.no_mode_code): the cells ran on the CPU; the run has no
// shared mode; none was measured; the eligible ones have no STP to rank them
// by; the best two are within noise; none qualifies (see `closest`).
enum class NoMode { none, cpu_only, no_shared_mode, none_measured, unranked, undecided, none_qualifies };
std::string to_string(NoMode n);  // "cpu_only", ...; "none" when a mode is named

struct ModeVerdict {
  std::string mode;
  VerdictState state = VerdictState::unmeasured;
  std::optional<double> stp;         // mean over repeats
  std::optional<double> stp_margin;  // half the 95 % interval
  // The largest relative SLO excess (worst ÷ limit − 1); infinite when an SLO
  // could not be measured; 0 when every SLO is met.
  double worst_excess = 0;
  bool failures = false;
  // Why it was passed over (or, for the recommended and eligible ones, what they met).
  std::vector<std::string> reasons;
};

struct Recommendation {
  std::optional<std::string> mode;  // the mode to use
  NoMode no_mode = NoMode::none;     // why there is none
  bool slos_met = false;            // some shared mode meets every SLO
  std::optional<std::string> closest;  // when none does: the nearest miss
  std::string headline;                // one sentence
  std::vector<ModeVerdict> verdicts;   // every shared mode, the recommended first
  std::vector<std::string> notes;      // noise, partial figures, the baseline's own SLOs
  // When the evidence cannot separate the best eligible modes: them, and no
  // `mode`; `settle` says what would decide (more repeats, `repeats: auto`).
  std::vector<std::string> undecided;
  std::string settle;
};

Recommendation recommend(const Analysis& analysis);

// `repeats: auto`: whether another repeat could still change the answer. Stops
// when fewer than two modes are eligible, when the best two differ beyond
// noise (their paired 95 % interval excludes 0), or when every eligible
// mode's STP half-width is within `precision` of its mean.
struct RepeatDecision {
  bool stop = false;
  std::string reason;
};
RepeatDecision decide_repeats(const Analysis& analysis, const Recommendation& recommendation, double precision);

}  // namespace gpumix::analysis
