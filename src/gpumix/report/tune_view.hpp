// A tuning run's answer (tune/answer.hpp) for people and programs: the table
// of configurations, the verdict and the controls' notes, and its JSON.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

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

}  // namespace gpumix::report
