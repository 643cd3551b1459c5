// gpumix run MIX: run every cell of a mix and store the results.
#include <spdlog/spdlog.h>

#include <charconv>
#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/analysis/recommend.hpp"
#include "gpumix/analysis/summary.hpp"
#include "gpumix/gpu/nvml.hpp"
#include "gpumix/json_text.hpp"
#include "gpumix/modes/preflight.hpp"
#include "gpumix/report/plan_view.hpp"
#include "gpumix/report/run_data.hpp"
#include "gpumix/report/run_tables.hpp"
#include "gpumix/run/container_launcher.hpp"
#include "gpumix/run/progress.hpp"
#include "gpumix/run/run_environment.hpp"
#include "gpumix/run/runner.hpp"
#include "gpumix/run/session.hpp"
#include "gpumix/spec/mode_variant.hpp"
#include "gpumix/spec/parse.hpp"
#include "gpumix/telemetry/sampler.hpp"
#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/terminal.hpp"

namespace gpumix::cli {

namespace {

// --dry-run: the plan on stdout, nothing started, nothing written.
int print_plan(const spec::Mix& mix, std::optional<int> cell_index, report::Format format) {
  const auto plan = run::make_plan(mix);
  const auto cells = cell_index ? std::vector<run::Cell>{run::cell_at(plan, *cell_index)} : plan;
  if (format == report::Format::json) {
    std::cout << json_text(report::plan_json(mix, plan, cell_index), 2) << "\n";
    return 0;
  }
  report::render(std::cout, report::plan_table(mix, cells), format);
  if (format == report::Format::table) std::cout << "\n" << report::plan_summary(mix, cells) << "\n";
  return 0;
}

}  // namespace

void add_run(CLI::App& app, Action& action) {
  struct Options {
    std::string mix;
    std::vector<std::string> modes;
    std::string repeats;
    std::string cell_duration;
    std::optional<uint64_t> seed;
    std::string results;
    std::string telemetry_str = "100ms";
    std::chrono::milliseconds telemetry_interval{100};
    std::optional<int> cell_index;
    std::string fleet_id;
    bool dry_run = false;
    std::string format = "table";
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("run", "Run a mix: baselines, then every mode x repeat; store everything");
  cmd->add_option("mix", opts->mix, "The mix file (YAML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--modes", opts->modes, "Modes to compare, replacing the mix's (e.g. exclusive,timeslice,mps[train=30])");
  cmd->add_option("--repeats", opts->repeats,
                  "Repeats of every cell, the baselines included (1..1000), or auto: until the decision is clear; replacing the mix's");
  cmd->add_option("--cell-duration", opts->cell_duration, "Length of each cell (e.g. 30s, 2m), replacing the mix's")
      ->type_name("DURATION");
  cmd->add_option("--seed", opts->seed, "Seed, replacing the mix's");
  cmd->add_option("--results", opts->results, "Results folder, replacing the mix's results_dir")
      ->envname(env_vars::kResults)
      ->type_name("DIR");
  cmd->add_option("--telemetry-interval", opts->telemetry_str, "GPU sampling interval (e.g. 100ms; at least 10ms)")
      ->type_name("DURATION")
      ->capture_default_str();
  cmd->add_option("--cell-index", opts->cell_index,
                  "Run only this cell of the plan (0-based, as `gpumix validate` lists; a fleet runs one per node)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--fleet-id", opts->fleet_id, "With --cell-index: names the fleet, so `gpumix merge` joins its cells into one run")
      ->needs("--cell-index");
  auto* dry_run = cmd->add_flag(
      "--dry-run", opts->dry_run, "Print the plan (cells in order with their --cell-index, the time they take at most) and run nothing");
  add_format_option(*cmd, opts->format)->description("With --dry-run: the plan's format")->needs(dry_run);

  cmd->callback([opts, &action] {
    action = [opts]() -> int {
      spec::Overrides ov;
      if (!opts->modes.empty()) {
        ov.modes.emplace();
        for (const auto& given : opts->modes)
          for (auto& m : spec::split_mode_list(given)) ov.modes->push_back(std::move(m));
      }
      if (opts->repeats == "auto") {
        ov.repeats_auto = true;
      } else if (!opts->repeats.empty()) {
        int n = 0;
        auto [p, ec] = std::from_chars(opts->repeats.data(), opts->repeats.data() + opts->repeats.size(), n);
        if (ec != std::errc() || p != opts->repeats.data() + opts->repeats.size() || n < 1 || n > 1000)
          throw InputError("--repeats: expected auto or an integer from 1 to 1000, got '" + opts->repeats + "'");
        ov.repeats = n;
      }
      ov.seed = opts->seed;
      if (!opts->cell_duration.empty()) {
        ov.cell_duration = duration_option("--cell-duration", opts->cell_duration, kPositive);
      }
      if (!opts->results.empty()) ov.results_dir = opts->results;
      opts->telemetry_interval = std::chrono::duration_cast<std::chrono::milliseconds>(
          duration_option("--telemetry-interval", opts->telemetry_str, std::chrono::milliseconds(10)));
      const spec::Mix mix = spec::load_mix(opts->mix, ov);
      if (opts->dry_run) return print_plan(mix, opts->cell_index, report::parse_format(opts->format));
      auto store = store::Store::open(mix.results_dir);
      const auto result = run_mix(mix, store, opts->telemetry_interval, [&](run::Runner& runner) {
        if (opts->cell_index) runner.run_only(*opts->cell_index, opts->fleet_id);
        if (mix.auto_repeats.enabled)
          runner.set_repeat_policy([&store, precision = mix.auto_repeats.precision](int64_t run_id, int repeats_done) {
            const auto analysis = analysis::analyze(report::load_run(store, run_id));
            const auto decision = analysis::decide_repeats(analysis, analysis::recommend(analysis), precision);
            if (!decision.stop)
              spdlog::info("repeats: auto: after {} repeat(s) the answer is not clear yet; another repeat", repeats_done);
            return run::RepeatVerdict{decision.stop, decision.reason};
          });
      }, opts->cell_index);

      const auto summaries = report::summarize_run(store, result.run_id);
      // A run on the CPU suggests no mode, here as in its report.
      const auto row = store.run(result.run_id);
      const bool on_cpu = row && run::RunEnvironment::parse(row->environment_json).cpu_only_reason();
      std::cout << "\n";
      report::render(std::cout, report::summary_table(summaries), report::Format::table);
      std::cout << "\nrun " << result.run_id << " " << store::to_string(result.status) << ": " << result.cells_run << " cell(s), "
                << result.failed_workloads << " workload(s) failed; logs in " << result.run_dir.string()
                << "\nsee: gpumix show " << result.run_id << " --results " << mix.results_dir.string()
                << "\n     gpumix report " << result.run_id << " --results " << mix.results_dir.string()
                << (on_cpu ? "   (the analysis and plots; the cells ran on the CPU, so no mode is recommended)\n"
                           : "   (the analysis, the recommended mode and plots)\n");
      if (result.status == store::RunStatus::interrupted) return 130;
      return result.failed_workloads > 0 ? 1 : 0;
    };
  });
}

}  // namespace gpumix::cli
