#include "gpumix/loadgen/result_json.hpp"

#include <cmath>

#include "gpumix/report/json_report.hpp"

namespace gpumix::loadgen {

namespace {

using json = nlohmann::json;

json verdict_json(Verdict v) { return v == Verdict::none ? json(nullptr) : json(to_string(v)); }

}  // namespace

json step_json(const Summary& s) {
  json j;
  j["offered_rps"] = s.offered_rps > 0 ? report::json_number(s.offered_rps) : json(nullptr);
  j["concurrency"] = s.concurrency > 0 ? json(s.concurrency) : json(nullptr);
  j["started"] = report::rfc3339_utc(s.started_ns);
  j["ended"] = report::rfc3339_utc(s.ended_ns);
  j["window_s"] = report::json_number(s.window_s);
  j["span_s"] = report::json_number(s.span_s);
  j["achieved_rps"] = report::json_number(s.achieved_rps);
  j["requests"] = s.requests;
  j["ok"] = s.ok;
  j["errors"] = s.errors;
  j["timeouts"] = s.timeouts;
  j["unsent"] = s.unsent;
  j["late"] = s.late;
  j["discarded"] = s.discarded;
  j["drain_expired"] = s.drain_expired;
  j["latency_ms"] = json{{"p50", report::json_number(s.p50)},   {"p90", report::json_number(s.p90)},    {"p95", report::json_number(s.p95)}, {"p99", report::json_number(s.p99)},
                         {"p99.9", report::json_number(s.p999)}, {"mean", report::json_number(s.mean)}, {"max", report::json_number(s.max)}};
  j["thin_percentiles"] = s.thin_percentiles;
  if (s.tokens) {
    const auto& t = *s.tokens;
    using report::json_number;
    j["tokens"] = {
        {"ttft_ms", {{"p50", json_number(t.ttft_p50)}, {"p90", json_number(t.ttft_p90)}, {"p99", json_number(t.ttft_p99)}, {"mean", json_number(t.ttft_mean)}}},
        {"tpot_ms", {{"p50", json_number(t.tpot_p50)}, {"p90", json_number(t.tpot_p90)}, {"p99", json_number(t.tpot_p99)}, {"mean", json_number(t.tpot_mean)}}},
        {"itl_ms", {{"p50", json_number(t.itl_p50)}, {"p99", json_number(t.itl_p99)}}},
        {"output_tokens", t.output_tokens},
        {"output_tokens_per_s", json_number(t.output_tps)},
        {"good", s.slos.empty() ? json(nullptr) : json(t.good)},
        {"goodput_rps", json_number(t.goodput_rps)}};
  } else {
    j["tokens"] = nullptr;
  }
  json slos = json::array();
  for (const auto& r : s.slos)
    slos.push_back({{"objective", r.slo.text},
                    {"metric", to_string(r.slo.metric)},
                    {"percentile", report::json_number(r.slo.percentile)},
                    {"limit_ms", report::json_number(static_cast<double>(r.slo.limit.count()) / 1e6)},
                    {"attainment", report::json_number(r.attainment)},
                    {"met", r.met}});
  j["slos"] = std::move(slos);
  j["slo"] = verdict_json(s.verdict());
  j["insufficient"] = s.insufficient ? json(*s.insufficient) : json(nullptr);
  json failures = json::array();
  for (const auto& [status, f] : s.failures)
    failures.push_back({{"status", status == 0 ? json(nullptr) : json(status)}, {"count", f.first}, {"message", f.second}});
  j["failures"] = std::move(failures);
  if (s.settle) {
    const auto& t = *s.settle;
    j["settle"] = {{"quiet_s", report::json_number(t.quiet_s)},   {"waited_s", report::json_number(t.waited_s)},   {"probes", t.probes},
                   {"probe_ms", report::json_number(t.probe_ms)}, {"target_ms", report::json_number(t.target_ms)}, {"settled", t.settled}};
  } else {
    j["settle"] = nullptr;
  }
  return j;
}

Verdict overall_verdict(const std::vector<Summary>& steps, const SweepResult* sweep) {
  if (steps.empty() || steps.front().slos.empty()) return Verdict::none;
  if (!sweep) return steps.front().verdict();
  return sweep->best_rate ? Verdict::met : Verdict::missed;
}

json loadgen_json(const Target& target, json settings, const std::vector<Summary>& steps, const SweepResult* sweep,
                  std::optional<double> unloaded_ms, int64_t started_ns, int64_t ended_ns) {
  json doc;
  doc["schema_version"] = kLoadgenSchemaVersion;
  doc["kind"] = "gpumix.loadgen";
  const bool closed = !steps.empty() && steps.front().concurrency > 0;
  doc["mode"] = sweep ? "sweep" : closed ? "closed_loop" : "open_loop";
  doc["started"] = report::rfc3339_utc(started_ns);
  doc["ended"] = report::rfc3339_utc(ended_ns);
  const bool kserve = target.api == "kserve";  // an OpenAI server has no tensors: null
  doc["target"] = {{"api", target.api},
                   {"url", target.url},
                   {"model", target.model},
                   {"input", kserve ? json(target.input) : json(nullptr)},
                   {"datatype", kserve ? json(target.datatype) : json(nullptr)},
                   {"shape", kserve ? json(target.shape) : json(nullptr)},
                   {"request_bytes", kserve ? json(target.request_bytes) : json(nullptr)},
                   {"encoding", kserve ? json(target.binary ? "binary" : "json") : json(nullptr)}};
  doc["settings"] = std::move(settings);
  json js = json::array();
  for (const auto& s : steps) js.push_back(step_json(s));
  doc["steps"] = std::move(js);
  json result;
  result["slo"] = verdict_json(overall_verdict(steps, sweep));
  if (sweep) {
    result["answer_rps"] = report::json_number(sweep->best_rate);
    result["first_bad_rps"] = report::json_number(sweep->first_bad);
    result["reached_max"] = sweep->reached_max;
    result["reached_min"] = sweep->reached_min;
    result["interrupted"] = sweep->interrupted;
    result["unloaded_ms"] = report::json_number(unloaded_ms);
  } else {
    result["answer_rps"] = nullptr;
    result["interrupted"] = !steps.empty() && steps.front().stopped;
  }
  doc["result"] = std::move(result);
  return doc;
}

}  // namespace gpumix::loadgen
