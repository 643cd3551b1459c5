#include "gpumix/spec/sharing_mode.hpp"

#include <algorithm>

namespace gpumix::spec {

const std::vector<SharingMode>& sharing_modes() {
  static const std::vector<SharingMode> modes = {
      {.name = "exclusive", .summary = "each workload alone on the GPU (the baseline)", .sharing = GpuSharing::alone,
       .baseline = true, .in_default_mix = true, .colour = "#7f7f7f"},
      {.name = "timeslice", .summary = "all workloads together, the driver time-slicing between their contexts",
       .sharing = GpuSharing::one_context_at_a_time, .probed = true, .in_default_mix = true, .k8s_device_plugin = "timeSlicing",
       .colour = "#4c78a8"},
      {.name = "mps", .summary = "all workloads as clients of one MPS server, with the limits each declares",
       .sharing = GpuSharing::concurrent, .per_workload_limits = true, .probed = true, .settings_in_name = true,
       .k8s_device_plugin = "mps",
       .colour = "#f58518"},
      {.name = "mps-split", .summary = "MPS with the SMs split between the workloads by their weights",
       .sharing = GpuSharing::concurrent, .per_workload_limits = true, .colour = "#54a24b"},
      {.name = "mig", .summary = "each workload on its own MIG instance", .sharing = GpuSharing::partitioned,
       .k8s_device_plugin = "mig", .colour = "#b279a2"},
  };
  return modes;
}

const SharingMode* find_sharing_mode(std::string_view name) {
  name = name.substr(0, name.find('['));  // a configured mode: spec/mode_variant.hpp
  const auto& all = sharing_modes();
  auto it = std::find_if(all.begin(), all.end(), [&](const SharingMode& m) { return m.name == name; });
  return it == all.end() ? nullptr : &*it;
}

const SharingMode& baseline_mode() {
  const auto& all = sharing_modes();
  return *std::find_if(all.begin(), all.end(), [](const SharingMode& m) { return m.baseline; });
}

bool is_baseline(std::string_view name) { return name == baseline_mode().name; }

}  // namespace gpumix::spec
