// MPS's per-client limits as environment variables: pure, apart from the MPS
// mode's daemon so that what needs only them (`gpumix k8s render`, its fuzz
// target) links without the daemon, NVML or process evidence.
#include "gpumix/modes/mps.hpp"
#include "gpumix/modes/mps_control.hpp"

namespace gpumix::modes {

std::string pinned_memory_limit_value(int64_t bytes, int device) {
  const int64_t mib = (bytes + (1 << 20) - 1) >> 20;
  return std::to_string(device) + "=" + std::to_string(mib) + "M";
}

std::map<std::string, std::string> mps_client_limits(const spec::MpsOptions& mps, std::optional<int> percent) {
  std::map<std::string, std::string> env;
  if (!percent) percent = mps.sm_percent;
  if (percent) env["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] = std::to_string(*percent);
  if (mps.pinned_memory_limit) env["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] = pinned_memory_limit_value(*mps.pinned_memory_limit);
  if (mps.priority) env["CUDA_MPS_CLIENT_PRIORITY"] = std::to_string(*mps.priority);
  return env;
}

}  // namespace gpumix::modes
