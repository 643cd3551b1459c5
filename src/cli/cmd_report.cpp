// gpumix report [RUN]: what a run says — the recommendation with its reasons,
// NP, STP, ANTT, fairness, latency, GPU activity and energy — as one
// self-contained HTML file (default), text for a terminal, markdown, or a
// versioned JSON document for scripts (docs/report-json.md).
#include <spdlog/spdlog.h>

#include <fstream>
#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/analysis/interference.hpp"
#include "gpumix/analysis/recommend.hpp"
#include "gpumix/report/html_report.hpp"
#include "gpumix/report/json_report.hpp"
#include "gpumix/report/run_data.hpp"
#include "gpumix/report/text_report.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/output_file.hpp"

namespace gpumix::cli {

void add_report(CLI::App& app, Action& action) {
  auto opts = std::make_shared<ResultsOptions>();
  opts->format = "html";
  auto* cmd = app.add_subcommand("report", "Report on a run: which mode to use and why, with plots (HTML) or tables");
  add_run_argument(*cmd, *opts);
  add_results_option(*cmd, *opts);
  add_format_option(*cmd, opts->format, {"html", "text", "md", "json"},
                    "html: one self-contained file with plots; text: for a terminal; md: markdown; json: for scripts "
                    "(docs/report-json.md)");
  add_out_option(*cmd, opts->out,
                 "Write here (- for standard output); default: html to <results>/report-<run>.html, text, md and json "
                 "to standard output");
  cmd->callback([opts, &action] {
    action = [opts]() -> int {
      auto store = store::Store::open_for_reading(opts->results_dir);
      const int64_t id = resolve_run(store, opts->run);
      const auto input = report::load_run(store, id);
      const auto analysis = analysis::analyze(input);
      const auto rec = analysis::recommend(analysis);

      std::string path = opts->out;
      if (path.empty() && opts->format == "html")
        path = (std::filesystem::path(opts->results_dir) / ("report-" + std::to_string(id) + ".html")).string();
      OutputFile output(path);
      std::ostream& out = output.stream();
      if (opts->format == "html")
        report::write_html_report(out, input, analysis, rec, report::load_probes(store, input.run));
      else if (opts->format == "json")
        out << report::dump_report(report::analysis_json(analysis, rec)) << "\n";
      else
        report::write_text_report(out, analysis, rec,
                                  opts->format == "md" ? report::DocFormat::markdown : report::DocFormat::text);
      output.commit();
      if (!output.is_stdout()) spdlog::info("report of run {} written to {}", id, path);
      if (opts->format == "html") spdlog::info("{}", rec.headline);
      return 0;
    };
  });
}

}  // namespace gpumix::cli
