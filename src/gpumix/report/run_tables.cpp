#include "gpumix/report/run_tables.hpp"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "gpumix/report/json_report.hpp"

namespace gpumix::report {
namespace {

// Each SLO with its verdict: JSON has the figures, the table "p99<=50ms:met".
Value slo_cell(const analysis::WorkloadSummary& s) {
  if (s.slos.empty()) return std::monostate{};
  nlohmann::json j = nlohmann::json::array();
  std::string text;
  for (const auto& r : s.slos) {
    j.push_back({{"metric", spec::to_string(r.metric)}, {"percentile", r.percentile}, {"limit_ms", r.limit_ms},
                 {"actual_ms", json_number(r.actual_ms)}, {"attainment", json_number(r.attainment)}, {"met", r.met}});
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s<=%gms:%s", spec::slo_key(r.metric, r.percentile).c_str(), r.limit_ms,
                  !r.actual_ms ? "no-data" : r.met ? "met" : "MISSED");
    text += (text.empty() ? "" : " ") + std::string(buf);
  }
  return Json{std::move(j), std::move(text)};
}

}  // namespace

Table summary_table(const std::vector<analysis::WorkloadSummary>& summaries) {
  Table t;
  // iters onwards: over the cell's measured window only (ready_s: its warm-up).
  t.columns = {"cell",        "workload",    "role",       "status",     "exit_code",  "signal",       "wall_s",      "ready_s",
               "window_s",    "iters",       "samples_per_s", "step_ms_p50", "requests", "lat_p50_ms", "lat_p95_ms",
               "lat_p99_ms",  "lat_p99.9_ms", "slo",       "peak_rss_mib", "reason"};
  for (const auto& s : summaries) {
    t.add({s.cell, s.name, spec::to_string(s.role), store::to_string(s.status), opt(s.exit_code), opt(s.signal), s.wall_s, opt(s.ready_s), opt(s.window_s),
           s.iterations, opt(s.throughput),
           opt(s.step_ms_p50), s.requests, opt(s.latency_p50), opt(s.latency_p95), opt(s.latency_p99), opt(s.latency_p999),
           slo_cell(s), static_cast<double>(s.peak_rss_kb) / 1024.0, s.reason});
  }
  return t;
}

Table runs_table(const std::vector<store::RunRow>& runs, const std::vector<int>& cell_counts) {
  Table t;
  t.columns = {"run", "started", "mix", "status", "cells", "duration_s", "host", "git"};
  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& r = runs[i];
    report::Value dur = std::monostate{};
    if (r.ended_ns > 0) dur = static_cast<double>(r.ended_ns - r.started_ns) / 1e9;
    t.add({r.id, Time{r.started_ns}, r.mix_name, store::to_string(r.status), static_cast<int64_t>(cell_counts[i]), dur, r.host,
           r.git_sha});
  }
  t.precision = 1;
  return t;
}

Table cells_table(const std::vector<store::CellRow>& cells) {
  Table t;
  t.columns = {"cell", "mode", "repeat", "status", "started", "duration_s", "warmup_s", "window_s", "evidence", "error"};
  for (const auto& c : cells) {
    report::Value dur = std::monostate{}, warmup = std::monostate{}, window = std::monostate{};
    if (c.ended_ns > 0) dur = static_cast<double>(c.ended_ns - c.started_ns) / 1e9;
    if (c.window_start_ns > 0) warmup = static_cast<double>(c.window_start_ns - c.started_ns) / 1e9;
    if (c.window_end_ns > c.window_start_ns && c.window_start_ns > 0)
      window = static_cast<double>(c.window_end_ns - c.window_start_ns) / 1e9;
    t.add({c.label, c.mode, static_cast<int64_t>(c.repeat), store::to_string(c.status), Time{c.started_ns}, dur, warmup, window,
           json_cell(c.evidence_json), c.error});
  }
  t.precision = 1;
  return t;
}

Table workloads_table(const std::vector<store::WorkloadRow>& ws) {
  Table t;
  t.columns = {"id",       "cell_id",     "workload", "role",   "pid",    "status", "reason", "exit_code", "signal",
               "started_ns", "ready_ns", "ended_ns", "peak_rss_kb", "argv", "stdout", "stderr"};
  // Times stay Unix nanoseconds here, comparable with the events' t_ns; 0 (never) is null.
  auto ns = [](int64_t t) { return t > 0 ? Value(t) : Value{}; };
  for (const auto& w : ws)
    t.add({w.id, w.cell_id, w.name, spec::to_string(w.role), w.pid, store::to_string(w.status), w.reason, opt(w.exit_code), opt(w.signal),
           ns(w.started_ns), ns(w.ready_ns), ns(w.ended_ns), w.peak_rss_kb, json_cell(w.argv_json), w.stdout_path, w.stderr_path});
  return t;
}

Table events_table(const std::vector<store::EventRow>& events) {
  Table t;
  t.columns = {"workload_id", "t_ns", "ev", "n", "ms", "ttft_ms", "tpot_ms", "output_tokens", "data"};
  for (const auto& e : events)
    t.add({e.workload_id, e.t_ns, e.ev, opt(e.n), opt(e.ms), opt(e.ttft_ms), opt(e.tpot_ms), opt(e.output_tokens), json_cell(e.data)});
  return t;
}

}  // namespace gpumix::report
