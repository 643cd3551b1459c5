#include "gpumix/gpu/decode.hpp"
#include "gpumix/util/text.hpp"

#include <cstdio>

namespace gpumix::gpu {

std::string compute_mode_name(int mode) {
  switch (mode) {
    case 0: return "Default";
    case 1: return "Exclusive_Thread";
    case 2: return "Prohibited";
    case 3: return "Exclusive_Process";
    default: return "Unknown(" + std::to_string(mode) + ")";
  }
}

const std::vector<std::pair<uint64_t, std::string>>& clock_event_reasons() {
  // The values of nvmlClocksEventReason* / nvmlClocksThrottleReason* in nvml.h.
  static const std::vector<std::pair<uint64_t, std::string>> reasons = {
      {0x1, "gpu_idle"},
      {0x2, "applications_clocks_setting"},
      {0x4, "sw_power_cap"},
      {0x8, "hw_slowdown"},
      {0x10, "sync_boost"},
      {0x20, "sw_thermal_slowdown"},
      {0x40, "hw_thermal_slowdown"},
      {0x80, "hw_power_brake_slowdown"},
      {0x100, "display_clock_setting"},
  };
  return reasons;
}

std::vector<std::string> clock_event_reason_names(uint64_t bits) {
  std::vector<std::string> names;
  uint64_t known = 0;
  for (const auto& [bit, name] : clock_event_reasons()) {
    known |= bit;
    if (bits & bit) names.push_back(name);
  }
  if (uint64_t unknown = bits & ~known) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(unknown));
    names.emplace_back(buf);
  }
  return names;
}

std::string clock_event_reasons_text(uint64_t bits) {
  if (bits == 0) return "none";
  return join(clock_event_reason_names(bits), ",");
}

std::string cuda_version_text(int version) {
  if (version <= 0) return "unknown";
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

std::string mig_profile_from_name(std::string_view name) {
  constexpr std::string_view marker = "MIG ";
  auto pos = name.rfind(marker);
  if (pos == std::string_view::npos) return {};
  auto rest = name.substr(pos + marker.size());
  auto end = rest.find_first_of(" \t");
  if (end != std::string_view::npos) rest = rest.substr(0, end);
  // A profile looks like 1g.10gb, 1c.2g.20gb or 1g.10gb+me: it has a "g." in it.
  if (rest.find("g.") == std::string_view::npos) return {};
  return std::string(rest);
}

std::string event_type_name(uint64_t type) {
  switch (type) {
    case 0x1: return "single_bit_ecc";
    case 0x2: return "double_bit_ecc";
    case 0x4: return "pstate";
    case 0x8: return "xid_critical_error";
    case 0x10: return "clock";
    case 0x80: return "power_source_change";
    case 0x100: return "mig_config_change";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "event_0x%llx", static_cast<unsigned long long>(type));
      return buf;
    }
  }
}

std::string xid_description(uint64_t xid) {
  switch (xid) {
    case 13: return "graphics engine exception (a kernel faulted: illegal instruction or out-of-range access)";
    case 31: return "GPU memory page fault (a kernel touched an illegal address)";
    case 32: return "invalid or corrupted push buffer stream";
    case 38: return "driver firmware error";
    case 43: return "GPU stopped processing: a channel was reset after an application fault";
    case 45: return "preemptive cleanup after earlier errors (a process was killed)";
    case 48: return "double-bit ECC error";
    case 61: return "internal micro-controller breakpoint or warning";
    case 62: return "internal micro-controller halt";
    case 63: return "ECC page retirement or row remapping recorded";
    case 64: return "ECC page retirement or row remapping failed";
    case 69: return "graphics engine class error";
    case 74: return "NVLink error";
    case 79: return "GPU has fallen off the bus";
    case 92: return "high single-bit ECC error rate";
    case 94: return "contained ECC error";
    case 95: return "uncontained ECC error";
    case 109: return "context switch timeout";
    case 119: return "GSP RPC timeout";
    case 120: return "GSP error";
    default: return "see NVIDIA's Xid catalog";
  }
}

}  // namespace gpumix::gpu
