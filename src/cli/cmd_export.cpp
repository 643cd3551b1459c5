// gpumix export [RUN] --format csv|json: a run's data for other tools.
#include <fstream>
#include <map>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "gpumix/analysis/summary.hpp"
#include "gpumix/analysis/interference.hpp"
#include "gpumix/report/analysis_tables.hpp"
#include "gpumix/report/run_data.hpp"
#include "gpumix/report/run_tables.hpp"
#include "gpumix/spec/effective_plan.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/output_file.hpp"
#include "gpumix/json_text.hpp"

namespace gpumix::cli {
namespace {

// A Table as JSON objects (numbers stay numbers).
nlohmann::json table_json(const report::Table& t) {
  std::ostringstream s;
  report::render(s, t, report::Format::json);
  return nlohmann::json::parse(s.str());
}

}  // namespace

void add_export(CLI::App& app, Action& action) {
  struct Options : ResultsOptions {
    std::string table = "summary";
    std::string out;
  };
  auto opts = std::make_shared<Options>();
  opts->format = "json";
  auto* cmd = app.add_subcommand("export", "Export a run: JSON (everything) or CSV (one table)");
  add_run_argument(*cmd, *opts);
  add_results_option(*cmd, *opts);
  cmd->add_option("--format", opts->format, "json: the whole run; csv: the table named by --table")
      ->check(CLI::IsMember({"csv", "json"}))
      ->capture_default_str();
  cmd->add_option("--table", opts->table, "With csv: which table")
      ->check(CLI::IsMember({"summary", "cells", "workloads", "events", "attribution", "gpu_events"}))
      ->capture_default_str();
  cmd->add_option("-o,--out", opts->out, "Write to this file instead of standard output");
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
        for (const auto& e : input.telemetry.events) {
          auto opt = [](const std::optional<int64_t>& v) { return v ? report::Value(*v) : report::Value{}; };
          t.add({e.t_ns, e.tags.cell_id ? report::Value(label[*e.tags.cell_id]) : report::Value{},
                 static_cast<int64_t>(e.gpu), e.uuid, e.type, e.data, opt(e.gpu_instance_id), opt(e.compute_instance_id),
                 e.description});
        }
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
      nlohmann::json doc;
      doc["schema_version"] = store::kSchemaVersion;
      doc["run"] = {{"id", run.id},
                    {"mix_name", run.mix_name},
                    {"mix_path", run.mix_path},
                    {"mix_sha256", run.mix_sha256},
                    {"mix_yaml", run.mix_yaml},
                    {"status", store::to_string(run.status)},
                    {"error", run.error},
                    {"started_ns", run.started_ns},
                    {"ended_ns", run.ended_ns},
                    {"gpumix_version", run.gpumix_version},
                    {"git_sha", run.git_sha},
                    {"host", run.host},
                    {"environment", nlohmann::json::parse(run.environment_json, nullptr, false)},
                    {"plan", plan.recorded ? plan.to_json() : nlohmann::json(nullptr)}};
      auto cells_json = table_json(report::cells_table(cells));
      for (size_t i = 0; i < cells.size(); ++i) {
        cells_json[i]["evidence"] = nlohmann::json::parse(cells[i].evidence_json, nullptr, false);
        cells_json[i]["window_start_ns"] = cells[i].window_start_ns;  // 0: no measured window
        cells_json[i]["window_end_ns"] = cells[i].window_end_ns;
      }
      doc["cells"] = cells_json;
      doc["workloads"] = table_json(report::workloads_table(workloads));
      doc["summary"] = table_json(report::summary_table(summaries));
      doc["events"] = table_json(events());
      doc["attribution"] = table_json(report::attribution_table(analysis));
      doc["gpu_events"] = table_json(gpu_events_table());
      out << json_text(doc, 2) << "\n";
      output.commit();
      return 0;
    };
  });
}

}  // namespace gpumix::cli
