// How the workloads of a run got on together, against each running alone.
// Pure functions over stored rows and telemetry samples.
//
// Definitions:
//   NP_i   normalized progress of workload i in a shared cell: its progress
//          rate there ÷ its rate in its exclusive baseline cell of the same
//          repeat (`baseline-<name>-r<k>`). The rate is its steady-state throughput
//          (samples/s) when the baseline measured one, except for
//          latency-critical roles (interactive, server), whose pace is set by
//          think time or arrivals: they, and workloads that report only
//          request latencies, are measured by mean request latency instead:
//          NP = mean alone ÷ mean shared. For a closed-loop
//          client that is exactly its request-rate ratio, and unlike the rate
//          it also sees interference on an open-loop (fixed arrival rate)
//          server. A workload whose baseline streamed LLM completions
//          (latency events with `tpot_ms`) is measured by its mean time per
//          output token: NP = mean TPOT alone ÷ mean TPOT shared. Decode is
//          paced by the GPU, while its request rate is paced by arrivals and
//          its end-to-end latency mixes in prompt and output lengths and
//          queueing before the first token (which its TTFT SLOs judge).
//          A job that runs to completion (`stop: completion` or
//          `{iterations: N}`) and completed in both windows is measured by
//          its job completion time from the window's start: NP = JCT alone ÷
//          JCT shared (the same as its rate ratio for a fixed amount of work);
//          one that did not complete in a window is measured by its rate.
//          A workload that ran in the shared cell but reported no progress
//          there has NP 0; one that did not run (mode skipped, run
//          interrupted) has none; one with too little evidence in either
//          window (Gates) has none, and says why.
//   STP    Σ NP_i over the cell's workloads with an NP (1 = no gain over
//          running them one after another; n = no interference at all).
//   ANTT   mean of 1/NP_i (≥ 1 under interference; infinite when one starved).
//   fairness  min NP ÷ max NP; Jain's index (Σ NP)² ÷ (n Σ NP²).
//   p99 inflation  request p99 shared ÷ p99 alone.
//   energy per unit of work  the GPU's NVML energy counter's increase over
//          the cell ÷ samples all its workloads processed (falling back to
//          integrating power samples when there is no counter).
// Repeats of a mode give each figure as an Estimate (mean, 95 % Student t
// interval); two modes whose STP intervals cannot be told apart (Welch) are
// flagged as within noise.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/analysis/stats.hpp"
#include "gpumix/analysis/summary.hpp"
#include "gpumix/spec/effective_plan.hpp"
#include "gpumix/store/store.hpp"
#include "gpumix/store/status.hpp"
#include "gpumix/telemetry/snapshot.hpp"
#include "gpumix/telemetry/telemetry_store.hpp"

namespace gpumix::analysis {

// Everything stored about one run.
struct RunInput {
  store::RunRow run;
  std::vector<store::CellRow> cells;
  std::vector<store::WorkloadRow> workloads;
  std::vector<store::EventRow> events;
  telemetry::Samples telemetry;
  std::vector<telemetry::SessionRow> telemetry_sessions;
  std::string telemetry_error;  // why the telemetry could not be read, if it could not
};

// Mean and 95th percentile of a utilization over a cell.
struct Activity {
  std::optional<double> mean;
  std::optional<double> p95;
  int64_t samples = 0;
};

// Why a workload has no NP in a shared cell; np_missing says it in words.
enum class NoNp {
  none,                 // it has one (or is in a baseline cell)
  mode_skipped,         // its cell's mode is unavailable here
  no_baseline,          // no baseline of its repeat to compare with
  client,               // a load generator: its server is counted instead
  too_little_evidence,  // a gate of the evidence rules (this cell's or its baseline's)
  baseline_unmeasured,  // its baseline measured neither throughput nor latency
  interrupted,          // cut short before it measured anything
  configuration_differs,  // it chose its settings differently than in its baseline (effective_config)
};
const char* to_string(NoNp cause);

// One workload in one cell.
struct WorkloadCell {
  WorkloadSummary summary;
  std::string np_basis;  // "throughput", "latency", "tpot", "completion", or empty when there is no NP
  std::optional<double> np;
  std::string np_missing;  // why there is no NP (empty when there is one, and in baseline cells)
  NoNp no_np = NoNp::none;  // the same, as a code
  std::optional<double> p99_inflation;
  // Largest GPU memory seen: NVML's per-process samples, else the workload's own `info` report.
  std::optional<int64_t> gpu_memory_peak_bytes;
  bool failed = false;  // store::is_failure of its status
  bool no_progress = false;  // ran in a shared cell's window and reported nothing there
  bool np_gated = false;     // no NP for want of evidence in this cell (not its baseline's): the mode cannot be ranked
  std::string unsteady;  // its rate drifted within the window: the figures, in words
};

// One workload's part of a cell's GPU over the measured window, from NVML's
// per-process figures (its processes and their children, MPS clients included).
struct WorkloadAttribution {
  std::string workload;
  std::optional<double> sm_util_mean;  // percent: its processes' SM utilization, summed per tick, mean over the ticks
  std::optional<double> sm_share;      // 0..1 of the window's time (scaled when overlapping)
  std::optional<double> energy_j;      // the window's energy × sm_share
  std::optional<double> memory_mean_bytes, memory_peak_bytes;  // its processes' device memory, summed per tick
};

// What NVML lets gpumix attribute in one cell, and the split. When attributed,
// the workloads' shares, `other_share` and `idle_share` add up to 1, and so do
// their energies to the window's energy.
struct CellAttribution {
  bool sm_attributed = false;  // per-process SM utilization was there
  bool overlapping = false;    // the figures summed past 100% (MPS) and were scaled to the GPU's busy time
  std::optional<double> scale;  // that scaling factor
  int64_t ticks = 0;            // sampling ticks in the window
  std::vector<WorkloadAttribution> workloads;
  std::optional<double> other_share, other_energy_j;  // processes of no workload (another tenant, the MPS server)
  std::optional<double> idle_share, idle_energy_j;    // no kernel of any process running
  std::string basis;  // what NVML can and cannot attribute in this cell's mode, in words
};

// One cell: its workloads and, for shared cells, the system figures.
struct CellAnalysis {
  store::CellRow cell;
  std::optional<double> window_s;  // the measured window's length
  std::optional<double> warmup_s;  // cell start → window start
  std::vector<WorkloadCell> workloads;
  std::optional<double> stp, antt, fairness, jain;
  int with_np = 0;  // workloads the figures above cover
  // Telemetry of the GPU the cell's workloads used.
  std::optional<int> gpu;
  int64_t gpu_samples = 0;
  // Each metric with an `activity` key in telemetry/metrics.hpp, by that key
  // ("gpu_util", "gpm_sm", ...); absent when the GPU gave none.
  std::map<std::string, Activity, std::less<>> activity;
  Activity activity_of(std::string_view key) const;
  std::optional<double> energy_j;
  std::string energy_source;  // "energy counter" or "power samples"
  std::optional<double> mean_power_w;
  int64_t samples_processed = 0;  // every workload's iter samples in the cell
  std::optional<double> energy_per_sample_j;
  CellAttribution attribution;
  std::vector<telemetry::EventSample> events;  // NVML events (Xid, ECC) received during the cell
  std::string evidence;  // the mode's evidence, flattened to one line
};

// An SLO of one workload, judged over every repeat of a mode.
struct SloVerdict {
  std::string workload;
  spec::SloMetric metric = spec::SloMetric::latency;
  double percentile = 0;
  double limit_ms = 0;
  std::optional<double> worst_ms;  // the highest measured in any repeat
  std::string worst_cell;
  std::optional<double> worst_attainment;  // the lowest share of requests within the limit
  int repeats = 0;     // cells that ran the workload
  int broken = 0;      // ... whose percentile was above the limit
  int unmeasured = 0;  // ... without a single request
  bool met = false;    // measured in every repeat, and within the limit in every one
  std::optional<double> excess() const;  // worst ÷ limit − 1
  std::string label() const;  // "server p99 <= 50 ms", "llm ttft_p99 <= 500 ms"
};

// One workload under one mode, over its repeats.
struct WorkloadMode {
  std::string workload;
  spec::Role role = spec::Role::other;
  std::string np_basis;
  Estimate throughput;  // samples/s
  Estimate np;
  Estimate latency_p99_ms;
  Estimate p99_inflation;
  // Its streamed LLM completions, when it had any: each cell's TTFT and TPOT
  // percentiles (ms), over the repeats.
  int64_t token_requests = 0;  // requests with a TTFT, every repeat
  Estimate ttft_p50_ms, ttft_p90_ms, ttft_p99_ms, tpot_p50_ms, tpot_p90_ms, tpot_p99_ms;
  std::optional<double> alone_throughput;  // its baselines' mean over the repeats
  std::optional<double> alone_p99_ms;
  std::vector<SloVerdict> slos;
  std::vector<std::string> failures;  // "crashed in timeslice-r1: killed by SIGSEGV"
  Estimate ready_s;  // time to ready (its warm-up) under this mode
  Estimate jct_s;    // completion jobs: window start → end
  std::vector<std::string> gaps;      // "timeslice-r1: insufficient data: 12 iterations in the window, needs 30"
  std::vector<std::string> unsteady;  // "timeslice-r2: rate +18% from the first half of the window to the second"
};

// One mode over its repeats. The exclusive mode is the baseline: its cells
// are the workloads alone, and it has no system figures.
struct ModeAnalysis {
  std::string mode;
  bool baseline = false;
  int cells_planned = 0, cells_run = 0, cells_skipped = 0, cells_failed = 0, cells_interrupted = 0;
  std::string skip_reason;  // when every cell was skipped
  Estimate stp, antt, fairness, jain;
  Estimate energy_per_sample_j;
  std::map<std::string, Estimate, std::less<>> activity_mean;  // by activity key: the cells' means over repeats
  std::vector<WorkloadMode> workloads;
  std::vector<std::string> failures;
  // Why its STP cannot be trusted to rank it: a workload made no progress, or
  // has no NP for want of evidence, in some repeat.
  std::vector<std::string> disqualifications;
  Estimate warmup_s;  // how long its cells took to be ready
  bool measured() const { return cells_run > cells_skipped; }
  bool skipped() const { return cells_run > 0 && cells_skipped == cells_run; }
  const WorkloadMode* workload(const std::string& name) const;
  std::vector<const SloVerdict*> slos() const;
};

// Two modes compared on one figure.
struct ModeComparison {
  std::string metric;  // "STP", "ANTT"
  std::string mode_a, mode_b;
  Difference difference;  // b − a
};

// Something missing or doubtful in a run's figures: a code for programs and
// for the report's layout, and the sentence shown to people. Nothing looks
// for a reason by its wording.
enum class GapCode {
  cpu_only,            // the cells ran without an NVIDIA GPU
  run_interrupted,
  run_in_progress,
  run_failed,
  cells_not_run,       // planned cells with no record
  no_baseline_mode,    // the baseline mode is not among the run's modes
  no_np,               // a workload has no NP in some shared cell
  mode_skipped,
  cell_failed,
  workload_failed,
  mode_unranked,       // a mode cannot be ranked (failed or gated workloads)
  unsteady,            // a rate drifted within its window
  thin_baseline,       // a baseline with too little evidence
  no_windows,          // recorded before measured windows existed
  no_metrics,          // a workload reported neither throughput nor latency
  gpu_faults,          // NVML reported fault events
  no_gpu_telemetry,
  no_energy,
  no_gpm,
  one_repeat,          // no confidence intervals
};
const char* to_string(GapCode code);

struct Gap {
  GapCode code;
  std::string text;
};

struct Analysis {
  store::RunRow run;
  spec::EvidenceGates gates;
  std::optional<spec::AutoRepeatsRecord> auto_repeats;  // `repeats: auto` as it went
  std::optional<double> gpu_time_s;  // the run's wall time, start to end (or to now while running)
  std::vector<std::string> workloads;  // in the mix's order
  std::vector<std::string> planned_modes;
  int repeats = 0;
  std::vector<CellAnalysis> cells;
  std::vector<ModeAnalysis> modes;  // planned order; exclusive first when present
  // Every pair of measured shared modes, on STP and ANTT: paired by repeat
  // when both have the same repeats (interleaved cells share the machine's
  // drift), else Welch.
  std::vector<ModeComparison> comparisons;
  // Set when the run's environment says it had no NVIDIA GPU (why): its cells
  // ran on the CPU, so no mode is recommended. Empty when it had one, or for
  // a run recorded without that fact.
  std::optional<std::string> cpu_only;
  bool has_baseline = false;  // at least one baseline measure
  bool has_telemetry = false;
  bool has_gpm = false;
  bool has_energy = false;
  // What is missing or doubtful, most important first.
  std::vector<Gap> missing;

  const Gap* gap(GapCode code) const;  // the first of its kind, if any
  std::vector<std::string> missing_texts() const;
  const ModeAnalysis* mode(const std::string& name) const;
  const ModeAnalysis* baseline() const;  // the baseline mode's, when it was planned
  const CellAnalysis* cell(const std::string& label) const;
};

Analysis analyze(const RunInput& input);

// A telemetry series of one cell for plots: seconds since the cell started,
// at most `max_points` per series (averaged in equal time buckets).
struct SeriesPoint {
  double t_s = 0;
  std::string series;  // a metric's `chart` (telemetry/metrics.hpp): "GPU utilization", "GPM SM activity", ...
  double percent = 0;
};
// The metrics with an `activity` key, in the table's order.
const std::vector<telemetry::MetricId>& activity_metrics();
// ... and the series names of those with a chart.
std::vector<std::string> activity_series_names();
std::vector<SeriesPoint> activity_series(const RunInput& input, const CellAnalysis& cell, size_t max_points = 400);

}  // namespace gpumix::analysis
