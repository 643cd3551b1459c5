// One cell of a plan, run as a small state machine:
//
//   warm-up   every workload starts (one with `start_after` once the workload
//             it names is ready; one with `start_delay` waits for the window);
//             each one's warm-up ends at its `ready` event, after its declared
//             `warmup`, or when it starts (spec::WarmupKind). setup_timeout
//             bounds the whole phase: a workload still warming up then is
//             `not_ready` and the cell measures nothing.
//   window    opens for every workload at once when the last one is ready and
//             lasts exactly cell_duration; only it is measured (analysis/).
//   stopping  SIGTERM at the window's end (or a workload's stop condition),
//             SIGKILL after stop_grace; exits are turned into statuses by
//             decide_status (exit_status.hpp).
//
// The runner owns time: one thread polls the metrics pipes and a signal pipe
// with a 50 ms ceiling and decides every transition there.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gpumix/modes/mode.hpp"
#include "gpumix/run/cgroup.hpp"
#include "gpumix/run/collector.hpp"
#include "gpumix/run/exit_status.hpp"
#include "gpumix/run/launcher.hpp"
#include "gpumix/run/observer.hpp"
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

// What a cell needs from the run it belongs to.
struct CellEnvironment {
  const spec::Mix& mix;
  store::Store& store;
  Launcher& launcher;
  std::vector<RunObserver*>& observers;
  std::shared_ptr<gpu::Nvml> nvml;
  std::string run_token;
  pid_t guard_pid = 0;
  int64_t run_id = 0;
  size_t plan_size = 0;
  std::filesystem::path run_dir;
  const RunCgroup* cgroup = nullptr;  // the run's: each cell gets a child (unusable: none)
  int64_t max_events_per_second = kDefaultMaxEventsPerSecond;  // stored per workload (collector)
};

struct CellOutcome {
  store::CellStatus status = store::CellStatus::ok;
  int failed = 0;      // workloads whose status is not a success
};

class CellRun {
 public:
  using Clock = std::chrono::steady_clock;

  CellRun(const CellEnvironment& env, const Cell& cell);
  ~CellRun();
  CellRun(const CellRun&) = delete;
  CellRun& operator=(const CellRun&) = delete;

  CellOutcome run(StopSignals& signals);

 private:
  enum class Phase { pending, running, stopping, done };

  struct Slot {
    const spec::Workload* spec = nullptr;
    store::WorkloadRow row;
    Phase phase = Phase::pending;
    bool awaited = true;  // starts in the warm-up, and the window waits for it
    Clock::time_point started;
    Clock::time_point stop_sent;
    std::unique_ptr<RunningWorkload> proc;
    std::optional<Clock::time_point> ready_at;  // its warm-up ended
    bool reported_ready = false;                // its own `ready` event arrived
    bool spoke = false;                         // it wrote any event (WarmupKind::detect)
    std::string ready_url, ready_model;         // of its `ready` event (a server's address)
    int64_t window_iterations = 0;              // iter events since the window opened
    std::string last_error;                     // from an `error` event
    StopCause cause = StopCause::none;
    bool killed = false;
  };

  void add_rows();
  void log_finish(const Slot& s) const;
  void finish(Slot& s, store::WorkloadStatus status, const std::string& reason);
  Slot* slot_named(const std::string& name);
  void start(Slot& s);
  void request_stop(Slot& s, StopCause cause);
  void mark_ready(Slot& s, Clock::time_point at);
  void handle(const std::vector<Event>& events);
  void on_exit(Slot& s, const ExitInfo& exit);
  void take_evidence();
  // Tells the observers the cell entered `phase` (each phase once, in order).
  void enter(CellPhase phase);

  // One pass of the loop: each step looks at the clock and the slots.
  void on_signals(StopSignals& signals);
  void advance_warmup(Clock::time_point now);
  void open_window(Clock::time_point now);
  void start_due(Clock::time_point now);
  void enforce_limits(Clock::time_point now);
  void reap();
  bool all_done() const;
  void wait_for_input(StopSignals& signals);
  CellOutcome finish_cell();

  const CellEnvironment& env_;
  const Cell& cell_;
  std::filesystem::path cell_dir_;
  int64_t cell_id_ = 0;
  std::vector<Slot> slots_;
  std::map<int64_t, Slot*> by_id_;
  std::unique_ptr<modes::Mode> mode_;
  std::unique_ptr<modes::ModeSession> session_;
  std::unique_ptr<Collector> collector_;
  std::filesystem::path cgroup_;  // the cell's, which its workloads join (empty: none)

  std::optional<CellPhase> phase_;
  Clock::time_point cell_start_;
  std::optional<Clock::time_point> window_open_;
  Clock::time_point window_close_ = Clock::time_point::max();
  int64_t window_start_ns_ = 0;
  bool warmup_failed_ = false;
  bool interrupted_ = false;
  bool evidence_taken_ = false;
  nlohmann::json evidence_ = nlohmann::json::object();
};

}  // namespace gpumix::run
