// The part of NVML's C API that gpumix uses, declared by the project from
// NVIDIA's documented API (NVML API version 13: the nvml.h of CUDA 12.x and
// 13.x), so that every build of gpumix can read a GPU: libnvidia-ml.so.1 is
// loaded at run time (gpu/nvml.cpp) and only its absence is a run-time
// condition. The names are NVML's, inside this namespace, so that each
// declaration can be checked against NVIDIA's header: tests/gpu/nvml_abi_check.cpp
// static_asserts every constant, enum value, struct size and field offset
// against the real nvml.h where a CUDA toolkit is installed (the GPU test
// script builds it). NVML's macros (buffer sizes, struct versions) are
// constants here with a `k` name, as a macro of the same name would clash.
//
// Only the symbols in GPUMIX_NVML_FUNCTIONS (below) are ever resolved, with
// the C signatures declared before it.
#pragma once

#include <cstddef>

namespace gpumix::gpu::nvml_abi {

typedef enum nvmlReturn_enum {
  NVML_SUCCESS = 0,
  NVML_ERROR_UNINITIALIZED = 1,
  NVML_ERROR_INVALID_ARGUMENT = 2,
  NVML_ERROR_NOT_SUPPORTED = 3,
  NVML_ERROR_NO_PERMISSION = 4,
  NVML_ERROR_ALREADY_INITIALIZED = 5,
  NVML_ERROR_NOT_FOUND = 6,
  NVML_ERROR_INSUFFICIENT_SIZE = 7,
  NVML_ERROR_INSUFFICIENT_POWER = 8,
  NVML_ERROR_DRIVER_NOT_LOADED = 9,
  NVML_ERROR_TIMEOUT = 10,
  NVML_ERROR_IRQ_ISSUE = 11,
  NVML_ERROR_LIBRARY_NOT_FOUND = 12,
  NVML_ERROR_FUNCTION_NOT_FOUND = 13,
  NVML_ERROR_CORRUPTED_INFOROM = 14,
  NVML_ERROR_GPU_IS_LOST = 15,
  NVML_ERROR_RESET_REQUIRED = 16,
  NVML_ERROR_OPERATING_SYSTEM = 17,
  NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18,
  NVML_ERROR_IN_USE = 19,
  NVML_ERROR_MEMORY = 20,
  NVML_ERROR_NO_DATA = 21,
  NVML_ERROR_VGPU_ECC_NOT_SUPPORTED = 22,
  NVML_ERROR_INSUFFICIENT_RESOURCES = 23,
  NVML_ERROR_FREQ_NOT_SUPPORTED = 24,
  NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
  NVML_ERROR_DEPRECATED = 26,
  NVML_ERROR_NOT_READY = 27,
  NVML_ERROR_GPU_NOT_FOUND = 28,
  NVML_ERROR_INVALID_STATE = 29,
  NVML_ERROR_UNKNOWN = 999
} nvmlReturn_t;

typedef enum nvmlEnableState_enum { NVML_FEATURE_DISABLED = 0, NVML_FEATURE_ENABLED = 1 } nvmlEnableState_t;

typedef enum nvmlClockType_enum {
  NVML_CLOCK_GRAPHICS = 0,
  NVML_CLOCK_SM = 1,
  NVML_CLOCK_MEM = 2,
  NVML_CLOCK_VIDEO = 3
} nvmlClockType_t;

typedef enum nvmlTemperatureSensors_enum { NVML_TEMPERATURE_GPU = 0 } nvmlTemperatureSensors_t;

typedef enum nvmlComputeMode_enum {
  NVML_COMPUTEMODE_DEFAULT = 0,
  NVML_COMPUTEMODE_EXCLUSIVE_THREAD = 1,
  NVML_COMPUTEMODE_PROHIBITED = 2,
  NVML_COMPUTEMODE_EXCLUSIVE_PROCESS = 3
} nvmlComputeMode_t;

// GPM metric ids (nvmlGpmMetricId_t) gpumix reads.
typedef enum nvmlGpmMetricId_enum {
  NVML_GPM_METRIC_SM_UTIL = 2,
  NVML_GPM_METRIC_SM_OCCUPANCY = 3,
  NVML_GPM_METRIC_ANY_TENSOR_UTIL = 5,
  NVML_GPM_METRIC_DRAM_BW_UTIL = 10,
  NVML_GPM_METRIC_FP32_UTIL = 12,
  NVML_GPM_METRIC_FP16_UTIL = 13,
} nvmlGpmMetricId_t;

// Opaque handles.
typedef struct nvmlDevice_st* nvmlDevice_t;
typedef struct nvmlGpmSample_st* nvmlGpmSample_t;
typedef struct nvmlEventSet_st* nvmlEventSet_t;

// NVML's macros.
inline constexpr unsigned kDevicePciBusIdBufferSize = 32;       // NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE
inline constexpr unsigned kDevicePciBusIdBufferV2Size = 16;     // NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE
inline constexpr unsigned kDeviceUuidV2BufferSize = 96;         // NVML_DEVICE_UUID_V2_BUFFER_SIZE
inline constexpr unsigned kDeviceNameV2BufferSize = 96;         // NVML_DEVICE_NAME_V2_BUFFER_SIZE
inline constexpr unsigned kSystemDriverVersionBufferSize = 80;  // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE
inline constexpr unsigned kDeviceMigEnable = 1;                 // NVML_DEVICE_MIG_ENABLE
inline constexpr unsigned long long kValueNotAvailable = static_cast<unsigned long long>(-1);  // NVML_VALUE_NOT_AVAILABLE
inline constexpr unsigned kInstanceIdNone = 0xFFFFFFFFu;  // gpuInstanceId / computeInstanceId without MIG
inline constexpr unsigned kGpmSupportVersion = 1;         // NVML_GPM_SUPPORT_VERSION
inline constexpr unsigned kGpmMetricsGetVersion = 1;      // NVML_GPM_METRICS_GET_VERSION
// The metrics array of nvmlGpmMetricsGet_t: NVML reads numMetrics entries of
// it, so only its start must match; this many is NVML_GPM_METRIC_MAX of API 13.
inline constexpr unsigned kGpmMetricMax = 333;
// Event types (nvmlEventType* bits).
inline constexpr unsigned long long kEventTypeSingleBitEccError = 0x1;  // nvmlEventTypeSingleBitEccError
inline constexpr unsigned long long kEventTypeDoubleBitEccError = 0x2;  // nvmlEventTypeDoubleBitEccError
inline constexpr unsigned long long kEventTypePState = 0x4;             // nvmlEventTypePState
inline constexpr unsigned long long kEventTypeXidCriticalError = 0x8;   // nvmlEventTypeXidCriticalError
inline constexpr unsigned long long kEventTypeClock = 0x10;             // nvmlEventTypeClock
inline constexpr unsigned long long kEventTypePowerSourceChange = 0x80;  // nvmlEventTypePowerSourceChange
inline constexpr unsigned long long kEventMigConfigChange = 0x100;       // nvmlEventMigConfigChange

typedef struct nvmlPciInfo_st {
  char busIdLegacy[kDevicePciBusIdBufferV2Size];
  unsigned int domain;
  unsigned int bus;
  unsigned int device;
  unsigned int pciDeviceId;
  unsigned int pciSubSystemId;
  char busId[kDevicePciBusIdBufferSize];
} nvmlPciInfo_t;

typedef struct nvmlUtilization_st {
  unsigned int gpu;
  unsigned int memory;
} nvmlUtilization_t;

typedef struct nvmlMemory_st {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
} nvmlMemory_t;

typedef struct nvmlMemory_v2_st {
  unsigned int version;
  unsigned long long total;
  unsigned long long reserved;
  unsigned long long free;
  unsigned long long used;
} nvmlMemory_v2_t;

typedef struct nvmlProcessInfo_v2_st {
  unsigned int pid;
  unsigned long long usedGpuMemory;
  unsigned int gpuInstanceId;
  unsigned int computeInstanceId;
} nvmlProcessInfo_t;

typedef struct nvmlDeviceAttributes_st {
  unsigned int multiprocessorCount;
  unsigned int sharedCopyEngineCount;
  unsigned int sharedDecoderCount;
  unsigned int sharedEncoderCount;
  unsigned int sharedJpegCount;
  unsigned int sharedOfaCount;
  unsigned int gpuInstanceSliceCount;
  unsigned int computeInstanceSliceCount;
  unsigned long long memorySizeMB;
} nvmlDeviceAttributes_t;

typedef struct {
  unsigned int version;
  nvmlTemperatureSensors_t sensorType;
  int temperature;
} nvmlTemperature_t;

typedef struct nvmlProcessUtilizationSample_st {
  unsigned int pid;
  unsigned long long timeStamp;  // CPU time, microseconds
  unsigned int smUtil;
  unsigned int memUtil;
  unsigned int encUtil;
  unsigned int decUtil;
} nvmlProcessUtilizationSample_t;

typedef struct {
  unsigned int version;
  unsigned int isSupportedDevice;
} nvmlGpmSupport_t;

typedef struct {
  char* shortName;
  char* longName;
  char* unit;
} nvmlGpmMetricMetricInfo_t;

typedef struct {
  unsigned int metricId;
  nvmlReturn_t nvmlReturn;
  double value;
  nvmlGpmMetricMetricInfo_t metricInfo;
} nvmlGpmMetric_t;

typedef struct {
  unsigned int version;
  unsigned int numMetrics;
  nvmlGpmSample_t sample1;
  nvmlGpmSample_t sample2;
  nvmlGpmMetric_t metrics[kGpmMetricMax];
} nvmlGpmMetricsGet_t;

typedef struct nvmlEventData_st {
  nvmlDevice_t device;
  unsigned long long eventType;
  unsigned long long eventData;  // the Xid, for nvmlEventTypeXidCriticalError
  unsigned int gpuInstanceId;    // MIG: where it happened (kInstanceIdNone otherwise)
  unsigned int computeInstanceId;
} nvmlEventData_t;

// NVML_STRUCT_VERSION(data, ver): the struct's size, and its version in the top byte.
template <typename T>
constexpr unsigned struct_version(unsigned version) {
  return static_cast<unsigned>(sizeof(T)) | (version << 24U);
}
inline constexpr unsigned kMemoryV2Version = struct_version<nvmlMemory_v2_t>(2);    // nvmlMemory_v2
inline constexpr unsigned kTemperatureV1Version = struct_version<nvmlTemperature_t>(1);  // nvmlTemperature_v1

// The functions, as the C signatures of the symbols gpumix resolves. The
// older names (nvmlDeviceGetTemperature, nvmlDeviceGetCurrentClocksThrottleReasons)
// are fallbacks for drivers that lack the newer ones.
extern "C" {
using nvmlInit_v2_fn = nvmlReturn_t (*)();
using nvmlShutdown_fn = nvmlReturn_t (*)();
using nvmlErrorString_fn = const char* (*)(nvmlReturn_t);
using nvmlDeviceGetCount_v2_fn = nvmlReturn_t (*)(unsigned int*);
using nvmlDeviceGetHandleByIndex_v2_fn = nvmlReturn_t (*)(unsigned int, nvmlDevice_t*);
using nvmlSystemGetDriverVersion_fn = nvmlReturn_t (*)(char*, unsigned int);
using nvmlSystemGetCudaDriverVersion_v2_fn = nvmlReturn_t (*)(int*);
using nvmlDeviceGetName_fn = nvmlReturn_t (*)(nvmlDevice_t, char*, unsigned int);
using nvmlDeviceGetUUID_fn = nvmlReturn_t (*)(nvmlDevice_t, char*, unsigned int);
using nvmlDeviceGetPciInfo_v3_fn = nvmlReturn_t (*)(nvmlDevice_t, nvmlPciInfo_t*);
using nvmlDeviceGetMemoryInfo_fn = nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_t*);
using nvmlDeviceGetMemoryInfo_v2_fn = nvmlReturn_t (*)(nvmlDevice_t, nvmlMemory_v2_t*);
using nvmlDeviceGetMigMode_fn = nvmlReturn_t (*)(nvmlDevice_t, unsigned int* current, unsigned int* pending);
using nvmlDeviceGetComputeMode_fn = nvmlReturn_t (*)(nvmlDevice_t, nvmlComputeMode_t*);
using nvmlDeviceGetEccMode_fn = nvmlReturn_t (*)(nvmlDevice_t, nvmlEnableState_t* current, nvmlEnableState_t* pending);
using nvmlDeviceGetPersistenceMode_fn = nvmlReturn_t (*)(nvmlDevice_t, nvmlEnableState_t*);
// nvmlDeviceGetComputeRunningProcesses_v3 and nvmlDeviceGetMPSComputeRunningProcesses_v3.
using nvmlProcessList_fn = nvmlReturn_t (*)(nvmlDevice_t, unsigned int* count, nvmlProcessInfo_t*);
using nvmlDeviceGetMaxMigDeviceCount_fn = nvmlReturn_t (*)(nvmlDevice_t, unsigned int*);
using nvmlDeviceGetMigDeviceHandleByIndex_fn = nvmlReturn_t (*)(nvmlDevice_t, unsigned int, nvmlDevice_t*);
// nvmlDeviceGetGpuInstanceId and nvmlDeviceGetComputeInstanceId.
using nvmlDeviceGetInstanceId_fn = nvmlReturn_t (*)(nvmlDevice_t, unsigned int*);
using nvmlDeviceGetAttributes_v2_fn = nvmlReturn_t (*)(nvmlDevice_t, nvmlDeviceAttributes_t*);
using nvmlDeviceGetUtilizationRates_fn = nvmlReturn_t (*)(nvmlDevice_t, nvmlUtilization_t*);
using nvmlDeviceGetClockInfo_fn = nvmlReturn_t (*)(nvmlDevice_t, nvmlClockType_t, unsigned int*);
using nvmlDeviceGetPowerUsage_fn = nvmlReturn_t (*)(nvmlDevice_t, unsigned int* milliwatts);
using nvmlDeviceGetTotalEnergyConsumption_fn = nvmlReturn_t (*)(nvmlDevice_t, unsigned long long* millijoules);
using nvmlDeviceGetTemperatureV_fn = nvmlReturn_t (*)(nvmlDevice_t, nvmlTemperature_t*);
using nvmlDeviceGetTemperature_fn = nvmlReturn_t (*)(nvmlDevice_t, nvmlTemperatureSensors_t, unsigned int*);
// nvmlDeviceGetCurrentClocksEventReasons and nvmlDeviceGetCurrentClocksThrottleReasons.
using nvmlDeviceGetClocksReasons_fn = nvmlReturn_t (*)(nvmlDevice_t, unsigned long long*);
using nvmlDeviceGetProcessUtilization_fn = nvmlReturn_t (*)(nvmlDevice_t, nvmlProcessUtilizationSample_t*,
                                                            unsigned int* count, unsigned long long since_us);
using nvmlGpmQueryDeviceSupport_fn = nvmlReturn_t (*)(nvmlDevice_t, nvmlGpmSupport_t*);
using nvmlGpmSampleAlloc_fn = nvmlReturn_t (*)(nvmlGpmSample_t*);
using nvmlGpmSampleFree_fn = nvmlReturn_t (*)(nvmlGpmSample_t);
using nvmlGpmSampleGet_fn = nvmlReturn_t (*)(nvmlDevice_t, nvmlGpmSample_t);
using nvmlGpmMigSampleGet_fn = nvmlReturn_t (*)(nvmlDevice_t, unsigned int gpu_instance_id, nvmlGpmSample_t);
using nvmlGpmMetricsGet_fn = nvmlReturn_t (*)(nvmlGpmMetricsGet_t*);
using nvmlEventSetCreate_fn = nvmlReturn_t (*)(nvmlEventSet_t*);
using nvmlDeviceGetSupportedEventTypes_fn = nvmlReturn_t (*)(nvmlDevice_t, unsigned long long*);
using nvmlDeviceRegisterEvents_fn = nvmlReturn_t (*)(nvmlDevice_t, unsigned long long event_types, nvmlEventSet_t);
using nvmlEventSetWait_v2_fn = nvmlReturn_t (*)(nvmlEventSet_t, nvmlEventData_t*, unsigned int timeout_ms);
using nvmlEventSetFree_fn = nvmlReturn_t (*)(nvmlEventSet_t);
}

// Every symbol gpumix resolves, with its type: X(symbol, type). Missing ones
// stay null and their calls fail with NVML_ERROR_FUNCTION_NOT_FOUND (an older
// driver); the first five are required for Nvml::open() to succeed.
#define GPUMIX_NVML_FUNCTIONS(X)                                                       \
  X(nvmlInit_v2, nvmlInit_v2_fn)                                                       \
  X(nvmlShutdown, nvmlShutdown_fn)                                                     \
  X(nvmlErrorString, nvmlErrorString_fn)                                               \
  X(nvmlDeviceGetCount_v2, nvmlDeviceGetCount_v2_fn)                                   \
  X(nvmlDeviceGetHandleByIndex_v2, nvmlDeviceGetHandleByIndex_v2_fn)                   \
  X(nvmlSystemGetDriverVersion, nvmlSystemGetDriverVersion_fn)                         \
  X(nvmlSystemGetCudaDriverVersion_v2, nvmlSystemGetCudaDriverVersion_v2_fn)           \
  X(nvmlDeviceGetName, nvmlDeviceGetName_fn)                                           \
  X(nvmlDeviceGetUUID, nvmlDeviceGetUUID_fn)                                           \
  X(nvmlDeviceGetPciInfo_v3, nvmlDeviceGetPciInfo_v3_fn)                               \
  X(nvmlDeviceGetMemoryInfo, nvmlDeviceGetMemoryInfo_fn)                               \
  X(nvmlDeviceGetMemoryInfo_v2, nvmlDeviceGetMemoryInfo_v2_fn)                         \
  X(nvmlDeviceGetMigMode, nvmlDeviceGetMigMode_fn)                                     \
  X(nvmlDeviceGetComputeMode, nvmlDeviceGetComputeMode_fn)                             \
  X(nvmlDeviceGetEccMode, nvmlDeviceGetEccMode_fn)                                     \
  X(nvmlDeviceGetPersistenceMode, nvmlDeviceGetPersistenceMode_fn)                     \
  X(nvmlDeviceGetComputeRunningProcesses_v3, nvmlProcessList_fn)                       \
  X(nvmlDeviceGetMPSComputeRunningProcesses_v3, nvmlProcessList_fn)                    \
  X(nvmlDeviceGetMaxMigDeviceCount, nvmlDeviceGetMaxMigDeviceCount_fn)                 \
  X(nvmlDeviceGetMigDeviceHandleByIndex, nvmlDeviceGetMigDeviceHandleByIndex_fn)       \
  X(nvmlDeviceGetGpuInstanceId, nvmlDeviceGetInstanceId_fn)                            \
  X(nvmlDeviceGetComputeInstanceId, nvmlDeviceGetInstanceId_fn)                        \
  X(nvmlDeviceGetAttributes_v2, nvmlDeviceGetAttributes_v2_fn)                         \
  X(nvmlDeviceGetUtilizationRates, nvmlDeviceGetUtilizationRates_fn)                   \
  X(nvmlDeviceGetClockInfo, nvmlDeviceGetClockInfo_fn)                                 \
  X(nvmlDeviceGetPowerUsage, nvmlDeviceGetPowerUsage_fn)                               \
  X(nvmlDeviceGetTotalEnergyConsumption, nvmlDeviceGetTotalEnergyConsumption_fn)       \
  X(nvmlDeviceGetTemperatureV, nvmlDeviceGetTemperatureV_fn)                           \
  X(nvmlDeviceGetTemperature, nvmlDeviceGetTemperature_fn)                             \
  X(nvmlDeviceGetCurrentClocksEventReasons, nvmlDeviceGetClocksReasons_fn)             \
  X(nvmlDeviceGetCurrentClocksThrottleReasons, nvmlDeviceGetClocksReasons_fn)          \
  X(nvmlDeviceGetProcessUtilization, nvmlDeviceGetProcessUtilization_fn)               \
  X(nvmlGpmQueryDeviceSupport, nvmlGpmQueryDeviceSupport_fn)                           \
  X(nvmlGpmSampleAlloc, nvmlGpmSampleAlloc_fn)                                         \
  X(nvmlGpmSampleFree, nvmlGpmSampleFree_fn)                                           \
  X(nvmlGpmSampleGet, nvmlGpmSampleGet_fn)                                             \
  X(nvmlGpmMigSampleGet, nvmlGpmMigSampleGet_fn)                                       \
  X(nvmlGpmMetricsGet, nvmlGpmMetricsGet_fn)                                           \
  X(nvmlEventSetCreate, nvmlEventSetCreate_fn)                                         \
  X(nvmlDeviceGetSupportedEventTypes, nvmlDeviceGetSupportedEventTypes_fn)             \
  X(nvmlDeviceRegisterEvents, nvmlDeviceRegisterEvents_fn)                             \
  X(nvmlEventSetWait_v2, nvmlEventSetWait_v2_fn)                                       \
  X(nvmlEventSetFree, nvmlEventSetFree_fn)

}  // namespace gpumix::gpu::nvml_abi
