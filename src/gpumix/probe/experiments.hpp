// The two probe experiments. Each measurement is stored as soon as it is made
// (ProbeStore), so an interrupted probe keeps what it measured.
//
// timeslice: per repeat, per mode, per process count N: N spin probes (every
//   SM busy, the GPU's timer recorded) → analyze_trace; then the slowdown of a
//   GPU-bound kernel loop next to 0 (alone), then each count of copies of itself.
// isolation: per mode: memory (one takes 90% of free memory, another then
//   allocates 1 GiB and a fifth of the GPU), mps-memory-limit (a client over
//   CUDA_MPS_PINNED_DEVICE_MEM_LIMIT), fault (an illegal address next to two
//   working processes; then fresh processes until one runs) and performance
//   (a small-kernel loop's p99 alone and next to a saturating loop; under MPS
//   per SM percentage of the neighbour).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gpumix/probe/probe_group.hpp"
#include "gpumix/probe/probe_store.hpp"
#include "gpumix/probe/trace.hpp"
#include "gpumix/spec/sharing_mode.hpp"

namespace gpumix::probe {

struct TimesliceOptions {
  std::vector<std::string> modes = spec::probed_modes();
  std::vector<int> counts = {1, 2, 4, 8};
  int repeats = 2;
  int64_t duration_ms = 2000;
  TraceOptions trace;
  bool slowdown = true;
};

struct IsolationOptions {
  std::vector<std::string> modes = spec::probed_modes();
  std::vector<int> sm_percents = {100, 50, 25};
  int64_t duration_ms = 2000;
  int64_t mps_limit_bytes = int64_t{2} << 30;
  int64_t recovery_timeout_ms = 30000;
};

// Each calls `progress` with a line per measurement.
using Progress = void (*)(const std::string&);

void run_timeslice_probe(const ProbeEnv& env, const TimesliceOptions& options, ProbeStore& store, int64_t session_id,
                         Progress progress);
void run_isolation_probe(const ProbeEnv& env, const IsolationOptions& options, ProbeStore& store, int64_t session_id,
                         Progress progress);

// A p99 ratio at most this counts as performance-isolated.
inline constexpr double kIsolatedP99Ratio = 2.0;

}  // namespace gpumix::probe
