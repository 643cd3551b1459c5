// A fake NVIDIA driver library for tests: libgpumix-fake-nvml.so exports
// every symbol in GPUMIX_NVML_FUNCTIONS with NVML's C signatures, so that
// gpumix's real NVML code (gpu/nvml.cpp, loaded through GPUMIX_NVML_LIBRARY)
// runs on machines without a GPU. The GPUs it shows are scripted by a JSON
// file named by $GPUMIX_FAKE_NVML_STATE, read by nvmlInit_v2 (when NVML is
// not initialized yet). Every function checks its arguments and answers as
// NVIDIA's documentation says (null pointers, small buffers, unknown handles,
// MIG slots, struct versions), so that gpumix meets real drivers' answers.
//
// The state (every key optional; tests/fake_nvml/README.md has an example):
//   driver_version        "580.95.05"
//   cuda_driver_version   13000 (NVML's form: 1000 × major + 10 × minor)
//   init_error            "DRIVER_NOT_LOADED": nvmlInit_v2 fails with NVML_ERROR_<it>
//   errors                {"nvmlDeviceGetPowerUsage": "GPU_IS_LOST", ...}: the function
//                         fails with NVML_ERROR_<it> on every device (before any other check)
//   insufficient_size_first  true: the first call with a buffer of each process
//                         list (compute, MPS) and of the process utilization, per
//                         device, fails with INSUFFICIENT_SIZE and a needed count
//                         one above the buffer, as when a process starts between
//                         a caller's calls
//   gpus: [ {
//     name, uuid, pci_bus_id ("00000000:19:00.0")
//     memory_total, memory_used, memory_reserved   bytes
//     compute_mode        "Default", "Exclusive_Thread", "Prohibited", "Exclusive_Process"
//     ecc, persistence    true/false; absent: NOT_SUPPORTED
//     sm_count            for nvmlDeviceGetAttributes_v2 (absent: NOT_SUPPORTED)
//     utilization         {"gpu": 87, "memory": 40}
//     clocks              {"sm": 1980, "memory": 3201, "graphics": ..., "video": ...} MHz
//     power_mw            350000; the energy counter then reads
//     energy_start_mj     + power_mw × seconds since nvmlInit_v2 (mW × s = mJ)
//     temperature_c       45
//     clock_event_reasons 5 (nvmlClocksEventReason* bits; both reasons functions)
//     gpm                 {"sm_util", "sm_occupancy", "any_tensor_util", "dram_bw_util", "fp16_util", "fp32_util"}
//                         percent; present: GPM supported, a metric left out is
//                         NOT_SUPPORTED in its nvmlReturn
//     processes, mps_processes  [{"pid", "used_memory" (absent: NVML_VALUE_NOT_AVAILABLE),
//                         "gpu_instance_id", "compute_instance_id"}]; instead of "pid",
//                         "pid_file": every pid listed in that file at the time of
//                         the call (a test's workloads write theirs there)
//     process_utilization [{"pid" or "pid_file", "sm", "memory", "enc", "dec"}]: samples stamped with
//                         the start of the current 100 ms period (Unix µs), so a
//                         caller's since-timestamp filter sees each period once
//     mig                 absent: the GPU cannot do MIG (NOT_SUPPORTED); else
//                         {"enabled": true, "max_devices": 7, "instances": [{
//                           "slot" (index for nvmlDeviceGetMigDeviceHandleByIndex;
//                           default: its position), name ("NVIDIA H200 MIG 1g.18gb"),
//                           uuid, gpu_instance_id, compute_instance_id, memory_total,
//                           memory_used, sm_count, gpm, processes, mps_processes, errors}]}
//                         With MIG on, utilization and process utilization are
//                         NOT_SUPPORTED (as on real GPUs); the GPU's process lists
//                         also list the instances' processes.
//     supported_events    nvmlEventType* mask (default: Xid and P-state, and ECC when "ecc")
//     events_file         a file of JSON lines {"type": 8, "data": 31, "gpu_instance_id",
//                         "compute_instance_id"}: each line appended after the GPU is
//                         registered is one event for nvmlEventSetWait_v2
//     errors              as the top-level one, for this GPU's handle only
//   } ]
// A state that cannot be read, or an `errors` entry naming an unknown
// function or error, makes nvmlInit_v2 fail with NVML_ERROR_UNKNOWN and says
// why on stderr: a typo in a test must not go unnoticed.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "gpumix/gpu/nvml_abi.hpp"

using namespace gpumix::gpu::nvml_abi;
using nlohmann::json;

// The real types behind NVML's opaque handles (declared in nvml_abi's namespace).
namespace gpumix::gpu::nvml_abi {
struct nvmlDevice_st {
  bool is_mig = false;
  nvmlDevice_st* parent = nullptr;  // MIG devices
  json state;                       // this GPU's or MIG instance's object
  std::map<std::string, nvmlReturn_t> errors;
  std::vector<std::unique_ptr<nvmlDevice_st>> migs;  // GPUs with MIG on
  unsigned slot = 0;                                 // MIG devices
  std::set<std::string> listed_once;                 // list queries called with a buffer
};

struct nvmlGpmSample_st {
  const nvmlDevice_st* device = nullptr;  // null until taken
  std::optional<unsigned> gpu_instance_id;
  uint64_t sequence = 0;
};

struct nvmlEventSet_st {
  struct Watch {
    nvmlDevice_st* device;
    unsigned long long mask;
    size_t seen;  // lines of its events_file already read
  };
  std::vector<Watch> watches;
};
}  // namespace gpumix::gpu::nvml_abi

namespace {

const std::map<std::string, nvmlReturn_t>& error_codes() {
  static const std::map<std::string, nvmlReturn_t> codes = {
      {"UNINITIALIZED", NVML_ERROR_UNINITIALIZED},
      {"INVALID_ARGUMENT", NVML_ERROR_INVALID_ARGUMENT},
      {"NOT_SUPPORTED", NVML_ERROR_NOT_SUPPORTED},
      {"NO_PERMISSION", NVML_ERROR_NO_PERMISSION},
      {"NOT_FOUND", NVML_ERROR_NOT_FOUND},
      {"INSUFFICIENT_SIZE", NVML_ERROR_INSUFFICIENT_SIZE},
      {"INSUFFICIENT_POWER", NVML_ERROR_INSUFFICIENT_POWER},
      {"DRIVER_NOT_LOADED", NVML_ERROR_DRIVER_NOT_LOADED},
      {"TIMEOUT", NVML_ERROR_TIMEOUT},
      {"IRQ_ISSUE", NVML_ERROR_IRQ_ISSUE},
      {"LIBRARY_NOT_FOUND", NVML_ERROR_LIBRARY_NOT_FOUND},
      {"FUNCTION_NOT_FOUND", NVML_ERROR_FUNCTION_NOT_FOUND},
      {"CORRUPTED_INFOROM", NVML_ERROR_CORRUPTED_INFOROM},
      {"GPU_IS_LOST", NVML_ERROR_GPU_IS_LOST},
      {"RESET_REQUIRED", NVML_ERROR_RESET_REQUIRED},
      {"OPERATING_SYSTEM", NVML_ERROR_OPERATING_SYSTEM},
      {"LIB_RM_VERSION_MISMATCH", NVML_ERROR_LIB_RM_VERSION_MISMATCH},
      {"IN_USE", NVML_ERROR_IN_USE},
      {"MEMORY", NVML_ERROR_MEMORY},
      {"NO_DATA", NVML_ERROR_NO_DATA},
      {"INSUFFICIENT_RESOURCES", NVML_ERROR_INSUFFICIENT_RESOURCES},
      {"ARGUMENT_VERSION_MISMATCH", NVML_ERROR_ARGUMENT_VERSION_MISMATCH},
      {"NOT_READY", NVML_ERROR_NOT_READY},
      {"GPU_NOT_FOUND", NVML_ERROR_GPU_NOT_FOUND},
      {"UNKNOWN", NVML_ERROR_UNKNOWN},
  };
  return codes;
}

const std::set<std::string>& function_names() {
  static const std::set<std::string> names = {
#define GPUMIX_FAKE_NAME(name, type) #name,
      GPUMIX_NVML_FUNCTIONS(GPUMIX_FAKE_NAME)
#undef GPUMIX_FAKE_NAME
  };
  return names;
}

struct State {
  std::mutex mutex;
  int init_count = 0;
  json root;
  std::map<std::string, nvmlReturn_t> errors;  // every device
  bool insufficient_size_first = false;
  std::vector<std::unique_ptr<nvmlDevice_st>> gpus;
  std::set<nvmlGpmSample_st*> samples;
  std::set<nvmlEventSet_st*> event_sets;
  uint64_t sample_sequence = 0;
  std::chrono::steady_clock::time_point init_at;
};

State& state() {
  static State s;  // never destroyed before the library's last call
  return s;
}

std::map<std::string, nvmlReturn_t> parse_errors(const json& j) {
  std::map<std::string, nvmlReturn_t> out;
  if (!j.is_object()) return out;
  for (const auto& [function, error] : j.items()) {
    if (!function_names().count(function)) throw std::runtime_error("errors: unknown function " + function);
    auto code = error_codes().find(error.get<std::string>());
    if (code == error_codes().end()) throw std::runtime_error("errors: unknown error " + error.dump());
    out[function] = code->second;
  }
  return out;
}

std::unique_ptr<nvmlDevice_st> make_gpu(const json& j) {
  auto gpu = std::make_unique<nvmlDevice_st>();
  gpu->state = j;
  gpu->errors = parse_errors(j.value("errors", json::object()));
  const json mig = j.value("mig", json());
  if (mig.is_object() && mig.value("enabled", false)) {
    const json instances = mig.value("instances", json::array());
    for (size_t i = 0; i < instances.size(); ++i) {
      auto m = std::make_unique<nvmlDevice_st>();
      m->is_mig = true;
      m->parent = gpu.get();
      m->state = instances[i];
      m->slot = instances[i].value("slot", static_cast<unsigned>(i));
      m->errors = parse_errors(instances[i].value("errors", json::object()));
      gpu->migs.push_back(std::move(m));
    }
  }
  return gpu;
}

// Reads $GPUMIX_FAKE_NVML_STATE into `s`; NVML_SUCCESS or why not.
nvmlReturn_t load(State& s) {
  const char* path = std::getenv("GPUMIX_FAKE_NVML_STATE");
  try {
    json root = json::object();
    if (path && *path) {
      std::ifstream in(path);
      if (!in) throw std::runtime_error(std::string("cannot read ") + path);
      root = json::parse(in);
    }
    if (root.contains("init_error")) {
      auto code = error_codes().find(root["init_error"].get<std::string>());
      if (code == error_codes().end()) throw std::runtime_error("init_error: unknown error " + root["init_error"].dump());
      return code->second;
    }
    s.errors = parse_errors(root.value("errors", json::object()));
    s.insufficient_size_first = root.value("insufficient_size_first", false);
    s.gpus.clear();
    for (const auto& g : root.value("gpus", json::array())) s.gpus.push_back(make_gpu(g));
    s.root = std::move(root);
  } catch (const std::exception& e) {
    std::cerr << "fake NVML: bad state " << (path ? path : "(GPUMIX_FAKE_NVML_STATE unset)") << ": " << e.what() << "\n";
    return NVML_ERROR_UNKNOWN;
  }
  s.init_at = std::chrono::steady_clock::now();
  return NVML_SUCCESS;
}

// Whether `d` is a handle this library gave out.
bool valid(const State& s, const nvmlDevice_st* d) {
  for (const auto& g : s.gpus) {
    if (g.get() == d) return true;
    for (const auto& m : g->migs)
      if (m.get() == d) return true;
  }
  return false;
}

bool mig_on(const nvmlDevice_st* d) {
  const json mig = d->state.value("mig", json());
  return mig.is_object() && mig.value("enabled", false);
}

// The scripted failure of `function`, for `device` when it takes one.
std::optional<nvmlReturn_t> injected(const State& s, const char* function, const nvmlDevice_st* device = nullptr) {
  if (device) {
    if (auto it = device->errors.find(function); it != device->errors.end()) return it->second;
  }
  if (auto it = s.errors.find(function); it != s.errors.end()) return it->second;
  return std::nullopt;
}

// The checks every device function starts with: initialized, a handle of
// ours, no scripted failure.
#define FAKE_DEVICE_CALL(device)                                          \
  State& s = state();                                                     \
  std::lock_guard lock(s.mutex);                                          \
  if (s.init_count == 0) return NVML_ERROR_UNINITIALIZED;                 \
  if (!valid(s, device)) return NVML_ERROR_INVALID_ARGUMENT;              \
  if (auto rc = injected(s, __func__, device)) return *rc;

#define FAKE_SYSTEM_CALL()                                \
  State& s = state();                                     \
  std::lock_guard lock(s.mutex);                          \
  if (s.init_count == 0) return NVML_ERROR_UNINITIALIZED; \
  if (auto rc = injected(s, __func__)) return *rc;

nvmlReturn_t copy_text(const std::string& text, char* out, unsigned length) {
  if (!out) return NVML_ERROR_INVALID_ARGUMENT;
  if (text.size() + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
  std::memcpy(out, text.c_str(), text.size() + 1);
  return NVML_SUCCESS;
}

std::optional<unsigned long long> number(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return j[key].get<unsigned long long>();
}

std::optional<bool> flag(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  return j[key].get<bool>();
}

unsigned instance_id(const json& p, const char* key) { return p.value(key, kInstanceIdNone); }

// The pids of a process entry: its "pid", or those listed in its
// "pid_file" now (none while the file does not exist).
std::vector<unsigned> pids_of(const json& p) {
  if (p.contains("pid")) return {p["pid"].get<unsigned>()};
  std::vector<unsigned> pids;
  std::ifstream in(p.at("pid_file").get<std::string>());
  for (unsigned pid; in >> pid;) pids.push_back(pid);
  return pids;
}

void add_process_infos(std::vector<nvmlProcessInfo_t>& out, const json& p, std::optional<unsigned> gi,
                       std::optional<unsigned> ci) {
  for (unsigned pid : pids_of(p)) {
    nvmlProcessInfo_t info{};
    info.pid = pid;
    info.usedGpuMemory = p.value("used_memory", kValueNotAvailable);
    info.gpuInstanceId = gi.value_or(instance_id(p, "gpu_instance_id"));
    info.computeInstanceId = ci.value_or(instance_id(p, "compute_instance_id"));
    out.push_back(info);
  }
}

// The processes a device lists under `key` ("processes", "mps_processes"):
// a MIG device its own, tagged with its ids; a GPU its own and, with MIG on,
// its instances'.
std::vector<nvmlProcessInfo_t> process_infos(const nvmlDevice_st* d, const char* key) {
  std::vector<nvmlProcessInfo_t> out;
  auto own = [&](const nvmlDevice_st* dev, std::optional<unsigned> gi, std::optional<unsigned> ci) {
    for (const auto& p : dev->state.value(key, json::array())) add_process_infos(out, p, gi, ci);
  };
  auto ids = [](const nvmlDevice_st* m) {
    return std::make_pair(m->state.value("gpu_instance_id", 0u), m->state.value("compute_instance_id", 0u));
  };
  if (d->is_mig) {
    auto [gi, ci] = ids(d);
    own(d, gi, ci);
    return out;
  }
  own(d, std::nullopt, std::nullopt);
  if (mig_on(d))
    for (const auto& m : d->migs) {
      auto [gi, ci] = ids(m.get());
      own(m.get(), gi, ci);
    }
  return out;
}

// Whether this call should answer INSUFFICIENT_SIZE as the first one with a
// buffer of `function` on `d` (insufficient_size_first).
bool first_call_too_small(State& s, nvmlDevice_st* d, const char* function) {
  return s.insufficient_size_first && d->listed_once.insert(function).second;
}

nvmlReturn_t process_list(nvmlDevice_st* d, unsigned* count, nvmlProcessInfo_t* infos, const char* key,
                          const char* function) {
  State& s = state();
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  const auto list = process_infos(d, key);
  if (infos && *count > 0 && first_call_too_small(s, d, function)) {
    *count = std::max(static_cast<unsigned>(list.size()), *count + 1);
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  if (list.size() > *count || (!infos && !list.empty())) {
    *count = static_cast<unsigned>(list.size());
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  *count = static_cast<unsigned>(list.size());
  if (!list.empty()) std::memcpy(infos, list.data(), list.size() * sizeof(nvmlProcessInfo_t));
  return NVML_SUCCESS;
}

// The GPM figures of a GPU or MIG GPU instance: the instance's own, else its GPU's.
json gpm_of(const nvmlGpmSample_st& sample) {
  const nvmlDevice_st* gpu = sample.device;
  if (sample.gpu_instance_id)
    for (const auto& m : gpu->migs)
      if (m->state.value("gpu_instance_id", 0u) == *sample.gpu_instance_id && m->state.contains("gpm"))
        return m->state["gpm"];
  return gpu->state.value("gpm", json::object());
}

const char* metric_name(unsigned id) {
  switch (id) {
    case NVML_GPM_METRIC_SM_UTIL: return "sm_util";
    case NVML_GPM_METRIC_SM_OCCUPANCY: return "sm_occupancy";
    case NVML_GPM_METRIC_ANY_TENSOR_UTIL: return "any_tensor_util";
    case NVML_GPM_METRIC_DRAM_BW_UTIL: return "dram_bw_util";
    case NVML_GPM_METRIC_FP16_UTIL: return "fp16_util";
    case NVML_GPM_METRIC_FP32_UTIL: return "fp32_util";
    default: return nullptr;
  }
}

int64_t unix_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

#define FAKE_EXPORT extern "C" __attribute__((visibility("default")))

FAKE_EXPORT nvmlReturn_t nvmlInit_v2() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  if (s.init_count == 0) {
    if (nvmlReturn_t rc = load(s); rc != NVML_SUCCESS) return rc;
  }
  ++s.init_count;
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlShutdown() {
  State& s = state();
  std::lock_guard lock(s.mutex);
  if (s.init_count == 0) return NVML_ERROR_UNINITIALIZED;
  --s.init_count;
  return NVML_SUCCESS;
}

// NVIDIA's texts (nvmlErrorString of driver 580).
FAKE_EXPORT const char* nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_ALREADY_INITIALIZED: return "Already Initialized";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_INSUFFICIENT_POWER: return "Insufficient External Power";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_TIMEOUT: return "Timeout";
    case NVML_ERROR_IRQ_ISSUE: return "Interrupt request issue";
    case NVML_ERROR_LIBRARY_NOT_FOUND: return "NVML Shared Library Not Found";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    case NVML_ERROR_CORRUPTED_INFOROM: return "Corrupted infoROM";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_RESET_REQUIRED: return "GPU requires restart";
    case NVML_ERROR_OPERATING_SYSTEM: return "The operating system has blocked the request.";
    case NVML_ERROR_LIB_RM_VERSION_MISMATCH: return "RM has detected an NVML/RM version mismatch.";
    case NVML_ERROR_IN_USE: return "In use by another client";
    case NVML_ERROR_MEMORY: return "Insufficient Memory";
    case NVML_ERROR_NO_DATA: return "No data";
    case NVML_ERROR_VGPU_ECC_NOT_SUPPORTED: return "Not supported when ECC is enabled";
    case NVML_ERROR_INSUFFICIENT_RESOURCES: return "Insufficient resources available";
    case NVML_ERROR_FREQ_NOT_SUPPORTED: return "Frequency not supported";
    case NVML_ERROR_ARGUMENT_VERSION_MISMATCH: return "Argument version mismatch";
    case NVML_ERROR_DEPRECATED: return "Deprecated";
    case NVML_ERROR_NOT_READY: return "Not ready";
    case NVML_ERROR_GPU_NOT_FOUND: return "GPU not found";
    case NVML_ERROR_INVALID_STATE: return "Invalid state";
    default: return "Unknown Error";
  }
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int* count) {
  FAKE_SYSTEM_CALL();
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  *count = static_cast<unsigned>(s.gpus.size());
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t* device) {
  FAKE_SYSTEM_CALL();
  if (!device || index >= s.gpus.size()) return NVML_ERROR_INVALID_ARGUMENT;
  *device = s.gpus[index].get();
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char* version, unsigned int length) {
  FAKE_SYSTEM_CALL();
  return copy_text(s.root.value("driver_version", "580.95.05"), version, length);
}

FAKE_EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int* version) {
  FAKE_SYSTEM_CALL();
  if (!version) return NVML_ERROR_INVALID_ARGUMENT;
  *version = s.root.value("cuda_driver_version", 13000);
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char* name, unsigned int length) {
  FAKE_DEVICE_CALL(device);
  return copy_text(device->state.value("name", "NVIDIA H200"), name, length);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char* uuid, unsigned int length) {
  FAKE_DEVICE_CALL(device);
  return copy_text(device->state.value("uuid", ""), uuid, length);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, nvmlPciInfo_t* pci) {
  FAKE_DEVICE_CALL(device);
  if (!pci) return NVML_ERROR_INVALID_ARGUMENT;
  if (device->is_mig || !device->state.contains("pci_bus_id")) return NVML_ERROR_NOT_SUPPORTED;
  const std::string id = device->state["pci_bus_id"].get<std::string>();  // "00000000:19:00.0"
  *pci = {};
  unsigned domain = 0, bus = 0, dev = 0, function = 0;
  if (std::sscanf(id.c_str(), "%x:%x:%x.%x", &domain, &bus, &dev, &function) != 4) return NVML_ERROR_UNKNOWN;
  pci->domain = domain;
  pci->bus = bus;
  pci->device = dev;
  std::snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%04x:%02x:%02x.%x", domain, bus, dev, function);
  return copy_text(id, pci->busId, sizeof pci->busId);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t* memory) {
  FAKE_DEVICE_CALL(device);
  if (!memory) return NVML_ERROR_INVALID_ARGUMENT;
  const auto total = number(device->state, "memory_total").value_or(0);
  // v1's used includes what the driver reserves.
  memory->used = number(device->state, "memory_used").value_or(0) + number(device->state, "memory_reserved").value_or(0);
  memory->total = total;
  memory->free = total - memory->used;
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t* memory) {
  FAKE_DEVICE_CALL(device);
  if (!memory) return NVML_ERROR_INVALID_ARGUMENT;
  if (memory->version != kMemoryV2Version) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  memory->total = number(device->state, "memory_total").value_or(0);
  memory->used = number(device->state, "memory_used").value_or(0);
  memory->reserved = number(device->state, "memory_reserved").value_or(0);
  memory->free = memory->total - memory->used - memory->reserved;
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int* current, unsigned int* pending) {
  FAKE_DEVICE_CALL(device);
  if (!current || !pending) return NVML_ERROR_INVALID_ARGUMENT;
  const json mig = device->state.value("mig", json());
  if (device->is_mig || !mig.is_object()) return NVML_ERROR_NOT_SUPPORTED;
  *current = mig.value("enabled", false) ? 1u : 0u;
  *pending = *current;
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetComputeMode(nvmlDevice_t device, nvmlComputeMode_t* mode) {
  FAKE_DEVICE_CALL(device);
  if (!mode) return NVML_ERROR_INVALID_ARGUMENT;
  static const std::map<std::string, nvmlComputeMode_t> modes = {
      {"Default", NVML_COMPUTEMODE_DEFAULT},
      {"Exclusive_Thread", NVML_COMPUTEMODE_EXCLUSIVE_THREAD},
      {"Prohibited", NVML_COMPUTEMODE_PROHIBITED},
      {"Exclusive_Process", NVML_COMPUTEMODE_EXCLUSIVE_PROCESS}};
  auto it = modes.find(device->state.value("compute_mode", "Default"));
  if (it == modes.end()) return NVML_ERROR_UNKNOWN;
  *mode = it->second;
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetEccMode(nvmlDevice_t device, nvmlEnableState_t* current, nvmlEnableState_t* pending) {
  FAKE_DEVICE_CALL(device);
  if (!current || !pending) return NVML_ERROR_INVALID_ARGUMENT;
  auto ecc = flag(device->state, "ecc");
  if (!ecc) return NVML_ERROR_NOT_SUPPORTED;
  *current = *pending = *ecc ? NVML_FEATURE_ENABLED : NVML_FEATURE_DISABLED;
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t device, nvmlEnableState_t* mode) {
  FAKE_DEVICE_CALL(device);
  if (!mode) return NVML_ERROR_INVALID_ARGUMENT;
  auto on = flag(device->state, "persistence");
  if (!on) return NVML_ERROR_NOT_SUPPORTED;
  *mode = *on ? NVML_FEATURE_ENABLED : NVML_FEATURE_DISABLED;
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int* count,
                                                                  nvmlProcessInfo_t* infos) {
  FAKE_DEVICE_CALL(device);
  return process_list(device, count, infos, "processes", __func__);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMPSComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int* count,
                                                                     nvmlProcessInfo_t* infos) {
  FAKE_DEVICE_CALL(device);
  return process_list(device, count, infos, "mps_processes", __func__);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t device, unsigned int* count) {
  FAKE_DEVICE_CALL(device);
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  const json mig = device->state.value("mig", json());
  if (device->is_mig || !mig.is_object()) return NVML_ERROR_NOT_SUPPORTED;
  *count = mig.value("max_devices", 7u);
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t device, unsigned int index,
                                                              nvmlDevice_t* mig_device) {
  FAKE_DEVICE_CALL(device);
  const json mig = device->state.value("mig", json());
  if (device->is_mig || !mig_device) return NVML_ERROR_INVALID_ARGUMENT;
  if (!mig.is_object()) return NVML_ERROR_NOT_SUPPORTED;
  if (index >= mig.value("max_devices", 7u)) return NVML_ERROR_INVALID_ARGUMENT;
  for (const auto& m : device->migs)
    if (m->slot == index) {
      *mig_device = m.get();
      return NVML_SUCCESS;
    }
  return NVML_ERROR_NOT_FOUND;  // an unused slot, or MIG off
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t device, unsigned int* id) {
  FAKE_DEVICE_CALL(device);
  if (!id) return NVML_ERROR_INVALID_ARGUMENT;
  if (!device->is_mig) return NVML_ERROR_NOT_SUPPORTED;
  *id = device->state.value("gpu_instance_id", 0u);
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t device, unsigned int* id) {
  FAKE_DEVICE_CALL(device);
  if (!id) return NVML_ERROR_INVALID_ARGUMENT;
  if (!device->is_mig) return NVML_ERROR_NOT_SUPPORTED;
  *id = device->state.value("compute_instance_id", 0u);
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetAttributes_v2(nvmlDevice_t device, nvmlDeviceAttributes_t* attributes) {
  FAKE_DEVICE_CALL(device);
  if (!attributes) return NVML_ERROR_INVALID_ARGUMENT;
  auto sms = number(device->state, "sm_count");
  if (!sms) return NVML_ERROR_NOT_SUPPORTED;
  *attributes = {};
  attributes->multiprocessorCount = static_cast<unsigned>(*sms);
  attributes->memorySizeMB = number(device->state, "memory_total").value_or(0) / (1024 * 1024);
  attributes->gpuInstanceSliceCount = attributes->computeInstanceSliceCount = 1;
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t* utilization) {
  FAKE_DEVICE_CALL(device);
  if (!utilization) return NVML_ERROR_INVALID_ARGUMENT;
  const json u = device->state.value("utilization", json());
  if (device->is_mig || mig_on(device) || !u.is_object()) return NVML_ERROR_NOT_SUPPORTED;
  utilization->gpu = u.value("gpu", 0u);
  utilization->memory = u.value("memory", 0u);
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t device, nvmlClockType_t type, unsigned int* clock) {
  FAKE_DEVICE_CALL(device);
  if (!clock) return NVML_ERROR_INVALID_ARGUMENT;
  const char* key = nullptr;
  switch (type) {
    case NVML_CLOCK_GRAPHICS: key = "graphics"; break;
    case NVML_CLOCK_SM: key = "sm"; break;
    case NVML_CLOCK_MEM: key = "memory"; break;
    case NVML_CLOCK_VIDEO: key = "video"; break;
    default: return NVML_ERROR_INVALID_ARGUMENT;
  }
  auto mhz = number(device->state.value("clocks", json::object()), key);
  if (!mhz) return NVML_ERROR_NOT_SUPPORTED;
  *clock = static_cast<unsigned>(*mhz);
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int* power) {
  FAKE_DEVICE_CALL(device);
  if (!power) return NVML_ERROR_INVALID_ARGUMENT;
  auto mw = number(device->state, "power_mw");
  if (device->is_mig || !mw) return NVML_ERROR_NOT_SUPPORTED;
  *power = static_cast<unsigned>(*mw);
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long* energy) {
  FAKE_DEVICE_CALL(device);
  if (!energy) return NVML_ERROR_INVALID_ARGUMENT;
  auto mw = number(device->state, "power_mw");
  if (device->is_mig || !mw) return NVML_ERROR_NOT_SUPPORTED;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - s.init_at).count();
  *energy = number(device->state, "energy_start_mj").value_or(0) + static_cast<unsigned long long>(*mw * seconds);
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t device, nvmlTemperature_t* temperature) {
  FAKE_DEVICE_CALL(device);
  if (!temperature || temperature->sensorType != NVML_TEMPERATURE_GPU) return NVML_ERROR_INVALID_ARGUMENT;
  if (temperature->version != kTemperatureV1Version) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  auto c = number(device->state, "temperature_c");
  if (device->is_mig || !c) return NVML_ERROR_NOT_SUPPORTED;
  temperature->temperature = static_cast<int>(*c);
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t device, nvmlTemperatureSensors_t sensor, unsigned int* temp) {
  FAKE_DEVICE_CALL(device);
  if (!temp || sensor != NVML_TEMPERATURE_GPU) return NVML_ERROR_INVALID_ARGUMENT;
  auto c = number(device->state, "temperature_c");
  if (device->is_mig || !c) return NVML_ERROR_NOT_SUPPORTED;
  *temp = static_cast<unsigned>(*c);
  return NVML_SUCCESS;
}

namespace {
nvmlReturn_t clock_reasons(const nvmlDevice_st* device, unsigned long long* reasons) {
  if (!reasons) return NVML_ERROR_INVALID_ARGUMENT;
  auto bits = number(device->state, "clock_event_reasons");
  if (device->is_mig || !bits) return NVML_ERROR_NOT_SUPPORTED;
  *reasons = *bits;
  return NVML_SUCCESS;
}
}  // namespace

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t device, unsigned long long* reasons) {
  FAKE_DEVICE_CALL(device);
  return clock_reasons(device, reasons);
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t device, unsigned long long* reasons) {
  FAKE_DEVICE_CALL(device);
  return clock_reasons(device, reasons);
}

// Without a buffer: INSUFFICIENT_SIZE and the number of samples (as drivers
// answer); NOT_FOUND when none is newer than `since_us`.
FAKE_EXPORT nvmlReturn_t nvmlDeviceGetProcessUtilization(nvmlDevice_t device, nvmlProcessUtilizationSample_t* utilization,
                                                         unsigned int* count, unsigned long long since_us) {
  FAKE_DEVICE_CALL(device);
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  if (device->is_mig || mig_on(device)) return NVML_ERROR_NOT_SUPPORTED;
  constexpr int64_t kPeriodUs = 100'000;
  const auto stamp = static_cast<unsigned long long>(unix_us() / kPeriodUs * kPeriodUs);
  std::vector<nvmlProcessUtilizationSample_t> samples;
  if (stamp > since_us)
    for (const auto& p : device->state.value("process_utilization", json::array()))
      for (unsigned pid : pids_of(p))
        samples.push_back({pid, stamp, p.value("sm", 0u), p.value("memory", 0u), p.value("enc", 0u), p.value("dec", 0u)});
  if (samples.empty()) return NVML_ERROR_NOT_FOUND;
  if (!utilization) {
    *count = static_cast<unsigned>(samples.size());
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  if (first_call_too_small(s, device, __func__)) {
    *count = std::max(static_cast<unsigned>(samples.size()), *count + 1);
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  if (samples.size() > *count) {
    *count = static_cast<unsigned>(samples.size());
    return NVML_ERROR_INSUFFICIENT_SIZE;
  }
  *count = static_cast<unsigned>(samples.size());
  std::memcpy(utilization, samples.data(), samples.size() * sizeof samples[0]);
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlGpmQueryDeviceSupport(nvmlDevice_t device, nvmlGpmSupport_t* support) {
  FAKE_DEVICE_CALL(device);
  if (!support) return NVML_ERROR_INVALID_ARGUMENT;
  if (support->version != kGpmSupportVersion) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  support->isSupportedDevice = !device->is_mig && device->state.contains("gpm") ? 1 : 0;
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlGpmSampleAlloc(nvmlGpmSample_t* sample) {
  FAKE_SYSTEM_CALL();
  if (!sample) return NVML_ERROR_INVALID_ARGUMENT;
  *sample = new nvmlGpmSample_st;
  s.samples.insert(*sample);
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlGpmSampleFree(nvmlGpmSample_t sample) {
  FAKE_SYSTEM_CALL();
  if (!s.samples.erase(sample)) return NVML_ERROR_INVALID_ARGUMENT;
  delete sample;
  return NVML_SUCCESS;
}

namespace {
nvmlReturn_t take_sample(State& s, const nvmlDevice_st* device, std::optional<unsigned> gi, nvmlGpmSample_t sample) {
  if (!s.samples.count(sample)) return NVML_ERROR_INVALID_ARGUMENT;
  sample->device = device;
  sample->gpu_instance_id = gi;
  sample->sequence = ++s.sample_sequence;
  return NVML_SUCCESS;
}
}  // namespace

FAKE_EXPORT nvmlReturn_t nvmlGpmSampleGet(nvmlDevice_t device, nvmlGpmSample_t sample) {
  FAKE_DEVICE_CALL(device);
  if (device->is_mig || !device->state.contains("gpm")) return NVML_ERROR_NOT_SUPPORTED;
  return take_sample(s, device, std::nullopt, sample);
}

FAKE_EXPORT nvmlReturn_t nvmlGpmMigSampleGet(nvmlDevice_t device, unsigned int gpu_instance_id, nvmlGpmSample_t sample) {
  FAKE_DEVICE_CALL(device);
  if (device->is_mig || !device->state.contains("gpm") || !mig_on(device)) return NVML_ERROR_NOT_SUPPORTED;
  bool known = false;
  for (const auto& m : device->migs) known = known || m->state.value("gpu_instance_id", 0u) == gpu_instance_id;
  if (!known) return NVML_ERROR_INVALID_ARGUMENT;
  return take_sample(s, device, gpu_instance_id, sample);
}

// The metrics between two samples of the same GPU (or GPU instance), the
// second taken after the first.
FAKE_EXPORT nvmlReturn_t nvmlGpmMetricsGet(nvmlGpmMetricsGet_t* request) {
  FAKE_SYSTEM_CALL();
  if (!request) return NVML_ERROR_INVALID_ARGUMENT;
  if (request->version != kGpmMetricsGetVersion) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  const nvmlGpmSample_st* a = request->sample1;
  const nvmlGpmSample_st* b = request->sample2;
  if (!s.samples.count(request->sample1) || !s.samples.count(request->sample2) || !a->device || !b->device ||
      a->device != b->device || a->gpu_instance_id != b->gpu_instance_id || a->sequence >= b->sequence ||
      request->numMetrics > kGpmMetricMax)
    return NVML_ERROR_INVALID_ARGUMENT;
  const json values = gpm_of(*b);
  for (unsigned i = 0; i < request->numMetrics; ++i) {
    nvmlGpmMetric_t& m = request->metrics[i];
    const char* name = metric_name(m.metricId);
    if (!name || !values.contains(name)) {
      m.nvmlReturn = NVML_ERROR_NOT_SUPPORTED;
      continue;
    }
    m.nvmlReturn = NVML_SUCCESS;
    m.value = values[name].get<double>();
    static char unit[] = "%";
    m.metricInfo = {const_cast<char*>(name), const_cast<char*>(name), unit};
  }
  return NVML_SUCCESS;
}

namespace {
// The JSON lines of a GPU's events_file (none when it has none).
std::vector<std::string> event_lines(const nvmlDevice_st* device) {
  std::vector<std::string> lines;
  const std::string path = device->state.value("events_file", std::string());
  if (path.empty()) return lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

unsigned long long supported_events(const nvmlDevice_st* device) {
  const unsigned long long ecc = device->state.value("ecc", false) ? kEventTypeDoubleBitEccError | kEventTypeSingleBitEccError : 0;
  return device->state.value("supported_events", kEventTypeXidCriticalError | kEventTypePState | ecc);
}
}  // namespace

FAKE_EXPORT nvmlReturn_t nvmlEventSetCreate(nvmlEventSet_t* set) {
  FAKE_SYSTEM_CALL();
  if (!set) return NVML_ERROR_INVALID_ARGUMENT;
  *set = new nvmlEventSet_st;
  s.event_sets.insert(*set);
  return NVML_SUCCESS;
}

FAKE_EXPORT nvmlReturn_t nvmlDeviceGetSupportedEventTypes(nvmlDevice_t device, unsigned long long* types) {
  FAKE_DEVICE_CALL(device);
  if (!types) return NVML_ERROR_INVALID_ARGUMENT;
  *types = supported_events(device);
  return NVML_SUCCESS;
}

// Events already in the file when the GPU is registered are not delivered:
// NVML queues only what happens after.
FAKE_EXPORT nvmlReturn_t nvmlDeviceRegisterEvents(nvmlDevice_t device, unsigned long long types, nvmlEventSet_t set) {
  FAKE_DEVICE_CALL(device);
  if (!s.event_sets.count(set)) return NVML_ERROR_INVALID_ARGUMENT;
  if (types & ~supported_events(device)) return NVML_ERROR_NOT_SUPPORTED;
  set->watches.push_back({device, types, event_lines(device).size()});
  return NVML_SUCCESS;
}

// Polls the registered GPUs' events_files every 10 ms until a line of a
// registered type appears or `timeout_ms` pass (NVML_ERROR_TIMEOUT).
FAKE_EXPORT nvmlReturn_t nvmlEventSetWait_v2(nvmlEventSet_t set, nvmlEventData_t* data, unsigned timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    {
      FAKE_SYSTEM_CALL();
      if (!s.event_sets.count(set) || !data) return NVML_ERROR_INVALID_ARGUMENT;
      for (auto& w : set->watches) {
        const auto lines = event_lines(w.device);
        while (w.seen < lines.size()) {
          const json e = json::parse(lines[w.seen++], nullptr, false);
          if (e.is_discarded() || !(e.value("type", 0ull) & w.mask)) continue;
          *data = {};
          data->device = w.device;
          data->eventType = e.value("type", 0ull);
          data->eventData = e.value("data", 0ull);
          data->gpuInstanceId = e.value("gpu_instance_id", kInstanceIdNone);
          data->computeInstanceId = e.value("compute_instance_id", kInstanceIdNone);
          return NVML_SUCCESS;
        }
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) return NVML_ERROR_TIMEOUT;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

FAKE_EXPORT nvmlReturn_t nvmlEventSetFree(nvmlEventSet_t set) {
  FAKE_SYSTEM_CALL();
  if (!s.event_sets.erase(set)) return NVML_ERROR_INVALID_ARGUMENT;
  delete set;
  return NVML_SUCCESS;
}

// Each function is exactly the C signature gpumix resolves it with.
#define GPUMIX_FAKE_SIGNATURE(name, type) \
  static_assert(std::is_same_v<decltype(&::name), type>, #name " differs from nvml_abi::" #type);
GPUMIX_NVML_FUNCTIONS(GPUMIX_FAKE_SIGNATURE)
#undef GPUMIX_FAKE_SIGNATURE
