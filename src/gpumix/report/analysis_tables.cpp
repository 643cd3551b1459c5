#include "gpumix/report/analysis_tables.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "gpumix/analysis/mps_shares.hpp"
#include "gpumix/report/mps_view.hpp"
#include "gpumix/report/tune_view.hpp"
#include "gpumix/run/run_environment.hpp"
#include "gpumix/spec/effective_plan.hpp"
#include "gpumix/telemetry/events.hpp"
#include "gpumix/util/text.hpp"
#include "gpumix/util/units.hpp"

namespace gpumix::report {
namespace {

using analysis::Estimate;

Value num(const std::optional<double>& v) {
  if (!v || std::isnan(*v)) return std::monostate{};
  return *v;
}

Value mean_of(const Estimate& e) { return num(e.mean); }

std::string slo_cell_text(const analysis::WorkloadSummary& s) {
  std::vector<std::string> parts;
  for (const auto& r : s.slos)
    parts.push_back(fmt::format("{}<={:g}ms:{}{}", spec::slo_key(r.metric, r.percentile), r.limit_ms, !r.actual_ms ? "no-data" : r.met ? "met" : "MISSED",
                                r.attainment ? fmt::format(" ({:.1f}% within)", 100 * *r.attainment) : ""));
  return join(parts, " ");
}

std::string exit_text(const analysis::WorkloadSummary& s) {
  if (s.signal) return "sig " + std::to_string(*s.signal);
  if (s.exit_code) return std::to_string(*s.exit_code);
  return "";
}

}  // namespace

std::string interval_text(const Estimate& e, int precision) {
  if (!e.ci_low || !e.ci_high) return "";
  return fmt::format("[{:.{}f}, {:.{}f}]", *e.ci_low, precision, *e.ci_high, precision);
}

std::vector<std::pair<std::string, std::string>> environment_fields(const store::RunRow& run) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto plan = spec::EffectivePlan::from_json(run.plan_json);
  std::string when = format_timestamp(run.started_ns);
  if (run.ended_ns > run.started_ns)
    when += fmt::format(" to {} ({:.0f} s)", format_timestamp(run.ended_ns), static_cast<double>(run.ended_ns - run.started_ns) / 1e9);
  out.emplace_back("run", fmt::format("{} ({}{}), {}", run.id, store::to_string(run.status), run.error.empty() ? "" : ": " + run.error, when));

  const auto env = run::RunEnvironment::parse(run.environment_json);
  std::string gpu;
  if (env.nvml_available && !env.gpus.empty()) {
    std::vector<std::string> devices;
    for (const auto& d : env.gpus) {
      std::string text = d.name;
      if (d.memory_total_bytes) text += ", " + format_bytes(*d.memory_total_bytes);
      text += std::string(", MIG ") + (d.mig_enabled ? "on" : "off");
      if (!d.compute_mode.empty()) text += ", compute mode " + d.compute_mode;
      if (!d.timeslice_policy.empty()) text += ", time slice " + d.timeslice_policy;
      devices.push_back(fmt::format("{}: {}", d.index, text));
    }
    gpu = join(devices, "; ");
  } else if (!env.driver_gpu_models.empty()) {
    gpu = join(env.driver_gpu_models, "; ");
  } else if (env.recorded) {
    gpu = "none" + (env.nvml_reason.empty() ? "" : " (" + env.nvml_reason + ")");
  }
  const std::string driver = env.nvml_available && !env.driver_version.empty() ? env.driver_version : env.nvidia_driver;
  out.emplace_back("GPU", gpu.empty() ? "unknown" : gpu);
  out.emplace_back("driver", driver.empty() ? "-"
                                            : driver + (env.cuda_driver_version.empty() ? "" : " (CUDA " + env.cuda_driver_version + ")"));
  std::string host = run.host;
  if (!env.os.empty()) host += ", " + env.os;
  if (!env.kernel.empty()) host += ", " + env.kernel;
  if (!env.cpu_model.empty()) host += ", " + env.cpu_model + " x" + std::to_string(env.cpu_count);
  if (env.memory_bytes > 0) host += ", " + format_bytes(env.memory_bytes);
  out.emplace_back("host", host);
  out.emplace_back("gpumix", run.gpumix_version + (run.git_sha.empty() ? "" : " (" + run.git_sha + ")"));
  out.emplace_back("mix", fmt::format("{} ({}, sha256 {})", run.mix_name, run.mix_path, run.mix_sha256.substr(0, 16)));
  if (plan.recorded) {
    out.emplace_back("plan", fmt::format("modes {}; {} repeat(s); measured windows of {:g} s; seed {}", join(plan.modes, ", "),
                                         plan.repeats, plan.cell_duration_s, plan.seed));
    std::vector<std::string> ws;
    for (const auto& w : plan.workloads) {
      std::string text = w.name + " (" + spec::to_string(w.role);
      if (w.builtin) text += ", built-in " + *w.builtin;
      for (const auto& s : w.slos) text += fmt::format(", SLO {} <= {:g} ms", spec::slo_key(s.metric, s.percentile), s.limit_ms);
      ws.push_back(text + ")");
    }
    out.emplace_back("workloads", join(ws, "; "));
  }
  return out;
}

std::string cpu_run_banner(const analysis::Analysis& a) {
  const auto* gap = a.gap(analysis::GapCode::cpu_only);
  return gap ? gap->text : "";
}

std::vector<std::string> missing_list(const analysis::Analysis& a) {
  std::vector<std::string> out;
  for (const auto& m : a.missing)
    if (m.code != analysis::GapCode::cpu_only) out.push_back(m.text);
  return out;
}

std::string cpu_check_label(const analysis::Analysis& a, const std::string& section_id) {
  static const std::set<std::string> figures = {"verdicts", "np", "system", "noise", "slo", "latency", "tokens"};
  return a.cpu_only && figures.count(section_id) ? "CPU pipeline check" : "";
}

Table verdicts_table(const analysis::Recommendation& r) {
  Table t;
  t.columns = {"mode", "verdict", "stp", "stp_95ci_half", "reasons"};
  for (const auto& v : r.verdicts) t.add({v.mode, to_string(v.state), num(v.stp), num(v.stp_margin), join(v.reasons, "; ")});
  return t;
}

Table np_table(const analysis::Analysis& a) {
  Table t;
  t.columns = {"workload", "mode", "np_basis", "np", "np_95ci", "repeats", "samples_per_s", "samples_per_s_95ci",
               "alone_samples_per_s", "p99_ms", "alone_p99_ms", "p99_inflation", "ready_s"};
  for (const auto& m : a.modes) {
    if (m.baseline || !m.measured()) continue;
    for (const auto& w : m.workloads) {
      t.add({w.workload, m.mode, w.np_basis, mean_of(w.np), interval_text(w.np), static_cast<int64_t>(w.throughput.n()),
             mean_of(w.throughput), interval_text(w.throughput, 1), num(w.alone_throughput), mean_of(w.latency_p99_ms),
             num(w.alone_p99_ms), mean_of(w.p99_inflation), mean_of(w.ready_s)});
    }
  }
  return t;
}

Table system_table(const analysis::Analysis& a) {
  Table t;
  t.columns = {"mode",     "cells", "stp", "stp_95ci", "antt", "antt_95ci", "fairness", "jain", "workloads_with_np",
               "warmup_s", "status"};
  for (const auto& m : a.modes) {
    if (m.baseline) continue;
    int with_np = 0;
    for (const auto& c : a.cells)
      if (c.cell.mode == m.mode) with_np = std::max(with_np, c.with_np);
    std::string status = m.skipped() ? "skipped: " + m.skip_reason : !m.measured() ? "not run" : "measured";
    if (m.cells_failed) status += fmt::format(", {} cell(s) failed", m.cells_failed);
    if (m.cells_interrupted) status += fmt::format(", {} interrupted", m.cells_interrupted);
    t.add({m.mode, fmt::format("{}/{}", m.cells_run - m.cells_skipped, m.cells_planned), mean_of(m.stp), interval_text(m.stp),
           mean_of(m.antt), interval_text(m.antt), mean_of(m.fairness), mean_of(m.jain),
           fmt::format("{}/{}", with_np, a.workloads.size()), mean_of(m.warmup_s), status});
  }
  return t;
}

Table noise_table(const analysis::Analysis& a) {
  Table t;
  t.columns = {"metric", "mode_a", "mode_b", "b_minus_a", "diff_95ci", "verdict"};
  for (const auto& c : a.comparisons) {
    const auto& d = c.difference;
    std::string ci = d.ci_low && d.ci_high ? fmt::format("[{:.2f}, {:.2f}]", *d.ci_low, *d.ci_high) : "";
    t.add({c.metric, c.mode_a, c.mode_b, num(d.delta), ci,
           d.verdict == analysis::Noise::unknown ? std::string("unknown (one repeat)") : to_string(d.verdict)});
  }
  return t;
}

Table slo_table(const analysis::Analysis& a) {
  Table t;
  t.columns = {"mode", "slo", "worst_ms", "worst_cell", "excess_pct", "min_attainment_pct", "repeats_broken", "verdict"};
  for (const auto& m : a.modes) {
    for (const auto* s : m.slos()) {
      Value excess = s->excess() ? Value(100 * *s->excess()) : Value{};
      Value att = s->worst_attainment ? Value(100 * *s->worst_attainment) : Value{};
      std::string verdict = s->met ? "met" : s->unmeasured > 0 && s->broken == 0 ? "not measured" : "MISSED";
      t.add({m.mode + (m.baseline ? " (alone)" : ""), s->label(), num(s->worst_ms), s->worst_cell, excess, att,
             fmt::format("{}/{}", s->broken + s->unmeasured, s->repeats), verdict});
    }
  }
  return t;
}

Table latency_table(const analysis::Analysis& a) {
  Table t;
  t.columns = {"cell", "workload", "requests", "errors", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "p99.9_ms", "p99_inflation", "slo"};
  for (const auto& c : a.cells)
    for (const auto& w : c.workloads) {
      const auto& s = w.summary;
      if (s.requests == 0 && s.request_errors == 0) continue;
      t.add({c.cell.label, s.name, s.requests, s.request_errors, num(s.latency_mean), num(s.latency_p50), num(s.latency_p95),
             num(s.latency_p99), num(s.latency_p999), num(w.p99_inflation), slo_cell_text(s)});
    }
  return t;
}

Table token_latency_table(const analysis::Analysis& a) {
  Table t;
  t.columns = {"mode", "workload", "requests", "ttft_p50_ms", "ttft_p90_ms", "ttft_p99_ms", "tpot_p50_ms", "tpot_p90_ms", "tpot_p99_ms"};
  for (const auto& m : a.modes)
    for (const auto& w : m.workloads)
      if (w.token_requests > 0)
        t.add({m.mode + (m.baseline ? " (alone)" : ""), w.workload, w.token_requests, mean_of(w.ttft_p50_ms), mean_of(w.ttft_p90_ms),
               mean_of(w.ttft_p99_ms), mean_of(w.tpot_p50_ms), mean_of(w.tpot_p90_ms), mean_of(w.tpot_p99_ms)});
  return t;
}

// One `<key>_mean` column per activity metric (telemetry/metrics.hpp) that
// some cell has (the p95s are in the JSON export).
Table activity_table(const analysis::Analysis& a) {
  Table t;
  t.columns = {"cell", "mode", "gpu"};
  std::vector<telemetry::MetricId> shown;
  for (auto id : analysis::activity_metrics())
    if (std::any_of(a.cells.begin(), a.cells.end(), [&](const auto& c) { return c.activity.count(id.def().activity); })) {
      shown.push_back(id);
      t.columns.push_back(std::string(id.def().activity) + "_mean");
    }
  for (const char* c : {"energy_j", "mean_power_w", "samples", "energy_mj_per_sample", "energy_source"}) t.columns.push_back(c);
  for (const auto& c : a.cells) {
    if (c.gpu_samples == 0 && c.activity.empty()) continue;
    std::vector<Value> row = {c.cell.label, c.cell.mode, c.gpu ? Value(static_cast<int64_t>(*c.gpu)) : Value{}};
    for (auto id : shown) row.push_back(num(c.activity_of(id.def().activity).mean));
    for (Value v : {num(c.energy_j), num(c.mean_power_w), Value(c.samples_processed),
                    c.energy_per_sample_j ? Value(*c.energy_per_sample_j * 1e3) : Value{}, Value(c.energy_source)})
      row.push_back(std::move(v));
    t.add(std::move(row));
  }
  t.precision = 3;
  return t;
}

Table attribution_table(const analysis::Analysis& a) {
  Table t;
  t.columns = {"cell", "workload", "sm_util_mean", "sm_share", "energy_j", "memory_mean_gib", "memory_peak_gib", "basis"};
  auto gib = [](const std::optional<double>& b) { return b ? Value(*b / (1024.0 * 1024.0 * 1024.0)) : Value{}; };
  for (const auto& c : a.cells) {
    const auto& at = c.attribution;
    if (at.workloads.empty() || at.ticks == 0) continue;
    std::string basis = at.basis;
    if (at.overlapping && at.scale) basis = fmt::format("scaled x{:.2f}. ", *at.scale) + basis;
    bool first = true;
    for (const auto& w : at.workloads) {
      t.add({c.cell.label, w.workload, num(w.sm_util_mean), num(w.sm_share), num(w.energy_j), gib(w.memory_mean_bytes),
             gib(w.memory_peak_bytes), first ? Value(basis) : Value{}});
      first = false;
    }
    if (at.sm_attributed) {
      t.add({c.cell.label, "(other processes)", Value{}, num(at.other_share), num(at.other_energy_j), Value{}, Value{}, Value{}});
      t.add({c.cell.label, "(idle)", Value{}, num(at.idle_share), num(at.idle_energy_j), Value{}, Value{}, Value{}});
    }
  }
  t.precision = 3;
  return t;
}

Table workload_cells_table(const analysis::Analysis& a) {
  Table t;
  t.columns = {"cell", "workload", "role", "status", "exit", "wall_s", "samples_per_s", "step_ms_p50", "step_ms_p95",
               "step_ms_p99", "np", "peak_rss_mib", "peak_gpu_mib", "reason"};
  for (const auto& c : a.cells)
    for (const auto& w : c.workloads) {
      const auto& s = w.summary;
      const bool ran = s.status != store::WorkloadStatus::skipped && s.status != store::WorkloadStatus::not_started;
      t.add({c.cell.label, s.name, spec::to_string(s.role), store::to_string(s.status), exit_text(s), ran ? Value(s.wall_s) : Value{}, num(s.throughput),
             num(s.step_ms_p50), num(s.step_ms_p95), num(s.step_ms_p99), num(w.np),
             ran ? Value(static_cast<double>(s.peak_rss_kb) / 1024.0) : Value{},
             w.gpu_memory_peak_bytes ? Value(static_cast<double>(*w.gpu_memory_peak_bytes) / (1024.0 * 1024.0)) : Value{},
             w.np_missing.empty() || c.cell.baseline ? s.reason : (s.reason.empty() ? "no NP: " + w.np_missing : s.reason)});
    }
  return t;
}

Table evidence_table(const analysis::Analysis& a) {
  Table t;
  t.columns = {"cell", "mode", "status", "duration_s", "evidence", "error", "nvml_events"};
  for (const auto& c : a.cells) {
    Value dur = c.cell.ended_ns > c.cell.started_ns ? Value(static_cast<double>(c.cell.ended_ns - c.cell.started_ns) / 1e9)
                                                     : Value{};
    std::string events;
    for (const auto& e : c.events) events += (events.empty() ? "" : "; ") + telemetry::event_text(e, c.cell.started_ns);
    t.add({c.cell.label, c.cell.mode, store::to_string(c.cell.status), dur, c.evidence, c.cell.error, events});
  }
  t.precision = 1;
  return t;
}

std::vector<Section> report_sections(const analysis::Analysis& a, const analysis::Recommendation& r) {
  std::vector<Section> out;
  auto add = [&](std::string id, std::string title, std::string caption, Table t) {
    if (const auto check = cpu_check_label(a, id); !check.empty()) title += " (" + check + ")";
    if (!t.rows.empty()) out.push_back({std::move(id), std::move(title), std::move(caption), std::move(t)});
  };
  add("verdicts", "Modes", "Every shared mode: the verdict and why (SLOs broken, by how much; failures; skipped).",
      verdicts_table(r));
  add("np", "Normalized progress (NP) per workload",
      "NP = progress shared ÷ progress alone (throughput; mean request latency for interactive and server workloads, and for those reporting only latency; "
      "mean time per output token (tpot) for those streaming LLM completions); "
      "mean over repeats with its 95% Student t interval. p99 inflation = p99 shared ÷ p99 alone.",
      np_table(a));
  add("system", "System throughput and fairness per mode",
      "STP = sum of NP (higher is better); ANTT = mean of 1/NP (lower is better, 1 = no slowdown); "
      "fairness = min NP ÷ max NP; Jain = (sum NP)² ÷ (n × sum NP²).",
      system_table(a));
  add("noise", "Differences between modes",
      "95% interval of the difference (b - a), paired by repeat (interleaved repeats share the machine's drift; Welch "
      "when the modes have different repeats): 'within noise' when it holds 0.",
      noise_table(a));
  add("slo", "SLOs per mode", "The worst percentile over the repeats of each mode; a mode meets an SLO when every repeat does.",
      slo_table(a));
  add("latency", "Request latency per cell", "Latency of successful requests (ms).", latency_table(a));
  add("tokens", "Time to first token and per output token per mode",
      "Streamed LLM completions: TTFT (request sent to first token) and TPOT (mean time per output token after the first, "
      "per request) percentiles in ms, each cell's, mean over the mode's repeats; requests: those with a TTFT, every repeat.",
      token_latency_table(a));
  add("activity", "GPU activity and energy per cell",
      "NVML utilization and GPM metrics (percent; mean over the cell's window, p95 in the JSON export); energy from the GPU's energy counter over "
      "the cell; energy per sample = energy ÷ samples processed by all workloads.",
      activity_table(a));
  add("attribution", "GPU time, memory and energy per workload",
      "Over each cell's window, from NVML's per-process figures: SM utilization (percent, its processes summed), its "
      "share of the window's time, the window's energy split by those shares (other processes and idle time apart), "
      "and device memory (GiB).",
      attribution_table(a));
  const auto shares = analysis::mps_shares(a);
  add("mps-shares", kMpsSharesTitle,
      "Per MPS mode and workload, over its repeats: the SM share it asked for (active thread percentage; 100 = no limit) "
      "and where that came from (mode: the configured mode's name; split: mps-split's weights; workload: its own mps "
      "settings; none), its NVML-attributed share of the GPU's time (percent) and its NP.",
      mps_share_modes_table(shares));
  add("mps-shares-cells", "MPS: requested vs delivered per cell",
      "The same per cell, with its pinned memory limit against its peak device memory (MiB): above means the limit did "
      "not hold. No delivered share where NVML gave no per-process SM figures; scaled: the clients' figures summed past "
      "100% and were scaled to the GPU's busy time.",
      mps_shares_table(shares));
  const auto tuned = tuned_run(a);
  add("mps-priority", kMpsPriorityTitle,
      "Modes that differ only in client priorities: each SLO with and without the lower priority (1) of its neighbours "
      "(lowered), its p99 (ms, mean over repeats) and verdict, and the lowered neighbours' mean NP.",
      priority_table(analysis::priority_effects(a, tuned ? tuned->record.slo_owners : std::map<std::string, std::string>{})));
  add("workloads", "Workloads per cell", "Status, exit, throughput (samples/s), iteration time percentiles, NP and peak memory.",
      workload_cells_table(a));
  add("evidence", "Cells and mode evidence",
      "What each mode recorded as proof that it took effect, and the faults NVML reported during the cell (Xid "
      "errors, double-bit ECC; NVML does not say which process caused them).",
      evidence_table(a));
  return out;
}

}  // namespace gpumix::report
