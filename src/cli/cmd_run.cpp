// gpumix run MIX: run every cell of a mix and store the results.
#include <spdlog/spdlog.h>

#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/analysis/summary.hpp"
#include "gpumix/report/run_tables.hpp"
#include "gpumix/run/process_launcher.hpp"
#include "gpumix/run/runner.hpp"
#include "gpumix/spec/parse.hpp"
#include "gpumix/util/environment.hpp"

namespace gpumix::cli {

void add_run(CLI::App& app, Action& action) {
  struct Options {
    std::string mix;
    std::vector<std::string> modes;
    std::optional<int> repeats;
    std::string cell_duration;
    std::optional<uint64_t> seed;
    std::string results;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("run", "Run a mix: baselines, then every mode x repeat; store everything");
  cmd->add_option("mix", opts->mix, "The mix file (YAML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--modes", opts->modes, "Modes to compare, replacing the mix's (e.g. exclusive,timeslice)")->delimiter(',');
  cmd->add_option("--repeats", opts->repeats, "Repeats of each shared cell, replacing the mix's")->check(CLI::Range(1, 1000));
  cmd->add_option("--cell-duration", opts->cell_duration, "Length of each cell (e.g. 30s, 2m), replacing the mix's");
  cmd->add_option("--seed", opts->seed, "Seed, replacing the mix's");
  cmd->add_option("--results", opts->results, "Results folder, replacing the mix's results_dir")->envname("GPUMIX_RESULTS");

  cmd->callback([opts, &action] {
    action = [opts]() -> int {
      spec::Overrides ov;
      if (!opts->modes.empty()) ov.modes = opts->modes;
      ov.repeats = opts->repeats;
      ov.seed = opts->seed;
      if (!opts->cell_duration.empty()) {
        auto d = parse_duration(opts->cell_duration);
        if (!d || d->count() <= 0)
          throw InputError("--cell-duration: expected a positive duration such as 30s or 2m, got '" + opts->cell_duration + "'");
        ov.cell_duration = *d;
      }
      if (!opts->results.empty()) ov.results_dir = opts->results;
      const spec::Mix mix = spec::load_mix(opts->mix, ov);

      auto env = describe_environment();
      if (env["gpus"].empty())
        spdlog::warn("no NVIDIA GPU found on this machine (no /proc/driver/nvidia/gpus): workloads run on the CPU");
      else
        spdlog::info("GPU: {} (driver {})", env["gpus"][0]["model"].get<std::string>(),
                     env["nvidia_driver"].is_string() ? env["nvidia_driver"].get<std::string>() : "unknown");

      auto store = store::Store::open(mix.results_dir);
      run::ProcessLauncher launcher;
      run::Runner runner(mix, store, launcher);
      const auto result = runner.run();

      auto summaries = analysis::summarize(store.cells(result.run_id), store.workloads(result.run_id), store.events(result.run_id));
      std::cout << "\n";
      report::render(std::cout, report::summary_table(summaries), report::Format::table);
      std::cout << "\nrun " << result.run_id << " " << result.status << ": " << result.cells_run << " cell(s), "
                << result.failed_workloads << " workload(s) failed; logs in " << result.run_dir.string()
                << "\nsee: gpumix show " << result.run_id << " --results " << mix.results_dir.string() << "\n";
      if (result.status == "interrupted") return 130;
      return result.failed_workloads > 0 ? 1 : 0;
    };
  });
}

}  // namespace gpumix::cli
