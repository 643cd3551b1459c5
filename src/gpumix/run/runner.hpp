// The runner executes a plan: cell after cell, it sets up the cell's mode,
// starts each workload through the launcher when its start condition is met,
// collects its metrics, stops it when its stop condition, its timeout or the
// cell's end arrives, and records everything in the store as it happens.
// SIGINT/SIGTERM stop every workload (SIGTERM, then SIGKILL after the grace
// period; a second signal kills at once), tear the mode down and mark the run
// interrupted.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
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
  store::RunStatus status = store::RunStatus::completed;
  int cells_run = 0;
  int failed_workloads = 0;  // status other than ok or stopped
  std::filesystem::path run_dir;
};

// `repeats: auto`: after each repeat (its baselines and shared cells), whether the
// decision is already clear. The runner computes no statistics; the command
// line answers this from the analysis.
struct RepeatVerdict {
  bool stop = false;
  std::string reason;  // "timeslice's STP exceeds mps's: difference 0.21 [0.12, 0.30]"
};
using RepeatPolicy = std::function<RepeatVerdict(int64_t run_id, int repeats_done)>;

// An adaptive plan (`gpumix tune`): asked, each time the plan's cells have
// all run, for the next cells (indexes and labels as run::repeat_cells gives
// them) and its record of the search so far (spec::EffectivePlan::search_json),
// stored with the plan before they run. No cells: the run is over.
struct PlanStep {
  std::vector<Cell> cells;
  std::string search_json;
};
using PlanExtension = std::function<PlanStep(int64_t run_id, const std::vector<Cell>& plan)>;

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
  void set_repeat_policy(RepeatPolicy policy) { repeat_policy_ = std::move(policy); }
  void set_plan_extension(PlanExtension extension) { extension_ = std::move(extension); }
  const std::vector<Cell>& plan() const { return plan_; }
  RunResult run();

 private:
  // Why `repeats: auto` stops after `repeats_done` repeats, or nullopt to go on.
  std::optional<std::string> auto_repeat_stop(int64_t run_id, int repeats_done, bool more_planned,
                                              std::chrono::steady_clock::time_point run_start);

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
  RunCgroup cgroup_;  // the run's (OrphanGuard), or why there is none
  int64_t max_events_per_second_;  // per workload, stored (run/collector)
  RepeatPolicy repeat_policy_;
  PlanExtension extension_;
};

}  // namespace gpumix::run
