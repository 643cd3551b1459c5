// Something that watches a run beside the runner, e.g. GPU telemetry or the
// live progress. The runner calls these from its own thread; an observer that
// samples on another thread must synchronize itself. Calls must not throw.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "gpumix/run/metrics_line.hpp"
#include "gpumix/run/plan.hpp"

namespace gpumix::run {

// Where a cell is (run/cell_run.hpp): its mode being set up, its warm-up (until
// every workload is ready), its measured window, its workloads being stopped.
enum class CellPhase { setup, warmup, measuring, stopping };

class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void run_started(int64_t /*run_id*/) noexcept {}
  virtual void cell_started(int64_t /*cell_id*/, const std::string& /*label*/) noexcept {}
  // Each phase a cell enters, in order (setup first, right after cell_started);
  // a cell that ends early skips the rest.
  virtual void cell_phase(int64_t /*cell_id*/, const Cell& /*cell*/, CellPhase /*phase*/) noexcept {}
  virtual void workload_started(int64_t /*cell_id*/, int64_t /*workload_id*/, const std::string& /*name*/, pid_t /*pid*/) noexcept {}
  // Metrics events as they arrive (already stored), with their workload_id.
  virtual void workload_events(const std::vector<Event>& /*events*/) noexcept {}
  virtual void workload_ended(int64_t /*cell_id*/, int64_t /*workload_id*/) noexcept {}
  // Every pass of a cell's loop: at least every 50 ms while a cell runs.
  virtual void heartbeat() noexcept {}
  virtual void cell_ended(int64_t /*cell_id*/) noexcept {}
  virtual void run_ended(int64_t /*run_id*/) noexcept {}
};

}  // namespace gpumix::run
