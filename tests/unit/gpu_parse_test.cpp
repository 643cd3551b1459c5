// The pure functions around NVML: names of NVML's numbers, the compute
// time-slice policy parsed from nvidia-smi's recorded output, MIG profile
// names, workload attribution by PID and the --listen address.
#include <gtest/gtest.h>

#include "gpumix/gpu/compute_policy.hpp"
#include "gpumix/gpu/decode.hpp"
#include "gpumix/telemetry/nvml_reader.hpp"
#include "gpumix/telemetry/prometheus.hpp"

namespace gpumix {
namespace {

// `nvidia-smi compute-policy -l` on an H100 80GB HBM3, driver 580.159.04.
const char* kH100Policy = R"(+-------------------------------------+
| GPU compute policies:               |
| GPU     Name           Value        |
|=====================================|
|   0   Timeslice       Default       |
+-------------------------------------+
)";

TEST(ComputePolicy, ParsesNvidiaSmisTable) {
  EXPECT_EQ(gpu::parse_compute_policies(kH100Policy), (std::map<int, std::string>{{0, "Default"}}));
}

TEST(ComputePolicy, ParsesSeveralGpusAndOtherValues) {
  const char* text = R"(+-------------------------------------+
| GPU compute policies:               |
| GPU     Name           Value        |
|=====================================|
|   0   Timeslice       Long          |
|   1   Timeslice       Short         |
|  10   timeslice       Medium        |
+-------------------------------------+
)";
  EXPECT_EQ(gpu::parse_compute_policies(text),
            (std::map<int, std::string>{{0, "Long"}, {1, "Short"}, {10, "Medium"}}));
}

TEST(ComputePolicy, IgnoresEverythingElse) {
  EXPECT_TRUE(gpu::parse_compute_policies("").empty());
  EXPECT_TRUE(gpu::parse_compute_policies("Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.\n").empty());
  EXPECT_TRUE(gpu::parse_compute_policies("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n").empty());
  EXPECT_TRUE(gpu::parse_compute_policies("| GPU     Name           Value        |\n|  x   Timeslice  Default |\n").empty());
  EXPECT_TRUE(gpu::parse_compute_policies("|   0   Priority       High          |\n").empty());
}

TEST(Decode, ComputeModesUseNvidiaSmisNames) {
  EXPECT_EQ(gpu::compute_mode_name(0), "Default");
  EXPECT_EQ(gpu::compute_mode_name(2), "Prohibited");
  EXPECT_EQ(gpu::compute_mode_name(3), "Exclusive_Process");
  EXPECT_EQ(gpu::compute_mode_name(9), "Unknown(9)");
}

TEST(Decode, ClockEventReasons) {
  EXPECT_EQ(gpu::clock_event_reasons_text(0), "none");
  EXPECT_EQ(gpu::clock_event_reasons_text(0x1), "gpu_idle");
  EXPECT_EQ(gpu::clock_event_reasons_text(0x4 | 0x40), "sw_power_cap,hw_thermal_slowdown");
  EXPECT_EQ(gpu::clock_event_reason_names(0x100 | 0x8 | 0x1000),
            (std::vector<std::string>{"hw_slowdown", "display_clock_setting", "0x1000"}));
  ASSERT_EQ(gpu::clock_event_reasons().size(), 9u);
  EXPECT_EQ(gpu::clock_event_reasons().back(), (std::pair<uint64_t, std::string>{0x100, "display_clock_setting"}));
}

TEST(Decode, EventTypesAndXids) {
  EXPECT_EQ(gpu::event_type_name(0x8), "xid_critical_error");
  EXPECT_EQ(gpu::event_type_name(0x2), "double_bit_ecc");
  EXPECT_EQ(gpu::event_type_name(0x100), "mig_config_change");
  EXPECT_EQ(gpu::event_type_name(0x4000), "event_0x4000");
  EXPECT_EQ(gpu::xid_description(31), "GPU memory page fault (a kernel touched an illegal address)");
  EXPECT_EQ(gpu::xid_description(79), "GPU has fallen off the bus");
  EXPECT_EQ(gpu::xid_description(12345), "see NVIDIA's Xid catalog");
}

TEST(Decode, CudaVersion) {
  EXPECT_EQ(gpu::cuda_version_text(13000), "13.0");
  EXPECT_EQ(gpu::cuda_version_text(12040), "12.4");
  EXPECT_EQ(gpu::cuda_version_text(0), "unknown");
}

TEST(Decode, MigProfileFromTheDevicesName) {
  EXPECT_EQ(gpu::mig_profile_from_name("NVIDIA H100 80GB HBM3 MIG 1g.10gb"), "1g.10gb");
  EXPECT_EQ(gpu::mig_profile_from_name("NVIDIA A100-SXM4-40GB MIG 1c.2g.10gb"), "1c.2g.10gb");
  EXPECT_EQ(gpu::mig_profile_from_name("NVIDIA H100 80GB HBM3 MIG 1g.10gb+me"), "1g.10gb+me");
  EXPECT_EQ(gpu::mig_profile_from_name("NVIDIA H100 80GB HBM3"), "");
  EXPECT_EQ(gpu::mig_profile_from_name("MIG something"), "");
}

TEST(Attribution, FindsTheWorkloadByPidGroupOrAncestor) {
  const telemetry::WorkloadPids workloads = {{100, {1, "train"}}, {200, {2, "serve"}}};
  // 300 is a child of 250, a child of 200 that left its group; 400 is in train's group.
  std::map<pid_t, pid_t> parent = {{300, 250}, {250, 200}, {200, 1}, {400, 100}, {500, 1}};
  std::map<pid_t, pid_t> group = {{300, 300}, {250, 250}, {400, 100}, {500, 500}, {600, 100}};
  auto pgid = [&](pid_t p) { return group.count(p) ? group[p] : 0; };
  auto ppid = [&](pid_t p) { return parent.count(p) ? parent[p] : 0; };
  EXPECT_EQ(telemetry::attribute(100, workloads, pgid, ppid), (telemetry::WorkloadRef{1, "train"}));
  EXPECT_EQ(telemetry::attribute(600, workloads, pgid, ppid), (telemetry::WorkloadRef{1, "train"}));  // by group
  EXPECT_EQ(telemetry::attribute(300, workloads, pgid, ppid), (telemetry::WorkloadRef{2, "serve"}));  // by ancestry
  EXPECT_EQ(telemetry::attribute(500, workloads, pgid, ppid), std::nullopt);
  EXPECT_EQ(telemetry::attribute(700, workloads, pgid, ppid), std::nullopt);  // unknown everywhere
  // A parent loop must not hang.
  std::map<pid_t, pid_t> loop = {{800, 801}, {801, 800}};
  EXPECT_EQ(telemetry::attribute(800, workloads, pgid, [&](pid_t p) { return loop[p]; }), std::nullopt);
}

TEST(ListenAddress, HostAndPortForms) {
  auto a = telemetry::parse_listen_address("127.0.0.1:9400");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9400);
  a = telemetry::parse_listen_address(":9400");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  a = telemetry::parse_listen_address("0");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 0);
  a = telemetry::parse_listen_address("[::1]:8080");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 8080);
  a = telemetry::parse_listen_address("0.0.0.0:65535");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "0.0.0.0");
  for (const char* bad : {"", "localhost", "127.0.0.1:", "127.0.0.1:65536", "1.2.3.4:-1", "::1:80", "[::1]80", "[]:80", "9400x"})
    EXPECT_FALSE(telemetry::parse_listen_address(bad)) << bad;
}

}  // namespace
}  // namespace gpumix
