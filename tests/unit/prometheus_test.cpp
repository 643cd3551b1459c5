// The Prometheus exposition text, matched exactly for hand-made samples.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "fixtures/telemetry_samples.hpp"
#include "gpumix/telemetry/prometheus.hpp"

namespace gpumix::telemetry {
namespace {

Exposition example() {
  Exposition e;
  e.nvml_available = true;
  e.driver_version = "580.159.04";
  gpu::DeviceInfo d;
  d.index = 0;
  d.name = "Test \"GPU\" C:\\x\nB";  // a quote, a backslash and a newline to escape
  d.uuid = "GPU-1";
  d.pci_bus_id = "00000000:00:06.0";
  d.compute_mode = "Default";
  d.timeslice_policy = "Default";
  e.devices = {d};

  Snapshot s;
  s.t_ns = 1700000000500000000;
  s.gpus.push_back(test::busy_gpu(s.t_ns));
  GpmSample whole = test::busy_gpm();
  whole.values[metric(Scope::gpm, "dram_bw_util_percent")] = 12.125;
  GpmSample mig = test::mig_gpm();
  mig.values[metric(Scope::gpm, "sm_util_percent")] = 10;
  s.gpm = {whole, mig};
  ProcessSample train = test::train_process("compute", 1);
  train.values[metric(Scope::process, "memory_util_percent")] = 20;
  ProcessSample other;
  other.pid = 99;
  other.kind = "mps_client";
  other.values[metric(Scope::process, "used_memory_bytes")] = 0;
  s.processes = {train, other};
  e.snapshot = s;
  return e;
}

// dcgm-exporter's names, units and labels: MiB, MHz, W, mJ, GPM as ratios.
TEST(Prometheus, DcgmNamesUnitsAndLabels) {
  auto e = example();
  e.devices[0].name = "NVIDIA H200";
  e.hostname = "node-1";
  const auto text = render_prometheus(e, MetricNames::dcgm);
  const std::string l =
      R"(gpu="0",UUID="GPU-1",pci_bus_id="00000000:00:06.0",device="nvidia0",modelName="NVIDIA H200",hostname="node-1")";
  for (const std::string& line :
       {"# HELP DCGM_FI_DEV_SM_CLOCK SM clock frequency (in MHz).\n# TYPE DCGM_FI_DEV_SM_CLOCK gauge\n"
        "DCGM_FI_DEV_SM_CLOCK{" + l + "} 1980\n",
        "DCGM_FI_DEV_MEM_CLOCK{" + l + "} 2619\n", "DCGM_FI_DEV_GPU_TEMP{" + l + "} 61\n",
        "DCGM_FI_DEV_POWER_USAGE{" + l + "} 312.5\n",
        "# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter\nDCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{" + l + "} 123456789\n",
        "DCGM_FI_DEV_GPU_UTIL{" + l + "} 87\n", "DCGM_FI_DEV_MEM_COPY_UTIL{" + l + "} 40\n",
        "DCGM_FI_DEV_FB_USED{" + l + "} 1024\n", "DCGM_FI_DEV_FB_FREE{" + l + "} 80896\n",
        "DCGM_FI_DEV_CLOCKS_EVENT_REASONS{" + l + "} 5\n", "DCGM_FI_PROF_SM_ACTIVE{" + l + "} 0.755\n",
        std::string("DCGM_FI_PROF_SM_ACTIVE{") +
            R"(gpu="0",UUID="MIG-abc",pci_bus_id="00000000:00:06.0",device="nvidia0",modelName="NVIDIA H200",hostname="node-1",GPU_I_ID="3"} 0.1)" +
            "\n",
        "DCGM_FI_PROF_SM_OCCUPANCY{" + l + "} 0.3025\n", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{" + l + "} 0.6\n",
        "DCGM_FI_PROF_DRAM_ACTIVE{" + l + "} 0.12125\n"})
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n--- in ---\n" << text;
  EXPECT_EQ(text.find("gpumix_gpu_"), std::string::npos) << "one scheme at a time";
  EXPECT_EQ(text.rfind("# HELP gpumix_nvml_available ", 0), 0u) << text;
  EXPECT_EQ(parse_metric_names("dcgm"), MetricNames::dcgm);
  EXPECT_EQ(parse_metric_names("gpumix"), MetricNames::gpumix);
  EXPECT_FALSE(parse_metric_names("DCGM"));
}

TEST(Prometheus, RendersEveryFamilyExactly) {
  const std::string labels = R"(gpu="0",uuid="GPU-1",model="Test \"GPU\" C:\\x\nB")";
  const std::string expected =
      "# HELP gpumix_nvml_available 1 when gpumix can read the GPUs through NVML; 0 with the reason as a label when it cannot\n"
      "# TYPE gpumix_nvml_available gauge\n"
      "gpumix_nvml_available 1\n"
      "# HELP gpumix_gpu_info The GPU's static facts, as labels (value 1)\n"
      "# TYPE gpumix_gpu_info gauge\n"
      "gpumix_gpu_info{" + labels + R"(,pci_bus_id="00000000:00:06.0",driver_version="580.159.04",compute_mode="Default",mig="disabled",timeslice_policy="Default"} 1)" "\n"
      "# HELP gpumix_gpu_utilization_percent Percent of time a kernel was running on the GPU (NVML)\n"
      "# TYPE gpumix_gpu_utilization_percent gauge\n"
      "gpumix_gpu_utilization_percent{" + labels + "} 87\n"
      "# HELP gpumix_gpu_memory_utilization_percent Percent of time device memory was read or written (NVML)\n"
      "# TYPE gpumix_gpu_memory_utilization_percent gauge\n"
      "gpumix_gpu_memory_utilization_percent{" + labels + "} 40\n"
      "# HELP gpumix_gpu_memory_used_bytes Device memory allocated (without what the driver reserves)\n"
      "# TYPE gpumix_gpu_memory_used_bytes gauge\n"
      "gpumix_gpu_memory_used_bytes{" + labels + "} 1073741824\n"
      "# HELP gpumix_gpu_memory_total_bytes Device memory in total\n"
      "# TYPE gpumix_gpu_memory_total_bytes gauge\n"
      "gpumix_gpu_memory_total_bytes{" + labels + "} 85899345920\n"
      "# HELP gpumix_gpu_memory_free_bytes Device memory free to allocate\n"
      "# TYPE gpumix_gpu_memory_free_bytes gauge\n"
      "gpumix_gpu_memory_free_bytes{" + labels + "} 84825604096\n"
      "# HELP gpumix_gpu_sm_clock_hertz SM clock in hertz\n"
      "# TYPE gpumix_gpu_sm_clock_hertz gauge\n"
      "gpumix_gpu_sm_clock_hertz{" + labels + "} 1.98e+09\n"
      "# HELP gpumix_gpu_memory_clock_hertz Memory clock in hertz\n"
      "# TYPE gpumix_gpu_memory_clock_hertz gauge\n"
      "gpumix_gpu_memory_clock_hertz{" + labels + "} 2.619e+09\n"
      "# HELP gpumix_gpu_power_watts Power draw in watts\n"
      "# TYPE gpumix_gpu_power_watts gauge\n"
      "gpumix_gpu_power_watts{" + labels + "} 312.5\n"
      "# HELP gpumix_gpu_energy_joules_total Energy used since the driver was loaded, in joules\n"
      "# TYPE gpumix_gpu_energy_joules_total counter\n"
      "gpumix_gpu_energy_joules_total{" + labels + "} 123456.789\n"
      "# HELP gpumix_gpu_temperature_celsius GPU die temperature in degrees Celsius\n"
      "# TYPE gpumix_gpu_temperature_celsius gauge\n"
      "gpumix_gpu_temperature_celsius{" + labels + "} 61\n"
      "# HELP gpumix_gpu_clock_event_reasons Bit mask of the reasons the clocks are below their maximum (nvmlClocksEventReason*)\n"
      "# TYPE gpumix_gpu_clock_event_reasons gauge\n"
      "gpumix_gpu_clock_event_reasons{" + labels + "} 5\n"
      "# HELP gpumix_gpu_clock_event_reason_active 1 while the reason holds the clocks down, else 0\n"
      "# TYPE gpumix_gpu_clock_event_reason_active gauge\n"
      "gpumix_gpu_clock_event_reason_active{" + labels + ",reason=\"gpu_idle\"} 1\n"
      "gpumix_gpu_clock_event_reason_active{" + labels + ",reason=\"applications_clocks_setting\"} 0\n"
      "gpumix_gpu_clock_event_reason_active{" + labels + ",reason=\"sw_power_cap\"} 1\n"
      "gpumix_gpu_clock_event_reason_active{" + labels + ",reason=\"hw_slowdown\"} 0\n"
      "gpumix_gpu_clock_event_reason_active{" + labels + ",reason=\"sync_boost\"} 0\n"
      "gpumix_gpu_clock_event_reason_active{" + labels + ",reason=\"sw_thermal_slowdown\"} 0\n"
      "gpumix_gpu_clock_event_reason_active{" + labels + ",reason=\"hw_thermal_slowdown\"} 0\n"
      "gpumix_gpu_clock_event_reason_active{" + labels + ",reason=\"hw_power_brake_slowdown\"} 0\n"
      "gpumix_gpu_clock_event_reason_active{" + labels + ",reason=\"display_clock_setting\"} 0\n"
      "# HELP gpumix_gpm_sm_utilization_percent Percent of SMs busy (GPM, per GPU or MIG GPU instance)\n"
      "# TYPE gpumix_gpm_sm_utilization_percent gauge\n"
      "gpumix_gpm_sm_utilization_percent{" + labels + "} 75.5\n"
      R"(gpumix_gpm_sm_utilization_percent{gpu="0",uuid="MIG-abc",model="Test \"GPU\" C:\\x\nB",gpu_instance="3"} 10)" "\n"
      "# HELP gpumix_gpm_sm_occupancy_percent Active warps as a percent of the maximum (GPM)\n"
      "# TYPE gpumix_gpm_sm_occupancy_percent gauge\n"
      "gpumix_gpm_sm_occupancy_percent{" + labels + "} 30.25\n"
      "# HELP gpumix_gpm_tensor_active_percent Percent of time any tensor pipe was active (GPM)\n"
      "# TYPE gpumix_gpm_tensor_active_percent gauge\n"
      "gpumix_gpm_tensor_active_percent{" + labels + "} 60\n"
      "# HELP gpumix_gpm_dram_bandwidth_utilization_percent DRAM bandwidth used as a percent of the maximum (GPM)\n"
      "# TYPE gpumix_gpm_dram_bandwidth_utilization_percent gauge\n"
      "gpumix_gpm_dram_bandwidth_utilization_percent{" + labels + "} 12.125\n"
      "# HELP gpumix_process_gpu_memory_used_bytes Device memory the process uses\n"
      "# TYPE gpumix_process_gpu_memory_used_bytes gauge\n"
      R"(gpumix_process_gpu_memory_used_bytes{gpu="0",uuid="GPU-1",pid="4242",kind="compute",workload="train"} 536870912)" "\n"
      R"(gpumix_process_gpu_memory_used_bytes{gpu="0",uuid="GPU-1",pid="99",kind="mps_client"} 0)" "\n"
      "# HELP gpumix_process_sm_utilization_percent The process's SM utilization (NVML's latest sample)\n"
      "# TYPE gpumix_process_sm_utilization_percent gauge\n"
      R"(gpumix_process_sm_utilization_percent{gpu="0",uuid="GPU-1",pid="4242",kind="compute",workload="train"} 50)" "\n"
      "# HELP gpumix_process_memory_utilization_percent The process's memory utilization (NVML's latest sample)\n"
      "# TYPE gpumix_process_memory_utilization_percent gauge\n"
      R"(gpumix_process_memory_utilization_percent{gpu="0",uuid="GPU-1",pid="4242",kind="compute",workload="train"} 20)" "\n"
      "# HELP gpumix_sample_timestamp_seconds When these figures were read (Unix time)\n"
      "# TYPE gpumix_sample_timestamp_seconds gauge\n"
      "gpumix_sample_timestamp_seconds 1700000000.5\n";
  EXPECT_EQ(render_prometheus(example()), expected);
}

TEST(Prometheus, WithoutNvmlOnlyTheReasonEscaped) {
  Exposition e;
  e.reason = "cannot load \"libnvidia-ml.so.1\" (C:\\lib)\nsee the docs";
  EXPECT_EQ(render_prometheus(e),
            "# HELP gpumix_nvml_available 1 when gpumix can read the GPUs through NVML; 0 with the reason as a label when it cannot\n"
            "# TYPE gpumix_nvml_available gauge\n"
            R"(gpumix_nvml_available{reason="cannot load \"libnvidia-ml.so.1\" (C:\\lib)\nsee the docs"} 0)" "\n");
}

TEST(Prometheus, BeforeTheFirstSampleOnlyAvailabilityAndInfo) {
  auto e = example();
  e.snapshot.reset();
  const auto text = render_prometheus(e);
  EXPECT_NE(text.find("gpumix_nvml_available 1\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE gpumix_gpu_info gauge\n"), std::string::npos);
  EXPECT_EQ(text.find("gpumix_gpu_utilization_percent"), std::string::npos);
  EXPECT_EQ(text.find("gpumix_sample_timestamp_seconds"), std::string::npos);
}

TEST(Prometheus, CountsNvmlEventsAndServesTheLastXidAsDcgm) {
  auto e = example();
  for (int64_t xid : {31, 31, 43}) {
    EventSample x;
    x.uuid = "GPU-1";
    x.type = "xid_critical_error";
    x.data = xid;
    e.snapshot->events.push_back(x);
  }
  const auto text = render_prometheus(e);
  EXPECT_NE(text.find("# TYPE gpumix_gpu_nvml_events_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(type="xid_critical_error",xid="31"} 2)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(type="xid_critical_error",xid="43"} 1)"), std::string::npos) << text;
  const auto dcgm = render_prometheus(e, MetricNames::dcgm);
  EXPECT_NE(dcgm.find("\nDCGM_FI_DEV_XID_ERRORS{gpu=\"0\",UUID=\"GPU-1\""), std::string::npos) << dcgm;
  EXPECT_NE(dcgm.find("} 43\n"), std::string::npos) << "the last one" << dcgm;
  EXPECT_EQ(render_prometheus(example()).find("gpumix_gpu_nvml_events_total"), std::string::npos) << "none: no family";
}

TEST(Prometheus, MissingFiguresLeaveOutTheirLinesAndEmptyFamilies) {
  auto e = example();
  e.snapshot->gpus[0].values[metrics::power].reset();
  e.snapshot->gpus[0].values[metrics::clock_event_reasons].reset();
  e.snapshot->gpm.clear();
  const auto text = render_prometheus(e);
  EXPECT_EQ(text.find("gpumix_gpu_power_watts"), std::string::npos);  // not even HELP/TYPE
  EXPECT_EQ(text.find("clock_event"), std::string::npos);
  EXPECT_EQ(text.find("gpumix_gpm_"), std::string::npos);
  EXPECT_NE(text.find("gpumix_gpu_temperature_celsius{"), std::string::npos);
}

TEST(Prometheus, EscapingAndValues) {
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(escape_help("a\"b\\c\nd"), "a\"b\\\\c\\nd");  // quotes stay in HELP
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(100), "100");
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(-2.5), "-2.5");
  EXPECT_EQ(format_value(1e21), "1e+21");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
}

}  // namespace
}  // namespace gpumix::telemetry
