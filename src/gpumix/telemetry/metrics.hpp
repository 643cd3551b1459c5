// Every telemetry figure gpumix reads, defined once: where NVML has it, its
// unit, its name in the store and in `monitor`'s output, its Prometheus
// families (gpumix's names and dcgm-exporter's), and how the report sums it up
// over a cell's window. The store's columns, `monitor` (table, CSV, JSON),
// /metrics, the analysis and the charts are all derived from kMetrics; adding
// a GPM metric is one row here (and its nvmlGpmMetricId_t in nvml_abi.hpp).
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

#include "gpumix/gpu/nvml.hpp"
#include "gpumix/gpu/nvml_abi.hpp"

namespace gpumix::telemetry {

// Which row a metric belongs to.
enum class Scope {
  gpu,      // a whole GPU at an instant (gpu_samples)
  gpm,      // a GPU or MIG GPU instance, over the time since its last GPM sample (gpm_samples)
  process,  // one process on a GPU (process_samples); read by the probe from NVML's process lists
};

struct MetricDef {
  std::string_view name;  // column in its scope's table; key in `monitor`'s JSON (CSV: "gpm_" + name for GPM)
  Scope scope;
  bool integer;           // stored as INTEGER and shown without decimals
  std::string_view unit;  // percent, bytes, MHz, W, mJ, C, or bitmask (clock event reasons, gpu/decode.hpp)
  std::string_view help;  // what it is, for /metrics and docs
  gpu::DeviceCounter counter{};  // Scope::gpu: the NVML query
  unsigned gpm_id = 0;           // Scope::gpm: nvmlGpmMetricId_t
  std::string_view column{};     // `monitor`'s table header; empty: not shown there
  int decimals = 0;
  // /metrics with gpumix's names: value × prometheus_scale, in base units.
  std::string_view prometheus{};
  std::string_view prometheus_type = "gauge";
  double prometheus_scale = 1;
  // /metrics with dcgm-exporter's names (its units: MiB, MHz, W, mJ; GPM as 0..1 ratios).
  std::string_view dcgm{};
  std::string_view dcgm_help{};
  double dcgm_scale = 1;
  std::string_view dcgm_type = "gauge";
  // The report: mean and p95 over each cell's window under this key (its
  // percent figures); and the series on the cell's activity chart.
  std::string_view activity{};
  std::string_view chart{};
};

namespace detail {
using gpu::DeviceCounter;
using namespace gpu::nvml_abi;
inline constexpr double kMiB = 1.0 / (1024.0 * 1024.0);
inline constexpr double kRatio = 0.01;  // percent → 0..1
}  // namespace detail

// clang-format off
inline constexpr std::array kMetrics = {
  // --- a whole GPU (NVML device queries)
  MetricDef{.name = "gpu_util_percent", .scope = Scope::gpu, .integer = true, .unit = "percent",
            .help = "Percent of time a kernel was running on the GPU (NVML)",
            .counter = detail::DeviceCounter::gpu_util_percent, .column = "util%",
            .prometheus = "gpumix_gpu_utilization_percent",
            .dcgm = "DCGM_FI_DEV_GPU_UTIL", .dcgm_help = "GPU utilization (in %).",
            .activity = "gpu_util", .chart = "GPU utilization"},
  MetricDef{.name = "memory_util_percent", .scope = Scope::gpu, .integer = true, .unit = "percent",
            .help = "Percent of time device memory was read or written (NVML)",
            .counter = detail::DeviceCounter::memory_util_percent, .column = "mem%",
            .prometheus = "gpumix_gpu_memory_utilization_percent",
            .dcgm = "DCGM_FI_DEV_MEM_COPY_UTIL", .dcgm_help = "Memory utilization (in %)."},
  MetricDef{.name = "memory_used_bytes", .scope = Scope::gpu, .integer = true, .unit = "bytes",
            .help = "Device memory allocated (without what the driver reserves)",
            .counter = detail::DeviceCounter::memory_used_bytes, .column = "mem_used",
            .prometheus = "gpumix_gpu_memory_used_bytes",
            .dcgm = "DCGM_FI_DEV_FB_USED", .dcgm_help = "Framebuffer memory used (in MiB).", .dcgm_scale = detail::kMiB},
  MetricDef{.name = "memory_total_bytes", .scope = Scope::gpu, .integer = true, .unit = "bytes",
            .help = "Device memory in total", .counter = detail::DeviceCounter::memory_total_bytes,
            .prometheus = "gpumix_gpu_memory_total_bytes"},
  MetricDef{.name = "memory_free_bytes", .scope = Scope::gpu, .integer = true, .unit = "bytes",
            .help = "Device memory free to allocate", .counter = detail::DeviceCounter::memory_free_bytes,
            .prometheus = "gpumix_gpu_memory_free_bytes",
            .dcgm = "DCGM_FI_DEV_FB_FREE", .dcgm_help = "Framebuffer memory free (in MiB).", .dcgm_scale = detail::kMiB},
  MetricDef{.name = "memory_reserved_bytes", .scope = Scope::gpu, .integer = true, .unit = "bytes",
            .help = "Device memory the driver reserves", .counter = detail::DeviceCounter::memory_reserved_bytes,
            .prometheus = "gpumix_gpu_memory_reserved_bytes",
            .dcgm = "DCGM_FI_DEV_FB_RESERVED", .dcgm_help = "Framebuffer memory reserved (in MiB).",
            .dcgm_scale = detail::kMiB},
  MetricDef{.name = "sm_clock_mhz", .scope = Scope::gpu, .integer = true, .unit = "MHz",
            .help = "SM clock in hertz", .counter = detail::DeviceCounter::sm_clock_mhz, .column = "sm_mhz",
            .prometheus = "gpumix_gpu_sm_clock_hertz", .prometheus_scale = 1e6,
            .dcgm = "DCGM_FI_DEV_SM_CLOCK", .dcgm_help = "SM clock frequency (in MHz)."},
  MetricDef{.name = "memory_clock_mhz", .scope = Scope::gpu, .integer = true, .unit = "MHz",
            .help = "Memory clock in hertz", .counter = detail::DeviceCounter::memory_clock_mhz, .column = "mem_mhz",
            .prometheus = "gpumix_gpu_memory_clock_hertz", .prometheus_scale = 1e6,
            .dcgm = "DCGM_FI_DEV_MEM_CLOCK", .dcgm_help = "Memory clock frequency (in MHz)."},
  MetricDef{.name = "power_watts", .scope = Scope::gpu, .integer = false, .unit = "W",
            .help = "Power draw in watts", .counter = detail::DeviceCounter::power_watts, .column = "power_w",
            .decimals = 1, .prometheus = "gpumix_gpu_power_watts",
            .dcgm = "DCGM_FI_DEV_POWER_USAGE", .dcgm_help = "Power draw (in W)."},
  MetricDef{.name = "energy_mj", .scope = Scope::gpu, .integer = true, .unit = "mJ",
            .help = "Energy used since the driver was loaded, in joules", .counter = detail::DeviceCounter::energy_mj,
            .prometheus = "gpumix_gpu_energy_joules_total", .prometheus_type = "counter", .prometheus_scale = 1e-3,
            .dcgm = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
            .dcgm_help = "Total energy consumption since boot (in mJ).", .dcgm_type = "counter"},
  MetricDef{.name = "temperature_c", .scope = Scope::gpu, .integer = true, .unit = "C",
            .help = "GPU die temperature in degrees Celsius", .counter = detail::DeviceCounter::temperature_c,
            .column = "temp_c", .prometheus = "gpumix_gpu_temperature_celsius",
            .dcgm = "DCGM_FI_DEV_GPU_TEMP", .dcgm_help = "GPU temperature (in C)."},
  MetricDef{.name = "clock_event_reasons", .scope = Scope::gpu, .integer = true, .unit = "bitmask",
            .help = "Bit mask of the reasons the clocks are below their maximum (nvmlClocksEventReason*)",
            .counter = detail::DeviceCounter::clock_event_reasons, .column = "clock_events",
            .prometheus = "gpumix_gpu_clock_event_reasons",
            .dcgm = "DCGM_FI_DEV_CLOCKS_EVENT_REASONS",
            .dcgm_help = "Current clock event reasons (bitmask of DCGM_CLOCKS_EVENT_REASON_*)."},

  // --- GPM (Hopper and later), per GPU or MIG GPU instance
  MetricDef{.name = "sm_util_percent", .scope = Scope::gpm, .integer = false, .unit = "percent",
            .help = "Percent of SMs busy (GPM, per GPU or MIG GPU instance)",
            .gpm_id = detail::NVML_GPM_METRIC_SM_UTIL, .column = "sm_act%", .decimals = 1,
            .prometheus = "gpumix_gpm_sm_utilization_percent",
            .dcgm = "DCGM_FI_PROF_SM_ACTIVE", .dcgm_help = "The ratio of cycles an SM has at least 1 warp assigned.",
            .dcgm_scale = detail::kRatio, .activity = "gpm_sm", .chart = "GPM SM activity"},
  MetricDef{.name = "sm_occupancy_percent", .scope = Scope::gpm, .integer = false, .unit = "percent",
            .help = "Active warps as a percent of the maximum (GPM)",
            .gpm_id = detail::NVML_GPM_METRIC_SM_OCCUPANCY, .column = "sm_occ%", .decimals = 1,
            .prometheus = "gpumix_gpm_sm_occupancy_percent",
            .dcgm = "DCGM_FI_PROF_SM_OCCUPANCY", .dcgm_help = "The ratio of number of warps resident on an SM.",
            .dcgm_scale = detail::kRatio},
  MetricDef{.name = "tensor_util_percent", .scope = Scope::gpm, .integer = false, .unit = "percent",
            .help = "Percent of time any tensor pipe was active (GPM)",
            .gpm_id = detail::NVML_GPM_METRIC_ANY_TENSOR_UTIL, .column = "tensor%", .decimals = 1,
            .prometheus = "gpumix_gpm_tensor_active_percent",
            .dcgm = "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", .dcgm_help = "Ratio of cycles the tensor (HMMA) pipe is active.",
            .dcgm_scale = detail::kRatio, .activity = "gpm_tensor", .chart = "GPM tensor activity"},
  MetricDef{.name = "dram_bw_util_percent", .scope = Scope::gpm, .integer = false, .unit = "percent",
            .help = "DRAM bandwidth used as a percent of the maximum (GPM)",
            .gpm_id = detail::NVML_GPM_METRIC_DRAM_BW_UTIL, .column = "dram%", .decimals = 1,
            .prometheus = "gpumix_gpm_dram_bandwidth_utilization_percent",
            .dcgm = "DCGM_FI_PROF_DRAM_ACTIVE",
            .dcgm_help = "Ratio of cycles the device memory interface is active sending or receiving data.",
            .dcgm_scale = detail::kRatio, .activity = "gpm_dram", .chart = "GPM DRAM bandwidth"},
  MetricDef{.name = "fp16_util_percent", .scope = Scope::gpm, .integer = false, .unit = "percent",
            .help = "Percent of time the SMs were doing non-tensor FP16 math (GPM)",
            .gpm_id = detail::NVML_GPM_METRIC_FP16_UTIL, .column = "fp16%", .decimals = 1,
            .prometheus = "gpumix_gpm_fp16_active_percent",
            .dcgm = "DCGM_FI_PROF_PIPE_FP16_ACTIVE", .dcgm_help = "Ratio of cycles the fp16 pipes are active.",
            .dcgm_scale = detail::kRatio, .activity = "gpm_fp16", .chart = "GPM FP16 pipe"},
  MetricDef{.name = "fp32_util_percent", .scope = Scope::gpm, .integer = false, .unit = "percent",
            .help = "Percent of time the SMs were doing non-tensor FP32 math (GPM)",
            .gpm_id = detail::NVML_GPM_METRIC_FP32_UTIL, .column = "fp32%", .decimals = 1,
            .prometheus = "gpumix_gpm_fp32_active_percent",
            .dcgm = "DCGM_FI_PROF_PIPE_FP32_ACTIVE", .dcgm_help = "Ratio of cycles the fp32 pipes are active.",
            .dcgm_scale = detail::kRatio, .activity = "gpm_fp32", .chart = "GPM FP32 pipe"},

  // --- one process (nvmlDeviceGet*ComputeRunningProcesses_v3, nvmlDeviceGetProcessUtilization)
  MetricDef{.name = "used_memory_bytes", .scope = Scope::process, .integer = true, .unit = "bytes",
            .help = "Device memory the process uses", .prometheus = "gpumix_process_gpu_memory_used_bytes"},
  MetricDef{.name = "sm_util_percent", .scope = Scope::process, .integer = true, .unit = "percent",
            .help = "The process's SM utilization (NVML's latest sample)",
            .prometheus = "gpumix_process_sm_utilization_percent"},
  MetricDef{.name = "memory_util_percent", .scope = Scope::process, .integer = true, .unit = "percent",
            .help = "The process's memory utilization (NVML's latest sample)",
            .prometheus = "gpumix_process_memory_utilization_percent"},
};
// clang-format on

inline constexpr size_t kMetricCount = kMetrics.size();

// A metric's place in kMetrics.
struct MetricId {
  size_t index;
  constexpr const MetricDef& def() const { return kMetrics[index]; }
};

// The metric `name` of `scope`; a name that is not in the table does not compile.
consteval MetricId metric(Scope scope, std::string_view name) {
  for (size_t i = 0; i < kMetrics.size(); ++i)
    if (kMetrics[i].scope == scope && kMetrics[i].name == name) return MetricId{i};
  throw "no such metric in kMetrics";
}

// The metrics the code refers to by name.
namespace metrics {
inline constexpr MetricId gpu_util = metric(Scope::gpu, "gpu_util_percent");
inline constexpr MetricId memory_used = metric(Scope::gpu, "memory_used_bytes");
inline constexpr MetricId memory_total = metric(Scope::gpu, "memory_total_bytes");
inline constexpr MetricId power = metric(Scope::gpu, "power_watts");
inline constexpr MetricId energy = metric(Scope::gpu, "energy_mj");
inline constexpr MetricId clock_event_reasons = metric(Scope::gpu, "clock_event_reasons");
inline constexpr MetricId gpm_sm = metric(Scope::gpm, "sm_util_percent");
inline constexpr MetricId process_memory = metric(Scope::process, "used_memory_bytes");
inline constexpr MetricId process_sm = metric(Scope::process, "sm_util_percent");
inline constexpr MetricId process_memory_util = metric(Scope::process, "memory_util_percent");
}  // namespace metrics

// One row's figures, by metric; a figure not read is empty. Only the
// metrics of the row's scope are ever set.
class Values {
 public:
  std::optional<double>& operator[](MetricId m) { return v_[m.index]; }
  const std::optional<double>& operator[](MetricId m) const { return v_[m.index]; }
  bool operator==(const Values&) const = default;

 private:
  std::array<std::optional<double>, kMetricCount> v_{};
};

// The indices of kMetrics of one scope, in table order.
template <Scope S>
constexpr auto metrics_of() {
  constexpr size_t n = [] {
    size_t k = 0;
    for (const auto& m : kMetrics) k += m.scope == S;
    return k;
  }();
  std::array<MetricId, n> out{};
  size_t k = 0;
  for (size_t i = 0; i < kMetrics.size(); ++i)
    if (kMetrics[i].scope == S) out[k++] = MetricId{i};
  return out;
}

}  // namespace gpumix::telemetry
