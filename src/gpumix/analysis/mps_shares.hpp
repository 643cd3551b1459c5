// What MPS was asked for against what the workloads got (pure):
//
// - requested vs delivered: in every shared cell of an MPS mode (one whose
//   row in spec/sharing_mode has per_workload_limits), each GPU workload's
//   requested SM share (CUDA_MPS_ACTIVE_THREAD_PERCENTAGE) beside its share of
//   the GPU's time over the window as NVML attributed it (CellAttribution:
//   per-process SM utilization, scaled to the GPU's busy time when the
//   clients' figures sum past 100 %), its NP, and its pinned memory limit
//   beside its peak device memory;
// - the priority effect: pairs of measured modes whose effective settings
//   differ only in client priorities, and what lowering the neighbours'
//   priority did to each SLO and to the neighbours' NP.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/analysis/interference.hpp"
#include "gpumix/spec/effective_plan.hpp"

namespace gpumix::analysis {

// Where a workload's requested SM share comes from, in the order they apply.
enum class ShareSource {
  mode,      // the configured mode's name: mps[train=30]
  split,     // mps-split: the percentage its weight gave (the cell's evidence)
  workload,  // its own `mps: sm_percent`
  none,      // no limit: 100 %
  unknown,   // mps-split without the evidence of its split (an older run)
};
const char* to_string(ShareSource source);

// A workload's settings under `mode`: its own `mps:` with the configured
// mode's overrides (spec/mode_variant.hpp) in their place.
spec::MpsOptions effective_mps(const spec::EffectivePlan& plan, const std::string& mode, const std::string& workload);

struct MpsShareCell {
  std::string cell, mode, workload;
  int repeat = 0;
  std::optional<double> requested_sm_percent;  // null only for ShareSource::unknown
  ShareSource requested_from = ShareSource::none;
  std::optional<int> priority;  // CUDA_MPS_CLIENT_PRIORITY as set (absent: normal)
  // Its share of the GPU's time over the window, in percent; null when NVML
  // gave no per-process SM figures (delivered_missing says so).
  std::optional<double> delivered_sm_percent;
  std::string delivered_missing;
  bool scaled = false;  // the clients' figures overlapped and were scaled (CellAttribution::overlapping)
  std::optional<double> np;
  std::optional<int64_t> pinned_limit_bytes;
  std::optional<int64_t> memory_peak_bytes;  // WorkloadCell::gpu_memory_peak_bytes
  std::string memory;  // "within", "above" (the limit did not hold), "" when either is unknown
};

// One workload under one MPS mode, over the repeats.
struct MpsShareMode {
  std::string mode, workload;
  std::optional<double> requested_sm_percent;
  ShareSource requested_from = ShareSource::none;
  Estimate delivered_sm_percent;  // over the cells with a figure
  Estimate np;
  int cells = 0;
  int memory_above = 0;  // cells where its peak memory exceeded its pinned limit
};

struct MpsShares {
  std::vector<MpsShareCell> cells;   // in the run's cell order, workloads in the cell's order
  std::vector<MpsShareMode> modes;   // in the analysis's mode order
  bool empty() const { return cells.empty(); }
};

// Empty when the run has no measured cell of an MPS mode. Load generators
// (role client) run on no GPU and are left out.
MpsShares mps_shares(const Analysis& analysis);

// One SLO under two modes that differ only in client priorities: `without`,
// where its neighbours keep their priority, and `with`, where `lowered` run
// at the lower one (CUDA_MPS_CLIENT_PRIORITY 1).
struct PriorityEffect {
  std::string base;  // the modes' base mode ("mps")
  std::string mode_without, mode_with;
  std::string slo;       // SloVerdict::label()
  std::string workload;  // the SLO's workload
  std::string owner;     // whose SLO it is on the GPU: itself, or a load generator's server
  std::vector<std::string> lowered;
  std::optional<double> p99_without_ms, p99_with_ms;  // WorkloadMode::latency_p99_ms means
  std::optional<double> worst_without_ms, worst_with_ms;  // the SLO's percentile, worst repeat
  std::string verdict_without, verdict_with;  // "met", "missed", "unmeasured"
  std::optional<double> neighbours_np_without, neighbours_np_with;  // mean NP of `lowered`
};

// `slo_owners` (a tuning run's record: client → server) says whose SLO a
// load generator's is; a client without one counts every GPU workload as a
// neighbour.
std::vector<PriorityEffect> priority_effects(const Analysis& analysis,
                                             const std::map<std::string, std::string>& slo_owners = {});

}  // namespace gpumix::analysis
