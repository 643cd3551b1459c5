// gpumix ls: the runs in a results folder.
#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/report/run_tables.hpp"

namespace gpumix::cli {

void add_ls(CLI::App& app, Action& action) {
  auto opts = std::make_shared<ResultsOptions>();
  auto* cmd = app.add_subcommand("ls", "List the runs in a results folder");
  add_results_option(*cmd, *opts);
  add_format_option(*cmd, opts->format);
  cmd->callback([opts, &action] {
    action = [opts]() -> int {
      auto store = store::Store::open_for_reading(opts->results_dir);
      auto runs = store.runs();
      std::vector<int> counts;
      for (const auto& r : runs) counts.push_back(static_cast<int>(store.cells(r.id).size()));
      report::render(std::cout, report::runs_table(runs, counts), report::parse_format(opts->format));
      return 0;
    };
  });
}

}  // namespace gpumix::cli
