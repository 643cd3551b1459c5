// gpumix show [RUN]: a terminal summary of one run.
#include <algorithm>

#include "cli/commands.hpp"
#include "gpumix/report/run_data.hpp"
#include "gpumix/report/run_tables.hpp"
#include "gpumix/run/run_environment.hpp"
#include "gpumix/util/output_file.hpp"
#include "gpumix/util/units.hpp"

namespace gpumix::cli {
namespace {

constexpr int kDocumentVersion = 1;  // gpumix.show: docs/results.md

nlohmann::json run_json(const store::RunRow& run, const std::string& gpu) {
  return {{"id", run.id},
          {"mix_name", run.mix_name},
          {"mix_path", run.mix_path},
          {"mix_sha256", run.mix_sha256},
          {"status", store::to_string(run.status)},
          {"error", run.error},
          {"started", report::rfc3339_utc(run.started_ns)},
          {"ended", report::rfc3339_utc(run.ended_ns)},
          {"host", run.host},
          {"gpu", gpu.empty() ? nlohmann::json(nullptr) : nlohmann::json(gpu)},
          {"gpumix_version", run.gpumix_version},
          {"git_sha", run.git_sha}};
}

}  // namespace

void add_show(CLI::App& app, Action& action) {
  auto opts = std::make_shared<ResultsOptions>();
  auto* cmd = app.add_subcommand("show", "Summarize a run: per cell and workload, throughput, latency, status");
  add_run_argument(*cmd, *opts);
  add_results_option(*cmd, *opts);
  add_format_option(*cmd, opts->format, {"table", "csv", "json"},
                    "table: the run, its cells and workloads; csv: the workloads; json: all three");
  add_out_option(*cmd, opts->out);
  cmd->callback([opts, &action] {
    action = [opts]() -> int {
      const auto format = report::parse_format(opts->format);
      auto store = store::Store::open_for_reading(opts->results_dir);
      const int64_t id = resolve_run(store, opts->run);
      const auto run = *store.run(id);
      const auto cells = store.cells(id);
      const auto summaries = report::summarize_run(store, id);
      const std::string gpu = run::RunEnvironment::parse(run.environment_json).gpu_name();
      OutputFile output(opts->out);
      std::ostream& out = output.stream();
      if (format == report::Format::json) {
        auto doc = json_document("show", kDocumentVersion);
        doc["run"] = run_json(run, gpu);
        doc["cells"] = report::table_json(report::cells_table(cells));
        doc["workloads"] = report::table_json(report::summary_table(summaries));
        write_json(out, doc);
        output.commit();
        return 0;
      }
      if (format == report::Format::csv) {
        report::render(out, report::summary_table(summaries), format);
        output.commit();
        return 0;
      }
      out << "run " << run.id << "  mix " << run.mix_name << "  status " << store::to_string(run.status)
          << (run.error.empty() ? "" : " (" + run.error + ")") << "\n"
          << "started " << format_timestamp(run.started_ns) << "  ended " << format_timestamp(run.ended_ns) << "  host "
          << run.host << "  gpu " << (gpu.empty() ? "none" : gpu) << "  gpumix " << run.gpumix_version << " ("
          << run.git_sha << ")\nmix " << run.mix_path << " sha256 " << run.mix_sha256.substr(0, 16) << "\n\n";
      auto ct = report::cells_table(cells);
      // The evidence column is long JSON: the table shows the cell status only.
      const auto evidence = static_cast<size_t>(
          std::find(ct.columns.begin(), ct.columns.end(), "evidence") - ct.columns.begin());
      ct.columns.erase(ct.columns.begin() + static_cast<std::ptrdiff_t>(evidence));
      for (auto& row : ct.rows) row.erase(row.begin() + static_cast<std::ptrdiff_t>(evidence));
      report::render(out, ct, format);
      out << "\nPer workload, from iters on: over its cell's measured window only (window_s; ready_s is its warm-up).\n\n";
      report::render(out, report::summary_table(summaries), format);
      if (run.status == store::RunStatus::running) out << "\n(the run is still in progress)\n";
      if (run.status == store::RunStatus::interrupted) out << "\n(the run was interrupted: the cells above are what it measured)\n";
      output.commit();
      return 0;
    };
  });
}

}  // namespace gpumix::cli
