// The machine a run happened on: gathered once when the run starts and stored
// with it as JSON (runs.environment_json), read back as a RunEnvironment by
// everything that shows or judges a stored run.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace gpumix::run {

// host, os, kernel, cpu model and count, memory, NVIDIA driver and GPUs (from
// /proc/driver/nvidia, when present), NVML's view of every device (or why
// there is none), gpumix version and git sha.
nlohmann::json describe_environment();

// A stored environment record, read leniently: a field the record lacks
// (older gpumix, no driver) is empty.
struct RunEnvironment {
  struct Gpu {
    std::string index, name, compute_mode, timeslice_policy;
    std::optional<int64_t> memory_total_bytes;
    bool mig_enabled = false;
  };
  bool recorded = false;  // the record was a JSON object
  std::string host, os, kernel, cpu_model;
  int cpu_count = 0;
  int64_t memory_bytes = 0;
  std::string nvidia_driver;                   // the kernel driver's version (/proc)
  std::vector<std::string> driver_gpu_models;  // the kernel driver's GPUs (/proc)
  bool nvml_recorded = false;                  // the record has NVML's view at all
  bool nvml_available = false;
  std::string nvml_reason;  // why NVML was not available
  std::string driver_version, cuda_driver_version;
  std::vector<Gpu> gpus;  // NVML's devices
  // What held the workloads' processes: the run's cgroup, or why there was
  // none and only the run token was (run/cgroup.hpp); empty before gpumix recorded it.
  std::string containment;

  static RunEnvironment parse(const std::string& environment_json);

  // The GPU that ran it: NVML's first device, else the kernel driver's, else "".
  std::string gpu_name() const;
  // Why the run had no GPU, when the record says it had none (NVML absent or
  // listing no device); nullopt when it had one or the record does not say.
  std::optional<std::string> cpu_only_reason() const;
};

}  // namespace gpumix::run
