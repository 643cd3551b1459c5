// The gpumix subcommands: one file each. add_* registers a subcommand and its
// options with CLI11 and sets `action` to its body when it is chosen. A body
// returns the exit status: 0 success, 1 the run failed, 2 bad input,
// 130 interrupted.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

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

// Shared by the commands that read results.
struct ResultsOptions {
  std::string results_dir = "results";
  std::string run = "latest";
  std::string format = "table";
};
void add_results_option(CLI::App& cmd, ResultsOptions& opts);
void add_run_argument(CLI::App& cmd, ResultsOptions& opts);
CLI::Option* add_format_option(CLI::App& cmd, std::string& format);
// "latest" or a run id; throws InputError naming what exists.
int64_t resolve_run(store::Store& store, const std::string& run);

// A duration option's value (500ms, 10s, 2m), at least `at_least` and at most
// `at_most`: every command's duration options, with one wording for a bad one.
inline constexpr Duration kPositive{1};
Duration duration_option(std::string_view option, const std::string& text, Duration at_least = Duration::zero(),
                         std::optional<Duration> at_most = std::nullopt);

}  // namespace gpumix::cli
