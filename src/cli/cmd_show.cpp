// gpumix show [RUN]: a terminal summary of one run.
#include <algorithm>
#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/report/run_data.hpp"
#include "gpumix/report/run_tables.hpp"
#include "gpumix/run/run_environment.hpp"
#include "gpumix/util/units.hpp"

namespace gpumix::cli {

void add_show(CLI::App& app, Action& action) {
  auto opts = std::make_shared<ResultsOptions>();
  auto* cmd = app.add_subcommand("show", "Summarize a run: per cell and workload, throughput, latency, status");
  add_run_argument(*cmd, *opts);
  add_results_option(*cmd, *opts);
  add_format_option(*cmd, opts->format);
  cmd->callback([opts, &action] {
    action = [opts]() -> int {
      auto store = store::Store::open_for_reading(opts->results_dir);
      const int64_t id = resolve_run(store, opts->run);
      const auto run = *store.run(id);
      const auto cells = store.cells(id);
      const auto summaries = report::summarize_run(store, id);
      const auto format = report::parse_format(opts->format);
      if (format != report::Format::table) {
        report::render(std::cout, report::summary_table(summaries), format);
        return 0;
      }
      std::string gpu = run::RunEnvironment::parse(run.environment_json).gpu_name();
      if (gpu.empty()) gpu = "none";
      std::cout << "run " << run.id << "  mix " << run.mix_name << "  status " << store::to_string(run.status)
                << (run.error.empty() ? "" : " (" + run.error + ")") << "\n"
                << "started " << format_timestamp(run.started_ns) << "  ended " << format_timestamp(run.ended_ns)
                << "  host " << run.host << "  gpu " << gpu << "  gpumix " << run.gpumix_version << " (" << run.git_sha
                << ")\nmix " << run.mix_path << " sha256 " << run.mix_sha256.substr(0, 16) << "\n\n";
      auto ct = report::cells_table(cells);
      // The evidence column is long JSON: the table shows the cell status only.
      const auto evidence = static_cast<size_t>(
          std::find(ct.columns.begin(), ct.columns.end(), "evidence") - ct.columns.begin());
      ct.columns.erase(ct.columns.begin() + static_cast<std::ptrdiff_t>(evidence));
      for (auto& row : ct.rows) row.erase(row.begin() + static_cast<std::ptrdiff_t>(evidence));
      report::render(std::cout, ct, format);
      if (format == report::Format::table)
        std::cout << "\nPer workload, from iters on: over its cell's measured window only (window_s; ready_s is its warm-up).\n";
      std::cout << "\n";
      report::render(std::cout, report::summary_table(summaries), format);
      if (run.status == store::RunStatus::running) std::cout << "\n(the run is still in progress)\n";
      if (run.status == store::RunStatus::interrupted) std::cout << "\n(the run was interrupted: the cells above are what it measured)\n";
      return 0;
    };
  });
}

}  // namespace gpumix::cli
