// Pure functions that turn NVML's numbers into names gpumix shows and stores.
// They need no NVML and are tested on plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gpumix::gpu {

// nvmlComputeMode_t → nvidia-smi's name: Default, Exclusive_Thread,
// Prohibited, Exclusive_Process; "Unknown(N)" otherwise.
std::string compute_mode_name(int mode);

// Every clock event ("throttle") reason NVML defines, as (bit, snake_case
// name), in bit order: gpu_idle, applications_clocks_setting, sw_power_cap,
// hw_slowdown, sync_boost, sw_thermal_slowdown, hw_thermal_slowdown,
// hw_power_brake_slowdown, display_clock_setting.
const std::vector<std::pair<uint64_t, std::string>>& clock_event_reasons();
// The names of the bits set in `bits` (unknown bits as "0x..."), in bit order.
std::vector<std::string> clock_event_reason_names(uint64_t bits);
// "sw_power_cap,hw_slowdown"; "none" for 0.
std::string clock_event_reasons_text(uint64_t bits);

// nvmlSystemGetCudaDriverVersion's 13000 → "13.0", 12040 → "12.4".
std::string cuda_version_text(int version);

// The MIG profile in a MIG device's name ("NVIDIA H100 80GB HBM3 MIG 1g.10gb"
// → "1g.10gb"); empty when the name carries none.
std::string mig_profile_from_name(std::string_view name);

// nvmlEventType* bits → names: single_bit_ecc, double_bit_ecc, pstate,
// xid_critical_error, clock, power_source_change, mig_config_change;
// "event_0x..." otherwise.
std::string event_type_name(uint64_t type);

// What an Xid means, from NVIDIA's Xid catalog (docs.nvidia.com/deploy/xid-errors),
// for the ones a shared GPU most often shows; "see NVIDIA's Xid catalog" otherwise.
std::string xid_description(uint64_t xid);

}  // namespace gpumix::gpu
