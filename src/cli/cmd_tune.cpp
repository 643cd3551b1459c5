// gpumix tune MIX: search the mix's MPS settings for the configuration that
// meets every SLO with the most of the objective (docs/tune.md). Every
// configuration is a cell of one run: show, export, report and compare read it.
#include <spdlog/spdlog.h>

#include <charconv>
#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/analysis/interference.hpp"
#include "gpumix/json_text.hpp"
#include "gpumix/report/run_data.hpp"
#include "gpumix/report/tune_view.hpp"
#include "gpumix/spec/parse.hpp"
#include "gpumix/tune/answer.hpp"
#include "gpumix/tune/emit_mix.hpp"
#include "gpumix/tune/tuner.hpp"
#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/output_file.hpp"

namespace gpumix::cli {

namespace {

// --sm WORKLOAD=10,25,50
std::pair<std::string, std::vector<int>> sm_values_option(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    throw InputError("--sm: expected WORKLOAD=PERCENT[,PERCENT...], e.g. train=10,25,50, got '" + text + "'");
  std::pair<std::string, std::vector<int>> out{text.substr(0, eq), {}};
  std::string_view rest(text);
  rest.remove_prefix(eq + 1);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const auto item = rest.substr(0, comma);
    int v = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (ec != std::errc() || end != item.data() + item.size() || v < 1 || v > 100)
      throw InputError("--sm " + text + ": '" + std::string(item) + "' is not a whole percentage from 1 to 100");
    out.second.push_back(v);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace

void add_tune(CLI::App& app, Action& action) {
  struct Options {
    std::string mix;
    std::string budget = "30m";
    std::string objective = "stp";
    int sm_step = 10;
    std::vector<std::string> sm;
    bool no_priorities = false;
    int confirm = 2;
    std::string cell_duration;
    std::string results;
    std::string emit_mix;
    std::string format = "table";
    std::string out;
    std::string telemetry = "100ms";
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "tune", "Search the mix's MPS settings (SM shares, priorities) for the configuration that meets every SLO with the most throughput");
  cmd->add_option("mix", opts->mix, "The mix file (YAML)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--budget", opts->budget, "Wall time for the whole search, the baselines and controls included (e.g. 30m)")
      ->type_name("DURATION")
      ->capture_default_str();
  cmd->add_option("--objective", opts->objective,
                  "What to maximize among the configurations meeting every SLO: stp, min-np (fairness) or throughput:WORKLOAD")
      ->capture_default_str();
  cmd->add_option("--sm-step", opts->sm_step, "SM percentages tried: 100 down in steps of this (1..100)")->capture_default_str();
  cmd->add_option("--sm", opts->sm, "A workload's own SM percentages, WORKLOAD=P1,P2,... (repeatable)")->type_name("WORKLOAD=LIST");
  cmd->add_flag("--no-priorities", opts->no_priorities, "Leave every client priority as the mix sets it");
  cmd->add_option("--confirm", opts->confirm, "Best configurations measured again with fresh baselines (0: none)")
      ->check(CLI::Range(0, 10))
      ->capture_default_str();
  cmd->add_option("--cell-duration", opts->cell_duration, "Length of each cell (e.g. 30s), replacing the mix's")->type_name("DURATION");
  cmd->add_option("--results", opts->results, "Results folder, replacing the mix's results_dir")
      ->envname(env_vars::kResults)
      ->type_name("DIR");
  cmd->add_option("--emit-mix", opts->emit_mix, "Write the best configuration as a mix file (for `gpumix run` or `gpumix k8s render`)")
      ->type_name("FILE");
  cmd->add_option("--telemetry-interval", opts->telemetry, "GPU sampling interval (at least 10ms)")
      ->type_name("DURATION")
      ->capture_default_str();
  add_format_option(*cmd, opts->format, {"table", "json"}, "Format of the answer");
  add_out_option(*cmd, opts->out);

  cmd->callback([opts, &action] {
    action = [opts]() -> int {
      spec::Overrides ov;
      if (!opts->cell_duration.empty()) ov.cell_duration = duration_option("--cell-duration", opts->cell_duration, kPositive);
      if (!opts->results.empty()) ov.results_dir = opts->results;
      const auto telemetry = std::chrono::duration_cast<std::chrono::milliseconds>(
          duration_option("--telemetry-interval", opts->telemetry, std::chrono::milliseconds(10)));
      const spec::Mix mix = spec::load_mix(opts->mix, ov);
      tune::TuneOptions to;
      to.budget = duration_option("--budget", opts->budget, kPositive);
      to.objective = tune::parse_objective(opts->objective, mix);
      to.space.sm_step = opts->sm_step;
      for (const auto& s : opts->sm) {
        auto [name, values] = sm_values_option(s);
        if (to.space.sm_values.count(name)) throw InputError("--sm: " + name + " is given twice");
        to.space.sm_values[name] = std::move(values);
      }
      to.space.priorities = !opts->no_priorities;
      to.confirm = opts->confirm;
      if (mix.workloads.size() < 2 ||
          std::count_if(mix.workloads.begin(), mix.workloads.end(), [](const auto& w) { return w.role != spec::Role::client; }) < 2)
        throw InputError(opts->mix + ": tuning shares the GPU between workloads: the mix needs two that run on it (load generators aside)");
      tune::make_space(mix, to.space);  // its errors before the results folder is touched
      // Both files are checked before hours of measuring, and written after.
      std::optional<OutputFile> emitted;
      if (!opts->emit_mix.empty()) emitted.emplace(opts->emit_mix);
      OutputFile output(opts->out);

      auto store = store::Store::open(mix.results_dir);
      tune::Tuner tuner(mix, [&store](int64_t run_id) { return analysis::analyze(report::load_run(store, run_id)); }, to);
      spdlog::info("tune: objective {}, budget {}, {} setting(s) searched from {}", to.objective.text(), format_duration(to.budget),
                   tuner.record().knobs.size(), tuner.record().controls.back());
      const auto result = run_mix(tuner.start_mix(), store, telemetry, [&](run::Runner& runner) {
        runner.set_plan_extension([&tuner](int64_t run_id, const std::vector<run::Cell>& plan) { return tuner.step(run_id, plan); });
      });

      const auto analysis = analysis::analyze(report::load_run(store, result.run_id));
      const auto answer = tune::answer(analysis, tuner.record());
      if (opts->format == "json") {
        auto doc = json_document("tune", 1);
        doc["run_id"] = result.run_id;
        doc["status"] = store::to_string(result.status);
        doc["cpu_only"] = analysis.cpu_only ? nlohmann::json(*analysis.cpu_only) : nlohmann::json(nullptr);
        doc.update(report::tune_json(answer, tuner.record()));
        write_json(output.stream(), doc);
      } else {
        report::render(output.stream(), report::tune_table(answer), report::Format::table);
        output.stream() << "\n" << report::tune_summary(answer, tuner.record());
        if (analysis.cpu_only)
          output.stream() << "these cells ran on the CPU (" << *analysis.cpu_only << "): the figures test the pipeline, not a GPU\n";
        output.stream() << "see: gpumix report " << result.run_id << " --results " << mix.results_dir.string() << "\n";
      }
      output.commit();
      if (emitted) {
        if (!answer.best) {
          spdlog::error("--emit-mix: nothing written to {}: no configuration met every SLO", opts->emit_mix);
        } else {
          emitted->stream() << tune::emit_mix(mix, *answer.best,
                                              fmt::format("Tuned by gpumix tune (run {}, objective {}): {}\nfrom {}", result.run_id,
                                                          to.objective.text(), *answer.best, std::filesystem::absolute(mix.source_path).string()));
          emitted->commit();
          spdlog::info("wrote {}: {}", opts->emit_mix, *answer.best);
        }
      }
      if (result.status == store::RunStatus::interrupted) return 130;
      return answer.best ? 0 : 1;
    };
  });
}

}  // namespace gpumix::cli
