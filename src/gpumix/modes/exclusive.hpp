#pragma once

#include "gpumix/modes/mode.hpp"

namespace gpumix::modes {

class ExclusiveMode final : public Mode {
 public:
  std::string name() const override { return "exclusive"; }
  void setup(const CellContext& cell) override;
  std::map<std::string, std::string> env_for(const spec::Workload& workload) const override;
  nlohmann::json evidence(const std::vector<RunningProcess>& running) override;
  void teardown() noexcept override;
};

}  // namespace gpumix::modes
