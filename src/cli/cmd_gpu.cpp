// gpumix gpu: the GPUs as NVML sees them. Exit status 1, with the reason on
// stderr (and as {"available": false, "reason": ...} with --format json), when
// NVML cannot be used: no NVIDIA driver (libnvidia-ml.so.1), or not NVML.
#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/gpu/nvml.hpp"
#include "gpumix/report/table.hpp"
#include "gpumix/util/output_file.hpp"

namespace gpumix::cli {
namespace {

constexpr int kDocumentVersion = 1;  // gpumix.gpu: docs/cli.md

report::Value yes_no(const std::optional<bool>& b) { return b ? report::Value(*b) : report::Value{}; }

int64_t mib(uint64_t bytes) { return static_cast<int64_t>(bytes / (1024 * 1024)); }

}  // namespace

void add_gpu(CLI::App& app, Action& action) {
  struct Options {
    std::string format = "table";
    std::string out;
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "gpu", "Show the GPUs: memory, MIG, compute mode, ECC, persistence, time-slice policy, GPM support (exit 1 without NVML)");
  add_format_option(*cmd, opts->format);
  add_out_option(*cmd, opts->out);
  cmd->callback([opts, &action] {
    action = [opts]() -> int {
      const auto fmt = report::parse_format(opts->format);
      std::string why;
      auto nvml = gpu::Nvml::open(&why);
      OutputFile output(opts->out);
      std::ostream& out = output.stream();
      if (fmt == report::Format::json) {
        auto doc = json_document("gpu", kDocumentVersion);
        doc.update(gpu::describe_gpus(nvml.get(), why));
        write_json(out, doc);
        output.commit();
        if (!nvml) std::cerr << "gpumix: no GPU information: " << why << "\n";
        return !nvml || doc.contains("error") ? 1 : 0;
      }
      if (!nvml) {
        std::cerr << "gpumix: no GPU information: " << why << "\n";
        return 1;
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
                     d.mig_enabled, d.compute_mode, yes_no(d.ecc_enabled), yes_no(d.persistence), d.timeslice_policy,
                     d.gpm_supported});
        for (const auto& m : nvml->mig_instances(i))
          migs.add({int64_t{m.parent_index}, m.uuid, m.profile, int64_t{m.gpu_instance_id}, int64_t{m.compute_instance_id},
                    mib(m.memory_bytes), int64_t{m.sm_count}});
      }
      if (fmt == report::Format::table)
        out << "driver " << nvml->driver_version() << ", CUDA " << nvml->cuda_driver_version() << ", " << count
            << " GPU(s)\n\n";
      report::render(out, devices, fmt);
      if (fmt == report::Format::table && !migs.rows.empty()) {
        out << "\nMIG devices\n";
        report::render(out, migs, fmt);
      }
      output.commit();
      if (count == 0) {
        std::cerr << "gpumix: NVML works but finds no GPU\n";
        return 1;
      }
      return 0;
    };
  });
}

}  // namespace gpumix::cli
