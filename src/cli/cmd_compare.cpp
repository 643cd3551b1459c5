// gpumix compare RUN_A RUN_B: two runs side by side, e.g. the same mix on two
// GPUs or driver versions. Each run is DIR:ID, DIR (its latest run), or an id
// (or latest) in --results. Text, markdown, or JSON for scripts (docs/report-json.md).
#include <fstream>
#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/report/compare.hpp"
#include "gpumix/report/json_report.hpp"
#include "gpumix/report/run_data.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/output_file.hpp"

namespace gpumix::cli {
namespace {

report::ComparedRun load(const std::string& text, const std::string& results, const std::string& name) {
  const auto ref = report::parse_run_ref(text, results);
  auto store = store::Store::open_for_reading(ref.results_dir);
  const int64_t id = resolve_run(store, ref.run);
  report::ComparedRun r;
  r.label = name + ": run " + std::to_string(id) + " in " + ref.results_dir.string();
  r.analysis = analysis::analyze(report::load_run(store, id));
  r.recommendation = analysis::recommend(r.analysis);
  return r;
}

}  // namespace

void add_compare(CLI::App& app, Action& action) {
  struct Options {
    std::string a, b;
    std::string results = "results";
    std::string format = "text";
    std::string out;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("compare", "Compare two runs (e.g. two GPUs or driver versions) mode by mode");
  cmd->add_option("run_a", opts->a, "The first run: DIR:ID, DIR (its latest run), or a run id in --results")->required();
  cmd->add_option("run_b", opts->b, "The second run, likewise")->required();
  add_results_option(*cmd, opts->results, "Results folder for runs given by id");
  add_format_option(*cmd, opts->format, {"text", "md", "json"}, "text, md (markdown) or json (for scripts: docs/report-json.md)");
  add_out_option(*cmd, opts->out);
  cmd->callback([opts, &action] {
    action = [opts]() -> int {
      const auto a = load(opts->a, opts->results, "A");
      const auto b = load(opts->b, opts->results, "B");
      OutputFile output(opts->out);
      std::ostream& out = output.stream();
      if (opts->format == "json")
        out << report::dump_report(report::compare_json(a, b)) << "\n";
      else
        report::write_comparison(out, a, b, opts->format == "md" ? report::DocFormat::markdown : report::DocFormat::text);
      output.commit();
      return 0;
    };
  });
}

}  // namespace gpumix::cli
