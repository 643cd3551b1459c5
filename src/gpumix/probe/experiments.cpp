#include "gpumix/probe/experiments.hpp"

#include <fmt/format.h>

#include <thread>

#include "gpumix/analysis/stats.hpp"
#include "gpumix/gpu/nvml.hpp"
#include "gpumix/spec/sharing_mode.hpp"
#include "gpumix/store/store.hpp"
#include "gpumix/telemetry/events.hpp"
#include "gpumix/telemetry/telemetry_store.hpp"
#include "gpumix/util/units.hpp"
#include "gpumix/json_text.hpp"

namespace gpumix::probe {

using namespace std::chrono;
using nlohmann::json;

namespace {

std::string ms_arg(int64_t ms) { return std::to_string(ms); }

// Room for CUDA start-up next to up to a dozen other contexts.
constexpr milliseconds kReadyTimeout = seconds(90);

std::string failures_of(const std::vector<ProbeOutcome>& outcomes) {
  std::string s;
  for (const auto& o : outcomes)
    if (!o.ok()) s += (s.empty() ? "" : "; ") + o.name + ": " + o.error();
  return s;
}

json evidence_of(const std::vector<ProbeOutcome>& outcomes) {
  json e = json::array();
  for (const auto& o : outcomes) e.push_back(o.evidence());
  return e;
}

// Runs `n` copies of `role` together; returns the outcomes, the mode's
// evidence and teardown report. Throws ModeUnavailable.
struct GroupRun {
  std::vector<ProbeOutcome> outcomes;
  json mode_evidence, teardown;
  std::filesystem::path dir;
};

GroupRun run_together(const ProbeEnv& env, const std::string& mode, const std::string& label, const std::string& role, int n,
                      const std::vector<std::string>& args, int64_t duration_ms) {
  std::vector<ProbeSpec> specs;
  for (int i = 0; i < n; ++i) specs.push_back({fmt::format("{}{}", role, i), role, args});
  ProbeGroup group(env, mode, label, specs);
  for (const auto& s : specs) group.start(s.name);
  group.wait_ready(kReadyTimeout);
  group.go();
  GroupRun r;
  std::this_thread::sleep_for(milliseconds(std::min<int64_t>(300, duration_ms / 3)));
  r.mode_evidence = group.evidence();
  r.outcomes = group.wait_all(milliseconds(duration_ms) + seconds(60));
  r.teardown = group.finish();
  r.dir = group.dir();
  return r;
}

std::vector<Interval> intervals_of(const json& out) {
  std::vector<Interval> v;
  if (out.is_object() && out.contains("intervals"))
    for (const auto& i : out["intervals"]) v.push_back({i[0].get<int64_t>(), i[1].get<int64_t>()});
  return v;
}

std::string fmt_opt(const std::optional<double>& v, const char* f = "{:.0f}") {
  return v ? fmt::format(fmt::runtime(f), *v) : "-";
}

}  // namespace

void run_timeslice_probe(const ProbeEnv& env, const TimesliceOptions& o, ProbeStore& store, int64_t session_id,
                         Progress progress) {
  const std::vector<std::string> spin_args = {"--duration-ms", ms_arg(o.duration_ms)};
  for (int rep = 1; rep <= o.repeats; ++rep) {
    for (const auto& mode : o.modes) {
      bool available = true;
      for (int n : o.counts) {
        TimesliceRow row;
        row.session_id = session_id;
        row.mode = mode;
        row.repeat = rep;
        row.processes = n;
        try {
          auto g = run_together(env, mode, fmt::format("{}-spin{}-r{}", mode, n, rep), "spin", n, spin_args, o.duration_ms);
          std::vector<std::vector<Interval>> traces;
          for (const auto& out : g.outcomes) traces.push_back(intervals_of(out.out));
          const auto a = analyze_trace(traces, o.trace);
          json per = json::array();
          for (size_t i = 0; i < a.per_process.size(); ++i) {
            const auto& p = a.per_process[i];
            per.push_back({{"slices", p.slices}, {"complete_slices", p.complete_slices}, {"hiccups", p.hiccups},
                           {"share", p.share}, {"slice_p50_us", p.slice_us.p50 ? json(*p.slice_us.p50) : json(nullptr)}});
          }
          row.valid = a.valid && failures_of(g.outcomes).empty();
          row.note = failures_of(g.outcomes).empty() ? a.note : failures_of(g.outcomes);
          row.slice_p10_us = a.slice_us.p10, row.slice_p50_us = a.slice_us.p50, row.slice_p90_us = a.slice_us.p90;
          row.gap_p10_us = a.gap_us.p10, row.gap_p50_us = a.gap_us.p50, row.gap_p90_us = a.gap_us.p90;
          row.switches = a.switches;
          row.overhead_p50_us = a.switch_overhead_us.p50, row.overhead_mean_us = a.switch_overhead_us.mean;
          row.efficiency = a.efficiency, row.concurrency = a.concurrency, row.hiccups = a.hiccups;
          row.evidence_json = json_text(json{{"trace_dir", g.dir.string()}, {"min_gap_ns", o.trace.min_gap_ns},
                                   {"wall_us", a.wall_us}, {"slices", a.slice_us.count},
                                   {"concurrent_starts", a.concurrent_starts}, {"idle_resumes", a.idle_resumes},
                                   {"idle_us", a.idle_us}, {"per_process", per}, {"processes", evidence_of(g.outcomes)},
                                   {"mode_evidence", g.mode_evidence}, {"teardown", g.teardown}});
          progress(fmt::format("{} r{} N={}: slice p50 {} µs, gap p50 {} µs, switch {} µs, efficiency {:.3f}{}", mode, rep,
                               n, fmt_opt(row.slice_p50_us), fmt_opt(row.gap_p50_us), fmt_opt(row.overhead_p50_us, "{:.1f}"),
                               row.efficiency, row.note.empty() ? "" : " (" + row.note + ")"));
        } catch (const modes::ModeUnavailable& e) {
          row.note = std::string("mode unavailable: ") + e.what();
          available = false;
          progress(fmt::format("{}: skipped: {}", mode, e.what()));
        }
        store.add(row);
        if (!available) break;
      }
      if (!available || !o.slowdown) continue;

      // The loop alone, then next to each count of copies of itself.
      const std::vector<std::string> loop_args = {"--duration-ms", ms_arg(o.duration_ms)};
      auto alone = run_together(env, mode, fmt::format("{}-loop-alone-r{}", mode, rep), "loop", 1, loop_args, o.duration_ms);
      std::optional<double> rate_alone;
      if (alone.outcomes[0].ok()) rate_alone = alone.outcomes[0].out.value("rate", 0.0);
      for (int k : o.counts) {
        auto g = run_together(env, mode, fmt::format("{}-loop{}-r{}", mode, k + 1, rep), "loop", k + 1, loop_args,
                              o.duration_ms);
        SlowdownRow row{session_id, mode, rep, k};
        row.rate_alone = rate_alone;
        std::vector<double> rates;
        for (const auto& out : g.outcomes)
          if (out.ok()) rates.push_back(out.out.value("rate", 0.0));
        const bool all = rates.size() == g.outcomes.size();
        if (all) row.rate_shared = analysis::mean(rates);
        if (all && rate_alone && *row.rate_shared > 0) {
          row.slowdown = *rate_alone / *row.rate_shared;
          row.throughput = *row.rate_shared * static_cast<double>(rates.size()) / *rate_alone;
        }
        row.evidence_json = json_text(json{{"alone", evidence_of(alone.outcomes)}, {"shared", evidence_of(g.outcomes)},
                                 {"failures", failures_of(g.outcomes) + failures_of(alone.outcomes)},
                                 {"mode_evidence", g.mode_evidence}});
        store.add(row);
        progress(fmt::format("{} r{} loop next to {} other(s): slowdown {} (fair share {}), throughput {}", mode, rep, k,
                             fmt_opt(row.slowdown, "{:.2f}"), k + 1, fmt_opt(row.throughput, "{:.3f}")));
      }
    }
  }
}

namespace {

std::string describe_attempts(const json& out) {
  std::string s;
  if (!out.is_object() || !out.contains("attempts")) return "no result";
  for (const auto& a : out["attempts"]) {
    s += (s.empty() ? "" : ", ") + format_bytes(a["bytes"].get<int64_t>()) + " ";
    s += a["ok"].get<bool>() ? "ok" : "failed (" + a.value("error", std::string("?")) + ")";
  }
  return s;
}

bool attempt_ok(const json& out, size_t i) {
  return out.is_object() && out.contains("attempts") && out["attempts"].size() > i && out["attempts"][i]["ok"].get<bool>();
}

void memory_case(const ProbeEnv& env, const std::string& mode, ProbeStore& store, int64_t sid, Progress progress) {
  int64_t total = int64_t{80} << 30;
  if (env.context.nvml) total = static_cast<int64_t>(env.context.nvml->device(0).memory_total_bytes);
  const int64_t normal = int64_t{1} << 30, large = total / 5;
  std::vector<ProbeSpec> specs = {
      {"hog", "alloc", {"--fraction", "0.9", "--hold-ms", "120000"}, {}, true, false},
      {"other", "alloc", {"--bytes", fmt::format("{},{}", normal, large)}, {}, false, false},
  };
  ProbeGroup g(env, mode, mode + "-memory", specs);
  g.start("hog");
  g.wait_ready(kReadyTimeout);
  g.start("other");
  auto other = g.wait("other", seconds(60));
  auto ev = g.evidence();
  auto hog = g.stop("hog");
  const json teardown = g.finish();
  IsolationRow row{sid, mode, "memory", "one process holds 90% of free memory"};
  const int64_t took = attempt_ok(hog.out, 0) ? hog.out["attempts"][0]["bytes"].get<int64_t>() : 0;
  row.outcome = fmt::format("hog took {}; the other: {}", took ? format_bytes(took) : "nothing (" + hog.error() + ")",
                            other.ok() ? describe_attempts(other.out) : other.error());
  row.isolated = other.ok() && attempt_ok(other.out, 0) && attempt_ok(other.out, 1);
  row.evidence_json = json_text(json{{"processes", evidence_of({hog, other})}, {"mode_evidence", ev}, {"teardown", teardown}});
  store.add(row);
  progress(mode + " memory: " + row.outcome);
}

void mps_limit_case(const ProbeEnv& env, const std::string& mode, int64_t limit, ProbeStore& store, int64_t sid,
                    Progress progress) {
  const int64_t within = limit / 2, over = limit * 2;
  ProbeSpec client{"client", "alloc", {"--bytes", fmt::format("{},{}", within, over)}, {}, false, false};
  client.mps.pinned_memory_limit = limit;
  ProbeGroup g(env, mode, mode + "-memory-limit", {client});
  g.start("client");
  auto c = g.wait("client", seconds(60));
  const json teardown = g.finish();
  IsolationRow row{sid, mode, "mps-memory-limit", "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT " + format_bytes(limit)};
  row.outcome = c.ok() ? describe_attempts(c.out) : c.error();
  row.isolated = c.ok() && attempt_ok(c.out, 0) && !attempt_ok(c.out, 1);
  row.evidence_json = json_text(json{{"processes", evidence_of({c})}, {"teardown", teardown}});
  store.add(row);
  progress(mode + " mps-memory-limit: " + row.outcome);
}

// The NVML events the session's sampler stored since `t_ns` (it waits at
// most 200 ms per event, so wait a little longer first).
json nvml_events_since(const ProbeEnv& env, int64_t t_ns) {
  json out = json::array();
  if (env.results_dir.empty()) return out;
  std::this_thread::sleep_for(milliseconds(400));
  try {
    telemetry::TelemetryStore t(env.results_dir);
    for (const auto& e : t.samples_between(t_ns, store::now_ns()).events)
      out.push_back({{"t_ns", e.t_ns}, {"gpu", e.gpu}, {"type", e.type}, {"data", e.data},
                     {"text", telemetry::event_text(e, 0)}});
  } catch (const std::exception& e) {
    out.push_back({{"error", e.what()}});
  }
  return out;
}

void fault_case(const ProbeEnv& env, const std::string& mode, const IsolationOptions& o, ProbeStore& store, int64_t sid,
                Progress progress) {
  const int64_t work_ms = std::max<int64_t>(4000, o.duration_ms * 2);
  std::vector<ProbeSpec> specs = {
      {"worker0", "loop", {"--duration-ms", ms_arg(work_ms)}},
      {"worker1", "loop", {"--duration-ms", ms_arg(work_ms)}},
      {"faulter", "fault", {"--fault-after-ms", "1000"}},
      {"fresh", "check", {}, {}, false, false},
  };
  const int64_t t_start = store::now_ns();
  ProbeGroup g(env, mode, mode + "-fault", specs);
  for (const char* n : {"worker0", "worker1", "faulter"}) g.start(n);
  g.wait_ready(kReadyTimeout);
  g.go();
  auto faulter = g.wait("faulter", seconds(60));
  // Fresh processes, one after another, until one allocates and runs a kernel.
  std::vector<ProbeOutcome> attempts;
  std::optional<double> recovery_s;
  const int64_t t_fault = faulter.out.is_object() ? faulter.out.value("t_fault_ns", int64_t{0}) : 0;
  const auto deadline = steady_clock::now() + milliseconds(o.recovery_timeout_ms);
  while (steady_clock::now() < deadline) {
    const std::string file = fmt::format("fresh{}", attempts.size());
    g.start("fresh", file);
    attempts.push_back(g.wait(file, milliseconds(o.recovery_timeout_ms)));
    if (attempts.back().ok()) {
      if (t_fault) recovery_s = static_cast<double>(attempts.back().out.value("t_ok_ns", int64_t{0}) - t_fault) / 1e9;
      break;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  auto w0 = g.wait("worker0", milliseconds(work_ms) + seconds(60));
  auto w1 = g.wait("worker1", seconds(60));
  const json teardown = g.finish();

  IsolationRow row{sid, mode, "fault", "illegal memory access next to 2 working processes"};
  auto fate = [&](const ProbeOutcome& w) {
    if (w.ok()) return fmt::format("{} survived ({} kernels)", w.name, w.out.value("iterations", int64_t{0}));
    return fmt::format("{} failed after {} kernels: {}", w.name,
                       w.out.is_object() ? w.out.value("iterations", int64_t{0}) : 0, w.error());
  };
  const std::string fault_error =
      faulter.out.is_object() && faulter.out.contains("fault") ? faulter.out["fault"].value("error", std::string("?")) : faulter.error();
  row.outcome = fmt::format("faulter: {}; {}; {}; a new process ran {}", fault_error, fate(w0), fate(w1),
                            recovery_s ? fmt::format("{:.3f} s after the fault ({} attempt(s))", *recovery_s, attempts.size())
                                       : fmt::format("never within {} ms ({} attempts)", o.recovery_timeout_ms, attempts.size()));
  const json events = nvml_events_since(env, t_start);
  std::string xids;
  for (const auto& e : events) xids += (xids.empty() ? "" : ", ") + e.value("text", std::string());
  if (!env.results_dir.empty()) row.outcome += "; NVML: " + (xids.empty() ? std::string("no Xid event") : xids);
  row.isolated = w0.ok() && w1.ok();
  row.value = recovery_s;
  row.unit = "s to recovery";
  row.evidence_json = json_text(json{{"faulter", faulter.evidence()}, {"workers", evidence_of({w0, w1})},
                           {"fresh_attempts", evidence_of(attempts)}, {"teardown", teardown}, {"nvml_events", events}});
  store.add(row);
  progress(mode + " fault: " + row.outcome);
}

std::optional<double> p99_of(const ProbeOutcome& o) {
  if (!o.ok() || !o.out.contains("latencies_us")) return std::nullopt;
  return analysis::percentile(o.out["latencies_us"].get<std::vector<double>>(), 99);
}

void performance_case(const ProbeEnv& env, const std::string& mode, const IsolationOptions& o, ProbeStore& store,
                      int64_t sid, Progress progress) {
  const std::vector<std::string> lat_args = {"--duration-ms", ms_arg(o.duration_ms)};
  auto alone = run_together(env, mode, mode + "-latency-alone", "latency", 1, lat_args, o.duration_ms);
  const auto p99_alone = p99_of(alone.outcomes[0]);
  const auto* known = spec::find_sharing_mode(mode);
  const bool limits = known && known->per_workload_limits;
  std::vector<int> percents = {100};
  if (limits) percents = o.sm_percents;
  for (int pct : percents) {
    ProbeSpec neighbour{"neighbour", "loop", {"--duration-ms", ms_arg(o.duration_ms + 1000)}};
    if (limits) neighbour.mps.sm_percent = pct;
    std::vector<ProbeSpec> specs = {{"latency", "latency", lat_args}, neighbour};
    ProbeGroup g(env, mode, fmt::format("{}-latency-neighbour{}", mode, pct), specs);
    g.start("neighbour");
    g.start("latency");
    g.wait_ready(kReadyTimeout);
    g.go();
    auto lat = g.wait("latency", milliseconds(o.duration_ms) + seconds(60));
    auto nb = g.wait("neighbour", seconds(60));
    const json teardown = g.finish();
    const auto p99 = p99_of(lat);
    IsolationRow row{sid, mode, "performance",
                     limits ? fmt::format("neighbour at {}% SMs", pct) : std::string("saturating neighbour")};
    if (p99 && p99_alone) {
      row.value = *p99 / *p99_alone;
      row.isolated = *row.value <= kIsolatedP99Ratio;
      row.outcome = fmt::format("p99 {:.1f} µs alone, {:.1f} µs with the neighbour (×{:.2f}); neighbour {:.0f} kernels/s",
                                *p99_alone, *p99, *row.value, nb.out.is_object() ? nb.out.value("rate", 0.0) : 0.0);
    } else {
      row.outcome = "no measure: " + failures_of({alone.outcomes[0], lat, nb});
    }
    row.unit = "p99 ÷ alone";
    row.evidence_json = json_text(json{{"alone", evidence_of(alone.outcomes)}, {"shared", evidence_of({lat, nb})},
                             {"p99_alone_us", p99_alone ? json(*p99_alone) : json(nullptr)},
                             {"p99_shared_us", p99 ? json(*p99) : json(nullptr)}, {"teardown", teardown}});
    store.add(row);
    progress(mode + " performance (" + row.variant + "): " + row.outcome);
  }
}

}  // namespace

void run_isolation_probe(const ProbeEnv& env, const IsolationOptions& o, ProbeStore& store, int64_t session_id,
                         Progress progress) {
  for (const auto& mode : o.modes) {
    try {
      memory_case(env, mode, store, session_id, progress);
      if (const auto* known = spec::find_sharing_mode(mode); known && known->per_workload_limits) mps_limit_case(env, mode, o.mps_limit_bytes, store, session_id, progress);
      else
        store.add(IsolationRow{session_id, mode, "mps-memory-limit", "", "not applicable: no per-process memory limit in this mode",
                               std::nullopt, std::nullopt, "", "{}"});
      fault_case(env, mode, o, store, session_id, progress);
      performance_case(env, mode, o, store, session_id, progress);
    } catch (const modes::ModeUnavailable& e) {
      store.add(IsolationRow{session_id, mode, "all", "", std::string("skipped: mode unavailable: ") + e.what(),
                             std::nullopt, std::nullopt, "", "{}"});
      progress(mode + ": skipped: " + e.what());
    }
  }
}

}  // namespace gpumix::probe
