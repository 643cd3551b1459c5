#pragma once

#include <memory>

#include "gpumix/modes/mode.hpp"

namespace gpumix::modes {

// timeslice: every workload is its own process with its own CUDA context and
// the driver time-slices between contexts (its default policy, which gpumix
// never changes). Evidence: all alive at once, each its own compute process.
class TimesliceMode final : public GpuMode {
 public:
  using GpuMode::GpuMode;
  std::string name() const override { return "timeslice"; }
  void setup(const CellContext& cell) override;
  std::map<std::string, std::string> env_for(const spec::Workload& workload) const override;
  nlohmann::json evidence(const std::vector<RunningProcess>& running) override;
  nlohmann::json teardown() noexcept override;

 private:
  size_t expected_ = 0;
};

}  // namespace gpumix::modes
