#include "gpumix/report/text_report.hpp"

#include <fmt/format.h>


#include <sstream>

#include "gpumix/report/analysis_tables.hpp"
#include "gpumix/report/tune_view.hpp"

namespace gpumix::report {
namespace {

std::string md_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n' || c == '\r') out += ' ';
    else out += c;
  }
  return out;
}

}  // namespace

void render_markdown(std::ostream& out, const Table& t) {
  std::vector<bool> right(t.columns.size(), false);
  if (!t.rows.empty())
    for (size_t i = 0; i < t.rows[0].size() && i < right.size(); ++i)
      right[i] = is_number(t.rows[0][i]);
  out << "|";
  for (const auto& c : t.columns) out << " " << md_escape(c) << " |";
  out << "\n|";
  for (size_t i = 0; i < t.columns.size(); ++i) out << (right[i] ? " ---: |" : " --- |");
  out << "\n";
  for (const auto& row : t.rows) {
    out << "|";
    for (size_t i = 0; i < t.columns.size(); ++i) out << " " << md_escape(i < row.size() ? cell_text(row[i], t.precision) : "") << " |";
    out << "\n";
  }
}

void write_text_report(std::ostream& out, const analysis::Analysis& a, const analysis::Recommendation& r, DocFormat format) {
  const bool md = format == DocFormat::markdown;
  const auto env = environment_fields(a.run);
  const auto banner = cpu_run_banner(a);
  const auto missing = missing_list(a);
  const auto tuned = tuned_run(a);
  if (md) {
    out << "# gpumix report: run " << a.run.id << " (" << md_escape(a.run.mix_name) << ")\n\n";
    if (!banner.empty()) out << "> **CPU run.** " << md_escape(banner) << "\n\n";
    for (const auto& [k, v] : env) out << "- **" << k << "**: " << md_escape(v) << "\n";
    out << "\n## Recommendation\n\n**" << md_escape(r.headline) << "**\n\n";
    for (const auto& n : r.notes) out << "> " << md_escape(n) << "\n>\n";
    if (!r.notes.empty()) out << "\n";
    if (tuned) {
      out << "## Tuning\n\n" << md_escape(tune_versus_recommendation(tuned->answer, r)) << "\n\n";
      std::istringstream lines(tune_summary(tuned->answer, tuned->record));
      for (std::string line; std::getline(lines, line);)
        if (const auto from = line.find_first_not_of(' '); from != std::string::npos) out << "- " << md_escape(line.substr(from)) << "\n";
      out << "\n";
      render_markdown(out, tune_table(tuned->answer));
      out << "\n";
    }
    if (!missing.empty()) {
      out << "## What is missing\n\n";
      for (const auto& m : missing) out << "- " << md_escape(m) << "\n";
      out << "\n";
    }
  } else {
    out << "gpumix report: run " << a.run.id << " (" << a.run.mix_name << ")\n";
    if (!banner.empty()) out << "\nCPU RUN: " << banner << "\n\n";
    size_t width = 0;
    for (const auto& [k, v] : env) width = std::max(width, k.size());
    for (const auto& [k, v] : env) out << "  " << k << std::string(width - k.size() + 2, ' ') << v << "\n";
    out << "\nRECOMMENDATION\n  " << r.headline << "\n";
    for (const auto& n : r.notes) out << "  note: " << n << "\n";
    if (tuned) {
      out << "\nTUNING\n  " << tune_versus_recommendation(tuned->answer, r) << "\n";
      std::istringstream lines(tune_summary(tuned->answer, tuned->record));
      for (std::string line; std::getline(lines, line);) out << "  " << line << "\n";
      render(out, tune_table(tuned->answer), Format::table);
    }
    if (!missing.empty()) {
      out << "\nMISSING\n";
      for (const auto& m : missing) out << "  - " << m << "\n";
    }
  }
  for (const auto& s : report_sections(a, r)) {
    if (md) {
      out << "## " << s.title << "\n\n" << s.caption << "\n\n";
      render_markdown(out, s.table);
      out << "\n";
    } else {
      out << "\n== " << s.title << " ==\n" << s.caption << "\n";
      render(out, s.table, Format::table);
    }
  }
}

}  // namespace gpumix::report
