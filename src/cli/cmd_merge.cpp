// gpumix merge --results OUT IN...: combine results databases (a fleet's
// nodes, several machines) into one results folder for `gpumix report`.
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/probe/probe_store.hpp"
#include "gpumix/store/merge.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::cli {

void add_merge(CLI::App& app, Action& action) {
  struct Options {
    std::string results;  // no default: merging into ./results by accident would mix unrelated runs
    std::vector<std::string> inputs;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "merge", "Combine results databases into one results folder (a fleet's cells become one run again)");
  cmd->add_option("inputs", opts->inputs,
                  "gpumix.db files, results folders, or folders whose subfolders are results folders")
      ->required()
      ->type_name("PATH");
  add_results_option(*cmd, opts->results,
                     "Results folder to merge into (created when absent; merging again adds only what is new)");
  cmd->callback([opts, &action] {
    action = [opts]() -> int {
      // Older gpumix took the destination as the first positional: an old call stops here.
      if (opts->results.empty())
        throw InputError("--results: name the results folder to merge into: gpumix merge --results OUT IN... (or set "
                         "GPUMIX_RESULTS); every positional argument is an input");
      std::vector<std::filesystem::path> inputs(opts->inputs.begin(), opts->inputs.end());
      const auto dbs = store::find_databases(inputs);
      for (const auto& db : dbs) probe::ProbeStore::check_mergeable(db);  // before anything is written
      const auto report = store::merge(opts->results, dbs);
      for (const auto& note : report.notes) spdlog::info("note: {}", note);
      // The probe sessions (`gpumix probe`, a fleet's probe pods) beside the runs.
      probe::ProbeStore::MergeCount probes;
      {
        probe::ProbeStore out(opts->results);
        for (const auto& db : dbs) {
          const auto c = out.merge_from(db);
          probes.copied += c.copied;
          probes.already += c.already;
        }
      }
      std::cout << "merged " << dbs.size() << " database(s) into "
                << (std::filesystem::path(opts->results) / store::kDatabaseName).string() << ": " << report.runs_created
                << " new run(s), " << report.cells_copied << " cell(s) copied, " << report.cells_already
                << " already there";
      if (probes.copied + probes.already > 0)
        std::cout << "; " << probes.copied << " probe session(s) copied, " << probes.already << " already there";
      std::cout << "\nsee: gpumix ls --results " << opts->results << "\n     gpumix report latest --results "
                << opts->results << "\n";
      return 0;
    };
  });
}

}  // namespace gpumix::cli
