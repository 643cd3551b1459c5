// The answer of a tuning run, from its analysis and its record alone (so
// `gpumix tune` prints it and `gpumix report` recomputes it): every
// configuration measured, the best that meets every SLO, the Pareto front of
// STP against the tightest SLO's headroom, and why each control lost.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/analysis/interference.hpp"
#include "gpumix/tune/record.hpp"
#include "gpumix/tune/search.hpp"

namespace gpumix::tune {

// A mode's outcome in the analysis, for the search: its objective (the mean
// over its repeats) and each SLO owner's worst excess over all of them.
Outcome outcome_of(const analysis::Analysis& analysis, const std::string& mode, const Objective& objective,
                   const std::map<std::string, std::string>& slo_owners);

struct CandidateRow {
  std::string mode;
  std::string kind;      // "control" or "candidate"
  std::string settings;  // in words
  std::string status;    // "measured", "pruned", "not measured"
  std::string note;      // why pruned or not measured; a missed SLO
  int repeats = 0;
  analysis::Estimate stp;
  std::optional<double> objective;
  std::optional<double> headroom;  // the tightest SLO's: 1 − worst ÷ limit (< 0: missed)
  std::string tightest_slo;        // its label
  bool feasible = false;
  bool on_front = false;
  std::map<std::string, std::optional<double>> np;  // workload → mean NP
};

struct Answer {
  Objective objective;
  std::vector<CandidateRow> rows;  // controls first, then the search's order
  std::optional<std::string> best;  // the mode that meets every SLO with the highest objective
  std::string verdict;              // one sentence
  std::vector<std::string> control_notes;  // why each control lost (or that it won)
  const CandidateRow* row(const std::string& mode) const;
};

Answer answer(const analysis::Analysis& analysis, const TuneRecord& record);

}  // namespace gpumix::tune
