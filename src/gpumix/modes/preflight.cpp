#include "gpumix/modes/preflight.hpp"

#include <algorithm>

#include "gpumix/gpu/nvml.hpp"
#include "gpumix/modes/mig.hpp"
#include "gpumix/spec/sharing_mode.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/units.hpp"

namespace gpumix::modes {

std::string check_memory_fits(const std::vector<const spec::Workload*>& workloads, int64_t total_bytes) {
  int64_t sum = 0;
  std::string parts;
  for (const auto* w : workloads) {
    if (!w->gpu_memory) continue;
    sum += *w->gpu_memory;
    parts += (parts.empty() ? "" : " + ") + w->name + " " + format_bytes(*w->gpu_memory);
  }
  if (sum <= total_bytes) return "";
  return "the workloads' declared gpu_memory (" + parts + " = " + format_bytes(sum) + ") exceeds the GPU's " +
         format_bytes(total_bytes);
}

std::vector<std::string> preflight(const spec::Mix& mix, const std::shared_ptr<gpu::Nvml>& nvml) {
  std::vector<std::string> warnings;
  const bool declared = std::any_of(mix.workloads.begin(), mix.workloads.end(), [](const auto& w) { return w.gpu_memory.has_value(); });
  if (!declared) return warnings;
  if (!nvml || nvml->device_count() == 0) {
    warnings.push_back("declared gpu_memory not checked: no GPU visible through NVML");
    return warnings;
  }
  const auto dev = nvml->device(0);
  std::vector<const spec::Workload*> all;
  for (const auto& w : mix.workloads) all.push_back(&w);
  for (const auto& mode : mix.modes) {
    const auto sharing = spec::sharing_of(mode);
    if (sharing == spec::GpuSharing::alone) {
      for (const auto* w : all)
        if (auto p = check_memory_fits({w}, static_cast<int64_t>(dev.memory_total_bytes)); !p.empty())
          throw InputError("preflight (" + mode + "): " + p);
    } else if (sharing == spec::GpuSharing::partitioned) {
      if (!dev.mig_enabled) continue;  // the mode will be skipped with its reason
      std::vector<MigSlot> slots;
      for (const auto& m : nvml->mig_instances(0)) slots.push_back({m.uuid, m.profile, static_cast<int64_t>(m.memory_bytes)});
      std::vector<MigRequest> requests;
      for (const auto* w : all) requests.push_back({w->name, w->mig.instance, w->gpu_memory});
      try {
        assign_mig(requests, slots);
      } catch (const RunError& e) {
        throw InputError("preflight (" + mode + "): " + e.what());
      }
    } else if (auto p = check_memory_fits(all, static_cast<int64_t>(dev.memory_total_bytes)); !p.empty()) {
      throw InputError("preflight (" + mode + "): " + p);
    }
  }
  return warnings;
}

}  // namespace gpumix::modes
