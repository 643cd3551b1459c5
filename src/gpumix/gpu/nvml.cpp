// NVML through dlopen: the function table, the check macro and every call
// gpumix makes, on the project's own declaration of NVML (nvml_abi.hpp), so
// every build has it; plus the error type, JSON and the environment record.
#include "gpumix/gpu/nvml.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "gpumix/gpu/compute_policy.hpp"
#include "gpumix/gpu/decode.hpp"
#include "gpumix/gpu/dynamic_library.hpp"
#include "gpumix/gpu/nvml_abi.hpp"
#include "gpumix/util/env_vars.hpp"

namespace gpumix::gpu {

using namespace nvml_abi;  // NVML's names, as in NVIDIA's documentation

NvmlError::NvmlError(std::string function, int code, const std::string& message, const std::string& where)
    : std::runtime_error(function + " failed at " + where + ": " + message + " (NVML error " + std::to_string(code) + ")"),
      function_(std::move(function)),
      code_(code) {}

namespace {

constexpr const char* kDefaultLibrary = "libnvidia-ml.so.1";

struct Api {
#define GPUMIX_NVML_MEMBER(name, type) type name = nullptr;
  GPUMIX_NVML_FUNCTIONS(GPUMIX_NVML_MEMBER)
#undef GPUMIX_NVML_MEMBER
};

// "src/gpumix/gpu/nvml_loaded.cpp:123" from __FILE__ and __LINE__.
std::string where(const char* file, int line) {
  std::string f = file;
  if (auto pos = f.rfind("src/"); pos != std::string::npos) f = f.substr(pos);
  return f + ":" + std::to_string(line);
}

// Failures that mean "this GPU or driver does not have it".
bool unsupported(nvmlReturn_t rc) { return rc == NVML_ERROR_NOT_SUPPORTED || rc == NVML_ERROR_FUNCTION_NOT_FOUND; }

// A C string NVML filled in, bounded by its buffer.
template <size_t N>
std::string text(const char (&buf)[N]) {
  return std::string(buf, strnlen(buf, N));
}

}  // namespace

// How a failed call is handled, chosen at the call site of GPUMIX_NVML.
enum class Need {
  required,  // throw NvmlError
  optional,  // "not supported" → false; anything else throws
};

struct Nvml::Impl {
  std::unique_ptr<DynamicLibrary> library;  // declared first: unloaded last
  Api api;
  bool initialized = false;
  std::vector<nvmlDevice_t> devices;
  std::once_flag policies_once;
  std::map<int, std::string> policies;

  ~Impl() {
    if (initialized) api.nvmlShutdown();
  }

  std::string error_text(nvmlReturn_t rc) const {
    if (rc == NVML_ERROR_FUNCTION_NOT_FOUND)
      return std::string("function not found in ") + (library ? library->name() : "NVML") + " (the driver is older than this call)";
    const char* s = api.nvmlErrorString ? api.nvmlErrorString(rc) : nullptr;
    return s ? s : "unknown NVML error";
  }

  // The one check every NVML call goes through (see GPUMIX_NVML).
  bool check(nvmlReturn_t rc, Need need, const char* function, const char* file, int line) const {
    if (rc == NVML_SUCCESS) return true;
    if (need == Need::optional && unsupported(rc)) return false;
    throw NvmlError(function, rc, error_text(rc), where(file, line));
  }
  // For sampling: a failure other than "not supported" is noted in `errors`.
  bool check(nvmlReturn_t rc, std::vector<std::string>& errors, const char* function, const char*, int) const {
    if (rc == NVML_SUCCESS) return true;
    if (!unsupported(rc)) errors.push_back(std::string(function) + ": " + error_text(rc));
    return false;
  }

  nvmlDevice_t device(int index) const {
    if (index < 0 || index >= static_cast<int>(devices.size()))
      throw NvmlError("nvmlDeviceGetHandleByIndex_v2", NVML_ERROR_INVALID_ARGUMENT,
                      "no GPU " + std::to_string(index) + " (this machine has " + std::to_string(devices.size()) + ")",
                      where(__FILE__, __LINE__));
    return devices[static_cast<size_t>(index)];
  }
};

// Calls NVML function `fn` of `impl` with the arguments and checks the result
// according to `need` (Need::required, Need::optional, or a vector of error
// texts); evaluates to true on success.
#define GPUMIX_NVML(impl, need, fn, ...)                                                             \
  ((impl).check((impl).api.fn ? (impl).api.fn(__VA_ARGS__) : NVML_ERROR_FUNCTION_NOT_FOUND, need, #fn, \
                __FILE__, __LINE__))

namespace {

using Impl = Nvml::Impl;

std::optional<nvmlDevice_t> mig_handle(const Impl& impl, nvmlDevice_t parent, unsigned index) {
  nvmlDevice_t mig{};
  nvmlReturn_t rc = impl.api.nvmlDeviceGetMigDeviceHandleByIndex
                        ? impl.api.nvmlDeviceGetMigDeviceHandleByIndex(parent, index, &mig)
                        : NVML_ERROR_FUNCTION_NOT_FOUND;
  if (rc == NVML_ERROR_NOT_FOUND) return std::nullopt;  // an unused slot
  impl.check(rc, Need::required, "nvmlDeviceGetMigDeviceHandleByIndex", __FILE__, __LINE__);
  return mig;
}

bool mig_enabled(const Impl& impl, nvmlDevice_t dev) {
  unsigned current = 0, pending = 0;
  if (!GPUMIX_NVML(impl, Need::optional, nvmlDeviceGetMigMode, dev, &current, &pending)) return false;
  return current == kDeviceMigEnable;
}

// The memory counters: v2 (used excludes what the driver reserves, as
// nvidia-smi shows), or v1 on drivers without it (no reserved figure).
struct MemoryInfo {
  uint64_t total = 0, used = 0, free = 0;
  std::optional<uint64_t> reserved;
};
template <typename Need_>
std::optional<MemoryInfo> memory_info(const Impl& impl, nvmlDevice_t dev, Need_&& need) {
  if (impl.api.nvmlDeviceGetMemoryInfo_v2) {
    nvmlMemory_v2_t m{};
    m.version = kMemoryV2Version;
    if (!GPUMIX_NVML(impl, need, nvmlDeviceGetMemoryInfo_v2, dev, &m)) return std::nullopt;
    return MemoryInfo{m.total, m.used, m.free, m.reserved};
  }
  nvmlMemory_t m{};
  if (!GPUMIX_NVML(impl, need, nvmlDeviceGetMemoryInfo, dev, &m)) return std::nullopt;
  return MemoryInfo{m.total, m.used, m.free, std::nullopt};
}

std::vector<GpuProcess> process_list(const Impl& impl, nvmlDevice_t dev, nvmlProcessList_fn fn, const char* name) {
  if (!fn) impl.check(NVML_ERROR_FUNCTION_NOT_FOUND, Need::required, name, __FILE__, __LINE__);
  std::vector<nvmlProcessInfo_t> infos(32);
  for (int attempt = 0;; ++attempt) {
    unsigned count = static_cast<unsigned>(infos.size());
    nvmlReturn_t rc = fn(dev, &count, infos.data());
    if (rc == NVML_ERROR_INSUFFICIENT_SIZE && attempt < 4) {
      infos.resize(count + 16);  // processes may start between the calls
      continue;
    }
    impl.check(rc, Need::required, name, __FILE__, __LINE__);
    infos.resize(count);
    break;
  }
  std::vector<GpuProcess> out;
  for (const auto& p : infos) {
    GpuProcess g;
    g.pid = p.pid;
    g.used_memory_bytes = p.usedGpuMemory == kValueNotAvailable ? 0 : p.usedGpuMemory;
    if (p.gpuInstanceId != kInstanceIdNone) g.gpu_instance_id = p.gpuInstanceId;
    if (p.computeInstanceId != kInstanceIdNone) g.compute_instance_id = p.computeInstanceId;
    out.push_back(g);
  }
  return out;
}

// The process list of a GPU. On a MIG-enabled GPU only a privileged user may
// list the whole GPU's; otherwise the list is gathered per MIG device.
std::vector<GpuProcess> processes(const Impl& impl, nvmlDevice_t parent, nvmlProcessList_fn fn, const char* name) {
  try {
    return process_list(impl, parent, fn, name);
  } catch (const NvmlError& e) {
    if (e.code() != NVML_ERROR_NO_PERMISSION || !mig_enabled(impl, parent)) throw;
  }
  std::vector<GpuProcess> out;
  unsigned slots = 0;
  GPUMIX_NVML(impl, Need::required, nvmlDeviceGetMaxMigDeviceCount, parent, &slots);
  for (unsigned i = 0; i < slots; ++i) {
    auto mig = mig_handle(impl, parent, i);
    if (!mig) continue;
    unsigned gi = 0, ci = 0;
    GPUMIX_NVML(impl, Need::required, nvmlDeviceGetGpuInstanceId, *mig, &gi);
    GPUMIX_NVML(impl, Need::required, nvmlDeviceGetComputeInstanceId, *mig, &ci);
    for (auto p : process_list(impl, *mig, fn, name)) {
      if (!p.gpu_instance_id) p.gpu_instance_id = gi;
      if (!p.compute_instance_id) p.compute_instance_id = ci;
      out.push_back(p);
    }
  }
  return out;
}

}  // namespace

std::shared_ptr<Nvml> Nvml::open(std::string* why) {
  auto fail = [why](std::string reason) -> std::shared_ptr<Nvml> {
    if (why) *why = std::move(reason);
    return nullptr;
  };
  const char* env = std::getenv(env_vars::kNvmlLibrary);
  const std::string name = env && *env ? env : kDefaultLibrary;
  std::string err;
  auto library = DynamicLibrary::open(name, &err);
  if (!library)
    return fail("NVML is not available: cannot load " + name + " (" + err +
                "); it comes with the NVIDIA driver: install the driver, or set GPUMIX_NVML_LIBRARY to its path");

  auto impl = std::make_shared<Impl>();
  impl->library = std::move(library);
#define GPUMIX_NVML_RESOLVE(name, type) impl->api.name = reinterpret_cast<type>(impl->library->symbol(#name));
  GPUMIX_NVML_FUNCTIONS(GPUMIX_NVML_RESOLVE)
#undef GPUMIX_NVML_RESOLVE
  const std::pair<bool, const char*> required[] = {
      {impl->api.nvmlInit_v2 != nullptr, "nvmlInit_v2"},
      {impl->api.nvmlShutdown != nullptr, "nvmlShutdown"},
      {impl->api.nvmlErrorString != nullptr, "nvmlErrorString"},
      {impl->api.nvmlDeviceGetCount_v2 != nullptr, "nvmlDeviceGetCount_v2"},
      {impl->api.nvmlDeviceGetHandleByIndex_v2 != nullptr, "nvmlDeviceGetHandleByIndex_v2"}};
  for (const auto& [found, symbol] : required)
    if (!found) return fail("NVML is not available: " + name + " does not define " + symbol + " (not NVML, or a driver older than 450)");

  try {
    nvmlReturn_t rc = impl->api.nvmlInit_v2();
    if (rc != NVML_SUCCESS)
      return fail("NVML is not available: nvmlInit_v2 failed: " + impl->error_text(rc) +
                  " (is the NVIDIA driver loaded? `nvidia-smi` shows the same problem)");
    impl->initialized = true;
    unsigned count = 0;
    GPUMIX_NVML(*impl, Need::required, nvmlDeviceGetCount_v2, &count);
    for (unsigned i = 0; i < count; ++i) {
      nvmlDevice_t dev{};
      GPUMIX_NVML(*impl, Need::required, nvmlDeviceGetHandleByIndex_v2, i, &dev);
      impl->devices.push_back(dev);
    }
  } catch (const NvmlError& e) {
    return fail(std::string("NVML is not available: ") + e.what());
  }
  return std::make_shared<Nvml>(std::move(impl));
}

Nvml::Nvml(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Nvml::~Nvml() = default;

std::string Nvml::driver_version() {
  char buf[kSystemDriverVersionBufferSize] = {};
  GPUMIX_NVML(*impl_, Need::required, nvmlSystemGetDriverVersion, buf, sizeof buf);
  return text(buf);
}

std::string Nvml::cuda_driver_version() {
  int v = 0;
  GPUMIX_NVML(*impl_, Need::required, nvmlSystemGetCudaDriverVersion_v2, &v);
  return cuda_version_text(v);
}

int Nvml::device_count() { return static_cast<int>(impl_->devices.size()); }

DeviceInfo Nvml::device(int index) {
  const Impl& impl = *impl_;
  nvmlDevice_t dev = impl.device(index);
  DeviceInfo d;
  d.index = index;
  char name[kDeviceNameV2BufferSize] = {};
  GPUMIX_NVML(impl, Need::required, nvmlDeviceGetName, dev, name, sizeof name);
  d.name = text(name);
  char uuid[kDeviceUuidV2BufferSize] = {};
  GPUMIX_NVML(impl, Need::required, nvmlDeviceGetUUID, dev, uuid, sizeof uuid);
  d.uuid = text(uuid);
  nvmlPciInfo_t pci{};
  if (GPUMIX_NVML(impl, Need::optional, nvmlDeviceGetPciInfo_v3, dev, &pci)) d.pci_bus_id = text(pci.busId);
  const auto memory = memory_info(impl, dev, Need::required);
  d.memory_total_bytes = memory->total;
  d.memory_used_bytes = memory->used;
  d.mig_enabled = mig_enabled(impl, dev);
  nvmlComputeMode_t mode{};
  d.compute_mode = GPUMIX_NVML(impl, Need::optional, nvmlDeviceGetComputeMode, dev, &mode) ? compute_mode_name(mode) : "unknown";
  nvmlEnableState_t current{}, pending{};
  if (GPUMIX_NVML(impl, Need::optional, nvmlDeviceGetEccMode, dev, &current, &pending))
    d.ecc_enabled = current == NVML_FEATURE_ENABLED;
  nvmlEnableState_t persistence{};
  if (GPUMIX_NVML(impl, Need::optional, nvmlDeviceGetPersistenceMode, dev, &persistence))
    d.persistence = persistence == NVML_FEATURE_ENABLED;
  std::call_once(impl_->policies_once, [this] { impl_->policies = read_compute_policies(); });
  auto policy = impl.policies.find(index);
  d.timeslice_policy = policy == impl.policies.end() ? "unknown" : policy->second;
  nvmlGpmSupport_t gpm{};
  gpm.version = kGpmSupportVersion;
  d.gpm_supported = GPUMIX_NVML(impl, Need::optional, nvmlGpmQueryDeviceSupport, dev, &gpm) && gpm.isSupportedDevice != 0;
  return d;
}

std::vector<GpuProcess> Nvml::compute_processes(int index) {
  return processes(*impl_, impl_->device(index), impl_->api.nvmlDeviceGetComputeRunningProcesses_v3,
                      "nvmlDeviceGetComputeRunningProcesses_v3");
}

std::vector<GpuProcess> Nvml::mps_compute_processes(int index) {
  return processes(*impl_, impl_->device(index), impl_->api.nvmlDeviceGetMPSComputeRunningProcesses_v3,
                      "nvmlDeviceGetMPSComputeRunningProcesses_v3");
}

std::vector<MigInstance> Nvml::mig_instances(int index) {
  const Impl& impl = *impl_;
  nvmlDevice_t parent = impl.device(index);
  std::vector<MigInstance> out;
  if (!mig_enabled(impl, parent)) return out;
  unsigned slots = 0;
  GPUMIX_NVML(impl, Need::required, nvmlDeviceGetMaxMigDeviceCount, parent, &slots);
  for (unsigned i = 0; i < slots; ++i) {
    auto mig = mig_handle(impl, parent, i);
    if (!mig) continue;
    MigInstance m;
    m.parent_index = index;
    char uuid[kDeviceUuidV2BufferSize] = {};
    GPUMIX_NVML(impl, Need::required, nvmlDeviceGetUUID, *mig, uuid, sizeof uuid);
    m.uuid = text(uuid);
    GPUMIX_NVML(impl, Need::required, nvmlDeviceGetGpuInstanceId, *mig, &m.gpu_instance_id);
    GPUMIX_NVML(impl, Need::required, nvmlDeviceGetComputeInstanceId, *mig, &m.compute_instance_id);
    nvmlDeviceAttributes_t attrs{};
    const bool have_attrs = GPUMIX_NVML(impl, Need::optional, nvmlDeviceGetAttributes_v2, *mig, &attrs);
    if (have_attrs) {
      m.sm_count = attrs.multiprocessorCount;
      m.memory_bytes = attrs.memorySizeMB * 1024ull * 1024ull;
    }
    if (const auto memory = memory_info(impl, *mig, Need::optional)) m.memory_bytes = memory->total;
    char name[kDeviceNameV2BufferSize] = {};
    if (GPUMIX_NVML(impl, Need::optional, nvmlDeviceGetName, *mig, name, sizeof name))
      m.profile = mig_profile_from_name(text(name));
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<std::optional<double>> Nvml::read_counters(int index, std::span<const DeviceCounter> counters,
                                                      std::vector<std::string>& errors) {
  const Impl& impl = *impl_;
  nvmlDevice_t dev = impl.device(index);
  // Queries that give several counters are made once, when first needed.
  std::optional<std::optional<nvmlUtilization_t>> utilization;
  std::optional<std::optional<MemoryInfo>> memory;
  auto util = [&]() -> const std::optional<nvmlUtilization_t>& {
    if (!utilization) {
      nvmlUtilization_t u{};
      utilization = GPUMIX_NVML(impl, errors, nvmlDeviceGetUtilizationRates, dev, &u) ? std::optional(u) : std::nullopt;
    }
    return *utilization;
  };
  auto mem = [&]() -> const std::optional<MemoryInfo>& {
    if (!memory) memory = memory_info(impl, dev, errors);
    return *memory;
  };
  auto number = [](const auto& v) { return std::optional<double>(static_cast<double>(v)); };
  auto read = [&](DeviceCounter c) -> std::optional<double> {
    switch (c) {
      case DeviceCounter::gpu_util_percent: return util() ? number(util()->gpu) : std::nullopt;
      case DeviceCounter::memory_util_percent: return util() ? number(util()->memory) : std::nullopt;
      case DeviceCounter::memory_used_bytes: return mem() ? number(mem()->used) : std::nullopt;
      case DeviceCounter::memory_total_bytes: return mem() ? number(mem()->total) : std::nullopt;
      case DeviceCounter::memory_free_bytes: return mem() ? number(mem()->free) : std::nullopt;
      case DeviceCounter::memory_reserved_bytes:
        return mem() && mem()->reserved ? number(*mem()->reserved) : std::nullopt;
      case DeviceCounter::sm_clock_mhz:
      case DeviceCounter::memory_clock_mhz: {
        unsigned mhz = 0;
        const auto type = c == DeviceCounter::sm_clock_mhz ? NVML_CLOCK_SM : NVML_CLOCK_MEM;
        return GPUMIX_NVML(impl, errors, nvmlDeviceGetClockInfo, dev, type, &mhz) ? number(mhz) : std::nullopt;
      }
      case DeviceCounter::power_watts: {
        unsigned milliwatts = 0;
        if (!GPUMIX_NVML(impl, errors, nvmlDeviceGetPowerUsage, dev, &milliwatts)) return std::nullopt;
        return milliwatts / 1000.0;
      }
      case DeviceCounter::energy_mj: {
        unsigned long long energy = 0;
        return GPUMIX_NVML(impl, errors, nvmlDeviceGetTotalEnergyConsumption, dev, &energy) ? number(energy)
                                                                                            : std::nullopt;
      }
      case DeviceCounter::temperature_c: {
        if (impl.api.nvmlDeviceGetTemperatureV) {
          nvmlTemperature_t t{};
          t.version = kTemperatureV1Version;
          t.sensorType = NVML_TEMPERATURE_GPU;
          return GPUMIX_NVML(impl, errors, nvmlDeviceGetTemperatureV, dev, &t) ? number(t.temperature) : std::nullopt;
        }
        unsigned celsius = 0;
        return GPUMIX_NVML(impl, errors, nvmlDeviceGetTemperature, dev, NVML_TEMPERATURE_GPU, &celsius)
                   ? number(celsius)
                   : std::nullopt;
      }
      case DeviceCounter::clock_event_reasons: {
        unsigned long long reasons = 0;
        const bool ok = impl.api.nvmlDeviceGetCurrentClocksEventReasons
                            ? GPUMIX_NVML(impl, errors, nvmlDeviceGetCurrentClocksEventReasons, dev, &reasons)
                            : GPUMIX_NVML(impl, errors, nvmlDeviceGetCurrentClocksThrottleReasons, dev, &reasons);
        return ok ? number(reasons) : std::nullopt;
      }
    }
    return std::nullopt;
  };
  std::vector<std::optional<double>> out;
  out.reserve(counters.size());
  for (auto c : counters) out.push_back(read(c));
  return out;
}

std::vector<ProcessUtilization> Nvml::process_utilization(int index, uint64_t since_us) {
  const Impl& impl = *impl_;
  nvmlDevice_t dev = impl.device(index);
  auto fn = impl.api.nvmlDeviceGetProcessUtilization;
  if (!fn) return {};
  // First the number of samples, then the samples; "not found" means none
  // newer than since_us.
  unsigned count = 0;
  nvmlReturn_t rc = fn(dev, nullptr, &count, since_us);
  if (rc == NVML_ERROR_NOT_FOUND || unsupported(rc)) return {};
  if (rc != NVML_ERROR_INSUFFICIENT_SIZE) impl.check(rc, Need::required, "nvmlDeviceGetProcessUtilization", __FILE__, __LINE__);
  if (count == 0) return {};
  std::vector<nvmlProcessUtilizationSample_t> samples(count + 8);  // processes may start between the calls
  count = static_cast<unsigned>(samples.size());
  rc = fn(dev, samples.data(), &count, since_us);
  if (rc == NVML_ERROR_NOT_FOUND || rc == NVML_ERROR_INSUFFICIENT_SIZE || unsupported(rc)) return {};
  impl.check(rc, Need::required, "nvmlDeviceGetProcessUtilization", __FILE__, __LINE__);
  samples.resize(count);
  std::vector<ProcessUtilization> out;
  out.reserve(samples.size());
  for (const auto& p : samples) out.push_back({p.pid, p.timeStamp, p.smUtil, p.memUtil});
  return out;
}

// GPM: two sample buffers, swapped after each read.
struct GpmStream::State {
  std::shared_ptr<Nvml::Impl> impl;
  nvmlDevice_t device{};
  std::optional<unsigned> gpu_instance_id;
  nvmlGpmSample_t previous{};
  nvmlGpmSample_t current{};
  bool have_previous = false;
  std::chrono::steady_clock::time_point previous_at;
  std::unique_ptr<nvmlGpmMetricsGet_t> request = std::make_unique<nvmlGpmMetricsGet_t>();

  ~State() {
    if (!impl->api.nvmlGpmSampleFree) return;
    if (previous) impl->api.nvmlGpmSampleFree(previous);
    if (current) impl->api.nvmlGpmSampleFree(current);
  }
  void take(nvmlGpmSample_t into) {
    if (gpu_instance_id)
      GPUMIX_NVML(*impl, Need::required, nvmlGpmMigSampleGet, device, *gpu_instance_id, into);
    else
      GPUMIX_NVML(*impl, Need::required, nvmlGpmSampleGet, device, into);
  }
};

std::unique_ptr<GpmStream> Nvml::gpm_stream(int index, std::optional<unsigned> gpu_instance_id) {
  const Impl& impl = *impl_;
  nvmlDevice_t dev = impl.device(index);
  nvmlGpmSupport_t support{};
  support.version = kGpmSupportVersion;
  if (!GPUMIX_NVML(impl, Need::optional, nvmlGpmQueryDeviceSupport, dev, &support) || !support.isSupportedDevice)
    throw NvmlError("nvmlGpmQueryDeviceSupport", NVML_ERROR_NOT_SUPPORTED,
                    "GPU " + std::to_string(index) + " does not support GPM metrics (Hopper or later needed)",
                    where(__FILE__, __LINE__));
  auto state = std::make_unique<GpmStream::State>();
  state->impl = impl_;
  state->device = dev;
  state->gpu_instance_id = gpu_instance_id;
  GPUMIX_NVML(impl, Need::required, nvmlGpmSampleAlloc, &state->previous);
  GPUMIX_NVML(impl, Need::required, nvmlGpmSampleAlloc, &state->current);
  return std::make_unique<GpmStream>(std::move(state));
}

GpmStream::GpmStream(std::unique_ptr<State> state) : s_(std::move(state)) {}
GpmStream::~GpmStream() = default;

std::optional<std::vector<std::optional<double>>> GpmStream::read(std::span<const unsigned> metric_ids) {
  State& s = *s_;
  const auto now = std::chrono::steady_clock::now();
  if (s.have_previous && now - s.previous_at < std::chrono::nanoseconds(kGpmMinSpacingNs)) return std::nullopt;
  if (!s.have_previous) {
    s.take(s.previous);
    s.have_previous = true;
    s.previous_at = now;
    return std::nullopt;
  }
  if (metric_ids.size() > kGpmMetricMax)
    throw NvmlError("nvmlGpmMetricsGet", NVML_ERROR_INVALID_ARGUMENT,
                    std::to_string(metric_ids.size()) + " GPM metrics asked at once; NVML takes at most " +
                        std::to_string(kGpmMetricMax),
                    where(__FILE__, __LINE__));
  s.take(s.current);
  nvmlGpmMetricsGet_t& req = *s.request;
  std::memset(&req, 0, sizeof req);
  req.version = kGpmMetricsGetVersion;
  req.numMetrics = static_cast<unsigned>(metric_ids.size());
  req.sample1 = s.previous;
  req.sample2 = s.current;
  for (size_t i = 0; i < metric_ids.size(); ++i) req.metrics[i].metricId = metric_ids[i];
  std::swap(s.previous, s.current);  // the newest sample is the next read's first
  s.previous_at = now;
  GPUMIX_NVML(*s.impl, Need::required, nvmlGpmMetricsGet, &req);
  std::vector<std::optional<double>> out;
  out.reserve(metric_ids.size());
  for (size_t i = 0; i < metric_ids.size(); ++i)
    out.push_back(req.metrics[i].nvmlReturn == NVML_SUCCESS ? std::optional<double>(req.metrics[i].value) : std::nullopt);
  return out;
}

// Events: one set over the GPUs, freed with the watch.
struct EventWatch::State {
  std::shared_ptr<Nvml::Impl> impl;
  nvmlEventSet_t set{};
  std::vector<int> gpus;
  std::vector<std::string> notes;
  ~State() {
    if (set && impl->api.nvmlEventSetFree) impl->api.nvmlEventSetFree(set);
  }
};

EventWatch::EventWatch(std::unique_ptr<State> state) : s_(std::move(state)) {}
EventWatch::~EventWatch() = default;
const std::vector<int>& EventWatch::gpus() const { return s_->gpus; }
const std::vector<std::string>& EventWatch::notes() const { return s_->notes; }

std::optional<GpuEvent> EventWatch::wait(unsigned timeout_ms) {
  const Impl& impl = *s_->impl;
  nvmlEventData_t data{};
  const nvmlReturn_t rc = impl.api.nvmlEventSetWait_v2 ? impl.api.nvmlEventSetWait_v2(s_->set, &data, timeout_ms)
                                                        : NVML_ERROR_FUNCTION_NOT_FOUND;
  if (rc == NVML_ERROR_TIMEOUT) return std::nullopt;
  impl.check(rc, Need::required, "nvmlEventSetWait_v2", __FILE__, __LINE__);
  GpuEvent e;
  e.gpu = -1;
  for (size_t i = 0; i < impl.devices.size(); ++i)
    if (impl.devices[i] == data.device) e.gpu = static_cast<int>(i);
  e.type = data.eventType;
  e.data = data.eventData;
  if (data.gpuInstanceId != kInstanceIdNone) e.gpu_instance_id = data.gpuInstanceId;
  if (data.computeInstanceId != kInstanceIdNone) e.compute_instance_id = data.computeInstanceId;
  return e;
}

std::unique_ptr<EventWatch> Nvml::watch_events(uint64_t types, std::string* why) {
  const Impl& impl = *impl_;
  auto state = std::make_unique<EventWatch::State>();
  state->impl = impl_;
  auto fail = [&](const std::string& reason) -> std::unique_ptr<EventWatch> {
    if (why) *why = reason;
    return nullptr;
  };
  try {
    if (!GPUMIX_NVML(impl, Need::optional, nvmlEventSetCreate, &state->set)) return fail("NVML events are not supported");
    for (int i = 0; i < static_cast<int>(impl.devices.size()); ++i) {
      nvmlDevice_t dev = impl.devices[static_cast<size_t>(i)];
      unsigned long long supported = 0;
      if (!GPUMIX_NVML(impl, Need::optional, nvmlDeviceGetSupportedEventTypes, dev, &supported)) supported = 0;
      const uint64_t wanted = types & supported;
      if (wanted != types) {
        std::string missing;
        for (uint64_t bit = 1; bit && bit <= types; bit <<= 1)
          if ((types & bit) && !(supported & bit)) missing += (missing.empty() ? "" : ", ") + event_type_name(bit);
        state->notes.push_back("GPU " + std::to_string(i) + ": no " + missing + " events");
      }
      if (!wanted) continue;
      GPUMIX_NVML(impl, Need::required, nvmlDeviceRegisterEvents, dev, wanted, state->set);
      state->gpus.push_back(i);
    }
  } catch (const NvmlError& e) {
    return fail(e.what());
  }
  if (state->gpus.empty()) return fail(state->notes.empty() ? "no GPU" : state->notes.front());
  return std::make_unique<EventWatch>(std::move(state));
}

nlohmann::json to_json(const MigInstance& m) {
  return {{"uuid", m.uuid},
          {"gpu_instance_id", m.gpu_instance_id},
          {"compute_instance_id", m.compute_instance_id},
          {"memory_bytes", m.memory_bytes},
          {"sm_count", m.sm_count},
          {"profile", m.profile},
          {"parent_index", m.parent_index}};
}

nlohmann::json to_json(const DeviceInfo& d) {
  auto opt = [](const std::optional<bool>& b) { return b ? nlohmann::json(*b) : nlohmann::json(nullptr); };
  return {{"index", d.index},
          {"name", d.name},
          {"uuid", d.uuid},
          {"pci_bus_id", d.pci_bus_id},
          {"memory_total_bytes", d.memory_total_bytes},
          {"memory_used_bytes", d.memory_used_bytes},
          {"mig_enabled", d.mig_enabled},
          {"compute_mode", d.compute_mode},
          {"ecc_enabled", opt(d.ecc_enabled)},
          {"persistence", opt(d.persistence)},
          {"timeslice_policy", d.timeslice_policy},
          {"gpm_supported", d.gpm_supported}};
}

nlohmann::json describe_gpus(Nvml* nvml, const std::string& why_unavailable) {
  if (!nvml) return {{"available", false}, {"reason", why_unavailable}};
  nlohmann::json out = {{"available", true}};
  try {
    out["driver_version"] = nvml->driver_version();
    out["cuda_driver_version"] = nvml->cuda_driver_version();
    nlohmann::json devices = nlohmann::json::array();
    for (int i = 0; i < nvml->device_count(); ++i) {
      auto d = to_json(nvml->device(i));
      nlohmann::json migs = nlohmann::json::array();
      for (const auto& m : nvml->mig_instances(i)) migs.push_back(to_json(m));
      d["mig_instances"] = std::move(migs);
      devices.push_back(std::move(d));
    }
    out["devices"] = std::move(devices);
  } catch (const std::exception& e) {
    out["error"] = e.what();
  }
  return out;
}

nlohmann::json describe_gpus() {
  std::string why;
  auto nvml = Nvml::open(&why);
  return describe_gpus(nvml.get(), why);
}

}  // namespace gpumix::gpu
