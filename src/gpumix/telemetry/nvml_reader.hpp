// Reads one Snapshot from NVML: every GPU's counters, its processes (compute
// and MPS clients, attributed to the run's workloads) and GPM metrics (per
// MIG GPU instance when MIG is on). Keeps what must persist between reads:
// GPM sample buffers and the newest per-process utilization. Not thread-safe:
// one NvmlReader per sampling thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>

#include "gpumix/gpu/nvml.hpp"
#include "gpumix/telemetry/snapshot.hpp"

namespace gpumix::telemetry {

// Which workload a GPU process belongs to: its pid is a workload's, or its
// process group is (each workload leads its own group), or an ancestor's pid
// is (within 32 generations). `pgid_of` and `parent_of` return 0 when unknown.
std::optional<WorkloadRef> attribute(pid_t pid, const WorkloadPids& workloads,
                                     const std::function<pid_t(pid_t)>& pgid_of,
                                     const std::function<pid_t(pid_t)>& parent_of);

// A process's SM and memory utilization (percent) over the NVML sample
// periods a batch of nvmlDeviceGetProcessUtilization samples covers. NVML
// returns a sample only for a process that was busy in a period, so a period
// without one counts 0 for it: each process's sum over the batch ÷ the
// number of periods (distinct timestamps), and `known` processes absent from
// the whole batch get 0. Empty for an empty batch (no period ended).
struct ProcessUtil {
  double sm = 0, memory = 0;
};
std::map<unsigned, ProcessUtil> utilization_over_periods(const std::vector<gpu::ProcessUtilization>& batch,
                                                         const std::set<unsigned>& known);

// Where a Sampler's snapshots come from: NVML (NvmlReader), or a script in tests.
class SnapshotSource {
 public:
  virtual ~SnapshotSource() = default;
  virtual std::vector<gpu::DeviceInfo> devices() const = 0;
  // What the source cannot read, for the record (e.g. no GPM on this GPU).
  virtual std::vector<std::string> notes() const = 0;
  // One tick's figures, with `tags` and the processes of `workloads` attributed.
  virtual Snapshot read(const WorkloadPids& workloads, const Tags& tags) = 0;
};

class NvmlReader : public SnapshotSource {
 public:
  // Reads the devices and opens GPM streams where supported; what could not be
  // opened is listed in notes().
  explicit NvmlReader(std::shared_ptr<gpu::Nvml> nvml);
  ~NvmlReader() override;

  std::vector<gpu::DeviceInfo> devices() const override { return devices_; }
  std::vector<std::string> notes() const override { return notes_; }
  Snapshot read(const WorkloadPids& workloads, const Tags& tags) override;

 private:
  struct Gpm {
    int gpu;
    std::optional<unsigned> gpu_instance_id;
    std::string uuid;
    std::unique_ptr<gpu::GpmStream> stream;
  };
  struct Util {
    ProcessUtil value;
    std::chrono::steady_clock::time_point received;
  };

  std::shared_ptr<gpu::Nvml> nvml_;
  std::vector<gpu::DeviceInfo> devices_;
  std::vector<std::string> notes_;
  std::vector<Gpm> gpm_;
  std::vector<uint64_t> util_seen_us_;              // per GPU: newest NVML timestamp read
  std::vector<std::map<unsigned, Util>> util_;      // per GPU: each pid's figure over the latest periods
};

}  // namespace gpumix::telemetry
