// The HTML report's plots as Vega-Lite specifications (JSON), data inline.
// Every chart colours modes alike (mode_colors), carries its units in axis
// titles and a tooltip on every mark. A chart without data is left out.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gpumix/analysis/interference.hpp"

namespace gpumix::report {

struct Chart {
  std::string id;        // "np", "system", "latency-cdf", "ttft-cdf", "tpot-cdf", "p99", "activity", "energy"
  std::string section;   // the report section it belongs to
  nlohmann::json spec;   // Vega-Lite
};

// A mode's colour, the same in every chart: exclusive grey, timeslice blue,
// mps orange, mps-split green, mig purple; other modes by their place among
// `all_modes` (the run's).
std::string mode_color(const std::string& mode, const std::vector<std::string>& all_modes);
// A Vega-Lite colour encoding for the field "mode" over `modes` (those the
// chart shows, so its legend lists no absent mode).
nlohmann::json mode_color_scale(const std::vector<std::string>& modes, const std::vector<std::string>& all_modes = {});

std::vector<Chart> build_charts(const analysis::RunInput& input, const analysis::Analysis& analysis);

}  // namespace gpumix::report
