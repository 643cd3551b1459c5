// The live progress of `gpumix run` on standard error (never standard
// output): a RunObserver that keeps each workload's live rates
// (run/progress_view.hpp) and, on a terminal, redraws one status line in place
// below the log (terminal::StatusSink); elsewhere (a log file, CI) it logs the
// same line every `interval`, while the cells log their phase changes.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "gpumix/run/observer.hpp"
#include "gpumix/run/plan.hpp"
#include "gpumix/run/progress_view.hpp"
#include "gpumix/spec/mix.hpp"
#include "gpumix/util/terminal.hpp"

namespace gpumix::run {

// Plain progress lines come this often, or as GPUMIX_PROGRESS_INTERVAL says.
inline constexpr std::chrono::seconds kDefaultProgressInterval{10};
// The interval from GPUMIX_PROGRESS_INTERVAL (a duration), else the default;
// InputError when it is not a positive duration.
std::chrono::nanoseconds progress_interval();

class ProgressObserver final : public RunObserver {
 public:
  // `plan` as the runner runs it, of which only `only_cell` when set.
  // `status`: the terminal's status line, or null for plain lines.
  ProgressObserver(const spec::Mix& mix, std::vector<Cell> plan, std::optional<int> only_cell,
                   std::shared_ptr<terminal::StatusSink> status, std::chrono::nanoseconds interval);
  ~ProgressObserver() override;

  void run_started(int64_t run_id) noexcept override;
  void cell_phase(int64_t cell_id, const Cell& cell, CellPhase phase) noexcept override;
  void workload_started(int64_t cell_id, int64_t workload_id, const std::string& name, pid_t pid) noexcept override;
  void workload_events(const std::vector<Event>& events) noexcept override;
  void workload_ended(int64_t cell_id, int64_t workload_id) noexcept override;
  void heartbeat() noexcept override;
  void cell_ended(int64_t cell_id) noexcept override;
  void run_ended(int64_t run_id) noexcept override;

 private:
  using Clock = std::chrono::steady_clock;
  struct Live {
    LiveWorkload shown;
    LiveRate rate;
  };
  ProgressState state(Clock::time_point now);
  void update(bool now_please);

  const spec::Mix& mix_;
  std::vector<Cell> plan_;
  size_t cells_to_run_;
  bool eta_at_most_;
  std::shared_ptr<terminal::StatusSink> status_;
  std::chrono::nanoseconds interval_;

  size_t cells_started_ = 0;
  std::optional<Cell> cell_;
  CellPhase phase_ = CellPhase::setup;
  Clock::time_point cell_start_, phase_start_;
  std::optional<Clock::time_point> window_open_, stopping_since_;
  std::vector<double> warmups_, winddowns_;  // seconds, of the cells so far
  std::vector<Live> workloads_;              // the cell's, in its order
  std::map<int64_t, size_t> by_id_;          // workload id → workloads_
  Clock::time_point last_shown_{};
};

}  // namespace gpumix::run
