// Built instead of nvml_loaded.cpp when gpumix is built without NVML (no CUDA
// toolkit, or -DGPUMIX_WITH_CUDA=OFF): open() says so, and since no Nvml can
// exist, nothing else is ever called.
#include "gpumix/gpu/nvml.hpp"

namespace gpumix::gpu {

struct Nvml::Impl {};
struct GpmStream::State {};

namespace {
[[noreturn]] void unavailable(const char* function) { throw NvmlError(function, 0, kBuiltWithoutNvml, __FILE__); }
}  // namespace

std::shared_ptr<Nvml> Nvml::open(std::string* why) {
  if (why) *why = kBuiltWithoutNvml;
  return nullptr;
}

Nvml::Nvml(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Nvml::~Nvml() = default;
std::string Nvml::driver_version() { unavailable(__func__); }
std::string Nvml::cuda_driver_version() { unavailable(__func__); }
int Nvml::device_count() { unavailable(__func__); }
DeviceInfo Nvml::device(int) { unavailable(__func__); }
std::vector<GpuProcess> Nvml::compute_processes(int) { unavailable(__func__); }
std::vector<GpuProcess> Nvml::mps_compute_processes(int) { unavailable(__func__); }
std::vector<MigInstance> Nvml::mig_instances(int) { unavailable(__func__); }
DeviceSample Nvml::sample(int) { unavailable(__func__); }
std::vector<ProcessUtilization> Nvml::process_utilization(int, uint64_t) { unavailable(__func__); }
std::unique_ptr<GpmStream> Nvml::gpm_stream(int, std::optional<unsigned>) { unavailable(__func__); }

GpmStream::GpmStream(std::unique_ptr<State> state) : s_(std::move(state)) {}
GpmStream::~GpmStream() = default;
std::optional<GpmMetrics> GpmStream::read() { unavailable(__func__); }

}  // namespace gpumix::gpu
