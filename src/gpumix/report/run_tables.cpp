#include "gpumix/report/run_tables.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "gpumix/util/units.hpp"

namespace gpumix::report {
namespace {

std::string slo_text(const analysis::WorkloadSummary& s) {
  std::string out;
  for (const auto& r : s.slos) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "p%g<=%gms:%s", r.percentile, r.limit_ms, !r.actual_ms ? "no-data" : r.met ? "met" : "MISSED");
    out += (out.empty() ? "" : " ") + std::string(buf);
  }
  return out;
}

std::string exit_text(const std::optional<int>& code, const std::optional<int>& sig) {
  if (sig) return "sig " + std::to_string(*sig);
  if (code) return std::to_string(*code);
  return "";
}

}  // namespace

Table summary_table(const std::vector<analysis::WorkloadSummary>& summaries) {
  Table t;
  // iters onwards: over the cell's measured window only (ready_s: its warm-up).
  t.columns = {"cell",        "workload",    "role",       "status",     "exit",       "wall_s",       "ready_s",
               "window_s",    "iters",       "samples_per_s", "step_ms_p50", "requests", "lat_p50_ms", "lat_p95_ms",
               "lat_p99_ms",  "lat_p99.9_ms", "slo",       "peak_rss_mib", "reason"};
  for (const auto& s : summaries) {
    t.add({s.cell, s.name, spec::to_string(s.role), store::to_string(s.status), exit_text(s.exit_code, s.signal), s.wall_s, opt(s.ready_s), opt(s.window_s),
           s.iterations, opt(s.throughput),
           opt(s.step_ms_p50), s.requests, opt(s.latency_p50), opt(s.latency_p95), opt(s.latency_p99), opt(s.latency_p999),
           slo_text(s), static_cast<double>(s.peak_rss_kb) / 1024.0, s.reason});
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
    t.add({r.id, format_timestamp(r.started_ns), r.mix_name, store::to_string(r.status), static_cast<int64_t>(cell_counts[i]), dur, r.host,
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
    t.add({c.label, c.mode, static_cast<int64_t>(c.repeat), store::to_string(c.status), format_timestamp(c.started_ns), dur, warmup, window,
           c.evidence_json, c.error});
  }
  t.precision = 1;
  return t;
}

Table workloads_table(const std::vector<store::WorkloadRow>& ws) {
  Table t;
  t.columns = {"id",       "cell_id",     "workload", "role",   "pid",    "status", "reason", "exit_code", "signal",
               "started_ns", "ready_ns", "ended_ns", "peak_rss_kb", "argv", "stdout", "stderr"};
  for (const auto& w : ws)
    t.add({w.id, w.cell_id, w.name, spec::to_string(w.role), w.pid, store::to_string(w.status), w.reason, opt(w.exit_code), opt(w.signal), w.started_ns,
           w.ready_ns, w.ended_ns, w.peak_rss_kb, w.argv_json, w.stdout_path, w.stderr_path});
  return t;
}

Table events_table(const std::vector<store::EventRow>& events) {
  Table t;
  t.columns = {"workload_id", "t_ns", "ev", "n", "ms", "data"};
  for (const auto& e : events) t.add({e.workload_id, e.t_ns, e.ev, opt(e.n), opt(e.ms), e.data});
  return t;
}

}  // namespace gpumix::report
