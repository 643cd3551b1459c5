// The runner executes a plan: cell after cell, it sets up the cell's mode,
// starts each workload through the launcher when its start condition is met,
// collects its metrics, stops it when its stop condition, its timeout or the
// cell's end arrives, and records everything in the store as it happens.
// SIGINT/SIGTERM stop every workload (SIGTERM, then SIGKILL after the grace
// period; a second signal kills at once), tear the mode down and mark the run
// interrupted.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "gpumix/run/launcher.hpp"
#include "gpumix/run/observer.hpp"
#include "gpumix/run/orphan_guard.hpp"
#include "gpumix/run/plan.hpp"
#include "gpumix/spec/mix.hpp"
#include "gpumix/store/store.hpp"

namespace gpumix {
class StopSignals;
namespace gpu {
class Nvml;
}
}  // namespace gpumix

namespace gpumix::run {

struct RunResult {
  int64_t run_id = 0;
  std::string status;  // completed, interrupted, failed
  int cells_run = 0;
  int failed_workloads = 0;  // status other than ok or stopped
  std::filesystem::path run_dir;
};

// Statuses that mean the workload did what was asked of it (or was skipped
// because its mode cannot exist on this machine).
bool is_success_status(const std::string& status);

// The seed a workload gets (GPUMIX_SEED): stable across runs and platforms.
uint64_t workload_seed(uint64_t mix_seed, const std::string& workload_name);

class Runner {
 public:
  // `guard` must have been created before any thread of gpumix started (it
  // forks). `nvml` (may be null: no GPU) is handed to the modes for their
  // evidence.
  Runner(const spec::Mix& mix, store::Store& store, Launcher& launcher, const OrphanGuard& guard,
         std::shared_ptr<gpu::Nvml> nvml = nullptr);
  // Observers are told about cells and workloads as they start and end.
  void add_observer(RunObserver& observer) { observers_.push_back(&observer); }
  // Runs only the plan's cell `index` (a fleet: one cell per node). The run
  // still records the whole plan, plus the selection and `fleet_id`, so that
  // `gpumix merge` can put the fleet's cells back into one run.
  void run_only(int index, std::string fleet_id);
  RunResult run();

 private:
  struct CellOutcome;
  CellOutcome run_cell(int64_t run_id, const Cell& cell, const std::filesystem::path& run_dir, StopSignals& signals);

  const spec::Mix& mix_;
  store::Store& store_;
  Launcher& launcher_;
  std::vector<Cell> plan_;
  std::optional<int> only_cell_;
  std::string fleet_id_;
  std::vector<RunObserver*> observers_;
  std::shared_ptr<gpu::Nvml> nvml_;
  std::string run_token_;  // GPUMIX_RUN_TOKEN of this run's workloads (OrphanGuard)
  pid_t guard_pid_;
};

}  // namespace gpumix::run
