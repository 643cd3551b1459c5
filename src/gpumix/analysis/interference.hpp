// How the workloads of a run got on together, against each running alone.
// Pure functions over stored rows and telemetry samples.
//
// Definitions:
//   NP_i   normalized progress of workload i in a shared cell: its progress
//          rate there ÷ its rate in its exclusive baseline cell
//          (`baseline-<name>`). The rate is its steady-state throughput
//          (samples/s) when the baseline measured one, except for
//          latency-critical roles (interactive, server), whose pace is set by
//          think time or arrivals: they, and workloads that report only
//          request latencies, are measured by mean request latency instead:
//          NP = mean alone ÷ mean shared. For a closed-loop
//          client that is exactly its request-rate ratio, and unlike the rate
//          it also sees interference on an open-loop (fixed arrival rate)
//          server. A workload that ran in the shared cell but reported no
//          progress there has NP 0; one that did not run (mode skipped, run
//          interrupted) has none.
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
#include "gpumix/probe/probe_store.hpp"
#include "gpumix/store/store.hpp"
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
  probe::ProbeResults probes;   // the latest `gpumix probe` results for the run's GPU
};

// Mean and 95th percentile of a utilization over a cell.
struct Activity {
  std::optional<double> mean;
  std::optional<double> p95;
  int64_t samples = 0;
};

// One workload in one cell.
struct WorkloadCell {
  WorkloadSummary summary;
  std::string np_basis;  // "throughput", "latency", or empty when there is no NP
  std::optional<double> np;
  std::string np_missing;  // why there is no NP (empty when there is one, and in baseline cells)
  std::optional<double> p99_inflation;
  // Largest GPU memory seen: NVML's per-process samples, else the workload's own `info` report.
  std::optional<int64_t> gpu_memory_peak_bytes;
  bool failed = false;  // failed, crashed, timeout, early_exit or killed
};

// One cell: its workloads and, for shared cells, the system figures.
struct CellAnalysis {
  store::CellRow cell;
  std::vector<WorkloadCell> workloads;
  std::optional<double> stp, antt, fairness, jain;
  int with_np = 0;  // workloads the figures above cover
  // Telemetry of the GPU the cell's workloads used.
  std::optional<int> gpu;
  int64_t gpu_samples = 0;
  Activity gpu_util, gpm_sm, gpm_tensor, gpm_dram;
  std::optional<double> energy_j;
  std::string energy_source;  // "energy counter" or "power samples"
  std::optional<double> mean_power_w;
  int64_t samples_processed = 0;  // every workload's iter samples in the cell
  std::optional<double> energy_per_sample_j;
  std::string evidence;  // the mode's evidence, flattened to one line
};

// An SLO of one workload, judged over every repeat of a mode.
struct SloVerdict {
  std::string workload;
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
  std::string label() const;  // "server p99 ≤ 50 ms"
};

// One workload under one mode, over its repeats.
struct WorkloadMode {
  std::string workload;
  std::string role;
  std::string np_basis;
  Estimate throughput;  // samples/s
  Estimate np;
  Estimate latency_p99_ms;
  Estimate p99_inflation;
  std::optional<double> alone_throughput;
  std::optional<double> alone_p99_ms;
  std::vector<SloVerdict> slos;
  std::vector<std::string> failures;  // "crashed in timeslice-r1: killed by SIGSEGV"
};

// One mode over its repeats. The exclusive mode is the baseline: its cells
// are the workloads alone, and it has no system figures.
struct ModeAnalysis {
  std::string mode;
  bool baseline = false;
  int cells_planned = 0, cells_run = 0, cells_skipped = 0, cells_failed = 0, cells_interrupted = 0;
  std::string skip_reason;  // when every cell was skipped
  Estimate stp, antt, fairness, jain;
  Estimate energy_per_sample_j, gpu_util_mean, gpm_sm_mean;
  std::vector<WorkloadMode> workloads;
  std::vector<std::string> failures;
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

struct Analysis {
  store::RunRow run;
  std::vector<std::string> workloads;  // in the mix's order
  std::vector<std::string> planned_modes;
  int repeats = 0;
  std::vector<CellAnalysis> cells;
  std::vector<ModeAnalysis> modes;  // planned order; exclusive first when present
  std::vector<ModeComparison> comparisons;  // every pair of measured shared modes, on STP and ANTT
  bool has_baseline = false;  // at least one baseline measure
  bool has_telemetry = false;
  bool has_gpm = false;
  bool has_energy = false;
  // What is missing or doubtful, in words, most important first.
  std::vector<std::string> missing;

  const ModeAnalysis* mode(const std::string& name) const;
  const CellAnalysis* cell(const std::string& label) const;
};

Analysis analyze(const RunInput& input);

// The workload's figures in its baseline, or null.
const WorkloadCell* baseline_of(const Analysis& a, const std::string& workload);

// A telemetry series of one cell for plots: seconds since the cell started,
// at most `max_points` per series (averaged in equal time buckets).
struct SeriesPoint {
  double t_s = 0;
  std::string series;  // "GPU utilization", "GPM SM activity", "GPM tensor activity", "GPM DRAM bandwidth"
  double percent = 0;
};
std::vector<SeriesPoint> activity_series(const RunInput& input, const CellAnalysis& cell, size_t max_points = 400);

// Statuses that mean a workload failed (as opposed to ok, stopped, skipped,
// interrupted, not_started).
bool is_failure_status(const std::string& status);

}  // namespace gpumix::analysis
