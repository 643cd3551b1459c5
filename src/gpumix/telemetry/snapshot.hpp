// Telemetry as plain data: what one sampling tick read, as stored in the
// results database and rendered for Prometheus. Timestamps are Unix ns
// (store::now_ns()); run_id and cell_id are empty outside a run or a cell.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/telemetry/metrics.hpp"

namespace gpumix::telemetry {

struct Tags {
  std::optional<int64_t> run_id;
  std::optional<int64_t> cell_id;
};

// One GPU at one instant: the Scope::gpu metrics of metrics.hpp.
struct GpuSample {
  int64_t t_ns = 0;
  Tags tags;
  int gpu = 0;
  std::string uuid;
  Values values;
};

// One process on a GPU at one instant: the Scope::process metrics (the SM
// and memory utilization from NVML's latest per-process sample, when it is at
// most a second old).
struct ProcessSample {
  int64_t t_ns = 0;
  Tags tags;
  int gpu = 0;
  int64_t pid = 0;
  std::string kind;  // "compute" (a CUDA context of its own, or the MPS server) or "mps_client"
  std::optional<int64_t> workload_id;  // when it is (a process of) one of the run's workloads
  std::string workload;
  std::optional<int64_t> gpu_instance_id;  // MIG
  Values values;
};

// The Scope::gpm metrics of a GPU (gpu_instance_id empty) or of one MIG GPU
// instance, over the time since its previous GPM sample (at least 100 ms).
struct GpmSample {
  int64_t t_ns = 0;
  Tags tags;
  int gpu = 0;
  std::optional<int64_t> gpu_instance_id;
  std::string uuid;  // the GPU's, or the MIG device's
  Values values;
};

// An NVML event on a GPU (an Xid critical error, an ECC error), when it was
// received. NVML does not say which process caused it.
struct EventSample {
  int64_t t_ns = 0;
  Tags tags;
  int gpu = 0;
  std::string uuid;
  std::string type;  // gpu::event_type_name: "xid_critical_error", "double_bit_ecc", ...
  int64_t data = 0;  // the Xid, for Xid critical errors
  std::optional<int64_t> gpu_instance_id, compute_instance_id;  // MIG: where it happened
  std::string description;  // gpu::xid_description for Xids
};

struct Samples {
  std::vector<GpuSample> gpus;
  std::vector<ProcessSample> processes;
  std::vector<GpmSample> gpm;
  std::vector<EventSample> events;
};

// What one tick read.
struct Snapshot : Samples {
  int64_t t_ns = 0;
  std::vector<std::string> errors;  // NVML failures other than "not supported"
};

// The run's workloads by pid, as the runner reports them.
struct WorkloadRef {
  int64_t workload_id = 0;
  std::string name;
  bool operator==(const WorkloadRef&) const = default;
};
using WorkloadPids = std::map<pid_t, WorkloadRef>;

}  // namespace gpumix::telemetry
