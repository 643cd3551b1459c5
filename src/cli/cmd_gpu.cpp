// gpumix gpu: the GPUs as NVML sees them. Exit status 1, with the reason on
// stderr (and as {"available": false, "reason": ...} with --format json), when
// NVML cannot be used: no NVIDIA driver (libnvidia-ml.so.1), or not NVML.
#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/gpu/nvml.hpp"
#include "gpumix/report/table.hpp"
#include "gpumix/json_text.hpp"

namespace gpumix::cli {
namespace {

report::Value yes_no(const std::optional<bool>& b) {
  if (!b) return std::string("n/a");
  return std::string(*b ? "on" : "off");
}

int64_t mib(uint64_t bytes) { return static_cast<int64_t>(bytes / (1024 * 1024)); }

}  // namespace

void add_gpu(CLI::App& app, Action& action) {
  auto format = std::make_shared<std::string>("table");
  auto* cmd = app.add_subcommand(
      "gpu", "Show the GPUs: memory, MIG, compute mode, ECC, persistence, time-slice policy, GPM support (exit 1 without NVML)");
  add_format_option(*cmd, *format);
  cmd->callback([format, &action] {
    action = [format]() -> int {
      const auto fmt = report::parse_format(*format);
      std::string why;
      auto nvml = gpu::Nvml::open(&why);
      if (!nvml) {
        if (fmt == report::Format::json) std::cout << json_text(gpu::describe_gpus(nullptr, why), 2) << "\n";
        std::cerr << "gpumix: no GPU information: " << why << "\n";
        return 1;
      }
      if (fmt == report::Format::json) {
        auto j = gpu::describe_gpus(nvml.get(), "");
        std::cout << json_text(j, 2) << "\n";
        return j.contains("error") ? 1 : 0;
      }
      report::Table devices;
      devices.columns = {"gpu", "name", "uuid", "pci_bus_id", "memory_total_mib", "memory_used_mib", "mig", "compute_mode",
                         "ecc", "persistence", "timeslice", "gpm"};
      report::Table migs;
      migs.columns = {"gpu", "mig_uuid", "profile", "gpu_instance", "compute_instance", "memory_mib", "sms"};
      const int count = nvml->device_count();
      for (int i = 0; i < count; ++i) {
        const auto d = nvml->device(i);
        devices.add({int64_t{d.index}, d.name, d.uuid, d.pci_bus_id, mib(d.memory_total_bytes), mib(d.memory_used_bytes),
                     std::string(d.mig_enabled ? "on" : "off"), d.compute_mode, yes_no(d.ecc_enabled),
                     yes_no(d.persistence), d.timeslice_policy, std::string(d.gpm_supported ? "yes" : "no")});
        for (const auto& m : nvml->mig_instances(i))
          migs.add({int64_t{m.parent_index}, m.uuid, m.profile, int64_t{m.gpu_instance_id}, int64_t{m.compute_instance_id},
                    mib(m.memory_bytes), int64_t{m.sm_count}});
      }
      if (fmt == report::Format::table)
        std::cout << "driver " << nvml->driver_version() << ", CUDA " << nvml->cuda_driver_version() << ", " << count
                  << " GPU(s)\n\n";
      report::render(std::cout, devices, fmt);
      if (fmt == report::Format::table && !migs.rows.empty()) {
        std::cout << "\nMIG devices\n";
        report::render(std::cout, migs, fmt);
      }
      if (count == 0) {
        std::cerr << "gpumix: NVML works but finds no GPU\n";
        return 1;
      }
      return 0;
    };
  });
}

}  // namespace gpumix::cli
