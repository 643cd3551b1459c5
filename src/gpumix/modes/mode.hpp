// A sharing mode: how the workloads of a cell share the GPU. The runner calls
// setup() before the first workload starts, env_for() for each workload,
// evidence() while they all run, and teardown() on every path out of the
// cell (ModeSession guarantees it). A mode that cannot be used on this
// machine throws ModeUnavailable from setup() with the reason and the fix:
// its cells are skipped, not failed.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gpumix/spec/mix.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::gpu {
class Nvml;
}

namespace gpumix::modes {

class ModeUnavailable : public RunError {
 public:
  using RunError::RunError;
};

struct CellContext {
  std::string label;
  std::filesystem::path cell_dir;  // this cell's folder in the run directory
  std::vector<const spec::Workload*> workloads;
};

// What a container workload needs from its engine under a mode, beyond what
// its own settings ask.
struct ContainerNeeds {
  std::vector<std::string> volumes;  // "HOST:INSIDE"
  bool host_ipc = false;             // the host's IPC namespace
};

struct RunningProcess {
  std::string workload;
  pid_t pid = 0;
};

class Mode {
 public:
  virtual ~Mode() = default;
  virtual std::string name() const = 0;
  virtual void setup(const CellContext& cell) = 0;
  virtual std::map<std::string, std::string> env_for(const spec::Workload& workload) const = 0;
  // After setup(): what a workload in a container needs (default: nothing).
  virtual ContainerNeeds container_needs() const { return {}; }
  // Proof that the mode took effect, taken while `running` all run.
  virtual nlohmann::json evidence(const std::vector<RunningProcess>& running) = 0;
  // Undoes setup(), also after a setup() that threw; idempotent; never
  // throws. Returns what it did (stored with the cell's evidence).
  virtual nlohmann::json teardown() noexcept = 0;
};

// A mode whose setup and evidence need only the GPU's NVML handle (null on a
// machine without one).
class GpuMode : public Mode {
 public:
  explicit GpuMode(std::shared_ptr<gpu::Nvml> nvml) : nvml_(std::move(nvml)) {}

 protected:
  std::shared_ptr<gpu::Nvml> nvml_;
};

// Runs setup() now and teardown() when the cell ends, however it ends.
class ModeSession {
 public:
  ModeSession(Mode& mode, const CellContext& cell) : mode_(mode) {
    try {
      mode_.setup(cell);
    } catch (...) {
      mode_.teardown();  // a half-done setup (a started daemon) is undone too
      throw;
    }
  }
  ~ModeSession() { finish(); }
  ModeSession(const ModeSession&) = delete;
  ModeSession& operator=(const ModeSession&) = delete;

  // Tears down now (once) and returns the mode's report.
  nlohmann::json finish() noexcept {
    if (!done_) {
      done_ = true;
      report_ = mode_.teardown();
    }
    return report_;
  }

 private:
  Mode& mode_;
  bool done_ = false;
  nlohmann::json report_;
};

}  // namespace gpumix::modes
