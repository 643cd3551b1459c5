// The gpumix subcommands: one file each. add_* registers a subcommand and its
// options with CLI11 and sets `action` to its body when it is chosen. A body
// returns the exit status: 0 success, 1 the run failed, 2 bad input,
// 130 interrupted.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumix/run/runner.hpp"
#include "gpumix/store/store.hpp"
#include "gpumix/util/units.hpp"

namespace gpumix::cli {

using Action = std::function<int()>;

void add_run(CLI::App& app, Action& action);
void add_validate(CLI::App& app, Action& action);
void add_ls(CLI::App& app, Action& action);
void add_show(CLI::App& app, Action& action);
void add_export(CLI::App& app, Action& action);
void add_workloads(CLI::App& app, Action& action);
void add_gpu(CLI::App& app, Action& action);
void add_monitor(CLI::App& app, Action& action);
void add_report(CLI::App& app, Action& action);
void add_compare(CLI::App& app, Action& action);
void add_probe(CLI::App& app, Action& action);
void add_merge(CLI::App& app, Action& action);
void add_k8s(CLI::App& app, Action& action);
void add_loadgen(CLI::App& app, Action& action);
void add_tune(CLI::App& app, Action& action);
// Hidden: generated from `app`'s definition, so add them last.
void add_completion(CLI::App& app, Action& action);
void add_man(CLI::App& app, Action& action);

// Runs `mix` into `store` as `gpumix run` does (session, preflight, GPU
// telemetry every `telemetry_interval`, live progress); `configure` sets the
// runner up before it starts (a fleet's cell, `repeats: auto`, tune's search).
run::RunResult run_mix(const spec::Mix& mix, store::Store& store, std::chrono::milliseconds telemetry_interval,
                       const std::function<void(run::Runner&)>& configure, std::optional<int> cell_index = std::nullopt);

// Shared by the commands that read results.
struct ResultsOptions {
  std::string results_dir = "results";
  std::string run = "latest";
  std::string format = "table";
  std::string out;  // -o: the result's file; empty: standard output
};
// --results DIR, defaulting to $GPUMIX_RESULTS, else to the value `results_dir` holds.
void add_results_option(CLI::App& cmd, std::string& results_dir, const std::string& help = "Results folder holding gpumix.db");
void add_results_option(CLI::App& cmd, ResultsOptions& opts);
void add_run_argument(CLI::App& cmd, ResultsOptions& opts);
// --format table|csv|json (or `formats`).
CLI::Option* add_format_option(CLI::App& cmd, std::string& format,
                               const std::vector<std::string>& formats = {"table", "csv", "json"},
                               const std::string& help = "Output format");
// -o/--out FILE: the result goes there instead of standard output, atomically.
void add_out_option(CLI::App& cmd, std::string& out,
                    const std::string& help = "Write the result to FILE instead of standard output (atomically: never half a file)");

// An option that was renamed or removed: hidden from help, and using it fails
// (InputError, exit 2) with `message` saying what to use instead.
class RenamedOption {
 public:
  RenamedOption(CLI::App& cmd, const std::string& name, std::string message);
  void check() const;  // call first in the command's action

 private:
  CLI::Option* option_;
  std::string name_, value_, message_;
};

// A command's JSON document: {"schema_version": N, "kind": "gpumix.KIND"},
// to which the command adds its fields (docs/cli.md, "Machine-readable output").
nlohmann::json json_document(std::string_view kind, int schema_version);
// Pretty-printed, invalid UTF-8 as U+FFFD, with a final newline.
void write_json(std::ostream& out, const nlohmann::json& doc);
// "latest" or a run id; throws InputError naming what exists.
int64_t resolve_run(store::Store& store, const std::string& run);

// A duration option's value (500ms, 10s, 2m), at least `at_least` and at most
// `at_most`: every command's duration options, with one wording for a bad one.
inline constexpr Duration kPositive{1};
Duration duration_option(std::string_view option, const std::string& text, Duration at_least = Duration::zero(),
                         std::optional<Duration> at_most = std::nullopt);

}  // namespace gpumix::cli
