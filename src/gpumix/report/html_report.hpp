// The HTML report: one self-contained file (no network: vega, vega-lite and
// vega-embed are inlined from the binary, with their licenses), environment
// and recommendation at the top (a run on the CPU says so above them, and its
// figures of the modes are tagged "CPU pipeline check"), then the plots and
// tables, laid out to read in a 1280 px window and on A4 or Letter paper
// without sideways scrolling.
//
// Once every chart has rendered (or failed), the page writes a JSON status
// into <pre id="gpumix-status">: {"done":true,"charts":{"<id>":<marks>},
// "errors":[...]} — the number of marks each chart drew, and every script
// error, console error or warning. Tests read it from the rendered DOM.
#pragma once

#include <ostream>
#include <string>

#include "gpumix/analysis/interference.hpp"
#include "gpumix/analysis/recommend.hpp"
#include "gpumix/probe/probe_store.hpp"

namespace gpumix::report {

// `text` with &, <, >, " and ' escaped for HTML.
std::string html_escape(const std::string& text);

// `probes`: the GPU's sharing mechanics (report/run_data's load_probes), a
// section of their own when there are any.
void write_html_report(std::ostream& out, const analysis::RunInput& input, const analysis::Analysis& analysis,
                       const analysis::Recommendation& rec, const probe::ProbeResults& probes = {});

}  // namespace gpumix::report
