#pragma once

#include <memory>

#include "gpumix/modes/mode.hpp"

namespace gpumix::gpu {
class Nvml;
}

namespace gpumix::modes {

// timeslice: every workload is its own process with its own CUDA context and
// the driver time-slices between contexts (its default policy, which gpumix
// never changes). Evidence: all alive at once, each its own compute process.
class TimesliceMode final : public Mode {
 public:
  explicit TimesliceMode(std::shared_ptr<gpu::Nvml> nvml) : nvml_(std::move(nvml)) {}
  std::string name() const override { return "timeslice"; }
  void setup(const CellContext& cell) override;
  std::map<std::string, std::string> env_for(const spec::Workload& workload) const override;
  nlohmann::json evidence(const std::vector<RunningProcess>& running) override;
  nlohmann::json teardown() noexcept override;

 private:
  std::shared_ptr<gpu::Nvml> nvml_;
  size_t expected_ = 0;
};

}  // namespace gpumix::modes
