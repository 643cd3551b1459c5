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

// A server and a trainer sharing a GPU modelled by the test workloads
// (testload --share-dir: their MPS settings decide their shares), for `gpumix
// tune`: server share s, train share t; the server reports 10 ms ÷ s exactly
// (p99 ≤ 13.5 ms needs s ≥ 0.74), so which settings meet the SLO does not
// depend on the machine's load; the trainer's pace ∝ t^0.5 is timed.
inline std::string shared_gpu_mix(const std::string& name, const std::string& cell_duration, const std::string& gpu_dir) {
  return "name: " + name + "\ncell_duration: " + cell_duration + R"(
stop_grace: 1s
workloads:
  - name: server
    role: server
    command: [TESTLOAD, --iters, "0", --interval-ms, "5", --latency-ms, "10", --share-dir, )" + gpu_dir + R"(]
    slo: {p99: 13.5ms}
  - name: train
    role: training
    command: [TESTLOAD, --iters, "0", --interval-ms, "10", --share-dir, )" + gpu_dir + R"(, --share-exponent, "0.5"]
)";
}

// The fake NVML driver with one H200 and the fake MPS control program on PATH.
class FakeGpuWithMps {
 public:
  explicit FakeGpuWithMps(const ScratchDir& dir)
      : driver_(dir, {{"driver_version", "580.95.05"}, {"cuda_driver_version", 13000}, {"gpus", {h200(0)}}}),
        path_("PATH", std::string(GPUMIX_TEST_DATA) + "/fake-mps:" + std::getenv("PATH")) {}

 private:
  FakeDriver driver_;
  ScopedEnv path_;
};

}  // namespace gpumix::test
