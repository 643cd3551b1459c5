#include "gpumix/telemetry/events.hpp"

#include <fmt/format.h>

#include "gpumix/gpu/decode.hpp"
#include "gpumix/gpu/nvml_abi.hpp"

namespace gpumix::telemetry {

EventSample event_sample(const gpu::GpuEvent& event, int64_t t_ns, const Tags& tags, const std::string& uuid) {
  EventSample e;
  e.t_ns = t_ns;
  e.tags = tags;
  e.gpu = event.gpu;
  e.uuid = uuid;
  e.type = gpu::event_type_name(event.type);
  e.data = static_cast<int64_t>(event.data);
  if (event.gpu_instance_id) e.gpu_instance_id = *event.gpu_instance_id;
  if (event.compute_instance_id) e.compute_instance_id = *event.compute_instance_id;
  if (event.type == gpu::nvml_abi::kEventTypeXidCriticalError) e.description = gpu::xid_description(event.data);
  return e;
}

std::string event_text(const EventSample& e, int64_t since_ns) {
  std::string what = e.type == "xid_critical_error" ? fmt::format("Xid {}", e.data) : fmt::format("{} {}", e.type, e.data);
  if (e.gpu_instance_id) what += fmt::format(" on GPU instance {}", *e.gpu_instance_id);
  if (since_ns > 0) what += fmt::format(" at {:.1f} s", static_cast<double>(e.t_ns - since_ns) / 1e9);
  return e.description.empty() ? what : what + " (" + e.description + ")";
}

}  // namespace gpumix::telemetry
