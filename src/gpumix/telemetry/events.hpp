// NVML events (Xid critical errors, ECC errors) as gpumix records and shows
// them: pure functions, tested on plain values.
#pragma once

#include <cstdint>
#include <string>

#include "gpumix/gpu/nvml.hpp"
#include "gpumix/telemetry/snapshot.hpp"

namespace gpumix::telemetry {

// The stored form of an event NVML delivered at `t_ns` on the GPU `uuid`.
EventSample event_sample(const gpu::GpuEvent& e, int64_t t_ns, const Tags& tags, const std::string& uuid);

// "Xid 31 on GPU instance 1 at 4.2 s (GPU memory page fault ...)": the time
// from `since_ns` (left out when 0).
std::string event_text(const EventSample& e, int64_t since_ns);

}  // namespace gpumix::telemetry
