// gpumix merge OUT_DIR IN...: combine results databases (a fleet's nodes,
// several machines) into one results folder for `gpumix report`.
#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/store/merge.hpp"

namespace gpumix::cli {

void add_merge(CLI::App& app, Action& action) {
  struct Options {
    std::string out;
    std::vector<std::string> inputs;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "merge", "Combine results databases into one results folder (a fleet's cells become one run again)");
  cmd->add_option("out", opts->out, "Results folder to merge into (created when absent; merging again adds only what is new)")
      ->required();
  cmd->add_option("inputs", opts->inputs,
                  "gpumix.db files, results folders, or folders whose subfolders are results folders")
      ->required();
  cmd->callback([opts, &action] {
    action = [opts]() -> int {
      std::vector<std::filesystem::path> inputs(opts->inputs.begin(), opts->inputs.end());
      const auto dbs = store::find_databases(inputs);
      const auto report = store::merge(opts->out, dbs);
      for (const auto& note : report.notes) std::cerr << "gpumix: note: " << note << "\n";
      std::cout << "merged " << dbs.size() << " database(s) into " << (std::filesystem::path(opts->out) / store::kDatabaseName).string()
                << ": " << report.runs_created << " new run(s), " << report.cells_copied << " cell(s) copied, "
                << report.cells_already << " already there\nsee: gpumix ls --results " << opts->out
                << "\n     gpumix report latest --results " << opts->out << "\n";
      return 0;
    };
  });
}

}  // namespace gpumix::cli
