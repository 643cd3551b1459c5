// Something that watches a run beside the runner, e.g. GPU telemetry. The
// runner calls these from its own thread; an observer that samples on
// another thread must synchronize itself. Calls must not throw.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace gpumix::run {

class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void run_started(int64_t /*run_id*/) noexcept {}
  virtual void cell_started(int64_t /*cell_id*/, const std::string& /*label*/) noexcept {}
  virtual void workload_started(int64_t /*cell_id*/, int64_t /*workload_id*/, const std::string& /*name*/, pid_t /*pid*/) noexcept {}
  virtual void workload_ended(int64_t /*cell_id*/, int64_t /*workload_id*/) noexcept {}
  virtual void cell_ended(int64_t /*cell_id*/) noexcept {}
  virtual void run_ended(int64_t /*run_id*/) noexcept {}
};

}  // namespace gpumix::run
