// A tuning run's answer (tune/answer.hpp) for people and programs: the table
// of configurations, the verdict and the controls' notes, and its JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "gpumix/analysis/recommend.hpp"

#include "gpumix/report/table.hpp"
#include "gpumix/tune/answer.hpp"
#include "gpumix/tune/record.hpp"

namespace gpumix::report {

// One row per configuration: controls first, then the search's order.
Table tune_table(const tune::Answer& answer);
// The verdict, the controls' notes and why the search stopped, as lines.
std::string tune_summary(const tune::Answer& answer, const tune::TuneRecord& record);
// {"objective", "best", "verdict", "controls", "stopped_because", "confirmed", "candidates": [...]}
nlohmann::json tune_json(const tune::Answer& answer, const tune::TuneRecord& record);

// A tuning run's record (its plan's search_json) and the answer recomputed
// from its analysis; nullopt for a run `gpumix tune` did not plan.
struct TunedRun {
  tune::TuneRecord record;
  tune::Answer answer;
};
std::optional<TunedRun> tuned_run(const analysis::Analysis& analysis);

// How the tuning answer and the report's recommendation (analysis/recommend)
// relate, in one sentence: they rank differently (the answer by the search's
// objective among the configurations that meet every SLO; the
// recommendation by STP, and it also asks for an NP of every workload and
// a margin beyond noise), so when they differ the report says which answers what.
std::string tune_versus_recommendation(const tune::Answer& answer, const analysis::Recommendation& rec);

}  // namespace gpumix::report
