// The one place gpumix talks to NVML. libnvidia-ml.so.1 is loaded at run time
// (dlopen, versioned symbols), so one gpumix binary runs with and without an
// NVIDIA driver: Nvml::open() says why when it cannot. Every NVML call goes
// through one check macro that turns a failure into NvmlError (the function,
// where it was called and NVML's own text). Safe to use from several threads
// (NVML itself is thread-safe; this wrapper keeps no mutable state but the
// lazily read time-slice policy, behind a once-flag).
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace gpumix::gpu {

// An NVML call failed.
class NvmlError : public std::runtime_error {
 public:
  // `where` is "file:line" of the call.
  NvmlError(std::string function, int code, const std::string& message, const std::string& where);
  const std::string& function() const { return function_; }
  int code() const { return code_; }  // nvmlReturn_t

 private:
  std::string function_;
  int code_;
};

struct GpuProcess {
  unsigned pid = 0;
  uint64_t used_memory_bytes = 0;
  // Set on MIG-enabled GPUs: the instance the process runs in.
  std::optional<unsigned> gpu_instance_id;
  std::optional<unsigned> compute_instance_id;
};

struct MigInstance {
  std::string uuid;  // "MIG-..."
  unsigned gpu_instance_id = 0;
  unsigned compute_instance_id = 0;
  uint64_t memory_bytes = 0;
  unsigned sm_count = 0;
  std::string profile;  // "1g.10gb"; empty when it cannot be derived
  int parent_index = 0;
};

struct DeviceInfo {
  int index = 0;
  std::string name;
  std::string uuid;  // "GPU-..."
  std::string pci_bus_id;
  uint64_t memory_total_bytes = 0;
  uint64_t memory_used_bytes = 0;
  bool mig_enabled = false;
  std::string compute_mode;  // Default, Exclusive_Process, Prohibited (nvidia-smi's names)
  std::optional<bool> ecc_enabled;  // empty: the GPU has no ECC
  std::optional<bool> persistence;
  std::string timeslice_policy;  // from `nvidia-smi compute-policy -l` (Default, Short, ...), or "unknown"
  bool gpm_supported = false;
};

// What NVML reads of a whole GPU at an instant, one query each (the metric
// table, telemetry/metrics.hpp, says which telemetry figure uses which).
enum class DeviceCounter {
  gpu_util_percent,     // nvmlDeviceGetUtilizationRates .gpu
  memory_util_percent,  // nvmlDeviceGetUtilizationRates .memory
  memory_used_bytes,    // nvmlDeviceGetMemoryInfo_v2 .used (without what the driver reserves)
  memory_total_bytes,   // .total
  memory_free_bytes,    // .free
  memory_reserved_bytes,  // .reserved (v2 only)
  sm_clock_mhz,         // nvmlDeviceGetClockInfo NVML_CLOCK_SM
  memory_clock_mhz,     // nvmlDeviceGetClockInfo NVML_CLOCK_MEM
  power_watts,          // nvmlDeviceGetPowerUsage, mW → W
  energy_mj,            // nvmlDeviceGetTotalEnergyConsumption: since the driver was loaded
  temperature_c,        // nvmlDeviceGetTemperatureV (or nvmlDeviceGetTemperature), GPU die
  clock_event_reasons,  // nvmlDeviceGetCurrentClocksEventReasons bits, see decode.hpp
};

// NVML's per-process utilization over its last sample period.
struct ProcessUtilization {
  unsigned pid = 0;
  uint64_t timestamp_us = 0;  // CPU time of NVML's sample, Unix microseconds
  unsigned sm_util_percent = 0;
  unsigned memory_util_percent = 0;
};

// GPM counters of one GPU or one MIG GPU instance. Each read() takes a sample
// and returns the asked metrics (nvmlGpmMetricId_t values, in their order;
// one NVML does not give is empty) since the previous sample (empty on the
// first read).
// NVML refreshes GPM every 100 ms: a read sooner than that after the last
// sample returns empty and keeps the last sample, so the interval between the
// two samples of a result is never under kGpmMinSpacing. Not thread-safe: one
// stream per sampling thread.
class GpmStream {
 public:
  static constexpr int64_t kGpmMinSpacingNs = 100'000'000;
  struct State;
  explicit GpmStream(std::unique_ptr<State> state);
  ~GpmStream();
  GpmStream(const GpmStream&) = delete;
  GpmStream& operator=(const GpmStream&) = delete;
  std::optional<std::vector<std::optional<double>>> read(std::span<const unsigned> metric_ids);

 private:
  std::unique_ptr<State> s_;
};

// One NVML event: an Xid critical error (data = the Xid), an ECC error, ...
struct GpuEvent {
  int gpu = 0;
  uint64_t type = 0;  // nvmlEventType* bit
  uint64_t data = 0;
  std::optional<unsigned> gpu_instance_id;  // MIG: where it happened
  std::optional<unsigned> compute_instance_id;
};

// An NVML event set on every GPU that supports the asked event types. NVML
// queues events between waits. Not thread-safe: one waiting thread.
class EventWatch {
 public:
  struct State;
  explicit EventWatch(std::unique_ptr<State> state);
  ~EventWatch();
  EventWatch(const EventWatch&) = delete;
  EventWatch& operator=(const EventWatch&) = delete;
  // The next event, or nothing after `timeout_ms`. Throws NvmlError.
  std::optional<GpuEvent> wait(unsigned timeout_ms);
  // The GPUs watched, and what could not be (e.g. "GPU 1: no Xid events").
  const std::vector<int>& gpus() const;
  const std::vector<std::string>& notes() const;

 private:
  std::unique_ptr<State> s_;
};

class Nvml {
 public:
  // Loads libnvidia-ml.so.1 (or $GPUMIX_NVML_LIBRARY) and initializes NVML.
  // Returns nullptr, with the reason in *why (when why is not null), when that
  // is impossible: no driver, or a library that is not NVML.
  // NVML is shut down and the library unloaded when the last reference goes.
  static std::shared_ptr<Nvml> open(std::string* why);

  struct Impl;
  explicit Nvml(std::shared_ptr<Impl> impl);
  ~Nvml();

  std::string driver_version();       // "580.159.04"
  std::string cuda_driver_version();  // "13.0"
  int device_count();
  DeviceInfo device(int index);
  // Processes with a compute context on the GPU (under MPS: the MPS server).
  std::vector<GpuProcess> compute_processes(int index);
  // MPS clients on the GPU.
  std::vector<GpuProcess> mps_compute_processes(int index);
  // The MIG devices (compute instances) of a GPU; empty when MIG is off.
  std::vector<MigInstance> mig_instances(int index);

  // Telemetry: `counters` of GPU `index`, in their order; one the GPU does not
  // report is empty, and a failure other than "not supported" is also added
  // to `errors` as "function: message".
  std::vector<std::optional<double>> read_counters(int index, std::span<const DeviceCounter> counters,
                                                   std::vector<std::string>& errors);
  // Per-process samples newer than `since_us` (a timestamp_us from an earlier
  // call, or 0 for all the driver keeps). Empty when there are none, or on
  // GPUs that do not support it (MIG-enabled ones).
  std::vector<ProcessUtilization> process_utilization(int index, uint64_t since_us);
  // Watches `types` (nvmlEventType* bits) on every GPU that reports them;
  // null with the reason in *why when no GPU does or events are unavailable.
  std::unique_ptr<EventWatch> watch_events(uint64_t types, std::string* why);
  // Throws NvmlError when the GPU (or the GPU instance) does not support GPM.
  std::unique_ptr<GpmStream> gpm_stream(int index, std::optional<unsigned> gpu_instance_id = std::nullopt);

 private:
  std::shared_ptr<Impl> impl_;
};

nlohmann::json to_json(const DeviceInfo& d);
nlohmann::json to_json(const MigInstance& m);

// For a run's environment record: {"available": true, "driver_version",
// "cuda_driver_version", "devices": [DeviceInfo fields + "mig_instances"]},
// or {"available": false, "reason": ...}. Never throws.
nlohmann::json describe_gpus();
nlohmann::json describe_gpus(Nvml* nvml, const std::string& why_unavailable);

}  // namespace gpumix::gpu
