// gpumix export [RUN] --format csv|json: a run's data for other tools.
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "gpumix/analysis/summary.hpp"
#include "gpumix/analysis/interference.hpp"
#include "gpumix/report/analysis_tables.hpp"
#include "gpumix/report/run_data.hpp"
#include "gpumix/report/run_tables.hpp"
#include "gpumix/spec/effective_plan.hpp"
#include "gpumix/util/output_file.hpp"

namespace gpumix::cli {
namespace {

// gpumix.export (docs/results.md). 3: arrays and objects as JSON values, times
// in RFC 3339, null for absent; 2 and before followed the database's version.
constexpr int kExportSchemaVersion = 3;

nlohmann::json ns_or_null(int64_t t_ns) { return t_ns > 0 ? nlohmann::json(t_ns) : nlohmann::json(nullptr); }

}  // namespace

void add_export(CLI::App& app, Action& action) {
  struct Options : ResultsOptions {
    std::string table = "summary";
  };
  auto opts = std::make_shared<Options>();
  opts->format = "json";
  auto* cmd = app.add_subcommand("export", "Export a run: JSON (everything) or CSV (one table)");
  add_run_argument(*cmd, *opts);
  add_results_option(*cmd, *opts);
  add_format_option(*cmd, opts->format, {"csv", "json"}, "json: the whole run; csv: the table named by --table");
  cmd->add_option("--table", opts->table, "With csv: which table")
      ->check(CLI::IsMember({"summary", "cells", "workloads", "events", "attribution", "gpu_events"}))
      ->capture_default_str();
  add_out_option(*cmd, opts->out);
  cmd->callback([opts, &action] {
    action = [opts]() -> int {
      auto store = store::Store::open_for_reading(opts->results_dir);
      const int64_t id = resolve_run(store, opts->run);
      const auto run = *store.run(id);
      // Per-workload attribution and the NVML events need the analysis and the telemetry.
      const auto input = report::load_run(store, id);
      const auto& cells = input.cells;
      const auto& workloads = input.workloads;
      const auto plan = spec::EffectivePlan::from_json(run.plan_json);
      const auto summaries = analysis::summarize(cells, workloads, input.events, plan.evidence);
      const auto analysis = analysis::analyze(input);
      // Every byte of the workloads' lines only where they are exported.
      const auto events = [&] { return report::events_table(store.events(id, store::EventData::full)); };
      auto gpu_events_table = [&] {
        report::Table t;
        t.columns = {"t_ns", "cell", "gpu", "uuid", "type", "data", "gpu_instance_id", "compute_instance_id", "description"};
        std::map<int64_t, std::string> label;
        for (const auto& c : cells) label[c.id] = c.label;
        for (const auto& e : input.telemetry.events)
          t.add({e.t_ns, e.tags.cell_id ? report::Value(label[*e.tags.cell_id]) : report::Value{},
                 static_cast<int64_t>(e.gpu), e.uuid, e.type, e.data, report::opt(e.gpu_instance_id),
                 report::opt(e.compute_instance_id), e.description});
        return t;
      };

      OutputFile output(opts->out);
      std::ostream& out = output.stream();
      if (opts->format == "csv") {
        report::Table t = opts->table == "cells"       ? report::cells_table(cells)
                          : opts->table == "workloads" ? report::workloads_table(workloads)
                          : opts->table == "events"    ? events()
                          : opts->table == "attribution" ? report::attribution_table(analysis)
                          : opts->table == "gpu_events"  ? gpu_events_table()
                                                         : report::summary_table(summaries);
        report::render(out, t, report::Format::csv);
        output.commit();
        return 0;
      }
      auto doc = json_document("export", kExportSchemaVersion);
      doc["run"] = {{"id", run.id},
                    {"mix_name", run.mix_name},
                    {"mix_path", run.mix_path},
                    {"mix_sha256", run.mix_sha256},
                    {"mix_yaml", run.mix_yaml},
                    {"status", store::to_string(run.status)},
                    {"error", run.error},
                    {"started", report::rfc3339_utc(run.started_ns)},
                    {"ended", report::rfc3339_utc(run.ended_ns)},
                    {"started_ns", ns_or_null(run.started_ns)},
                    {"ended_ns", ns_or_null(run.ended_ns)},
                    {"gpumix_version", run.gpumix_version},
                    {"git_sha", run.git_sha},
                    {"host", run.host},
                    {"environment", report::parsed_or_null(run.environment_json)},
                    {"plan", plan.recorded ? plan.to_json() : nlohmann::json(nullptr)}};
      auto cells_json = report::table_json(report::cells_table(cells));
      for (size_t i = 0; i < cells.size(); ++i) {
        cells_json[i]["started_ns"] = ns_or_null(cells[i].started_ns);
        cells_json[i]["ended_ns"] = ns_or_null(cells[i].ended_ns);
        cells_json[i]["window_start_ns"] = ns_or_null(cells[i].window_start_ns);  // null: no measured window
        cells_json[i]["window_end_ns"] = ns_or_null(cells[i].window_end_ns);
      }
      doc["cells"] = cells_json;
      doc["workloads"] = report::table_json(report::workloads_table(workloads));
      doc["summary"] = report::table_json(report::summary_table(summaries));
      doc["events"] = report::table_json(events());
      doc["attribution"] = report::table_json(report::attribution_table(analysis));
      doc["gpu_events"] = report::table_json(gpu_events_table());
      write_json(out, doc);
      output.commit();
      return 0;
    };
  });
}

}  // namespace gpumix::cli
