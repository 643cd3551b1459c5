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
#include "gpumix/tune/fleet_plan.hpp"
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
    std::string emit_candidates;
    int max_candidates = 40;
    std::string from_run;
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
  auto* candidates = cmd->add_option("--emit-candidates", opts->emit_candidates,
                                     "Measure nothing: write the controls and candidates as one mix, to measure them all at once "
                                     "(e.g. as a fleet: `gpumix k8s render FILE --mode mps`), then answer with --from-run")
                          ->type_name("FILE");
  cmd->add_option("--max-candidates", opts->max_candidates,
                  "--emit-candidates: the whole grid when it has at most this many configurations, else one setting at a time")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  cmd->add_option("--from-run", opts->from_run,
                  "Measure nothing: answer from a run of the mix's configured modes (e.g. a merged fleet run of --emit-candidates), "
                  "by id or latest, in --results")
      ->type_name("RUN")
      ->excludes(candidates);
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
      const auto space = tune::make_space(mix, to.space);  // its errors before the results folder is touched
      if (!opts->emit_candidates.empty()) {
        const auto plan = tune::candidate_plan(space, static_cast<size_t>(opts->max_candidates));
        OutputFile file(opts->emit_candidates);
        file.stream() << tune::emit_modes(
            mix, plan.modes(),
            fmt::format("Candidates of gpumix tune ({}): {} control(s), {} candidate(s)\nfrom {}\n"
                        "Measure them (gpumix run, or a fleet: gpumix k8s render THIS --mode mps), then:\n"
                        "  gpumix tune THIS --from-run latest --objective {} --results DIR",
                        plan.shape, plan.controls.size(), plan.candidates.size(),
                        std::filesystem::absolute(mix.source_path).string(), to.objective.text()));
        file.commit();
        spdlog::info("wrote {}: {} control(s) and {} candidate(s), {}", opts->emit_candidates, plan.controls.size(),
                     plan.candidates.size(), plan.shape);
        return 0;
      }
      // Both files are checked before hours of measuring, and written after.
      std::optional<OutputFile> emitted;
      if (!opts->emit_mix.empty()) emitted.emplace(opts->emit_mix);
      OutputFile output(opts->out);

      int64_t run_id = 0;
      store::RunStatus status = store::RunStatus::completed;
      std::optional<tune::TuneRecord> record;
      std::optional<analysis::Analysis> analysis;
      if (!opts->from_run.empty()) {
        auto store = store::Store::open_for_reading(mix.results_dir);
        run_id = resolve_run(store, opts->from_run);
        analysis = analysis::analyze(report::load_run(store, run_id));
        status = analysis->run.status;
        std::vector<std::string> modes;
        for (const auto& m : analysis->modes) modes.push_back(m.mode);
        if (status != store::RunStatus::completed)
          spdlog::warn("run {} is {}: the answer covers the cells it holds (a fleet's merge names the missing ones)", run_id,
                       store::to_string(status));
        record = tune::plan_record(mix, space, to.objective, modes);
        if (record->trials.empty())
          throw InputError(fmt::format("--from-run {}: run {} measured no configured MPS mode of this mix's space (its modes: {})",
                                       opts->from_run, run_id, fmt::join(modes, ", ")));
      } else {
        auto store = store::Store::open(mix.results_dir);
        tune::Tuner tuner(mix, [&store](int64_t id) { return analysis::analyze(report::load_run(store, id)); }, to);
        spdlog::info("tune: objective {}, budget {}, {} setting(s) searched from {}", to.objective.text(), format_duration(to.budget),
                     tuner.record().knobs.size(), tuner.record().controls.back());
        const auto result = run_mix(tuner.start_mix(), store, telemetry, [&](run::Runner& runner) {
          runner.set_plan_extension([&tuner](int64_t id, const std::vector<run::Cell>& plan) { return tuner.step(id, plan); });
        });
        run_id = result.run_id;
        status = result.status;
        record = tuner.record();
        analysis = analysis::analyze(report::load_run(store, run_id));
      }

      const auto answer = tune::answer(*analysis, *record);
      if (opts->format == "json") {
        auto doc = json_document("tune", 1);
        doc["run_id"] = run_id;
        doc["status"] = store::to_string(status);
        doc["cpu_only"] = analysis->cpu_only ? nlohmann::json(*analysis->cpu_only) : nlohmann::json(nullptr);
        doc.update(report::tune_json(answer, *record));
        write_json(output.stream(), doc);
      } else {
        report::render(output.stream(), report::tune_table(answer), report::Format::table);
        output.stream() << "\n" << report::tune_summary(answer, *record);
        if (analysis->cpu_only)
          output.stream() << "these cells ran on the CPU (" << *analysis->cpu_only << "): the figures test the pipeline, not a GPU\n";
        output.stream() << "see: gpumix report " << run_id << " --results " << mix.results_dir.string() << "\n";
      }
      output.commit();
      if (emitted) {
        if (!answer.best) {
          spdlog::error("--emit-mix: nothing written to {}: no configuration met every SLO", opts->emit_mix);
        } else {
          emitted->stream() << tune::emit_mix(mix, *answer.best,
                                              fmt::format("Tuned by gpumix tune (run {}, objective {}): {}\nfrom {}", run_id,
                                                          to.objective.text(), *answer.best, std::filesystem::absolute(mix.source_path).string()));
          emitted->commit();
          spdlog::info("wrote {}: {}", opts->emit_mix, *answer.best);
        }
      }
      if (opts->from_run.empty() && status == store::RunStatus::interrupted) return 130;
      return answer.best ? 0 : 1;
    };
  });
}

}  // namespace gpumix::cli
