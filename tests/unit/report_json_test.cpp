// `gpumix report --format json` and `gpumix compare --format json`: the
// document's shape on a hand-made run (docs/report-json.md).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "gpumix/analysis/recommend.hpp"
#include "gpumix/report/compare.hpp"
#include "gpumix/report/json_report.hpp"
#include "run_builder.hpp"

namespace gpumix::report {
namespace {

using nlohmann::json;
using test::kSecond;
using test::RunBuilder;

// exclusive baselines; timeslice (2 repeats, meets the SLO); mps (breaks it,
// and train reports nothing in mps-r2: NP 0, ANTT infinite); mig skipped.
// Every cell that ran has a measured window 0.5 s to 3 s after its start;
// timeslice-r1 has telemetry and a mode evidence object, mps-r1 an unparsable one.
RunBuilder windowed_run() {
  test::TrainServerRunOptions o;
  o.on_timeslice = [](RunBuilder& b, int64_t c, int r) {
    if (r == 1) b.ramp_telemetry(c);
  };
  o.mps_train = [](RunBuilder& b, int64_t train, int r) {
    if (r == 1) b.throughput(train, 80);
    else b.event(train, b.input().cells.back().started_ns + kSecond, "ready");  // ran, made no progress
  };
  auto b = test::train_server_run(o);
  auto& in = b.input();
  for (auto& cell : in.cells) {
    if (cell.status == store::CellStatus::skipped) continue;
    cell.window_start_ns = cell.started_ns + kSecond / 2;
    cell.window_end_ns = cell.started_ns + 3 * kSecond;
    if (cell.label == "timeslice-r1") cell.evidence_json = R"({"mode":"timeslice","processes":[{"pid":42,"gpu":0}]})";
    if (cell.label == "mps-r1") cell.evidence_json = "not json {";
  }
  // Enough evidence for ten iterations; `repeats: auto` as it went.
  auto plan = json::parse(in.run.plan_json);
  plan["evidence"] = {{"min_iterations", 5}, {"min_tail_requests", 1}, {"max_drift", 0.5}};
  plan["repeats_auto"] = {{"max", 4}, {"precision", 0.05}, {"repeats_run", 2}, {"stopped_because", "STP apart"}};
  in.run.plan_json = plan.dump();
  return b;
}

struct Doc {
  analysis::Analysis analysis;
  analysis::Recommendation rec;
  json doc;
};

Doc document(RunBuilder& b) {
  Doc d;
  d.analysis = b.analyze();
  d.rec = analysis::recommend(d.analysis);
  d.doc = analysis_json(d.analysis, d.rec);
  return d;
}

// The element of `array` whose `key` is `value`.
const json& find(const json& array, const std::string& key, const std::string& value) {
  for (const auto& e : array)
    if (e.contains(key) && e[key] == value) return e;
  ADD_FAILURE() << "no " << key << " = " << value << " in " << array.dump();
  static const json none;
  return none;
}

// A number that equals the optional, or null when it is absent or not finite.
void expect_number(const json& j, const std::optional<double>& v, const std::string& what) {
  if (!v || !std::isfinite(*v)) {
    EXPECT_TRUE(j.is_null()) << what << ": " << j.dump();
  } else {
    ASSERT_TRUE(j.is_number()) << what << ": " << j.dump();
    EXPECT_DOUBLE_EQ(j.get<double>(), *v) << what;
  }
}

void expect_estimate(const json& j, const analysis::Estimate& e, const std::string& what) {
  ASSERT_TRUE(j.is_object()) << what;
  for (const char* key : {"mean", "margin", "ci_low", "ci_high", "n", "values"}) EXPECT_TRUE(j.contains(key)) << what << "." << key;
  expect_number(j["mean"], e.mean, what + ".mean");
  expect_number(j["margin"], e.margin(), what + ".margin");
  expect_number(j["ci_low"], e.ci_low, what + ".ci_low");
  expect_number(j["ci_high"], e.ci_high, what + ".ci_high");
  ASSERT_TRUE(j["n"].is_number_integer()) << what;
  EXPECT_EQ(j["n"].get<size_t>(), e.n()) << what;
  ASSERT_TRUE(j["values"].is_array()) << what;
  ASSERT_EQ(j["values"].size(), e.values.size()) << what;
  for (size_t i = 0; i < e.values.size(); ++i) expect_number(j["values"][i], e.values[i], what + ".values");
}

bool is_rfc3339_utc(const json& j) {
  static const std::regex re(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$)");
  return j.is_string() && std::regex_match(j.get<std::string>(), re);
}

TEST(ReportJson, VersionKindAndRun) {
  auto b = windowed_run();
  const auto d = document(b);
  const auto& doc = d.doc;
  ASSERT_TRUE(doc["schema_version"].is_number_integer());
  EXPECT_EQ(doc["schema_version"].get<int>(), kReportSchemaVersion);
  EXPECT_EQ(kReportSchemaVersion, 1);
  EXPECT_EQ(doc["kind"], "gpumix.report");
  for (const char* key : {"run", "recommendation", "verdicts", "evidence", "missing", "modes", "comparisons", "cells"})
    EXPECT_TRUE(doc.contains(key)) << key;
  const auto& run = doc["run"];
  ASSERT_TRUE(run["id"].is_number_integer());
  EXPECT_EQ(run["id"].get<int64_t>(), 1);
  EXPECT_EQ(run["mix_name"], "hand-made");
  EXPECT_EQ(run["status"], "completed");
  EXPECT_EQ(run["started"], "1970-01-01T00:16:40.000Z");  // 1000 s
  EXPECT_EQ(run["ended"], "1970-01-01T00:33:20.000Z");    // 2000 s
  EXPECT_EQ(run["gpumix_version"], "0.1.0");
  EXPECT_EQ(run["git_sha"], "abc123");
  EXPECT_EQ(run["host"], "testhost");
  ASSERT_TRUE(run["gpu_time_s"].is_number());
  EXPECT_DOUBLE_EQ(run["gpu_time_s"].get<double>(), 1000);
  ASSERT_TRUE(run["environment"].is_object());
  EXPECT_EQ(run["environment"]["nvml"]["driver_version"], "550.54");
  EXPECT_EQ(doc["missing"], json(d.analysis.missing_texts()));
  ASSERT_EQ(doc["missing_codes"].size(), d.analysis.missing.size());
  for (size_t i = 0; i < d.analysis.missing.size(); ++i)
    EXPECT_EQ(doc["missing_codes"][i], analysis::to_string(d.analysis.missing[i].code));

  // A run still going: no end.
  b.input().run.ended_ns = 0;
  b.input().run.status = store::RunStatus::running;
  EXPECT_TRUE(analysis_json(b.analyze(), analysis::Recommendation{})["run"]["ended"].is_null());
}

TEST(ReportJson, NoNonFiniteNumberAnywhere) {
  auto b = windowed_run();
  const auto doc = document(b).doc;
  int numbers = 0;
  std::function<void(const json&, const std::string&)> walk = [&](const json& j, const std::string& path) {
    if (j.is_object()) {
      for (auto it = j.begin(); it != j.end(); ++it) walk(it.value(), path + "." + it.key());
    } else if (j.is_array()) {
      for (size_t i = 0; i < j.size(); ++i) walk(j[i], path + "[" + std::to_string(i) + "]");
    } else if (j.is_number_float()) {
      ++numbers;
      EXPECT_TRUE(std::isfinite(j.get<double>())) << path;
    } else if (j.is_string()) {
      const auto s = j.get<std::string>();
      EXPECT_TRUE(s != "inf" && s != "nan" && s != "-inf" && s != "NaN") << path;
    }
  };
  walk(doc, "");
  EXPECT_GT(numbers, 50);
  // The dump parses back to the same document (nothing became a string).
  EXPECT_EQ(json::parse(dump_report(doc)), doc);
}

TEST(ReportJson, RecommendationAndVerdicts) {
  auto b = windowed_run();
  auto d = document(b);
  const auto& r = d.doc["recommendation"];
  for (const char* key : {"mode", "headline", "slos_met", "closest", "undecided", "settle", "notes"})
    EXPECT_TRUE(r.contains(key)) << key;
  if (d.rec.mode) EXPECT_EQ(r["mode"], *d.rec.mode);
  else EXPECT_TRUE(r["mode"].is_null());
  EXPECT_EQ(r["headline"], d.rec.headline);
  EXPECT_FALSE(d.rec.headline.empty());
  ASSERT_TRUE(r["slos_met"].is_boolean());
  EXPECT_EQ(r["slos_met"].get<bool>(), d.rec.slos_met);
  if (d.rec.closest) EXPECT_EQ(r["closest"], *d.rec.closest);
  else EXPECT_TRUE(r["closest"].is_null());
  EXPECT_EQ(r["undecided"], json(d.rec.undecided));
  ASSERT_TRUE(r["undecided"].is_array());
  if (d.rec.settle.empty()) EXPECT_TRUE(r["settle"].is_null());
  else EXPECT_EQ(r["settle"], d.rec.settle);
  EXPECT_EQ(r["notes"], json(d.rec.notes));

  const auto& verdicts = d.doc["verdicts"];
  ASSERT_EQ(verdicts.size(), d.rec.verdicts.size());
  ASSERT_FALSE(verdicts.empty());
  for (size_t i = 0; i < verdicts.size(); ++i) {
    const auto& v = verdicts[i];
    const auto& s = d.rec.verdicts[i];
    EXPECT_EQ(v["mode"], s.mode);
    EXPECT_EQ(v["state"], analysis::to_string(s.state));
    expect_number(v["stp"]["mean"], s.stp, "stp.mean");
    expect_number(v["stp"]["margin"], s.stp_margin, "stp.margin");
    expect_number(v["worst_excess"], s.worst_excess, "worst_excess");
    ASSERT_TRUE(v["failures"].is_boolean());
    EXPECT_EQ(v["reasons"], json(s.reasons));
  }
  // Set fields of a recommendation, and an SLO that could not be measured.
  d.rec.mode.reset();
  d.rec.closest = "mps";
  d.rec.undecided = {"timeslice", "mps"};
  d.rec.settle = "more repeats";
  d.rec.verdicts[0].worst_excess = std::numeric_limits<double>::infinity();
  const auto doc = analysis_json(d.analysis, d.rec);
  EXPECT_TRUE(doc["recommendation"]["mode"].is_null());
  EXPECT_EQ(doc["recommendation"]["closest"], "mps");
  EXPECT_EQ(doc["recommendation"]["undecided"], json({"timeslice", "mps"}));
  EXPECT_EQ(doc["recommendation"]["settle"], "more repeats");
  EXPECT_TRUE(doc["verdicts"][0]["worst_excess"].is_null());
}

// A run on the CPU says so (device, why) and names no mode, with the reason as a
// code; a run on a GPU says "gpu"; a run recorded without NVML's view, nothing.
TEST(ReportJson, DeviceAndWhyNoModeIsNamed) {
  auto b = windowed_run();
  auto d = document(b);
  EXPECT_EQ(d.doc["run"]["device"], "gpu");
  EXPECT_TRUE(d.doc["run"]["cpu_only"].is_null());
  ASSERT_TRUE(d.rec.mode);
  EXPECT_TRUE(d.doc["recommendation"]["no_mode_code"].is_null());

  b.input().run.environment_json = R"({"host":"ci","nvml":{"available":false,"reason":"cannot load libnvidia-ml.so.1"}})";
  d = document(b);
  EXPECT_EQ(d.doc["run"]["device"], "cpu");
  EXPECT_EQ(d.doc["run"]["cpu_only"], "cannot load libnvidia-ml.so.1");
  EXPECT_TRUE(d.doc["recommendation"]["mode"].is_null());
  EXPECT_TRUE(d.doc["recommendation"]["closest"].is_null());
  EXPECT_EQ(d.doc["recommendation"]["no_mode_code"], "cpu_only");
  EXPECT_EQ(d.doc["recommendation"]["headline"].get<std::string>().rfind("No recommendation: the cells ran on the CPU", 0), 0u);
  for (const auto& v : d.doc["verdicts"]) EXPECT_NE(v["state"], "recommended") << v.dump();
  EXPECT_EQ(d.doc["missing_codes"][0], "cpu_only");

  b.input().run.environment_json = R"({"host":"old"})";
  EXPECT_TRUE(document(b).doc["run"]["device"].is_null());
  // Another reason, as a code: nothing to compare the baseline with.
  RunBuilder alone({"exclusive"}, 1, {"train"});
  alone.throughput(alone.workload(alone.cell("baseline-train", "exclusive", 0), "train"), 100);
  EXPECT_EQ(document(alone).doc["recommendation"]["no_mode_code"], "no_shared_mode");
}

TEST(ReportJson, ModesCarryEstimates) {
  auto b = windowed_run();
  const auto d = document(b);
  ASSERT_EQ(d.doc["modes"].size(), d.analysis.modes.size());
  for (size_t i = 0; i < d.analysis.modes.size(); ++i) {
    const auto& m = d.analysis.modes[i];
    const auto& j = d.doc["modes"][i];
    EXPECT_EQ(j["mode"], m.mode);
    EXPECT_EQ(j["baseline"].get<bool>(), m.baseline);
    EXPECT_EQ(j["cells"]["planned"].get<int>(), m.cells_planned);
    EXPECT_EQ(j["cells"]["run"].get<int>(), m.cells_run);
    EXPECT_EQ(j["cells"]["skipped"].get<int>(), m.cells_skipped);
    for (const auto& [key, e] : std::vector<std::pair<std::string, const analysis::Estimate*>>{
             {"stp", &m.stp}, {"antt", &m.antt}, {"fairness", &m.fairness}, {"jain", &m.jain},
             {"energy_per_sample_j", &m.energy_per_sample_j}, {"warmup_s", &m.warmup_s}})
      expect_estimate(j[key], *e, m.mode + "." + key);
    for (const auto& [key, e] : m.activity_mean) expect_estimate(j[key + "_mean"], e, m.mode + "." + key);
    EXPECT_TRUE(j.contains("gpu_util_mean") && j.contains("gpm_sm_mean") && j.contains("gpm_fp16_mean"));
    EXPECT_EQ(j["disqualifications"], json(m.disqualifications));
    EXPECT_EQ(j["failures"], json(m.failures));
    ASSERT_EQ(j["workloads"].size(), m.workloads.size());
    for (size_t k = 0; k < m.workloads.size(); ++k) {
      const auto& w = m.workloads[k];
      const auto& jw = j["workloads"][k];
      EXPECT_EQ(jw["workload"], w.workload);
      for (const auto& [key, e] : std::vector<std::pair<std::string, const analysis::Estimate*>>{
               {"np", &w.np}, {"throughput", &w.throughput}, {"latency_p99_ms", &w.latency_p99_ms},
               {"p99_inflation", &w.p99_inflation}, {"ready_s", &w.ready_s}, {"jct_s", &w.jct_s}})
        expect_estimate(jw[key], *e, m.mode + "." + w.workload + "." + key);
      expect_number(jw["alone_throughput"], w.alone_throughput, "alone_throughput");
      expect_number(jw["alone_p99_ms"], w.alone_p99_ms, "alone_p99_ms");
      if (!m.baseline) {
        const auto* alone = d.analysis.mode("exclusive")->workload(w.workload);
        ASSERT_NE(alone, nullptr);
        EXPECT_EQ(w.alone_throughput, alone->throughput.mean) << w.workload;
      }
      ASSERT_EQ(jw["slos"].size(), w.slos.size());
      for (size_t s = 0; s < w.slos.size(); ++s) {
        const auto& js = jw["slos"][s];
        for (const char* key : {"workload", "percentile", "limit_ms", "worst_ms", "worst_cell", "worst_attainment", "repeats",
                                "broken", "unmeasured", "met"})
          EXPECT_TRUE(js.contains(key)) << key;
        EXPECT_EQ(js["met"].get<bool>(), w.slos[s].met);
        EXPECT_TRUE(js["repeats"].is_number_integer());
        expect_number(js["worst_ms"], w.slos[s].worst_ms, "worst_ms");
      }
      EXPECT_EQ(jw["gaps"], json(w.gaps));
      EXPECT_EQ(jw["unsteady"], json(w.unsteady));
    }
  }
  // Two repeats of timeslice: a mean, an interval, two values.
  const auto& ts = find(d.doc["modes"], "mode", "timeslice");
  const auto& stp = ts["stp"];
  ASSERT_TRUE(stp["mean"].is_number());
  ASSERT_TRUE(stp["margin"].is_number());
  ASSERT_TRUE(stp["ci_low"].is_number());
  ASSERT_TRUE(stp["ci_high"].is_number());
  EXPECT_EQ(stp["n"], 2);
  EXPECT_EQ(stp["values"].size(), 2u);
  EXPECT_LE(stp["ci_low"].get<double>(), stp["mean"].get<double>());
  EXPECT_GE(stp["ci_high"].get<double>(), stp["mean"].get<double>());
  EXPECT_NEAR(stp["margin"].get<double>(), (stp["ci_high"].get<double>() - stp["ci_low"].get<double>()) / 2, 1e-12);
  // The baseline has no system figures: an empty estimate, nulls and no values.
  const auto& ex = find(d.doc["modes"], "mode", "exclusive");
  EXPECT_TRUE(ex["stp"]["mean"].is_null());
  EXPECT_TRUE(ex["stp"]["margin"].is_null());
  EXPECT_EQ(ex["stp"]["n"], 0);
  EXPECT_EQ(ex["stp"]["values"], json::array());
  // The figures alone: train's throughput, server's p99 (2 ms) in their baselines.
  const auto& mps_server = find(find(d.doc["modes"], "mode", "mps")["workloads"], "workload", "server");
  ASSERT_TRUE(mps_server["alone_p99_ms"].is_number()) << mps_server.dump();
  EXPECT_DOUBLE_EQ(mps_server["alone_p99_ms"].get<double>(), 2.0);
  EXPECT_TRUE(mps_server["alone_throughput"].is_null());
  EXPECT_TRUE(find(find(d.doc["modes"], "mode", "mps")["workloads"], "workload", "train")["alone_throughput"].is_number());
  // mig: skipped, and says why.
  const auto& mig = find(d.doc["modes"], "mode", "mig");
  EXPECT_EQ(mig["cells"]["skipped"], 2);
  EXPECT_EQ(mig["skip_reason"], d.analysis.mode("mig")->skip_reason);

  ASSERT_EQ(d.doc["comparisons"].size(), d.analysis.comparisons.size());
  for (size_t i = 0; i < d.analysis.comparisons.size(); ++i) {
    const auto& c = d.analysis.comparisons[i];
    const auto& j = d.doc["comparisons"][i];
    EXPECT_EQ(j["metric"], c.metric);
    EXPECT_EQ(j["mode_a"], c.mode_a);
    EXPECT_EQ(j["mode_b"], c.mode_b);
    expect_number(j["delta"], c.difference.delta, "delta");
    expect_number(j["ci_low"], c.difference.ci_low, "ci_low");
    expect_number(j["ci_high"], c.difference.ci_high, "ci_high");
    EXPECT_EQ(j["verdict"], analysis::to_string(c.difference.verdict));
  }
}

TEST(ReportJson, EvidenceGatesAndAutoRepeats) {
  auto b = windowed_run();
  const auto d = document(b);
  const auto& e = d.doc["evidence"];
  ASSERT_TRUE(e["gates"]["min_iterations"].is_number_integer());
  EXPECT_EQ(e["gates"]["min_iterations"], 5);
  EXPECT_DOUBLE_EQ(e["gates"]["min_tail_requests"].get<double>(), 1);
  EXPECT_DOUBLE_EQ(e["gates"]["max_drift"].get<double>(), 0.5);
  const auto& ar = e["auto_repeats"];
  ASSERT_TRUE(ar.is_object()) << e.dump();
  EXPECT_EQ(ar["max"], 4);
  EXPECT_TRUE(ar["budget_s"].is_null());
  EXPECT_DOUBLE_EQ(ar["precision"].get<double>(), 0.05);
  EXPECT_EQ(ar["repeats_run"], 2);
  EXPECT_EQ(ar["stopped_because"], "STP apart");

  auto plain = RunBuilder({"exclusive", "timeslice"}, 1, {"train"});
  const auto doc = analysis_json(plain.analyze(), analysis::Recommendation{});
  EXPECT_TRUE(doc["evidence"]["auto_repeats"].is_null());
  EXPECT_EQ(doc["evidence"]["gates"]["min_iterations"], 30);
}

TEST(ReportJson, CellsHaveWindowsEvidenceAndWorkloads) {
  auto b = windowed_run();
  const auto d = document(b);
  const auto& cells = d.doc["cells"];
  ASSERT_EQ(cells.size(), d.analysis.cells.size());

  // The first cell starts at 1100 s: its window 1100.5 s to 1103 s.
  const auto& base = find(cells, "label", "baseline-train");
  EXPECT_EQ(base["started"], "1970-01-01T00:18:20.000Z");
  EXPECT_EQ(base["window"]["start"], "1970-01-01T00:18:20.500Z");
  EXPECT_EQ(base["window"]["end"], "1970-01-01T00:18:23.000Z");
  ASSERT_TRUE(base["window"]["seconds"].is_number());
  EXPECT_DOUBLE_EQ(base["window"]["seconds"].get<double>(), 2.5);
  EXPECT_DOUBLE_EQ(base["warmup_s"].get<double>(), 0.5);
  EXPECT_TRUE(base["baseline"].get<bool>());
  EXPECT_TRUE(base["stp"].is_null());  // no system figures alone
  EXPECT_TRUE(base["gpu"].is_null());  // no telemetry
  EXPECT_TRUE(base["evidence"].is_null());  // none stored
  for (const auto& c : cells) {
    if (c["status"] == "skipped") {
      EXPECT_TRUE(c["window"]["start"].is_null()) << c["label"];
      EXPECT_TRUE(c["window"]["end"].is_null()) << c["label"];
      EXPECT_TRUE(c["window"]["seconds"].is_null()) << c["label"];
    } else {
      EXPECT_TRUE(is_rfc3339_utc(c["window"]["start"])) << c["window"].dump();
      EXPECT_TRUE(is_rfc3339_utc(c["window"]["end"])) << c["window"].dump();
    }
    EXPECT_TRUE(is_rfc3339_utc(c["started"])) << c["started"].dump();
  }
  EXPECT_EQ(rfc3339_utc(1'700'000'000'123'456'789), "2023-11-14T22:13:20.123Z");
  EXPECT_TRUE(rfc3339_utc(0).is_null());

  // The evidence object as stored, not a flattened string; unparsable: null.
  const auto& ts = find(cells, "label", "timeslice-r1");
  ASSERT_TRUE(ts["evidence"].is_object()) << ts["evidence"].dump();
  EXPECT_EQ(ts["evidence"]["mode"], "timeslice");
  EXPECT_EQ(ts["evidence"]["processes"][0]["pid"], 42);
  EXPECT_TRUE(find(cells, "label", "mps-r1")["evidence"].is_null());

  // Telemetry: GPU 0, utilization, energy.
  const auto& ca = *d.analysis.cell("timeslice-r1");
  expect_number(ts["gpu_util"]["mean"], ca.activity_of("gpu_util").mean, "gpu_util.mean");
  expect_number(ts["gpu_util"]["p95"], ca.activity_of("gpu_util").p95, "gpu_util.p95");
  EXPECT_EQ(ts["gpu_util"]["samples"].get<int64_t>(), ca.activity_of("gpu_util").samples);
  expect_number(ts["gpm_sm"]["mean"], ca.activity_of("gpm_sm").mean, "gpm_sm.mean");
  expect_number(ts["energy_j"], ca.energy_j, "energy_j");
  EXPECT_EQ(ts["energy_source"], ca.energy_source);
  expect_number(ts["energy_per_sample_j"], ca.energy_per_sample_j, "energy_per_sample_j");
  if (ca.gpu) {
    EXPECT_EQ(ts["gpu"], *ca.gpu);
  }
  expect_number(ts["stp"], ca.stp, "stp");
  expect_number(ts["antt"], ca.antt, "antt");

  // Workloads: counts are integers, absent figures null.
  ASSERT_EQ(ts["workloads"].size(), ca.workloads.size());
  const auto& train = find(ts["workloads"], "name", "train");
  const auto& server = find(ts["workloads"], "name", "server");
  for (const auto* w : {&train, &server}) {
    for (const char* key : {"iterations", "samples", "iterations_total", "requests", "request_errors"})
      EXPECT_TRUE((*w)[key].is_number_integer()) << key;
    for (const char* key : {"name", "role", "status", "reason", "np_basis", "np_missing", "unsteady", "throughput_gate", "latency_gate"})
      EXPECT_TRUE((*w)[key].is_string()) << key;
    EXPECT_TRUE((*w)["no_progress"].is_boolean());
    EXPECT_TRUE((*w)["percentile_gates"].is_array());
    for (const char* key : {"p50", "p90", "p95", "p99", "p99_9", "mean"}) EXPECT_TRUE((*w)["latency"].contains(key)) << key;
  }
  const auto* wt = &ca.workloads[0];
  for (const auto& w : ca.workloads)
    if (w.summary.name == "train") wt = &w;
  EXPECT_EQ(train["iterations"].get<int64_t>(), wt->summary.iterations);
  expect_number(train["throughput"], wt->summary.throughput, "throughput");
  expect_number(train["np"], wt->np, "np");
  expect_number(train["window_s"], wt->summary.window_s, "window_s");
  expect_number(train["ready_s"], wt->summary.ready_s, "ready_s");
  expect_number(train["rate_first_half"], wt->summary.rate_first_half, "rate_first_half");
  expect_number(train["drift"], wt->summary.drift, "drift");
  EXPECT_TRUE(train["latency"]["p99"].is_null());  // no requests
  EXPECT_TRUE(train["jct_s"].is_null());           // not a completion job
  EXPECT_TRUE(train["p99_inflation"].is_null());
  EXPECT_EQ(train["slos"], json::array());
  ASSERT_TRUE(server["latency"]["p99"].is_number());
  EXPECT_DOUBLE_EQ(server["latency"]["p99"].get<double>(), 4.0);
  ASSERT_EQ(server["slos"].size(), 1u);
  EXPECT_DOUBLE_EQ(server["slos"][0]["percentile"].get<double>(), 99);
  EXPECT_DOUBLE_EQ(server["slos"][0]["limit_ms"].get<double>(), 10);
  EXPECT_TRUE(server["slos"][0]["met"].get<bool>());
  EXPECT_TRUE(server["slos"][0]["actual_ms"].is_number());
  EXPECT_TRUE(server["slos"][0]["attainment"].is_number());
  EXPECT_TRUE(train["exit_code"].is_number_integer());
  EXPECT_TRUE(train["signal"].is_null());
}

TEST(ReportJson, NonFiniteAnttIsNull) {
  auto b = windowed_run();
  const auto d = document(b);
  // mps-r2: train ran and made no progress, NP 0, so ANTT is infinite.
  const auto& ca = *d.analysis.cell("mps-r2");
  ASSERT_TRUE(ca.antt.has_value());
  ASSERT_FALSE(std::isfinite(*ca.antt)) << *ca.antt;
  const auto& cell = find(d.doc["cells"], "label", "mps-r2");
  EXPECT_TRUE(cell["antt"].is_null()) << cell["antt"].dump();
  EXPECT_TRUE(cell["stp"].is_number());
  EXPECT_TRUE(find(cell["workloads"], "name", "train")["no_progress"].get<bool>());
  EXPECT_DOUBLE_EQ(find(cell["workloads"], "name", "train")["np"].get<double>(), 0);
  // Over the repeats: the mean is infinite (null), the infinite value null, the finite one kept.
  const auto& antt = find(d.doc["modes"], "mode", "mps")["antt"];
  EXPECT_TRUE(antt["mean"].is_null()) << antt.dump();
  ASSERT_EQ(antt["values"].size(), 2u);
  EXPECT_TRUE(antt["values"][0].is_number());
  EXPECT_TRUE(antt["values"][1].is_null());
  // Forced on a cell too: NaN and -inf are null as well.
  auto a = d.analysis;
  a.cells[0].antt = std::numeric_limits<double>::quiet_NaN();
  a.cells[1].antt = -std::numeric_limits<double>::infinity();
  const auto doc = analysis_json(a, d.rec);
  EXPECT_TRUE(doc["cells"][0]["antt"].is_null());
  EXPECT_TRUE(doc["cells"][1]["antt"].is_null());
}

TEST(ReportJson, InvalidUtf8IsReplacedNotThrown) {
  auto b = windowed_run();
  b.input().run.mix_name = "mix-\xff\xfe-name";
  for (auto& w : b.input().workloads)
    if (w.name == "train") w.reason = "output \xc3\x28 broken";
  const auto d = document(b);
  EXPECT_THROW((void)d.doc.dump(), json::type_error);  // why dump_report is needed
  std::string text;
  ASSERT_NO_THROW(text = dump_report(d.doc));
  const auto back = json::parse(text);
  EXPECT_EQ(back["run"]["mix_name"], "mix-\xEF\xBF\xBD\xEF\xBF\xBD-name");
  EXPECT_NE(text.find("\xEF\xBF\xBD"), std::string::npos);
  // Pretty-printed with two spaces.
  EXPECT_EQ(text.rfind("{\n  \"", 0), 0u);
}

TEST(ReportJson, CompareHasBothRunsAndTheirDifferences) {
  auto ba = windowed_run();
  auto bb = windowed_run();
  bb.input().run.id = 2;
  ComparedRun a, b;
  a.label = "A: run 1 in results";
  a.analysis = ba.analyze();
  a.recommendation = analysis::recommend(a.analysis);
  b.label = "B: run 2 in results";
  b.analysis = bb.analyze();
  b.recommendation = analysis::recommend(b.analysis);
  const auto doc = compare_json(a, b);
  EXPECT_EQ(doc["schema_version"], kReportSchemaVersion);
  EXPECT_EQ(doc["kind"], "gpumix.compare");
  EXPECT_EQ(doc["labels"]["a"], a.label);
  EXPECT_EQ(doc["labels"]["b"], b.label);
  EXPECT_EQ(doc["a"]["kind"], "gpumix.report");
  EXPECT_EQ(doc["a"]["run"]["id"], 1);
  EXPECT_EQ(doc["b"]["run"]["id"], 2);
  const auto& diff = doc["diff"];
  // Shared modes both runs have; the baseline is not among them.
  std::vector<std::string> modes;
  for (const auto& m : diff["modes"]) modes.push_back(m["mode"].get<std::string>());
  EXPECT_EQ(modes, (std::vector<std::string>{"timeslice", "mps", "mig"}));
  const auto& ts = find(diff["modes"], "mode", "timeslice");
  ASSERT_TRUE(ts["stp_a"].is_number());
  EXPECT_DOUBLE_EQ(ts["stp_a"].get<double>(), ts["stp_b"].get<double>());
  EXPECT_DOUBLE_EQ(ts["ratio"].get<double>(), 1.0);
  EXPECT_EQ(ts["stp_difference"]["verdict"], "within noise");
  const auto& mig = find(diff["modes"], "mode", "mig");
  EXPECT_TRUE(mig["stp_a"].is_null());
  EXPECT_TRUE(mig["ratio"].is_null());
  EXPECT_TRUE(mig["stp_difference"].is_null());
  // NP per workload and mode; the baseline's rows have throughput but no NP.
  bool train_timeslice = false, train_alone = false;
  for (const auto& w : diff["workloads"]) {
    if (w["workload"] == "train" && w["mode"] == "timeslice") {
      train_timeslice = true;
      ASSERT_TRUE(w["np_a"].is_number());
      EXPECT_DOUBLE_EQ(w["ratio"].get<double>(), 1.0);
    }
    if (w["workload"] == "train" && w["mode"] == "exclusive") {
      train_alone = true;
      EXPECT_TRUE(w["baseline"].get<bool>());
      EXPECT_TRUE(w["np_a"].is_null());
      EXPECT_TRUE(w["ratio"].is_null());
      EXPECT_TRUE(w["throughput_a"].is_number());
    }
  }
  EXPECT_TRUE(train_timeslice);
  EXPECT_TRUE(train_alone);
  // SLOs, environment and notes, as `gpumix compare` prints them.
  const auto& slo = find(diff["slos"], "mode", "mps");
  EXPECT_EQ(slo["slo"], "server p99 <= 10 ms");
  EXPECT_FALSE(slo["met_a"].get<bool>());
  EXPECT_EQ(find(diff["environment"], "field", "GPU")["a"], find(diff["environment"], "field", "GPU")["b"]);
  EXPECT_TRUE(diff["notes"].is_array());
  ASSERT_NO_THROW((void)dump_report(doc));

  // B ran on the CPU: its document and the notes say so, first.
  bb.input().run.environment_json = R"({"nvml":{"available":false,"reason":"no driver"}})";
  b.analysis = bb.analyze();
  b.recommendation = analysis::recommend(b.analysis);
  const auto cpu = compare_json(a, b);
  EXPECT_EQ(cpu["a"]["run"]["device"], "gpu");
  EXPECT_EQ(cpu["b"]["run"]["device"], "cpu");
  EXPECT_TRUE(cpu["b"]["recommendation"]["mode"].is_null());
  EXPECT_EQ(cpu["b"]["recommendation"]["no_mode_code"], "cpu_only");
  ASSERT_FALSE(cpu["diff"]["notes"].empty());
  EXPECT_EQ(cpu["diff"]["notes"][0].get<std::string>().rfind("B: run 2 in results ran on the CPU, without an NVIDIA GPU (no driver)", 0), 0u)
      << cpu["diff"]["notes"].dump();
}

}  // namespace
}  // namespace gpumix::report
