// The gpumix subcommands: one file each. add_* registers a subcommand and its
// options with CLI11 and sets `action` to its body when it is chosen. A body
// returns the exit status: 0 success, 1 the run failed, 2 bad input,
// 130 interrupted.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <string>

#include "gpumix/store/store.hpp"

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
void add_format_option(CLI::App& cmd, std::string& format);
// "latest" or a run id; throws InputError naming what exists.
int64_t resolve_run(store::Store& store, const std::string& run);

}  // namespace gpumix::cli
