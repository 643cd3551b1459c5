#include "gpumix/report/json_report.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "gpumix/analysis/stats.hpp"
#include "gpumix/analysis/mps_shares.hpp"
#include "gpumix/report/analysis_tables.hpp"
#include "gpumix/report/mps_view.hpp"
#include "gpumix/report/tune_view.hpp"
#include "gpumix/run/run_environment.hpp"
#include "gpumix/json_text.hpp"

namespace gpumix::report {
namespace {

using nlohmann::json;

// Numbers: null when absent or not finite (JSON has no infinity or NaN).

template <typename T>
json integer(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

json text_or_null(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }
json text_or_null(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }

// The stored JSON text as a value; null when empty or unparsable.
json estimate_json(const analysis::Estimate& e) {
  json values = json::array();
  for (double v : e.values) values.push_back(json_number(v));
  json j = json::object();
  j["mean"] = json_number(e.mean);
  j["stddev"] = json_number(e.stddev);
  j["margin"] = json_number(e.margin());
  j["ci_low"] = json_number(e.ci_low);
  j["ci_high"] = json_number(e.ci_high);
  j["confidence"] = json_number(e.confidence);
  j["n"] = e.n();
  j["values"] = std::move(values);
  return j;
}

json attribution_json(const analysis::CellAttribution& a) {
  json workloads = json::array();
  for (const auto& w : a.workloads)
    workloads.push_back({{"workload", w.workload},
                         {"sm_util_mean", json_number(w.sm_util_mean)},
                         {"sm_share", json_number(w.sm_share)},
                         {"energy_j", json_number(w.energy_j)},
                         {"memory_mean_bytes", json_number(w.memory_mean_bytes)},
                         {"memory_peak_bytes", json_number(w.memory_peak_bytes)}});
  return {{"sm_attributed", a.sm_attributed},
          {"overlapping", a.overlapping},
          {"scale", json_number(a.scale)},
          {"ticks", a.ticks},
          {"workloads", std::move(workloads)},
          {"other_share", json_number(a.other_share)},
          {"other_energy_j", json_number(a.other_energy_j)},
          {"idle_share", json_number(a.idle_share)},
          {"idle_energy_j", json_number(a.idle_energy_j)},
          {"basis", a.basis}};
}

json activity_json(const analysis::Activity& a) {
  return json{{"mean", json_number(a.mean)}, {"p95", json_number(a.p95)}, {"samples", a.samples}};
}

json run_json(const analysis::Analysis& a) {
  const auto& r = a.run;
  json j = json::object();
  j["id"] = r.id;
  j["cpu_only"] = a.cpu_only ? json(*a.cpu_only) : json(nullptr);
  // What the cells ran on, when the environment record says: the record has NVML's view of the GPUs.
  j["device"] = a.cpu_only ? json("cpu") : run::RunEnvironment::parse(r.environment_json).nvml_recorded ? json("gpu") : json(nullptr);
  j["mix_name"] = r.mix_name;
  j["mix_path"] = r.mix_path;
  j["mix_sha256"] = r.mix_sha256;
  j["status"] = store::to_string(r.status);
  j["error"] = r.error;
  j["started"] = rfc3339_utc(r.started_ns);
  j["ended"] = rfc3339_utc(r.ended_ns);
  j["gpumix_version"] = r.gpumix_version;
  j["git_sha"] = r.git_sha;
  j["host"] = r.host;
  j["gpu_time_s"] = json_number(a.gpu_time_s);
  j["environment"] = parsed_or_null(r.environment_json);
  j["workloads"] = a.workloads;
  j["planned_modes"] = a.planned_modes;
  j["repeats"] = a.repeats;
  j["has_baseline"] = a.has_baseline;
  j["has_telemetry"] = a.has_telemetry;
  j["has_gpm"] = a.has_gpm;
  j["has_energy"] = a.has_energy;
  return j;
}

json recommendation_json(const analysis::Recommendation& r) {
  json j = json::object();
  j["mode"] = text_or_null(r.mode);
  j["no_mode_code"] = r.mode ? json(nullptr) : json(analysis::to_string(r.no_mode));
  j["headline"] = r.headline;
  j["slos_met"] = r.slos_met;
  j["closest"] = text_or_null(r.closest);
  j["undecided"] = r.undecided;
  j["settle"] = text_or_null(r.settle);
  j["notes"] = r.notes;
  return j;
}

json verdicts_json(const analysis::Recommendation& r) {
  json out = json::array();
  for (const auto& v : r.verdicts) {
    json j = json::object();
    j["mode"] = v.mode;
    j["state"] = analysis::to_string(v.state);
    j["stp"] = json{{"mean", json_number(v.stp)}, {"margin", json_number(v.stp_margin)}};
    j["worst_excess"] = json_number(v.worst_excess);  // infinite (an SLO could not be measured): null
    j["failures"] = v.failures;
    j["reasons"] = v.reasons;
    out.push_back(std::move(j));
  }
  return out;
}

json evidence_json(const analysis::Analysis& a) {
  json gates = json::object();
  gates["min_iterations"] = a.gates.min_iterations;
  gates["min_tail_requests"] = json_number(a.gates.min_tail_requests);
  gates["max_drift"] = json_number(a.gates.max_drift);
  json autor = nullptr;
  if (a.auto_repeats) {
    const auto& r = *a.auto_repeats;
    autor = json::object();
    autor["max"] = r.max;
    autor["budget_s"] = json_number(r.budget_s);
    autor["precision"] = json_number(r.precision);
    autor["repeats_run"] = integer(r.repeats_run);
    autor["stopped_because"] = r.stopped_because;
  }
  return json{{"gates", std::move(gates)}, {"auto_repeats", std::move(autor)}};
}

json slo_verdict_json(const analysis::SloVerdict& s) {
  json j = json::object();
  j["workload"] = s.workload;
  j["label"] = s.label();
  j["metric"] = spec::to_string(s.metric);
  j["percentile"] = json_number(s.percentile);
  j["limit_ms"] = json_number(s.limit_ms);
  j["worst_ms"] = json_number(s.worst_ms);
  j["worst_cell"] = s.worst_cell;
  j["worst_attainment"] = json_number(s.worst_attainment);
  j["excess"] = json_number(s.excess());
  j["repeats"] = s.repeats;
  j["broken"] = s.broken;
  j["unmeasured"] = s.unmeasured;
  j["met"] = s.met;
  return j;
}

json workload_mode_json(const analysis::WorkloadMode& w) {
  json j = json::object();
  j["workload"] = w.workload;
  j["role"] = spec::to_string(w.role);
  j["np_basis"] = w.np_basis;
  j["np"] = estimate_json(w.np);
  j["throughput"] = estimate_json(w.throughput);
  j["latency_p99_ms"] = estimate_json(w.latency_p99_ms);
  j["p99_inflation"] = estimate_json(w.p99_inflation);
  j["ready_s"] = estimate_json(w.ready_s);
  j["jct_s"] = estimate_json(w.jct_s);
  j["alone_throughput"] = json_number(w.alone_throughput);
  j["alone_p99_ms"] = json_number(w.alone_p99_ms);
  // Streamed LLM completions only.
  j["tokens"] = w.token_requests == 0 ? json(nullptr)
                                      : json{{"requests", w.token_requests},
                                             {"ttft_ms", {{"p50", estimate_json(w.ttft_p50_ms)},
                                                          {"p90", estimate_json(w.ttft_p90_ms)},
                                                          {"p99", estimate_json(w.ttft_p99_ms)}}},
                                             {"tpot_ms", {{"p50", estimate_json(w.tpot_p50_ms)},
                                                          {"p90", estimate_json(w.tpot_p90_ms)},
                                                          {"p99", estimate_json(w.tpot_p99_ms)}}}};
  json slos = json::array();
  for (const auto& s : w.slos) slos.push_back(slo_verdict_json(s));
  j["slos"] = std::move(slos);
  j["failures"] = w.failures;
  j["gaps"] = w.gaps;
  j["unsteady"] = w.unsteady;
  return j;
}

json mode_json(const analysis::ModeAnalysis& m) {
  json j = json::object();
  j["mode"] = m.mode;
  j["baseline"] = m.baseline;
  j["measured"] = m.measured();
  j["cells"] = json{{"planned", m.cells_planned},
                    {"run", m.cells_run},
                    {"skipped", m.cells_skipped},
                    {"failed", m.cells_failed},
                    {"interrupted", m.cells_interrupted}};
  j["skip_reason"] = m.skip_reason;
  j["stp"] = estimate_json(m.stp);
  j["antt"] = estimate_json(m.antt);
  j["fairness"] = estimate_json(m.fairness);
  j["jain"] = estimate_json(m.jain);
  j["energy_per_sample_j"] = estimate_json(m.energy_per_sample_j);
  for (auto id : analysis::activity_metrics()) {
    auto it = m.activity_mean.find(id.def().activity);
    j[std::string(id.def().activity) + "_mean"] = estimate_json(it == m.activity_mean.end() ? analysis::Estimate{} : it->second);
  }
  j["warmup_s"] = estimate_json(m.warmup_s);
  j["disqualifications"] = m.disqualifications;
  j["failures"] = m.failures;
  json workloads = json::array();
  for (const auto& w : m.workloads) workloads.push_back(workload_mode_json(w));
  j["workloads"] = std::move(workloads);
  return j;
}

json comparisons_json(const analysis::Analysis& a) {
  json out = json::array();
  for (const auto& c : a.comparisons) {
    json j = json::object();
    j["metric"] = c.metric;
    j["mode_a"] = c.mode_a;
    j["mode_b"] = c.mode_b;
    j["delta"] = json_number(c.difference.delta);  // b − a
    j["ci_low"] = json_number(c.difference.ci_low);
    j["ci_high"] = json_number(c.difference.ci_high);
    j["dof"] = json_number(c.difference.dof);
    j["verdict"] = analysis::to_string(c.difference.verdict);
    out.push_back(std::move(j));
  }
  return out;
}

json workload_cell_json(const analysis::WorkloadCell& w) {
  const auto& s = w.summary;
  json j = json::object();
  j["name"] = s.name;
  j["role"] = spec::to_string(s.role);
  j["status"] = store::to_string(s.status);
  j["reason"] = s.reason;
  j["failed"] = w.failed;
  j["exit_code"] = integer(s.exit_code);
  j["signal"] = integer(s.signal);
  j["wall_s"] = json_number(s.wall_s);
  j["peak_rss_kb"] = s.peak_rss_kb;
  j["np"] = json_number(w.np);
  j["np_basis"] = w.np_basis;
  j["np_missing"] = w.np_missing;
  j["np_missing_code"] = analysis::to_string(w.no_np);
  j["no_progress"] = w.no_progress;
  j["unsteady"] = w.unsteady;
  j["p99_inflation"] = json_number(w.p99_inflation);
  j["gpu_memory_peak_bytes"] = integer(w.gpu_memory_peak_bytes);
  j["window_s"] = json_number(s.window_s);
  j["ready_s"] = json_number(s.ready_s);
  j["late_ready_s"] = json_number(s.late_ready_s);
  j["jct_s"] = json_number(s.jct_s);
  j["iterations"] = s.iterations;
  j["samples"] = s.samples;
  j["iterations_total"] = s.iterations_total;
  j["throughput"] = json_number(s.throughput);
  j["rate_first_half"] = json_number(s.rate_first_half);
  j["rate_second_half"] = json_number(s.rate_second_half);
  j["drift"] = json_number(s.drift);
  j["step_ms"] = json{{"p50", json_number(s.step_ms_p50)}, {"p95", json_number(s.step_ms_p95)}, {"p99", json_number(s.step_ms_p99)}};
  j["requests"] = s.requests;
  j["request_errors"] = s.request_errors;
  j["latency"] = json{{"p50", json_number(s.latency_p50)}, {"p90", json_number(s.latency_p90)}, {"p95", json_number(s.latency_p95)},
                      {"p99", json_number(s.latency_p99)}, {"p99_9", json_number(s.latency_p999)}, {"mean", json_number(s.latency_mean)}};
  j["throughput_gate"] = s.throughput_gate;
  j["latency_gate"] = s.latency_gate;
  j["tpot_gate"] = s.tpot_gate;
  j["percentile_gates"] = s.percentile_gates;
  j["tokens"] = s.ttft_requests == 0 ? json(nullptr)
                                     : json{{"ttft_requests", s.ttft_requests},
                                            {"tpot_requests", s.tpot_requests},
                                            {"ttft_ms", {{"p50", json_number(s.ttft_p50)}, {"p90", json_number(s.ttft_p90)},
                                                         {"p99", json_number(s.ttft_p99)}}},
                                            {"tpot_ms", {{"p50", json_number(s.tpot_p50)}, {"p90", json_number(s.tpot_p90)},
                                                         {"p99", json_number(s.tpot_p99)}, {"mean", json_number(s.tpot_mean)}}}};
  json slos = json::array();
  for (const auto& r : s.slos)
    slos.push_back(json{{"metric", spec::to_string(r.metric)},
                        {"percentile", json_number(r.percentile)},
                        {"limit_ms", json_number(r.limit_ms)},
                        {"actual_ms", json_number(r.actual_ms)},
                        {"attainment", json_number(r.attainment)},
                        {"met", r.met}});
  j["slos"] = std::move(slos);
  j["malformed"] = s.malformed;
  j["reported_ready"] = s.reported_ready;
  j["reported_done"] = s.reported_done;
  return j;
}

json cell_json(const analysis::CellAnalysis& c) {
  const auto& row = c.cell;
  json j = json::object();
  j["label"] = row.label;
  j["index"] = row.index;
  j["mode"] = row.mode;
  j["repeat"] = row.repeat;
  j["baseline"] = row.baseline;
  j["status"] = store::to_string(row.status);
  j["error"] = row.error;
  j["started"] = rfc3339_utc(row.started_ns);
  j["ended"] = rfc3339_utc(row.ended_ns);
  j["window"] = json{{"start", rfc3339_utc(row.window_start_ns)},
                     {"end", rfc3339_utc(row.window_end_ns)},
                     {"seconds", json_number(c.window_s)}};
  j["warmup_s"] = json_number(c.warmup_s);
  j["stp"] = json_number(c.stp);
  j["antt"] = json_number(c.antt);
  j["fairness"] = json_number(c.fairness);
  j["jain"] = json_number(c.jain);
  j["with_np"] = c.with_np;
  j["gpu"] = integer(c.gpu);
  j["gpu_samples"] = c.gpu_samples;
  j["energy_j"] = json_number(c.energy_j);
  j["energy_source"] = c.energy_source;
  j["mean_power_w"] = json_number(c.mean_power_w);
  j["samples_processed"] = c.samples_processed;
  j["energy_per_sample_j"] = json_number(c.energy_per_sample_j);
  for (auto id : analysis::activity_metrics())
    j[std::string(id.def().activity)] = activity_json(c.activity_of(id.def().activity));
  j["attribution"] = attribution_json(c.attribution);
  json events = json::array();
  for (const auto& e : c.events)
    events.push_back({{"t_s", static_cast<double>(e.t_ns - row.started_ns) / 1e9},
                      {"gpu", e.gpu},
                      {"type", e.type},
                      {"data", e.data},
                      {"gpu_instance_id", integer(e.gpu_instance_id)},
                      {"compute_instance_id", integer(e.compute_instance_id)},
                      {"description", e.description}});
  j["events"] = std::move(events);
  j["evidence"] = parsed_or_null(row.evidence_json);
  json workloads = json::array();
  for (const auto& w : c.workloads) workloads.push_back(workload_cell_json(w));
  j["workloads"] = std::move(workloads);
  return j;
}

// b ÷ a; null when either is absent or not finite, or a is 0.
json ratio(const std::optional<double>& a, const std::optional<double>& b) {
  if (!a || !b || !std::isfinite(*a) || !std::isfinite(*b) || *a == 0) return nullptr;
  return json_number(*b / *a);
}

// Welch's interval for b − a over the repeats; null when either side has no value.
json difference_json(const analysis::Estimate& a, const analysis::Estimate& b) {
  if (a.n() == 0 || b.n() == 0) return nullptr;
  const auto d = analysis::difference(a.values, b.values);
  return json{{"delta", json_number(d.delta)},
              {"ci_low", json_number(d.ci_low)},
              {"ci_high", json_number(d.ci_high)},
              {"verdict", analysis::to_string(d.verdict)}};
}

std::vector<std::string> union_of(const std::vector<std::string>& x, const std::vector<std::string>& y) {
  std::vector<std::string> out = x;
  for (const auto& v : y)
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  return out;
}

const analysis::SloVerdict* find_slo(const analysis::ModeAnalysis& m, const std::string& label) {
  for (const auto* s : m.slos())
    if (s->label() == label) return s;
  return nullptr;
}

json diff_json(const ComparedRun& ra, const ComparedRun& rb) {
  const auto &a = ra.analysis, &b = rb.analysis;
  json modes = json::array(), workloads = json::array(), slos = json::array(), environment = json::array();
  for (const auto& name : union_of(a.planned_modes, b.planned_modes)) {
    const auto *ma = a.mode(name), *mb = b.mode(name);
    if (!ma || !mb) continue;  // in one run only: see notes
    const bool baseline = ma->baseline || mb->baseline;
    if (!baseline) {
      json m = json::object();
      m["mode"] = name;
      m["stp_a"] = json_number(ma->stp.mean);
      m["stp_b"] = json_number(mb->stp.mean);
      m["ratio"] = ratio(ma->stp.mean, mb->stp.mean);
      m["stp_difference"] = difference_json(ma->stp, mb->stp);
      m["antt_a"] = json_number(ma->antt.mean);
      m["antt_b"] = json_number(mb->antt.mean);
      m["fairness_a"] = json_number(ma->fairness.mean);
      m["fairness_b"] = json_number(mb->fairness.mean);
      m["energy_per_sample_j_a"] = json_number(ma->energy_per_sample_j.mean);
      m["energy_per_sample_j_b"] = json_number(mb->energy_per_sample_j.mean);
      modes.push_back(std::move(m));
    }
    for (const auto& w : union_of(a.workloads, b.workloads)) {
      const auto *wa = ma->workload(w), *wb = mb->workload(w);
      if (!wa && !wb) continue;
      const analysis::Estimate none;
      const auto& np_a = wa ? wa->np : none;
      const auto& np_b = wb ? wb->np : none;
      const auto& t_a = wa ? wa->throughput : none;
      const auto& t_b = wb ? wb->throughput : none;
      json r = json::object();
      r["workload"] = w;
      r["mode"] = name;
      r["baseline"] = baseline;
      r["np_a"] = json_number(np_a.mean);
      r["np_b"] = json_number(np_b.mean);
      r["ratio"] = ratio(np_a.mean, np_b.mean);
      r["throughput_a"] = json_number(t_a.mean);
      r["throughput_b"] = json_number(t_b.mean);
      r["throughput_ratio"] = ratio(t_a.mean, t_b.mean);
      r["throughput_difference"] = difference_json(t_a, t_b);
      r["p99_ms_a"] = json_number(wa ? wa->latency_p99_ms.mean : std::nullopt);
      r["p99_ms_b"] = json_number(wb ? wb->latency_p99_ms.mean : std::nullopt);
      workloads.push_back(std::move(r));
    }
    std::vector<const analysis::SloVerdict*> seen;
    for (const auto* m : {ma, mb})
      for (const auto* s : m->slos())
        if (std::none_of(seen.begin(), seen.end(), [&](const auto* x) { return x->label() == s->label(); })) seen.push_back(s);
    for (const auto* s : seen) {
      const auto *sa = find_slo(*ma, s->label()), *sb = find_slo(*mb, s->label());
      json r = json::object();
      r["mode"] = name;
      r["slo"] = s->label();
      r["workload"] = s->workload;
      r["percentile"] = json_number(s->percentile);
      r["limit_ms"] = json_number(s->limit_ms);
      r["worst_ms_a"] = json_number(sa ? sa->worst_ms : std::nullopt);
      r["worst_ms_b"] = json_number(sb ? sb->worst_ms : std::nullopt);
      r["met_a"] = sa ? json(sa->met) : json(nullptr);
      r["met_b"] = sb ? json(sb->met) : json(nullptr);
      slos.push_back(std::move(r));
    }
  }
  // The environment as `gpumix compare` prints it: GPU, driver, host, gpumix, mix, plan...
  const auto ea = environment_fields(a.run), eb = environment_fields(b.run);
  std::vector<std::string> keys;
  for (const auto* fields : {&ea, &eb})
    for (const auto& [k, v] : *fields)
      if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  auto get = [](const auto& fields, const std::string& key) -> json {
    for (const auto& [k, v] : fields)
      if (k == key) return v;
    return nullptr;
  };
  for (const auto& k : keys) environment.push_back(json{{"field", k}, {"a", get(ea, k)}, {"b", get(eb, k)}});

  json d = json::object();
  d["modes"] = std::move(modes);
  d["workloads"] = std::move(workloads);
  d["slos"] = std::move(slos);
  d["environment"] = std::move(environment);
  d["notes"] = compare_notes(ra, rb);
  return d;
}

}  // namespace

nlohmann::json analysis_json(const analysis::Analysis& a, const analysis::Recommendation& rec) {
  json doc = json::object();
  doc["schema_version"] = kReportSchemaVersion;
  doc["kind"] = "gpumix.report";
  doc["run"] = run_json(a);
  doc["recommendation"] = recommendation_json(rec);
  doc["verdicts"] = verdicts_json(rec);
  // Present only for what the run has: a tuning record, MPS cells, priority pairs.
  const auto tuned = tuned_run(a);
  if (tuned) {
    doc["tune"] = tune_json(tuned->answer, tuned->record);
    doc["tune"]["versus_recommendation"] = tune_versus_recommendation(tuned->answer, rec);
  }
  if (const auto shares = analysis::mps_shares(a); !shares.empty()) doc["mps_shares"] = mps_shares_json(shares);
  if (const auto effects = analysis::priority_effects(a, tuned ? tuned->record.slo_owners : std::map<std::string, std::string>{});
      !effects.empty())
    doc["mps_priority"] = table_json(priority_table(effects));
  doc["evidence"] = evidence_json(a);
  doc["missing"] = a.missing_texts();
  doc["missing_codes"] = json::array();
  for (const auto& m : a.missing) doc["missing_codes"].push_back(analysis::to_string(m.code));
  json modes = json::array();
  for (const auto& m : a.modes) modes.push_back(mode_json(m));
  doc["modes"] = std::move(modes);
  doc["comparisons"] = comparisons_json(a);
  json cells = json::array();
  for (const auto& c : a.cells) cells.push_back(cell_json(c));
  doc["cells"] = std::move(cells);
  return doc;
}

nlohmann::json compare_json(const ComparedRun& a, const ComparedRun& b) {
  json doc = json::object();
  doc["schema_version"] = kReportSchemaVersion;
  doc["kind"] = "gpumix.compare";
  doc["labels"] = json{{"a", a.label}, {"b", b.label}};
  doc["a"] = analysis_json(a.analysis, a.recommendation);
  doc["b"] = analysis_json(b.analysis, b.recommendation);
  doc["diff"] = diff_json(a, b);
  return doc;
}

std::string dump_report(const nlohmann::json& doc) {
  return json_text(doc, 2);
}

}  // namespace gpumix::report
