#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/modes/mode.hpp"

namespace gpumix::modes {

// A MIG instance as the assignment sees it.
struct MigSlot {
  std::string uuid;     // "MIG-..." as CUDA_VISIBLE_DEVICES takes it
  std::string profile;  // "1g.10gb", may be empty
  int64_t memory_bytes = 0;
};

struct MigRequest {
  std::string workload;
  std::optional<std::string> instance;  // mix's mig.instance: a UUID, an index or a profile name
  std::optional<int64_t> memory;        // mix's gpu_memory
};

// Pure: which instance each workload gets. Named instances first (a "MIG-"
// UUID, a 0-based index into `slots`, or a profile name: the first free one
// of it); then the others, largest memory need first, each the smallest free
// instance that fits. One workload per instance. Throws RunError saying
// which workload could not be placed and why.
std::map<std::string, std::string> assign_mig(const std::vector<MigRequest>& requests, const std::vector<MigSlot>& slots);

// mig: each workload runs on its own MIG instance (CUDA_VISIBLE_DEVICES=MIG-...),
// as the administrator partitioned the GPU. gpumix never enables MIG or
// changes partitions: without instances the mode is unavailable, and the
// reason names the admin commands.
class MigMode final : public GpuMode {
 public:
  using GpuMode::GpuMode;
  std::string name() const override { return "mig"; }
  void setup(const CellContext& cell) override;
  std::map<std::string, std::string> env_for(const spec::Workload& workload) const override;
  nlohmann::json evidence(const std::vector<RunningProcess>& running) override;
  nlohmann::json teardown() noexcept override;

 private:
  std::vector<MigSlot> slots_;
  std::map<std::string, std::string> assignment_;  // workload → MIG UUID
};

}  // namespace gpumix::modes
