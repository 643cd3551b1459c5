#include "gpumix/analysis/interference.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "gpumix/run/run_environment.hpp"
#include "gpumix/spec/effective_plan.hpp"
#include "gpumix/spec/sharing_mode.hpp"
#include "gpumix/telemetry/events.hpp"
#include "gpumix/util/text.hpp"
#include "gpumix/json_text.hpp"

namespace gpumix::analysis {

std::optional<double> SloVerdict::excess() const {
  if (!worst_ms || limit_ms <= 0) return std::nullopt;
  return *worst_ms / limit_ms - 1;
}

std::string SloVerdict::label() const {
  return fmt::format("{} {} <= {:g} ms", workload, spec::slo_key(metric, percentile), limit_ms);
}

const WorkloadMode* ModeAnalysis::workload(const std::string& name) const {
  for (const auto& w : workloads)
    if (w.workload == name) return &w;
  return nullptr;
}

std::vector<const SloVerdict*> ModeAnalysis::slos() const {
  std::vector<const SloVerdict*> out;
  for (const auto& w : workloads)
    for (const auto& s : w.slos) out.push_back(&s);
  return out;
}

const Gap* Analysis::gap(GapCode code) const {
  auto it = std::find_if(missing.begin(), missing.end(), [&](const Gap& g) { return g.code == code; });
  return it == missing.end() ? nullptr : &*it;
}

std::vector<std::string> Analysis::missing_texts() const {
  std::vector<std::string> out;
  for (const auto& g : missing) out.push_back(g.text);
  return out;
}

const ModeAnalysis* Analysis::mode(const std::string& name) const {
  for (const auto& m : modes)
    if (m.mode == name) return &m;
  return nullptr;
}

const ModeAnalysis* Analysis::baseline() const {
  for (const auto& m : modes)
    if (m.baseline) return &m;
  return nullptr;
}

const CellAnalysis* Analysis::cell(const std::string& label) const {
  for (const auto& c : cells)
    if (c.cell.label == label) return &c;
  return nullptr;
}

namespace {

// A workload's baseline for the shared cells of `repeat`: the baseline cell
// of that repeat. Runs recorded before baselines were repeated have one
// baseline cell (repeat 0) that serves every repeat.
struct Baseline {
  const CellAnalysis* cell = nullptr;
  const WorkloadCell* workload = nullptr;
};
Baseline baseline_of(const Analysis& a, const std::string& workload, int repeat) {
  Baseline once;
  for (const auto& c : a.cells) {
    if (!c.cell.baseline || (c.cell.repeat != repeat && c.cell.repeat != 0)) continue;
    for (const auto& w : c.workloads) {
      if (w.summary.name != workload) continue;
      if (c.cell.repeat == repeat) return {&c, &w};
      if (!once.cell) once = {&c, &w};
    }
  }
  return once;
}

Activity summarize(std::vector<double> values) {
  Activity a;
  a.samples = static_cast<int64_t>(values.size());
  a.mean = mean(values);
  a.p95 = percentile(std::move(values), 95);
  return a;
}

std::string fmt_num(double v) {
  if (!std::isfinite(v)) return v > 0 ? "inf" : "n/a";
  return fmt::format("{:.3g}", v);
}

// The mode's evidence, flattened to "key=value" pairs (objects by dotted keys,
// arrays by their length) for one line of a table.
void flatten(const nlohmann::json& j, const std::string& prefix, std::vector<std::string>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) flatten(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), out);
  } else if (j.is_array()) {
    out.push_back(prefix + "=[" + std::to_string(j.size()) + "]");
  } else if (j.is_string()) {
    out.push_back(prefix + "=" + j.get<std::string>());
  } else if (j.is_number_float()) {
    out.push_back(prefix + "=" + fmt_num(j.get<double>()));
  } else {
    out.push_back(prefix + "=" + json_text(j));
  }
}

std::string evidence_line(const std::string& evidence_json) {
  if (evidence_json.empty()) return "";
  auto j = nlohmann::json::parse(evidence_json, nullptr, false);
  if (j.is_discarded()) return evidence_json;
  std::vector<std::string> parts;
  flatten(j, "", parts);
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : " ") + p;
  return out;
}

// Samples of one cell on one GPU.
struct CellTelemetry {
  std::optional<int> gpu;
  std::vector<const telemetry::GpuSample*> gpus;
  std::vector<const telemetry::GpmSample*> gpm;
  std::vector<const telemetry::ProcessSample*> processes;
};

// A cell's samples on the GPU its workloads used, inside its measured window
// when it has one (activity and energy count only the window, as the rates do).
CellTelemetry telemetry_of(const RunInput& in, const store::CellRow& cell, bool window_only = true) {
  const int64_t cell_id = cell.id;
  const bool windowed = window_only && cell.window_start_ns > 0 && cell.window_end_ns > cell.window_start_ns;
  auto in_window = [&](int64_t t) { return !windowed || (t >= cell.window_start_ns && t <= cell.window_end_ns); };
  CellTelemetry t;
  std::map<int, int> seen;  // gpu → process samples of the cell's workloads
  for (const auto& p : in.telemetry.processes)
    if (p.tags.cell_id == cell_id && p.workload_id) ++seen[p.gpu];
  if (!seen.empty()) {
    t.gpu = std::max_element(seen.begin(), seen.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
  } else {
    for (const auto& g : in.telemetry.gpus)
      if (g.tags.cell_id == cell_id && (!t.gpu || g.gpu < *t.gpu)) t.gpu = g.gpu;
  }
  if (!t.gpu) {
    for (const auto& m : in.telemetry.gpm)
      if (m.tags.cell_id == cell_id && (!t.gpu || m.gpu < *t.gpu)) t.gpu = m.gpu;
  }
  if (!t.gpu) return t;
  for (const auto& g : in.telemetry.gpus)
    if (g.tags.cell_id == cell_id && g.gpu == *t.gpu && in_window(g.t_ns)) t.gpus.push_back(&g);
  // The whole GPU's GPM figures when there are any, else its MIG instances'.
  bool device_level = false;
  for (const auto& m : in.telemetry.gpm)
    if (m.tags.cell_id == cell_id && m.gpu == *t.gpu && !m.gpu_instance_id) device_level = true;
  for (const auto& m : in.telemetry.gpm)
    if (m.tags.cell_id == cell_id && m.gpu == *t.gpu && (!device_level || !m.gpu_instance_id) && in_window(m.t_ns))
      t.gpm.push_back(&m);
  for (const auto& p : in.telemetry.processes)
    if (p.tags.cell_id == cell_id && p.gpu == *t.gpu && in_window(p.t_ns)) t.processes.push_back(&p);
  auto by_time = [](auto* a, auto* b) { return a->t_ns < b->t_ns; };
  std::stable_sort(t.gpus.begin(), t.gpus.end(), by_time);
  std::stable_sort(t.processes.begin(), t.processes.end(), by_time);
  std::stable_sort(t.gpm.begin(), t.gpm.end(), by_time);
  return t;
}

// An activity metric's samples in `t`, (time, value), from the GPU's rows or
// the GPM ones according to its scope.
std::vector<std::pair<int64_t, double>> samples_of(const CellTelemetry& t, telemetry::MetricId id) {
  std::vector<std::pair<int64_t, double>> out;
  auto collect = [&](const auto& rows) {
    for (const auto* r : rows)
      if (const auto& v = r->values[id]) out.emplace_back(r->t_ns, *v);
  };
  if (id.def().scope == telemetry::Scope::gpu) collect(t.gpus);
  else collect(t.gpm);
  return out;
}

// The split of a cell's window among its workloads (see CellAttribution).
CellAttribution attribute(const CellAnalysis& c, const CellTelemetry& t) {
  using telemetry::metrics::process_memory;
  using telemetry::metrics::process_sm;
  CellAttribution a;
  std::set<int64_t> ticks;
  for (const auto* g : t.gpus) ticks.insert(g->t_ns);
  for (const auto* p : t.processes) ticks.insert(p->t_ns);
  a.ticks = static_cast<int64_t>(ticks.size());
  // Per workload ("" for other processes), per tick: SM percent and bytes.
  std::map<std::string, std::map<int64_t, double>> sm, memory;
  bool any_sm = false;
  for (const auto* p : t.processes) {
    const std::string who = p->workload_id ? p->workload : "";
    if (const auto& v = p->values[process_sm]) {
      sm[who][p->t_ns] += *v;
      any_sm = true;
    }
    if (const auto& v = p->values[process_memory]) memory[who][p->t_ns] += *v;
  }
  const auto sharing = spec::sharing_of(c.cell.mode);
  const bool mig = sharing == spec::GpuSharing::partitioned ||
                   std::any_of(t.processes.begin(), t.processes.end(), [](auto* p) { return p->gpu_instance_id.has_value(); });
  if (mig)
    a.basis = "MIG: NVML has no per-process SM utilization with MIG on, so SM time and energy are not split; each "
              "workload has its own instance (GPM per instance above); memory is per process.";
  else if (!any_sm)
    a.basis = "NVML gave no per-process SM utilization in this window (not supported by this GPU or driver), so SM "
              "time and energy are not split; memory is per process.";
  else if (sharing == spec::GpuSharing::concurrent)
    a.basis = "MPS: NVML samples each client's SM utilization; clients' kernels run at the same time, so when their "
              "figures add up past 100% they are scaled to the GPU's busy time (NVML utilization).";
  else
    a.basis = "One context runs at a time, so NVML's per-process SM utilization is each workload's share of the GPU's "
              "time; energy is split by those shares.";

  std::vector<std::string> names;
  for (const auto& w : c.workloads)
    if (w.summary.status != store::WorkloadStatus::skipped) names.push_back(w.summary.name);
  auto mean_over_ticks = [&](const std::map<int64_t, double>& per_tick) {
    double sum = 0;
    for (const auto& [tick, v] : per_tick) sum += v;
    return ticks.empty() ? 0.0 : sum / static_cast<double>(ticks.size());
  };
  for (const auto& name : names) {
    WorkloadAttribution w;
    w.workload = name;
    if (auto it = memory.find(name); it != memory.end() && !it->second.empty()) {
      double sum = 0, peak = 0;
      for (const auto& [tick, bytes] : it->second) {
        sum += bytes;
        peak = std::max(peak, bytes);
      }
      w.memory_mean_bytes = sum / static_cast<double>(it->second.size());
      w.memory_peak_bytes = peak;
    }
    if (any_sm && !mig) w.sm_util_mean = sm.count(name) ? mean_over_ticks(sm[name]) : 0.0;
    a.workloads.push_back(std::move(w));
  }
  if (!any_sm || mig || ticks.empty()) return a;

  const double other_raw = sm.count("") ? mean_over_ticks(sm[""]) / 100 : 0;
  double workloads_raw = 0;
  for (const auto& w : a.workloads) workloads_raw += *w.sm_util_mean / 100;
  const double total = other_raw + workloads_raw;
  if (sharing == spec::GpuSharing::concurrent && workloads_raw == 0 && other_raw > 0) {
    // The driver books the clients' kernels to the MPS server's process.
    a.basis = fmt::format(
        "MPS: NVML reports the clients' SM time under the MPS server's process ({:.0f}% here), not per client, so SM "
        "time and energy cannot be split among the workloads; memory is per client.",
        other_raw * 100);
    return a;
  }
  a.sm_attributed = true;
  double scale = 1;
  if (total > 1) {
    const auto busy = c.activity_of("gpu_util").mean;
    scale = std::min(1.0, busy ? *busy / 100 : 1.0) / total;
    a.overlapping = true;
    a.scale = scale;
  }
  double attributed = 0;
  for (auto& w : a.workloads) {
    w.sm_share = *w.sm_util_mean / 100 * scale;
    attributed += *w.sm_share;
  }
  a.other_share = other_raw * scale;
  a.idle_share = std::max(0.0, 1 - attributed - *a.other_share);
  if (c.energy_j) {
    for (auto& w : a.workloads) w.energy_j = *c.energy_j * *w.sm_share;
    a.other_energy_j = *c.energy_j * *a.other_share;
    a.idle_energy_j = *c.energy_j * *a.idle_share;
  }
  return a;
}

void add_telemetry(const RunInput& in, CellAnalysis& c) {
  const auto t = telemetry_of(in, c.cell);
  c.gpu = t.gpu;
  c.gpu_samples = static_cast<int64_t>(t.gpus.size());
  for (auto id : activity_metrics()) {
    std::vector<double> values;
    for (const auto& [t_ns, v] : samples_of(t, id)) values.push_back(v);
    if (!values.empty()) c.activity[std::string(id.def().activity)] = summarize(std::move(values));
  }

  // Energy: the counter's increase over the cell, else power integrated.
  const telemetry::GpuSample *first = nullptr, *last = nullptr;
  using telemetry::metrics::energy;
  using telemetry::metrics::power;
  for (const auto* g : t.gpus) {
    if (!g->values[energy]) continue;
    if (!first) first = g;
    last = g;
  }
  if (first && last != first && *last->values[energy] >= *first->values[energy] && last->t_ns > first->t_ns) {
    c.energy_j = (*last->values[energy] - *first->values[energy]) / 1e3;
    c.energy_source = "energy counter";
    c.mean_power_w = *c.energy_j / (static_cast<double>(last->t_ns - first->t_ns) / 1e9);
  } else {
    double joules = 0, span = 0;
    const telemetry::GpuSample* prev = nullptr;
    for (const auto* g : t.gpus) {
      if (!g->values[power]) continue;
      if (prev) {
        const double dt = static_cast<double>(g->t_ns - prev->t_ns) / 1e9;
        joules += dt * (*prev->values[power] + *g->values[power]) / 2;
        span += dt;
      }
      prev = g;
    }
    if (span > 0) {
      c.energy_j = joules;
      c.energy_source = "power samples";
      c.mean_power_w = joules / span;
    }
  }
  for (const auto& w : c.workloads) c.samples_processed += w.summary.samples;
  if (c.energy_j && c.samples_processed > 0) c.energy_per_sample_j = *c.energy_j / static_cast<double>(c.samples_processed);
  if (t.gpu) c.attribution = attribute(c, t);
}

// What happened to a workload's baseline of `repeat`, for "no NP" messages.
std::string baseline_problem(const RunInput& in, const std::string& workload, int repeat, bool exclusive_planned) {
  if (!exclusive_planned) return "no baseline: exclusive is not among the run's modes";
  for (const auto& c : in.cells) {
    if (!c.baseline || (c.repeat != repeat && c.repeat != 0)) continue;
    const bool holds_it = std::any_of(in.workloads.begin(), in.workloads.end(),
                                      [&](const store::WorkloadRow& w) { return w.cell_id == c.id && w.name == workload; });
    if (!holds_it) continue;
    if (c.status == store::CellStatus::skipped) return c.label + " was skipped" + (c.error.empty() ? "" : ": " + c.error);
    if (c.status == store::CellStatus::running) return c.label + " is still running";
    return c.label + " measured neither throughput nor request latency" +
           (c.status == store::CellStatus::ok ? "" : std::string(" (the cell ") + store::to_string(c.status) + (c.error.empty() ? "" : ": " + c.error) + ")");
  }
  return fmt::format("its baseline of repeat {} was not run", repeat);
}

// How two effective_config texts ("k=v,k=v") differ: "kernels torch (fused
// in baseline-x)"; empty when they agree or either is missing.
std::string configuration_difference(const std::string& here, const std::string& base, const std::string& base_label) {
  if (here.empty() || base.empty() || here == base) return "";
  auto parse = [](const std::string& text) {
    std::map<std::string, std::string> kv;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');) {
      const auto eq = item.find('=');
      kv[item.substr(0, eq)] = eq == std::string::npos ? "" : item.substr(eq + 1);
    }
    return kv;
  };
  const auto a = parse(here), b = parse(base);
  std::vector<std::string> parts;
  for (const auto& [key, value] : a) {
    auto it = b.find(key);
    if (it == b.end() || it->second != value)
      parts.push_back(fmt::format("{} {} ({} in {})", key, value, it == b.end() ? "not set" : it->second, base_label));
  }
  for (const auto& [key, value] : b)
    if (!a.count(key)) parts.push_back(fmt::format("{} not set ({} in {})", key, value, base_label));
  return join(parts, ", ");
}

std::string percent_text(double fraction) { return fmt::format("{:+.0f}%", 100 * fraction); }

// Whether a workload's figures in a window can be trusted: the reason when not.
std::string window_problem(const WorkloadSummary& s) {
  if (s.late_ready_s)
    return fmt::format("reported ready {:.1f}s into the window, so its window holds part of its warm-up "
                       "(set `warmup: ready` so the window waits for it)",
                       *s.late_ready_s);
  return "";
}

void compute_np(const Baseline& base, WorkloadCell& w, const store::CellRow& cell, const std::string& no_base) {
  const auto& s = w.summary;
  auto none = [&w](NoNp cause, std::string why) {
    w.no_np = cause;
    w.np_missing = std::move(why);
  };
  if (s.status == store::WorkloadStatus::skipped) {
    none(NoNp::mode_skipped, "the mode was skipped");
    return;
  }
  // A load generator measures its server, which is counted already.
  const bool client = s.role == spec::Role::client;
  const char* kClient = "a client (load generator): its server is counted, not it";
  if (!base.workload) {
    if (client) none(NoNp::client, kClient);
    else none(NoNp::no_baseline, no_base);
    return;
  }
  const auto& b = base.workload->summary;
  const auto& base_label = base.cell->cell.label;
  if (s.latency_p99 && b.latency_p99 && *b.latency_p99 > 0) w.p99_inflation = *s.latency_p99 / *b.latency_p99;
  if (client) {
    none(NoNp::client, kClient);
    return;
  }
  // A setting it chose at run time (an automatic mode, a fallback) differs
  // from its baseline's: its NP would mix that change with the sharing.
  if (auto differs = configuration_difference(s.effective_config, b.effective_config, base_label); !differs.empty()) {
    none(NoNp::configuration_differs,
         "it ran with " + differs + ", so this cell does not compare with its baseline; set it in the mix's args");
    w.np_gated = true;
    return;
  }
  // Ran, but reported nothing: no progress (NP 0), unless the run was cut short first.
  const bool cut_short = s.status == store::WorkloadStatus::interrupted || (s.status == store::WorkloadStatus::not_started && cell.status == store::CellStatus::interrupted);
  const bool ran_in_window = s.windowed || (!cut_short && s.status != store::WorkloadStatus::not_started);
  // Latency-critical workloads (a notebook's cells, a server's requests) are
  // paced by their think time or arrival rate, not by the GPU: their rate
  // barely moves under interference while their latency does. Measure them
  // by latency; jobs that completed in both windows by their completion
  // time; everything else by throughput.
  const bool has_tpot = b.tpot_mean && *b.tpot_mean > 0;
  const bool has_latency = b.latency_mean && *b.latency_mean > 0;
  const bool has_throughput = b.throughput && *b.throughput > 0;
  const bool latency_role = s.role == spec::Role::interactive || s.role == spec::Role::server;
  // The baseline's lack of evidence costs every mode the same NP; this
  // cell's lack costs only this mode (np_gated: it cannot be ranked).
  auto gated = [&](const std::string& base_gate, const std::string& gate) {
    if (!base_gate.empty()) {
      none(NoNp::too_little_evidence, base_label + ": " + base_gate);
    } else if (auto p = window_problem(b); !p.empty()) {
      none(NoNp::too_little_evidence, base_label + " " + p);
    } else if (auto own = gate.empty() ? window_problem(s) : gate; !own.empty()) {
      none(NoNp::too_little_evidence, own);
      w.np_gated = true;
    }
    return !w.np_missing.empty();
  };
  if (b.jct_s && s.jct_s && *s.jct_s > 0) {
    w.np_basis = "completion";
    if (!gated("", "")) w.np = *b.jct_s / *s.jct_s;
  } else if (has_tpot) {
    // An LLM server: by its decode pace, which the GPU sets (interference.hpp).
    w.np_basis = "tpot";
    if (s.tpot_mean && *s.tpot_mean > 0) {
      if (!gated(b.tpot_gate, s.tpot_gate)) w.np = *b.tpot_mean / *s.tpot_mean;
    } else if (ran_in_window && !cut_short) {
      w.np = 0.0;
      w.no_progress = true;
    }
  } else if (has_latency && (latency_role || !has_throughput)) {
    w.np_basis = "latency";
    if (s.latency_mean && *s.latency_mean > 0) {
      if (!gated(b.latency_gate, s.latency_gate)) w.np = *b.latency_mean / *s.latency_mean;
    } else if (ran_in_window && !cut_short) {
      w.np = 0.0;
      w.no_progress = true;
    }
  } else if (has_throughput) {
    w.np_basis = "throughput";
    if (s.throughput && *s.throughput > 0) {
      if (!gated(b.throughput_gate, s.throughput_gate)) w.np = *s.throughput / *b.throughput;
    } else if (ran_in_window && !cut_short) {
      w.np = 0.0;
      w.no_progress = true;
    }
  } else {
    none(NoNp::baseline_unmeasured, base_label + " measured neither throughput nor request latency");
    return;
  }
  if (!w.np && w.np_missing.empty()) none(NoNp::interrupted, "interrupted before it measured anything");
}

// A rate (or mean latency) that moved within the window, in words.
std::string unsteady_text(const WorkloadSummary& s, double max_drift) {
  if (!s.drift || std::abs(*s.drift) <= max_drift || !s.drift_significant) return "";
  if (s.rate_first_half && s.rate_second_half)
    return fmt::format("rate {} from the first half of the window to the second ({:.4g} → {:.4g} samples/s)",
                       percent_text(*s.drift), *s.rate_first_half, *s.rate_second_half);
  return fmt::format("mean latency {} from the first half of the window to the second", percent_text(*s.drift));
}

void system_figures(CellAnalysis& c) {
  std::vector<double> nps;
  for (const auto& w : c.workloads)
    if (w.np) nps.push_back(*w.np);
  c.with_np = static_cast<int>(nps.size());
  if (nps.empty()) return;
  double sum = 0, sum_sq = 0, inv = 0;
  for (double np : nps) {
    sum += np;
    sum_sq += np * np;
    inv += np > 0 ? 1 / np : std::numeric_limits<double>::infinity();
  }
  const double n = static_cast<double>(nps.size());
  c.stp = sum;
  c.antt = inv / n;
  const auto [lo, hi] = std::minmax_element(nps.begin(), nps.end());
  if (*hi > 0) c.fairness = *lo / *hi;
  if (sum_sq > 0) c.jain = sum * sum / (n * sum_sq);
}

std::vector<SloVerdict> judge_slos(const std::string& workload, const std::vector<const CellAnalysis*>& cells) {
  std::vector<SloVerdict> out;
  for (const auto* c : cells) {
    for (const auto& w : c->workloads) {
      if (w.summary.name != workload || w.summary.status == store::WorkloadStatus::skipped) continue;
      const bool cut_short = c->cell.status == store::CellStatus::interrupted && w.summary.requests == 0;
      if (cut_short) continue;
      for (size_t k = 0; k < w.summary.slos.size(); ++k) {
        const auto& r = w.summary.slos[k];
        if (out.size() <= k) {
          SloVerdict v;
          v.workload = workload;
          v.metric = r.metric;
          v.percentile = r.percentile;
          v.limit_ms = r.limit_ms;
          out.push_back(v);
        }
        auto& v = out[k];
        ++v.repeats;
        if (!r.actual_ms) {
          ++v.unmeasured;
          continue;
        }
        if (!r.met) ++v.broken;
        if (!v.worst_ms || *r.actual_ms > *v.worst_ms) {
          v.worst_ms = r.actual_ms;
          v.worst_cell = c->cell.label;
        }
        if (r.attainment && (!v.worst_attainment || *r.attainment < *v.worst_attainment)) v.worst_attainment = r.attainment;
      }
    }
  }
  for (auto& v : out) v.met = v.repeats > 0 && v.broken == 0 && v.unmeasured == 0;
  return out;
}

ModeAnalysis analyze_mode(const std::string& mode, const std::vector<std::string>& workloads,
                          const std::vector<const CellAnalysis*>& cells, int planned) {
  ModeAnalysis m;
  m.mode = mode;
  m.baseline = spec::is_baseline(mode);
  m.cells_planned = planned;
  std::vector<double> stp, antt, fairness, jain, energy, warmup;
  std::map<std::string, std::vector<double>, std::less<>> activity;
  for (const auto* c : cells) {
    ++m.cells_run;
    if (c->warmup_s && c->window_s) warmup.push_back(*c->warmup_s);
    if (c->cell.status == store::CellStatus::skipped) {
      ++m.cells_skipped;
      if (m.skip_reason.empty()) m.skip_reason = c->cell.error;
    }
    if (c->cell.status == store::CellStatus::failed) ++m.cells_failed;
    if (c->cell.status == store::CellStatus::interrupted) ++m.cells_interrupted;
    if (c->stp) stp.push_back(*c->stp);
    if (c->antt) antt.push_back(*c->antt);
    if (c->fairness) fairness.push_back(*c->fairness);
    if (c->jain) jain.push_back(*c->jain);
    if (c->energy_per_sample_j) energy.push_back(*c->energy_per_sample_j);
    for (const auto& [key, a] : c->activity)
      if (a.mean) activity[key].push_back(*a.mean);
    for (const auto& w : c->workloads) {
      if (w.failed)
        m.failures.push_back(fmt::format("{} {} in {}{}", w.summary.name, store::to_string(w.summary.status), c->cell.label,
                                         w.summary.reason.empty() ? "" : ": " + w.summary.reason));
      if (c->cell.baseline || w.failed || w.summary.role == spec::Role::client || w.summary.status == store::WorkloadStatus::skipped) continue;
      if (w.no_progress)
        m.disqualifications.push_back(fmt::format("{} made no progress in {} ({} iteration(s), {} request(s) in the window)",
                                                  w.summary.name, c->cell.label, w.summary.iterations, w.summary.requests));
      else if (w.np_gated)
        m.disqualifications.push_back(fmt::format("{} has no NP in {}: {}", w.summary.name, c->cell.label, w.np_missing));
    }
  }
  m.warmup_s = estimate(warmup);
  m.stp = estimate(stp);
  m.antt = estimate(antt);
  m.fairness = estimate(fairness);
  m.jain = estimate(jain);
  m.energy_per_sample_j = estimate(energy);
  for (const auto& [key, means] : activity) m.activity_mean[key] = estimate(means);
  for (const auto& name : workloads) {
    WorkloadMode wm;
    wm.workload = name;
    std::vector<double> thr, np, p99, infl, ready, jct;
    // TTFT p50, p90, p99, then TPOT's.
    std::vector<std::vector<double>> tokens(6);
    bool present = false;
    for (const auto* c : cells) {
      for (const auto& w : c->workloads) {
        if (w.summary.name != name) continue;
        present = true;
        wm.role = w.summary.role;
        if (wm.np_basis.empty()) wm.np_basis = w.np_basis;
        if (w.summary.throughput) thr.push_back(*w.summary.throughput);
        if (w.np) np.push_back(*w.np);
        if (w.summary.latency_p99) p99.push_back(*w.summary.latency_p99);
        if (w.p99_inflation) infl.push_back(*w.p99_inflation);
        if (w.summary.ready_s) ready.push_back(*w.summary.ready_s);
        if (w.summary.jct_s) jct.push_back(*w.summary.jct_s);
        wm.token_requests += w.summary.ttft_requests;
        const auto& ws = w.summary;
        for (size_t k = 0; const auto& v : {ws.ttft_p50, ws.ttft_p90, ws.ttft_p99, ws.tpot_p50, ws.tpot_p90, ws.tpot_p99}) {
          if (v) tokens[k].push_back(*v);
          ++k;
        }
        for (const auto* gate : {&w.summary.throughput_gate, &w.summary.latency_gate, &w.summary.tpot_gate})
          if (!gate->empty()) wm.gaps.push_back(c->cell.label + ": " + *gate);
        for (const auto& g : w.summary.percentile_gates) wm.gaps.push_back(c->cell.label + ": insufficient data for " + g);
        if (!w.unsteady.empty()) wm.unsteady.push_back(c->cell.label + ": " + w.unsteady);
        if (w.failed)
          wm.failures.push_back(fmt::format("{} in {}{}", store::to_string(w.summary.status), c->cell.label,
                                            w.summary.reason.empty() ? "" : ": " + w.summary.reason));
      }
    }
    if (!present) continue;
    wm.throughput = estimate(thr);
    wm.np = estimate(np);
    wm.latency_p99_ms = estimate(p99);
    wm.p99_inflation = estimate(infl);
    wm.ready_s = estimate(ready);
    wm.jct_s = estimate(jct);
    for (size_t k = 0; auto* e : {&wm.ttft_p50_ms, &wm.ttft_p90_ms, &wm.ttft_p99_ms, &wm.tpot_p50_ms, &wm.tpot_p90_ms, &wm.tpot_p99_ms})
      *e = estimate(tokens[k++]);
    wm.slos = judge_slos(name, cells);
    m.workloads.push_back(std::move(wm));
  }
  return m;
}

}  // namespace

Analysis analyze(const RunInput& in) {
  Analysis a;
  a.run = in.run;
  const auto plan = spec::EffectivePlan::from_json(in.run.plan_json);
  a.gates = plan.evidence;
  a.auto_repeats = plan.repeats_auto;
  a.planned_modes = plan.modes;
  a.repeats = plan.repeats;
  if (in.run.started_ns > 0)
    a.gpu_time_s = static_cast<double>((in.run.ended_ns > 0 ? in.run.ended_ns : store::now_ns()) - in.run.started_ns) / 1e9;
  for (const auto& w : plan.workloads) a.workloads.push_back(w.name);
  auto cells = in.cells;
  std::stable_sort(cells.begin(), cells.end(), [](const auto& x, const auto& y) { return x.index < y.index; });
  for (const auto& c : cells)
    if (std::find(a.planned_modes.begin(), a.planned_modes.end(), c.mode) == a.planned_modes.end())
      a.planned_modes.push_back(c.mode);
  for (const auto& w : in.workloads)
    if (std::find(a.workloads.begin(), a.workloads.end(), w.name) == a.workloads.end()) a.workloads.push_back(w.name);
  if (a.repeats == 0)
    for (const auto& c : cells) a.repeats = std::max(a.repeats, c.repeat);
  // The baseline first: every other mode is measured against it.
  std::stable_partition(a.planned_modes.begin(), a.planned_modes.end(), [](const auto& m) { return spec::is_baseline(m); });
  const bool exclusive_planned = !a.planned_modes.empty() && spec::is_baseline(a.planned_modes.front());

  // Per cell, its workloads' summaries.
  auto summaries = summarize(in.cells, in.workloads, in.events, a.gates);
  std::map<int64_t, const store::CellRow*> cell_by_id;
  for (const auto& c : in.cells) cell_by_id[c.id] = &c;
  // A job that completed in its window: its completion time from the window's
  // start to the end of its work (its N-th iteration in the window, or its
  // last one), not to its process's exit, whose teardown (a CUDA context
  // released, a stop signal's grace) is no part of the job.
  std::map<int64_t, std::vector<int64_t>> iter_times;  // workload id → its iter events' times
  for (const auto& e : in.events)
    if (e.ev == "iter") iter_times[e.workload_id].push_back(e.t_ns);
  for (auto& s : summaries) {
    const auto job = std::find_if(plan.workloads.begin(), plan.workloads.end(),
                                  [&](const auto& w) { return w.name == s.name && w.runs_to_completion(); });
    if (job == plan.workloads.end() || s.status != store::WorkloadStatus::ok) continue;
    const int64_t job_iterations = job->stop == spec::StopKind::iterations ? job->stop_iterations : 0;
    const auto* w = &*std::find_if(in.workloads.begin(), in.workloads.end(), [&](const auto& r) { return r.id == s.workload_id; });
    const auto* c = cell_by_id.count(w->cell_id) ? cell_by_id[w->cell_id] : nullptr;
    if (!c || c->window_start_ns <= 0 || w->ended_ns <= c->window_start_ns) continue;
    int64_t done_ns = w->ended_ns;
    auto& times = iter_times[s.workload_id];
    std::sort(times.begin(), times.end());
    const auto first = std::upper_bound(times.begin(), times.end(), c->window_start_ns);
    const auto in_window = times.end() - first;
    if (job_iterations > 0 && in_window >= job_iterations) done_ns = *(first + (job_iterations - 1));
    else if (in_window > 0) done_ns = times.back();
    s.jct_s = static_cast<double>(done_ns - c->window_start_ns) / 1e9;
  }
  std::map<int64_t, int64_t> cell_of_workload;
  for (const auto& w : in.workloads) cell_of_workload[w.id] = w.cell_id;
  std::map<int64_t, int64_t> gpu_memory;  // workload id → peak bytes from NVML
  for (const auto& p : in.telemetry.processes)
    if (const auto& bytes = p.values[telemetry::metrics::process_memory]; p.workload_id && bytes)
      gpu_memory[*p.workload_id] = std::max(gpu_memory[*p.workload_id], static_cast<int64_t>(*bytes));
  for (const auto& c : cells) {
    CellAnalysis ca;
    ca.cell = c;
    ca.evidence = evidence_line(c.evidence_json);
    if (c.window_start_ns > 0) {
      ca.warmup_s = static_cast<double>(c.window_start_ns - c.started_ns) / 1e9;
      if (c.window_end_ns > c.window_start_ns) ca.window_s = static_cast<double>(c.window_end_ns - c.window_start_ns) / 1e9;
    }
    for (const auto& s : summaries) {
      if (cell_of_workload[s.workload_id] != c.id) continue;
      WorkloadCell w;
      w.summary = s;
      w.failed = store::is_failure(s.status);
      w.unsteady = unsteady_text(s, a.gates.max_drift);
      if (auto it = gpu_memory.find(s.workload_id); it != gpu_memory.end()) w.gpu_memory_peak_bytes = it->second;
      else w.gpu_memory_peak_bytes = s.peak_device_mem_bytes;
      ca.workloads.push_back(std::move(w));
    }
    a.cells.push_back(std::move(ca));
  }

  // NP and the system figures of every shared cell.
  for (auto& c : a.cells) {
    if (c.cell.baseline) continue;
    for (auto& w : c.workloads) {
      compute_np(baseline_of(a, w.summary.name, c.cell.repeat), w, c.cell,
                 baseline_problem(in, w.summary.name, c.cell.repeat, exclusive_planned));
    }
    system_figures(c);
  }
  for (auto& c : a.cells) {
    add_telemetry(in, c);
    for (const auto& e : in.telemetry.events)
      if (e.tags.cell_id == c.cell.id) c.events.push_back(e);
  }
  a.has_baseline = std::any_of(a.cells.begin(), a.cells.end(), [](const auto& c) {
    return std::any_of(c.workloads.begin(), c.workloads.end(), [](const auto& w) { return w.np.has_value(); });
  });
  a.has_telemetry = std::any_of(a.cells.begin(), a.cells.end(), [](const auto& c) { return c.gpu_samples > 0; });
  a.has_gpm = std::any_of(a.cells.begin(), a.cells.end(), [](const auto& c) {
    return c.activity_of(telemetry::metrics::gpm_sm.def().activity).samples > 0;
  });
  a.has_energy = std::any_of(a.cells.begin(), a.cells.end(), [](const auto& c) { return c.energy_j.has_value(); });

  // Per mode, over repeats.
  for (const auto& mode : a.planned_modes) {
    std::vector<const CellAnalysis*> mode_cells;
    for (const auto& c : a.cells)
      if (c.cell.mode == mode) mode_cells.push_back(&c);
    int planned = static_cast<int>(
        std::count_if(plan.cells.begin(), plan.cells.end(), [&](const auto& pc) { return pc.mode == mode; }));
    if (plan.cells.empty()) planned = static_cast<int>(mode_cells.size());
    a.modes.push_back(analyze_mode(mode, a.workloads, mode_cells, planned));
  }
  // Each shared mode's workloads next to their baselines' mean over the repeats.
  if (const auto* alone = a.baseline()) {
    for (auto& m : a.modes) {
      if (m.baseline) continue;
      for (auto& w : m.workloads)
        if (const auto* base = alone->workload(w.workload)) {
          w.alone_throughput = base->throughput.mean;
          w.alone_p99_ms = base->latency_p99_ms.mean;
        }
    }
  }
  for (size_t i = 0; i < a.modes.size(); ++i) {
    for (size_t j = i + 1; j < a.modes.size(); ++j) {
      const auto &x = a.modes[i], &y = a.modes[j];
      if (x.baseline || y.baseline) continue;
      // Interleaved repeats share the machine's drift: pair them by repeat
      // when both modes have a figure in exactly the same repeats.
      auto compare = [&](std::optional<double> CellAnalysis::*figure) {
        std::map<int, double> in_x, in_y;
        for (const auto& c : a.cells) {
          if (!(c.*figure)) continue;
          if (c.cell.mode == x.mode) in_x[c.cell.repeat] = *(c.*figure);
          if (c.cell.mode == y.mode) in_y[c.cell.repeat] = *(c.*figure);
        }
        std::vector<double> vx, vy;
        for (const auto& [repeat, v] : in_x) vx.push_back(v);
        for (const auto& [repeat, v] : in_y) vy.push_back(v);
        const bool same_repeats = std::equal(in_x.begin(), in_x.end(), in_y.begin(), in_y.end(),
                                             [](const auto& p, const auto& q) { return p.first == q.first; });
        return same_repeats ? paired_difference(vx, vy) : difference(vx, vy);
      };
      if (x.stp.n() > 0 && y.stp.n() > 0) a.comparisons.push_back({"STP", x.mode, y.mode, compare(&CellAnalysis::stp)});
      if (x.antt.n() > 0 && y.antt.n() > 0) a.comparisons.push_back({"ANTT", x.mode, y.mode, compare(&CellAnalysis::antt)});
    }
  }

  // What is missing, most important first.
  struct {
    std::vector<Gap>& gaps;
    void push_back(GapCode code, std::string text) { gaps.push_back({code, std::move(text)}); }
  } miss{a.missing};
  a.cpu_only = run::RunEnvironment::parse(in.run.environment_json).cpu_only_reason();
  if (a.cpu_only)
    miss.push_back(GapCode::cpu_only, "The cells ran on the CPU, without an NVIDIA GPU (" + *a.cpu_only +
                   "): the sharing modes were not exercised on a GPU, so their figures check gpumix's pipeline, say "
                   "nothing about sharing a GPU, and no mode is recommended.");
  std::set<std::string> ran;
  for (const auto& c : cells) ran.insert(c.label);
  std::vector<std::string> not_run;
  for (const auto& planned : plan.cells)
    if (!ran.count(planned.label)) not_run.push_back(planned.label);
  const std::string not_run_text = join(not_run, ", ");
  if (in.run.status == store::RunStatus::interrupted)
    miss.push_back(GapCode::run_interrupted, fmt::format("The run was interrupted{}: {} of {} planned cells ran{}.",
                               in.run.error.empty() ? "" : " (" + in.run.error + ")", cells.size(),
                               std::max(plan.cells.size(), cells.size()),
                               not_run.empty() ? "" : "; not run: " + not_run_text));
  else if (in.run.status == store::RunStatus::running)
    miss.push_back(GapCode::run_in_progress, fmt::format("The run is still in progress: {} of {} planned cells so far.", cells.size(),
                               std::max(plan.cells.size(), cells.size())));
  else if (in.run.status == store::RunStatus::failed)
    miss.push_back(GapCode::run_failed, "The run failed" + (in.run.error.empty() ? std::string(".") : ": " + in.run.error) +
                   (not_run.empty() ? "" : " Not run: " + not_run_text + "."));
  else if (!not_run.empty())
    miss.push_back(GapCode::cells_not_run, "Planned cells with no record: " + not_run_text + ".");
  if (!exclusive_planned) {
    miss.push_back(
        GapCode::no_baseline_mode,
        "No exclusive baseline: NP, STP, ANTT, fairness and p99 inflation need each workload measured alone "
        "(add exclusive to the modes).");
  } else {
    for (const auto& name : a.workloads) {
      for (const auto& c : a.cells) {
        if (c.cell.baseline) continue;
        auto it = std::find_if(c.workloads.begin(), c.workloads.end(), [&](const auto& w) { return w.summary.name == name; });
        // Not missing: a skipped mode says so itself, a cut-short run too,
        // and a client has no NP by design (its server is counted).
        if (it == c.workloads.end() || it->np || it->no_np == NoNp::none || it->no_np == NoNp::mode_skipped ||
            it->no_np == NoNp::interrupted || it->no_np == NoNp::client)
          continue;
        miss.push_back(GapCode::no_np, fmt::format("No NP for {}: {}.", name, it->np_missing));
        break;
      }
    }
  }
  for (const auto& m : a.modes) {
    if (m.skipped()) miss.push_back(GapCode::mode_skipped, fmt::format("Mode {} was skipped: {}", m.mode, m.skip_reason.empty() ? "unavailable" : m.skip_reason));
  }
  for (const auto& c : a.cells)
    if (c.cell.status == store::CellStatus::failed)
      miss.push_back(GapCode::cell_failed, fmt::format("Cell {} failed{}", c.cell.label, c.cell.error.empty() ? "." : ": " + c.cell.error));
  for (const auto& m : a.modes)
    for (const auto& f : m.failures) miss.push_back(GapCode::workload_failed, "Workload " + f);
  for (const auto& m : a.modes)
    for (const auto& d : m.disqualifications) miss.push_back(GapCode::mode_unranked, fmt::format("Mode {} cannot be ranked: {}.", m.mode, d));
  for (const auto& c : a.cells)
    for (const auto& w : c.workloads) {
      if (!w.unsteady.empty()) miss.push_back(GapCode::unsteady, fmt::format("{} in {} was not steady: {}.", w.summary.name, c.cell.label, w.unsteady));
      const auto& s = w.summary;
      if (c.cell.baseline && (!s.throughput_gate.empty() || !s.latency_gate.empty() || !s.tpot_gate.empty()))
        miss.push_back(GapCode::thin_baseline, fmt::format("{}'s baseline has too little evidence ({}): lengthen cell_duration.", s.name,
                                   !s.throughput_gate.empty() ? s.throughput_gate : !s.latency_gate.empty() ? s.latency_gate : s.tpot_gate));
    }
  if (std::any_of(a.cells.begin(), a.cells.end(), [](const auto& c) { return c.cell.window_start_ns == 0 && c.cell.status != store::CellStatus::skipped; }) &&
      std::none_of(a.cells.begin(), a.cells.end(), [](const auto& c) { return c.cell.window_start_ns > 0; }))
    miss.push_back(GapCode::no_windows, "This run was recorded before measured windows existed: each workload is measured from its own ready "
                   "to its last iteration, not over one common window.");
  for (const auto& name : a.workloads) {
    bool any_metric = false, any_cell = false;
    for (const auto& c : a.cells)
      for (const auto& w : c.workloads)
        if (w.summary.name == name && w.summary.status != store::WorkloadStatus::skipped) {
          any_cell = true;
          any_metric = any_metric || w.summary.throughput || w.summary.requests > 0 || w.summary.iterations > 0;
        }
    if (any_cell && !any_metric)
      miss.push_back(GapCode::no_metrics, fmt::format("{} reported no throughput and no request latency (it does not speak the metrics "
                                 "protocol, or never got going): only its status, wall time and memory are known.",
                                 name));
  }
  if (!in.telemetry.events.empty()) {
    std::vector<std::string> first_three;
    for (const auto& c : a.cells)
      for (const auto& e : c.events)
        if (first_three.size() < 3) first_three.push_back(telemetry::event_text(e, c.cell.started_ns) + " in " + c.cell.label);
    const std::string list = join(first_three, "; ");
    miss.push_back(GapCode::gpu_faults, fmt::format("NVML reported {} fault event(s) during the run{}: a workload or the GPU failed, and "
                               "the figures of those cells may not be what the mode gives.",
                               in.telemetry.events.size(), list.empty() ? "" : " (" + list + ")"));
  }
  if (!a.has_telemetry) {
    std::string why = in.telemetry_error;
    for (const auto& s : in.telemetry_sessions)
      if (why.empty() && !s.available && !s.reason.empty()) why = s.reason;
    miss.push_back(GapCode::no_gpu_telemetry, why.empty() ? "No GPU telemetry was recorded for this run: no GPU activity, GPM or energy figures."
                               : "No GPU telemetry (" + why + "): no GPU activity, GPM or energy figures.");
  } else {
    if (!a.has_energy) miss.push_back(GapCode::no_energy, "The GPU reported neither its energy counter nor its power: no energy per unit of work.");
    if (!a.has_gpm) {
      std::string notes;
      for (const auto& s : in.telemetry_sessions)
        if (!s.notes.empty()) notes = s.notes;
      miss.push_back(GapCode::no_gpm, "No GPM metrics" + (notes.empty() ? std::string(" (GPM needs a Hopper or newer GPU)") : " (" + notes + ")") +
                     ": GPU activity is NVML's utilization only.");
    }
  }
  const bool any_shared = std::any_of(a.modes.begin(), a.modes.end(), [](const auto& m) { return !m.baseline && m.measured(); });
  if (any_shared && a.repeats <= 1 && !a.auto_repeats)
    miss.push_back(
        GapCode::one_repeat,
        "One repeat per mode: no confidence intervals, and differences between modes cannot be told from noise "
        "(set repeats: auto, or 3 or more).");
  return a;
}

const char* to_string(NoNp cause) {
  switch (cause) {
    case NoNp::none: return "";
    case NoNp::mode_skipped: return "mode_skipped";
    case NoNp::no_baseline: return "no_baseline";
    case NoNp::client: return "client";
    case NoNp::too_little_evidence: return "too_little_evidence";
    case NoNp::baseline_unmeasured: return "baseline_unmeasured";
    case NoNp::interrupted: return "interrupted";
    case NoNp::configuration_differs: return "configuration_differs";
  }
  return "";
}

const char* to_string(GapCode code) {
  switch (code) {
    case GapCode::cpu_only: return "cpu_only";
    case GapCode::run_interrupted: return "run_interrupted";
    case GapCode::run_in_progress: return "run_in_progress";
    case GapCode::run_failed: return "run_failed";
    case GapCode::cells_not_run: return "cells_not_run";
    case GapCode::no_baseline_mode: return "no_baseline_mode";
    case GapCode::no_np: return "no_np";
    case GapCode::mode_skipped: return "mode_skipped";
    case GapCode::cell_failed: return "cell_failed";
    case GapCode::workload_failed: return "workload_failed";
    case GapCode::mode_unranked: return "mode_unranked";
    case GapCode::unsteady: return "unsteady";
    case GapCode::thin_baseline: return "thin_baseline";
    case GapCode::no_windows: return "no_windows";
    case GapCode::no_metrics: return "no_metrics";
    case GapCode::gpu_faults: return "gpu_faults";
    case GapCode::no_gpu_telemetry: return "no_gpu_telemetry";
    case GapCode::no_energy: return "no_energy";
    case GapCode::no_gpm: return "no_gpm";
    case GapCode::one_repeat: return "one_repeat";
  }
  return "";
}

Activity CellAnalysis::activity_of(std::string_view key) const {
  auto it = activity.find(key);
  return it == activity.end() ? Activity{} : it->second;
}

const std::vector<telemetry::MetricId>& activity_metrics() {
  static const std::vector<telemetry::MetricId> list = [] {
    std::vector<telemetry::MetricId> out;
    for (size_t i = 0; i < telemetry::kMetricCount; ++i)
      if (!telemetry::kMetrics[i].activity.empty()) out.push_back({i});
    return out;
  }();
  return list;
}

std::vector<std::string> activity_series_names() {
  std::vector<std::string> out;
  for (auto id : activity_metrics())
    if (!id.def().chart.empty()) out.emplace_back(id.def().chart);
  return out;
}

std::vector<SeriesPoint> activity_series(const RunInput& in, const CellAnalysis& cell, size_t max_points) {
  std::vector<SeriesPoint> out;
  const auto t = telemetry_of(in, cell.cell, false);  // the whole cell: the plot shows the warm-up too
  const int64_t origin = cell.cell.started_ns;
  auto add = [&](const std::string& name, const std::vector<std::pair<int64_t, double>>& raw) {
    if (raw.empty()) return;
    const int64_t t0 = raw.front().first, t1 = raw.back().first;
    if (raw.size() <= max_points || t1 <= t0) {
      for (const auto& [ns, v] : raw) out.push_back({static_cast<double>(ns - origin) / 1e9, name, v});
      return;
    }
    // Equal time buckets, each at its mean time and value.
    const double width = static_cast<double>(t1 - t0) / static_cast<double>(max_points);
    size_t i = 0;
    for (size_t b = 0; b < max_points && i < raw.size(); ++b) {
      const double end = static_cast<double>(t0) + width * static_cast<double>(b + 1);
      double st = 0, sv = 0;
      size_t n = 0;
      while (i < raw.size() && (static_cast<double>(raw[i].first) <= end || b + 1 == max_points)) {
        st += static_cast<double>(raw[i].first - origin);
        sv += raw[i].second;
        ++n;
        ++i;
      }
      if (n > 0) out.push_back({st / static_cast<double>(n) / 1e9, name, sv / static_cast<double>(n)});
    }
  };
  for (auto id : activity_metrics())
    if (!id.def().chart.empty()) add(std::string(id.def().chart), samples_of(t, id));
  return out;
}

}  // namespace gpumix::analysis
