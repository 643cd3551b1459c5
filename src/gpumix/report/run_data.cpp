#include "gpumix/report/run_data.hpp"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "gpumix/probe/probe_store.hpp"
#include "gpumix/run/run_environment.hpp"
#include "gpumix/spec/effective_plan.hpp"
#include "gpumix/telemetry/telemetry_store.hpp"

namespace gpumix::report {

analysis::RunInput load_run(store::Store& store, int64_t run_id) {
  analysis::RunInput in;
  in.run = *store.run(run_id);
  in.cells = store.cells(run_id);
  in.workloads = store.workloads(run_id);
  in.events = store.events(run_id, store::EventData::for_analysis);
  try {
    telemetry::TelemetryStore telemetry(store.path().parent_path(), store::Access::read_only);
    in.telemetry = telemetry.samples(run_id);
    in.telemetry_sessions = telemetry.sessions(run_id);
  } catch (const std::exception& e) {
    in.telemetry_error = std::string("cannot read telemetry: ") + e.what();
  }
  return in;
}

probe::ProbeResults load_probes(const store::Store& store, const store::RunRow& run) {
  try {
    const std::string gpu = run::RunEnvironment::parse(run.environment_json).gpu_name();
    // A run without a GPU name (no driver): the latest probes of any GPU, which the section names.
    probe::ProbeStore probes(store.path().parent_path(), store::Access::read_only, false);
    return probes.latest_results(gpu);
  } catch (const std::exception&) {
    return {};  // absent tables or a read-only file: no section
  }
}

std::vector<analysis::WorkloadSummary> summarize_run(store::Store& store, int64_t run_id) {
  const auto run = store.run(run_id);
  const auto plan = spec::EffectivePlan::from_json(run ? run->plan_json : "");
  return analysis::summarize(store.cells(run_id), store.workloads(run_id), store.events(run_id, store::EventData::for_analysis), plan.evidence);
}

namespace {
bool is_run_id(const std::string& s) {
  return s == "latest" || (!s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); }));
}
}  // namespace

RunRef parse_run_ref(const std::string& text, const std::filesystem::path& default_results) {
  if (is_run_id(text)) return {default_results, text};
  if (auto colon = text.rfind(':'); colon != std::string::npos && is_run_id(text.substr(colon + 1)))
    return {text.substr(0, colon), text.substr(colon + 1)};
  return {text, "latest"};
}

}  // namespace gpumix::report
