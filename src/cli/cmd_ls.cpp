// gpumix ls: the runs in a results folder.
#include "cli/commands.hpp"
#include "gpumix/report/run_tables.hpp"
#include "gpumix/util/output_file.hpp"

namespace gpumix::cli {
namespace {

constexpr int kDocumentVersion = 1;  // gpumix.ls: docs/results.md

}  // namespace

void add_ls(CLI::App& app, Action& action) {
  auto opts = std::make_shared<ResultsOptions>();
  auto* cmd = app.add_subcommand("ls", "List the runs in a results folder");
  add_results_option(*cmd, *opts);
  add_format_option(*cmd, opts->format);
  add_out_option(*cmd, opts->out);
  cmd->callback([opts, &action] {
    action = [opts]() -> int {
      const auto format = report::parse_format(opts->format);
      auto store = store::Store::open_for_reading(opts->results_dir);
      auto runs = store.runs();
      std::vector<int> counts;
      for (const auto& r : runs) counts.push_back(static_cast<int>(store.cells(r.id).size()));
      const auto table = report::runs_table(runs, counts);
      OutputFile output(opts->out);
      if (format == report::Format::json) {
        auto doc = json_document("ls", kDocumentVersion);
        doc["results"] = opts->results_dir;
        doc["runs"] = report::table_json(table);
        write_json(output.stream(), doc);
      } else {
        report::render(output.stream(), table, format);
      }
      output.commit();
      return 0;
    };
  });
}

}  // namespace gpumix::cli
