// What does not depend on whether NVML was built in: the error type, JSON and
// the environment record.
#include "gpumix/gpu/nvml.hpp"

namespace gpumix::gpu {

NvmlError::NvmlError(std::string function, int code, const std::string& message, const std::string& where)
    : std::runtime_error(function + " failed at " + where + ": " + message + " (NVML error " + std::to_string(code) + ")"),
      function_(std::move(function)),
      code_(code) {}

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
