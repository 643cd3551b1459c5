// Compile-time check of gpumix's own NVML declaration (src/gpumix/gpu/nvml_abi.hpp)
// against NVIDIA's nvml.h: every constant, enum value, struct size and field
// offset gpumix relies on must match, or this file does not compile. Built
// where a CUDA toolkit provides nvml.h (tests/gpu/nvml_abi_check.sh, run by
// bench/gpu_session.sh on the GPU machine):
//   g++ -std=c++17 -fsyntax-only -I src -I /usr/local/cuda/include tests/gpu/nvml_abi_check.cpp
// Ours is included first: NVML's macros must not rewrite its declarations.
#include "gpumix/gpu/nvml_abi.hpp"

#define NVML_NO_UNVERSIONED_FUNC_DEFS
#include <nvml.h>

#include <cstddef>
#include <type_traits>

namespace ours = gpumix::gpu::nvml_abi;

#define SAME_VALUE(ours_name, theirs) static_assert(static_cast<long long>(ours::ours_name) == static_cast<long long>(theirs), #ours_name)
#define SAME_ENUM(name) SAME_VALUE(name, ::name)
#define SAME_SIZE(type) static_assert(sizeof(ours::type) == sizeof(::type), "sizeof " #type)
#define SAME_FIELD(type, field)                                                                        \
  static_assert(offsetof(ours::type, field) == offsetof(::type, field), "offset of " #type "::" #field); \
  static_assert(sizeof(ours::type::field) == sizeof(::type::field), "size of " #type "::" #field)

// Enumerations.
SAME_ENUM(NVML_SUCCESS);
SAME_ENUM(NVML_ERROR_UNINITIALIZED);
SAME_ENUM(NVML_ERROR_INVALID_ARGUMENT);
SAME_ENUM(NVML_ERROR_NOT_SUPPORTED);
SAME_ENUM(NVML_ERROR_NO_PERMISSION);
SAME_ENUM(NVML_ERROR_ALREADY_INITIALIZED);
SAME_ENUM(NVML_ERROR_NOT_FOUND);
SAME_ENUM(NVML_ERROR_INSUFFICIENT_SIZE);
SAME_ENUM(NVML_ERROR_INSUFFICIENT_POWER);
SAME_ENUM(NVML_ERROR_DRIVER_NOT_LOADED);
SAME_ENUM(NVML_ERROR_TIMEOUT);
SAME_ENUM(NVML_ERROR_IRQ_ISSUE);
SAME_ENUM(NVML_ERROR_LIBRARY_NOT_FOUND);
SAME_ENUM(NVML_ERROR_FUNCTION_NOT_FOUND);
SAME_ENUM(NVML_ERROR_CORRUPTED_INFOROM);
SAME_ENUM(NVML_ERROR_GPU_IS_LOST);
SAME_ENUM(NVML_ERROR_RESET_REQUIRED);
SAME_ENUM(NVML_ERROR_OPERATING_SYSTEM);
SAME_ENUM(NVML_ERROR_LIB_RM_VERSION_MISMATCH);
SAME_ENUM(NVML_ERROR_IN_USE);
SAME_ENUM(NVML_ERROR_MEMORY);
SAME_ENUM(NVML_ERROR_NO_DATA);
SAME_ENUM(NVML_ERROR_VGPU_ECC_NOT_SUPPORTED);
SAME_ENUM(NVML_ERROR_INSUFFICIENT_RESOURCES);
SAME_ENUM(NVML_ERROR_FREQ_NOT_SUPPORTED);
SAME_ENUM(NVML_ERROR_ARGUMENT_VERSION_MISMATCH);
SAME_ENUM(NVML_ERROR_DEPRECATED);
SAME_ENUM(NVML_ERROR_NOT_READY);
SAME_ENUM(NVML_ERROR_GPU_NOT_FOUND);
SAME_ENUM(NVML_ERROR_INVALID_STATE);
SAME_ENUM(NVML_ERROR_UNKNOWN);
SAME_ENUM(NVML_FEATURE_DISABLED);
SAME_ENUM(NVML_FEATURE_ENABLED);
SAME_ENUM(NVML_CLOCK_GRAPHICS);
SAME_ENUM(NVML_CLOCK_SM);
SAME_ENUM(NVML_CLOCK_MEM);
SAME_ENUM(NVML_CLOCK_VIDEO);
SAME_ENUM(NVML_TEMPERATURE_GPU);
SAME_ENUM(NVML_COMPUTEMODE_DEFAULT);
SAME_ENUM(NVML_COMPUTEMODE_EXCLUSIVE_THREAD);
SAME_ENUM(NVML_COMPUTEMODE_PROHIBITED);
SAME_ENUM(NVML_COMPUTEMODE_EXCLUSIVE_PROCESS);
SAME_ENUM(NVML_GPM_METRIC_SM_UTIL);
SAME_ENUM(NVML_GPM_METRIC_SM_OCCUPANCY);
SAME_ENUM(NVML_GPM_METRIC_ANY_TENSOR_UTIL);
SAME_ENUM(NVML_GPM_METRIC_DRAM_BW_UTIL);
SAME_ENUM(NVML_GPM_METRIC_FP32_UTIL);
SAME_ENUM(NVML_GPM_METRIC_FP16_UTIL);
static_assert(sizeof(ours::nvmlReturn_t) == sizeof(::nvmlReturn_t));
static_assert(sizeof(ours::nvmlEnableState_t) == sizeof(::nvmlEnableState_t));
static_assert(sizeof(ours::nvmlClockType_t) == sizeof(::nvmlClockType_t));
static_assert(sizeof(ours::nvmlComputeMode_t) == sizeof(::nvmlComputeMode_t));
static_assert(sizeof(ours::nvmlTemperatureSensors_t) == sizeof(::nvmlTemperatureSensors_t));

// Macros.
SAME_VALUE(kDevicePciBusIdBufferSize, NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE);
SAME_VALUE(kDevicePciBusIdBufferV2Size, NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE);
SAME_VALUE(kDeviceUuidV2BufferSize, NVML_DEVICE_UUID_V2_BUFFER_SIZE);
SAME_VALUE(kDeviceNameV2BufferSize, NVML_DEVICE_NAME_V2_BUFFER_SIZE);
SAME_VALUE(kSystemDriverVersionBufferSize, NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE);
SAME_VALUE(kDeviceMigEnable, NVML_DEVICE_MIG_ENABLE);
static_assert(ours::kValueNotAvailable == static_cast<unsigned long long>(NVML_VALUE_NOT_AVAILABLE));
SAME_VALUE(kGpmSupportVersion, NVML_GPM_SUPPORT_VERSION);
SAME_VALUE(kGpmMetricsGetVersion, NVML_GPM_METRICS_GET_VERSION);
SAME_VALUE(kEventTypeSingleBitEccError, nvmlEventTypeSingleBitEccError);
SAME_VALUE(kEventTypeDoubleBitEccError, nvmlEventTypeDoubleBitEccError);
SAME_VALUE(kEventTypePState, nvmlEventTypePState);
SAME_VALUE(kEventTypeXidCriticalError, nvmlEventTypeXidCriticalError);
SAME_VALUE(kEventTypeClock, nvmlEventTypeClock);
SAME_VALUE(kEventTypePowerSourceChange, nvmlEventTypePowerSourceChange);
SAME_VALUE(kEventMigConfigChange, nvmlEventMigConfigChange);
SAME_VALUE(kMemoryV2Version, nvmlMemory_v2);
SAME_VALUE(kTemperatureV1Version, nvmlTemperature_v1);
// Ours must hold at least what NVML reads (numMetrics ≤ its NVML_GPM_METRIC_MAX).
static_assert(ours::kGpmMetricMax >= 4);

// Structs: sizes and every field gpumix reads or writes.
SAME_SIZE(nvmlPciInfo_t);
SAME_FIELD(nvmlPciInfo_t, busIdLegacy);
SAME_FIELD(nvmlPciInfo_t, domain);
SAME_FIELD(nvmlPciInfo_t, bus);
SAME_FIELD(nvmlPciInfo_t, device);
SAME_FIELD(nvmlPciInfo_t, pciDeviceId);
SAME_FIELD(nvmlPciInfo_t, pciSubSystemId);
SAME_FIELD(nvmlPciInfo_t, busId);
SAME_SIZE(nvmlUtilization_t);
SAME_FIELD(nvmlUtilization_t, gpu);
SAME_FIELD(nvmlUtilization_t, memory);
SAME_SIZE(nvmlMemory_t);
SAME_FIELD(nvmlMemory_t, total);
SAME_FIELD(nvmlMemory_t, free);
SAME_FIELD(nvmlMemory_t, used);
SAME_SIZE(nvmlMemory_v2_t);
SAME_FIELD(nvmlMemory_v2_t, version);
SAME_FIELD(nvmlMemory_v2_t, total);
SAME_FIELD(nvmlMemory_v2_t, reserved);
SAME_FIELD(nvmlMemory_v2_t, free);
SAME_FIELD(nvmlMemory_v2_t, used);
SAME_SIZE(nvmlProcessInfo_t);
SAME_FIELD(nvmlProcessInfo_t, pid);
SAME_FIELD(nvmlProcessInfo_t, usedGpuMemory);
SAME_FIELD(nvmlProcessInfo_t, gpuInstanceId);
SAME_FIELD(nvmlProcessInfo_t, computeInstanceId);
SAME_SIZE(nvmlDeviceAttributes_t);
SAME_FIELD(nvmlDeviceAttributes_t, multiprocessorCount);
SAME_FIELD(nvmlDeviceAttributes_t, gpuInstanceSliceCount);
SAME_FIELD(nvmlDeviceAttributes_t, computeInstanceSliceCount);
SAME_FIELD(nvmlDeviceAttributes_t, memorySizeMB);
SAME_SIZE(nvmlTemperature_t);
SAME_FIELD(nvmlTemperature_t, version);
SAME_FIELD(nvmlTemperature_t, sensorType);
SAME_FIELD(nvmlTemperature_t, temperature);
SAME_SIZE(nvmlProcessUtilizationSample_t);
SAME_FIELD(nvmlProcessUtilizationSample_t, pid);
SAME_FIELD(nvmlProcessUtilizationSample_t, timeStamp);
SAME_FIELD(nvmlProcessUtilizationSample_t, smUtil);
SAME_FIELD(nvmlProcessUtilizationSample_t, memUtil);
SAME_FIELD(nvmlProcessUtilizationSample_t, encUtil);
SAME_FIELD(nvmlProcessUtilizationSample_t, decUtil);
SAME_SIZE(nvmlGpmSupport_t);
SAME_FIELD(nvmlGpmSupport_t, version);
SAME_FIELD(nvmlGpmSupport_t, isSupportedDevice);
SAME_SIZE(nvmlGpmMetric_t);
SAME_FIELD(nvmlGpmMetric_t, metricId);
SAME_FIELD(nvmlGpmMetric_t, nvmlReturn);
SAME_FIELD(nvmlGpmMetric_t, value);
SAME_FIELD(nvmlGpmMetric_t, metricInfo);
SAME_FIELD(nvmlGpmMetricsGet_t, version);
SAME_FIELD(nvmlGpmMetricsGet_t, numMetrics);
SAME_FIELD(nvmlGpmMetricsGet_t, sample1);
SAME_FIELD(nvmlGpmMetricsGet_t, sample2);
static_assert(offsetof(ours::nvmlGpmMetricsGet_t, metrics) == offsetof(::nvmlGpmMetricsGet_t, metrics), "metrics");
static_assert(sizeof(ours::nvmlDevice_t) == sizeof(::nvmlDevice_t));
static_assert(sizeof(ours::nvmlGpmSample_t) == sizeof(::nvmlGpmSample_t));
static_assert(sizeof(ours::nvmlEventSet_t) == sizeof(::nvmlEventSet_t));
SAME_SIZE(nvmlEventData_t);
SAME_FIELD(nvmlEventData_t, device);
SAME_FIELD(nvmlEventData_t, eventType);
SAME_FIELD(nvmlEventData_t, eventData);
SAME_FIELD(nvmlEventData_t, gpuInstanceId);
SAME_FIELD(nvmlEventData_t, computeInstanceId);

// Functions: each real declaration must have our signature once our handle
// and struct types are mapped to NVIDIA's (parameter by parameter, by size
// and kind), which is what calling through our pointer types relies on.
template <typename A, typename B>
constexpr bool same_shape() {
  if constexpr (std::is_pointer_v<A> && std::is_pointer_v<B>) return true;  // handles, out-parameters, strings
  else return sizeof(A) == sizeof(B) && std::is_integral_v<A> == std::is_integral_v<B>;
}
template <typename Ours, typename Theirs>
struct SameSignature : std::false_type {};
template <typename R1, typename... A1, typename R2, typename... A2>
struct SameSignature<R1 (*)(A1...), R2 (*)(A2...)> {
  static constexpr bool value = [] {
    if constexpr (sizeof...(A1) != sizeof...(A2)) return false;
    else return same_shape<R1, R2>() && (same_shape<A1, A2>() && ...);
  }();
};
#define SAME_FUNCTION(symbol, type) \
  static_assert(SameSignature<ours::type, decltype(&::symbol)>::value, "signature of " #symbol);
GPUMIX_NVML_FUNCTIONS(SAME_FUNCTION)

int main() { return 0; }
