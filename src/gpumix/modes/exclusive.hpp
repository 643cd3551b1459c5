#pragma once

#include <memory>

#include "gpumix/modes/mode.hpp"

namespace gpumix::modes {

// exclusive: the baseline. One workload has the GPU to itself; evidence: it
// was the only workload process, and (with NVML) no other compute process
// was on the GPU.
class ExclusiveMode final : public GpuMode {
 public:
  using GpuMode::GpuMode;
  std::string name() const override { return "exclusive"; }
  void setup(const CellContext& cell) override;
  std::map<std::string, std::string> env_for(const spec::Workload& workload) const override;
  nlohmann::json evidence(const std::vector<RunningProcess>& running) override;
  nlohmann::json teardown() noexcept override;
};

}  // namespace gpumix::modes
