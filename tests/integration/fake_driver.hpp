// The fake NVML driver (tests/fake_nvml) for tests of gpumix's GPU paths
// without a GPU: the real gpumix binary loads it through GPUMIX_NVML_LIBRARY
// and reads the GPUs scripted in GPUMIX_FAKE_NVML_STATE.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "harness.hpp"

namespace gpumix::test {

inline constexpr uint64_t kGiB = 1024ull * 1024 * 1024;

// gpumix sees the fake driver with `state` while this lives.
class FakeDriver {
 public:
  FakeDriver(const ScratchDir& dir, const nlohmann::json& state)
      : library_("GPUMIX_NVML_LIBRARY", GPUMIX_FAKE_NVML),
        state_("GPUMIX_FAKE_NVML_STATE", dir.write("nvml-state.json", state.dump(2)).string()) {}

 private:
  ScopedEnv library_, state_;
};

inline nlohmann::json h200(int index) {
  const std::string n = std::to_string(index);
  return {{"name", "NVIDIA H200"},
          {"uuid", "GPU-0000000" + n + "-1111-2222-3333-444444444444"},
          {"pci_bus_id", "00000000:1" + n + ":00.0"},
          {"memory_total", 141 * kGiB},
          {"memory_used", 20 * kGiB},
          {"memory_reserved", 1 * kGiB},
          {"compute_mode", "Default"},
          {"ecc", true},
          {"persistence", true},
          {"sm_count", 132},
          {"utilization", {{"gpu", 87}, {"memory", 41}}},
          {"clocks", {{"sm", 1980}, {"memory", 3201}}},
          {"power_mw", 350000},
          {"energy_start_mj", 5000000},
          {"temperature_c", 45},
          {"clock_event_reasons", 0x5},  // gpu_idle, sw_power_cap
          {"gpm",
           {{"sm_util", 62.5}, {"sm_occupancy", 31.25}, {"any_tensor_util", 12.5}, {"dram_bw_util", 55.0}, {"fp16_util", 7.5}}},
          {"processes", {{{"pid", 4001}, {"used_memory", 3 * kGiB}}, {{"pid", 4002}, {"used_memory", 5 * kGiB}}}},
          {"process_utilization", {{{"pid", 4001}, {"sm", 30}, {"memory", 10}}, {{"pid", 4002}, {"sm", 50}, {"memory", 20}}}}};
}

}  // namespace gpumix::test
