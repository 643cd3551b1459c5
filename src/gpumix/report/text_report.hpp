// The report as text for a terminal (`gpumix report --format text`) or as
// markdown (`--format md`): a run on the CPU says so first; then environment,
// recommendation, what is missing, and the same tables as the HTML report.
#pragma once

#include <ostream>

#include "gpumix/analysis/interference.hpp"
#include "gpumix/analysis/recommend.hpp"
#include "gpumix/report/table.hpp"

namespace gpumix::report {

enum class DocFormat { text, markdown };

// A GitHub-flavoured markdown table: numbers right-aligned (by the first
// row's types), empty cells as "-", '|' escaped.
void render_markdown(std::ostream& out, const Table& table);

void write_text_report(std::ostream& out, const analysis::Analysis& analysis, const analysis::Recommendation& rec,
                       DocFormat format);

}  // namespace gpumix::report
