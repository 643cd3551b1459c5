#pragma once

#include <map>
#include <memory>
#include <optional>

#include "gpumix/modes/mode.hpp"
#include "gpumix/modes/mps_control.hpp"
#include "gpumix/modes/registry.hpp"

namespace gpumix::modes {

// mps: the workloads share one MPS server started by gpumix's own control
// daemon (pipe and log folders inside the cell's folder). Each workload gets
// the pipe folder and its limits from the mix (`mps:` sm_percent,
// pinned_memory_limit, priority), with a configured mode's settings over
// them ("mps[train=30]", spec/mode_variant.hpp). mps-split instead gives each
// workload an active-thread percentage in proportion to its `mps.weight`
// (default 1). Evidence: the server's client list and NVML's MPS process list
// hold every workload. The daemon is stopped at teardown, whatever happened.
//
// A client's limits as MPS reads them from its environment: `mps`, with
// `sm_percent` replaced by `percent` when given (the split of mps-split).
// Also what k8s/render gives an MPS pod.
std::map<std::string, std::string> mps_client_limits(const spec::MpsOptions& mps, std::optional<int> percent = std::nullopt);

class MpsMode final : public Mode {
 public:
  enum class Limits { from_mix, split_by_weight };
  // `overrides`: a configured mode's settings, by workload.
  MpsMode(Limits limits, ModeContext context, std::map<std::string, spec::MpsOptions> overrides = {})
      : limits_(limits), context_(std::move(context)), overrides_(std::move(overrides)) {}

  std::string name() const override;
  void setup(const CellContext& cell) override;
  std::map<std::string, std::string> env_for(const spec::Workload& workload) const override;
  ContainerNeeds container_needs() const override;
  nlohmann::json evidence(const std::vector<RunningProcess>& running) override;
  nlohmann::json teardown() noexcept override;

 private:
  Limits limits_;
  ModeContext context_;
  std::unique_ptr<MpsDaemon> daemon_;
  std::map<std::string, spec::MpsOptions> overrides_;
  std::map<std::string, int> split_;  // workload → active-thread percentage (mps-split)
};

}  // namespace gpumix::modes
