// gpumix's NVML code path without a GPU: the real gpumix binary loads the
// fake driver library (tests/fake_nvml) through GPUMIX_NVML_LIBRARY, and the
// GPUs it reads are scripted in GPUMIX_FAKE_NVML_STATE. Every check compares
// what gpumix shows, stores or serves with the scripted figures.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <stdlib.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

#include "gpumix/gpu/nvml.hpp"
#include "gpumix/modes/mps.hpp"
#include "gpumix/report/table.hpp"
#include "gpumix/telemetry/telemetry_store.hpp"
#include "gpumix/util/subprocess.hpp"
#include "fake_driver.hpp"
#include "harness.hpp"
#include "results.hpp"

namespace gpumix::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// A MIG instance of an H200, in `slot` of the GPU's 7.
json mig_instance(unsigned slot, unsigned gi, const std::string& profile, uint64_t memory, unsigned sms) {
  return {{"slot", slot},
          {"name", "NVIDIA H200 MIG " + profile},
          {"uuid", "MIG-aaaaaaa" + std::to_string(gi) + "-bbbb-cccc-dddd-eeeeeeeeeeee"},
          {"gpu_instance_id", gi},
          {"compute_instance_id", 0},
          {"memory_total", memory},
          {"memory_used", 0},
          {"sm_count", sms}};
}

// GPU 1 of kTwoGpus: MIG on, two instances in slots 0 and 3 (slots 1, 2, 4-6 unused).
json h200_with_mig(int index) {
  json g = h200(index);
  g["compute_mode"] = "Exclusive_Process";
  g["ecc"] = false;
  g.erase("persistence");  // not supported
  g.erase("gpm");
  g.erase("processes");
  g.erase("process_utilization");
  json big = mig_instance(0, 1, "3g.71gb", 70 * kGiB, 60);
  big["processes"] = {{{"pid", 5001}, {"used_memory", 2 * kGiB}}};
  json small = mig_instance(3, 9, "1g.18gb", 16 * kGiB, 16);
  small["processes"] = {{{"pid", 5002}, {"used_memory", 1 * kGiB}}};
  g["mig"] = {{"enabled", true}, {"max_devices", 7}, {"instances", {big, small}}};
  return g;
}

json two_gpus() {
  return {{"driver_version", "580.95.05"}, {"cuda_driver_version", 13000}, {"gpus", {h200(0), h200_with_mig(1)}}};
}

// A monitor's JSON lines.
std::vector<json> json_lines(const std::string& out) {
  std::vector<json> lines;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(json::parse(line));
  return lines;
}

// The fields of a CSV line, quotes removed.
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '"' && quoted && i + 1 < line.size() && line[i + 1] == '"') fields.back() += line[++i];
    else if (c == '"') quoted = !quoted;
    else if (c == ',' && !quoted) fields.emplace_back();
    else fields.back() += c;
  }
  return fields;
}

const json& gpu_of(const json& tick, int gpu) {
  for (const auto& g : tick["gpus"])
    if (g["gpu"] == gpu) return g;
  throw std::runtime_error("no GPU " + std::to_string(gpu) + " in " + tick.dump());
}

std::set<int64_t> pids_of(const json& tick, int gpu) {
  std::set<int64_t> pids;
  for (const auto& p : tick["processes"])
    if (p["gpu"] == gpu) pids.insert(p["pid"].get<int64_t>());
  return pids;
}

TEST(FakeNvml, GpuShowsEveryFieldOfBothGpus) {
  ScratchDir dir;
  FakeDriver driver(dir, two_gpus());
  auto j = gpumix({"gpu", "--format", "json"}, dir.path());
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto doc = json::parse(j.out);
  EXPECT_EQ(doc["available"], true);
  EXPECT_EQ(doc["driver_version"], "580.95.05");
  EXPECT_EQ(doc["cuda_driver_version"], "13.0");
  ASSERT_EQ(doc["devices"].size(), 2u);

  const auto& a = doc["devices"][0];
  EXPECT_EQ(a["index"], 0);
  EXPECT_EQ(a["name"], "NVIDIA H200");
  EXPECT_EQ(a["uuid"], "GPU-00000000-1111-2222-3333-444444444444");
  EXPECT_EQ(a["pci_bus_id"], "00000000:10:00.0");
  EXPECT_EQ(a["memory_total_bytes"], 141 * kGiB);
  EXPECT_EQ(a["memory_used_bytes"], 20 * kGiB);  // v2: without the driver's reserve
  EXPECT_EQ(a["mig_enabled"], false);
  EXPECT_EQ(a["compute_mode"], "Default");
  EXPECT_EQ(a["ecc_enabled"], true);
  EXPECT_EQ(a["persistence"], true);
  EXPECT_EQ(a["gpm_supported"], true);
  EXPECT_EQ(a["timeslice_policy"], "unknown");  // no nvidia-smi here
  EXPECT_TRUE(a["mig_instances"].empty());

  const auto& b = doc["devices"][1];
  EXPECT_EQ(b["uuid"], "GPU-00000001-1111-2222-3333-444444444444");
  EXPECT_EQ(b["pci_bus_id"], "00000000:11:00.0");
  EXPECT_EQ(b["mig_enabled"], true);
  EXPECT_EQ(b["compute_mode"], "Exclusive_Process");
  EXPECT_EQ(b["ecc_enabled"], false);
  EXPECT_TRUE(b["persistence"].is_null()) << "not supported: no value";
  EXPECT_EQ(b["gpm_supported"], false);
  ASSERT_EQ(b["mig_instances"].size(), 2u) << "the unused slots are skipped";
  const json want0 = {{"uuid", "MIG-aaaaaaa1-bbbb-cccc-dddd-eeeeeeeeeeee"}, {"gpu_instance_id", 1}, {"compute_instance_id", 0},
                      {"memory_bytes", 70 * kGiB}, {"sm_count", 60}, {"profile", "3g.71gb"}, {"parent_index", 1}};
  const json want1 = {{"uuid", "MIG-aaaaaaa9-bbbb-cccc-dddd-eeeeeeeeeeee"}, {"gpu_instance_id", 9}, {"compute_instance_id", 0},
                      {"memory_bytes", 16 * kGiB}, {"sm_count", 16}, {"profile", "1g.18gb"}, {"parent_index", 1}};
  EXPECT_EQ(b["mig_instances"][0], want0);
  EXPECT_EQ(b["mig_instances"][1], want1);

  auto t = gpumix({"gpu"}, dir.path());
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("driver 580.95.05, CUDA 13.0, 2 GPU(s)"), std::string::npos) << t.out;
  for (const char* text : {"GPU-00000000-1111-2222-3333-444444444444", "00000000:10:00.0", "144384", "20480",
                           "Exclusive_Process", "MIG devices", "MIG-aaaaaaa9-bbbb-cccc-dddd-eeeeeeeeeeee", "1g.18gb",
                           "3g.71gb", "71680", "16384"})
    EXPECT_NE(t.out.find(text), std::string::npos) << text << " in\n" << t.out;
  static const std::regex gpu0(R"(\n +0 +NVIDIA H200 +GPU-0\S+ +00000000:10:00\.0 +144384 +20480 +no +Default +yes +yes +unknown +yes *\n)");
  EXPECT_TRUE(std::regex_search(t.out, gpu0)) << t.out;
  static const std::regex gpu1(R"(\n +1 +NVIDIA H200 +GPU-0\S+ +00000000:11:00\.0 +144384 +20480 +yes +Exclusive_Process +no +- +unknown +no *\n)");
  EXPECT_TRUE(std::regex_search(t.out, gpu1)) << t.out;
}

TEST(FakeNvml, MonitorStreamsCsvAndStoresTheScriptedFigures) {
  ScratchDir dir;
  FakeDriver driver(dir, two_gpus());
  auto r = gpumix({"monitor", "--duration", "1s", "--interval", "100ms", "--format", "csv", "--results", "results"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream in(r.out);
  std::string header;
  std::getline(in, header);
  ASSERT_EQ(header,
            "time,t_ns,gpu,uuid,gpu_util_percent,memory_util_percent,memory_used_bytes,memory_total_bytes,memory_free_bytes,"
            "memory_reserved_bytes,sm_clock_mhz,memory_clock_mhz,power_watts,energy_mj,temperature_c,clock_event_reasons,"
            "gpm_sm_util_percent,gpm_sm_occupancy_percent,gpm_tensor_util_percent,gpm_dram_bw_util_percent,"
            "gpm_fp16_util_percent,gpm_fp32_util_percent,processes");
  const auto names = csv_fields(header);
  auto col = [&](const std::string& name) {
    return static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin());
  };
  std::vector<std::vector<std::string>> gpu0, gpu1;
  for (std::string line; std::getline(in, line);) {
    const auto cells = csv_fields(line);
    ASSERT_EQ(cells.size(), names.size()) << line;
    (cells[col("gpu")] == "0" ? gpu0 : gpu1).push_back(cells);
  }
  ASSERT_GE(gpu0.size(), 5u) << r.out;
  EXPECT_EQ(gpu0.size(), gpu1.size());
  int64_t previous_energy = 0;
  bool gpm_seen = false;
  for (const auto& c : gpu0) {
    EXPECT_EQ(c[col("uuid")], "GPU-00000000-1111-2222-3333-444444444444");
    EXPECT_EQ(c[col("time")], report::rfc3339_utc(std::stoll(c[col("t_ns")]))) << "the same instant";
    EXPECT_EQ(c[col("gpu_util_percent")], "87");
    EXPECT_EQ(c[col("memory_util_percent")], "41");
    EXPECT_EQ(c[col("memory_used_bytes")], std::to_string(20 * kGiB));
    EXPECT_EQ(c[col("memory_total_bytes")], std::to_string(141 * kGiB));
    // NVML's own free figure: total − used − what the driver reserves.
    EXPECT_EQ(c[col("memory_free_bytes")], std::to_string(141 * kGiB - 20 * kGiB - kGiB));
    EXPECT_EQ(c[col("memory_reserved_bytes")], std::to_string(kGiB));
    EXPECT_EQ(c[col("sm_clock_mhz")], "1980");
    EXPECT_EQ(c[col("memory_clock_mhz")], "3201");
    EXPECT_EQ(c[col("power_watts")], "350.0");  // as JSON writes the double
    const int64_t energy = std::stoll(c[col("energy_mj")]);
    EXPECT_GT(energy, previous_energy) << "the energy counter rises";
    EXPECT_GE(energy, 5000000);
    previous_energy = energy;
    EXPECT_EQ(c[col("temperature_c")], "45");
    EXPECT_EQ(c[col("clock_event_reasons")], "gpu_idle,sw_power_cap");
    if (!c[col("gpm_sm_util_percent")].empty()) {
      gpm_seen = true;
      EXPECT_EQ(c[col("gpm_sm_util_percent")], "62.5");
      EXPECT_EQ(c[col("gpm_fp16_util_percent")], "7.5");
      EXPECT_EQ(c[col("gpm_fp32_util_percent")], "") << "not scripted: NVML reports it unsupported";
    }
  }
  EXPECT_TRUE(gpm_seen) << r.out;
  EXPECT_NE(r.out.find(",\"gpu_idle,sw_power_cap\","), std::string::npos) << r.out;
  // 1 s at 350 W: about 350 J between the first and the last tick.
  EXPECT_NEAR(static_cast<double>(previous_energy - std::stoll(gpu0.front()[col("energy_mj")])) / 1000.0,
              350.0 * (std::stod(gpu0.back()[col("t_ns")]) - std::stod(gpu0.front()[col("t_ns")])) / 1e9, 25.0);
  for (const auto& c : gpu1) {
    EXPECT_EQ(c[col("gpu_util_percent")], "") << "MIG on: no utilization, and no error either";
    EXPECT_EQ(c[col("gpm_sm_util_percent")], "") << "no GPM on GPU 1";
    EXPECT_EQ(c[col("processes")], "2") << "the MIG instances' processes";
  }

  telemetry::TelemetryStore t(dir / "results");
  auto sessions = t.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_TRUE(sessions[0].available);
  EXPECT_EQ(sessions[0].errors, 0) << sessions[0].last_error;
  EXPECT_NE(sessions[0].notes.find("GPU 1 (NVIDIA H200): no GPM metrics"), std::string::npos) << sessions[0].notes;
  const auto samples = t.samples_between(0, INT64_MAX);
  EXPECT_EQ(samples.gpus.size(), gpu0.size() + gpu1.size());
  for (const auto& g : samples.gpus) {
    if (g.gpu != 0) continue;
    EXPECT_EQ(g.values[telemetry::metric(telemetry::Scope::gpu, "gpu_util_percent")], 87);
    EXPECT_EQ(g.values[telemetry::metric(telemetry::Scope::gpu, "power_watts")], 350.0);
    EXPECT_EQ(g.values[telemetry::metric(telemetry::Scope::gpu, "clock_event_reasons")], 5);
  }
  ASSERT_FALSE(samples.gpm.empty());
  for (const auto& m : samples.gpm) {
    EXPECT_EQ(m.gpu, 0);
    EXPECT_EQ(m.values[telemetry::metric(telemetry::Scope::gpm, "sm_util_percent")], 62.5);
    EXPECT_EQ(m.values[telemetry::metric(telemetry::Scope::gpm, "sm_occupancy_percent")], 31.25);
    EXPECT_EQ(m.values[telemetry::metric(telemetry::Scope::gpm, "tensor_util_percent")], 12.5);
    EXPECT_EQ(m.values[telemetry::metric(telemetry::Scope::gpm, "dram_bw_util_percent")], 55.0);
  }
  std::set<int64_t> pids;
  for (const auto& p : samples.processes) {
    pids.insert(p.pid);
    if (p.pid == 5002) {
      EXPECT_EQ(p.gpu, 1);
      EXPECT_EQ(p.gpu_instance_id, 9);
      EXPECT_EQ(p.values[telemetry::metric(telemetry::Scope::process, "used_memory_bytes")], static_cast<int64_t>(kGiB));
    }
  }
  EXPECT_EQ(pids, (std::set<int64_t>{4001, 4002, 5001, 5002}));
}

TEST(FakeNvml, MonitorJsonHasProcessesGpmAndReasons) {
  ScratchDir dir;
  FakeDriver driver(dir, two_gpus());
  auto r = gpumix({"monitor", "--duration", "1s", "--interval", "100ms", "--format", "json"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ticks = json_lines(r.out);
  ASSERT_GE(ticks.size(), 5u) << r.out;
  bool gpm_seen = false, util_seen = false;
  static const std::regex rfc3339(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  for (const auto& tick : ticks) {
    EXPECT_EQ(tick["kind"], "gpumix.monitor");  // a document per line
    EXPECT_EQ(tick["schema_version"], 1);
    EXPECT_TRUE(std::regex_match(tick["time"].get<std::string>(), rfc3339)) << tick["time"];
    EXPECT_TRUE(tick["errors"].empty()) << tick.dump();
    const auto& g = gpu_of(tick, 0);
    EXPECT_EQ(g["gpu_util_percent"], 87);
    EXPECT_EQ(g["memory_clock_mhz"], 3201);
    EXPECT_EQ(g["temperature_c"], 45);
    EXPECT_EQ(g["clock_event_reasons"], 5);
    EXPECT_EQ(g["clock_event_reason_names"], json({"gpu_idle", "sw_power_cap"}));
    EXPECT_TRUE(gpu_of(tick, 1)["gpu_util_percent"].is_null());
    EXPECT_EQ(pids_of(tick, 0), (std::set<int64_t>{4001, 4002}));
    EXPECT_EQ(pids_of(tick, 1), (std::set<int64_t>{5001, 5002}));
    for (const auto& p : tick["processes"]) {
      if (p["pid"] == 4002) {
        EXPECT_EQ(p["used_memory_bytes"], 5 * kGiB);
        EXPECT_TRUE(p["gpu_instance_id"].is_null());
        if (!p["sm_util_percent"].is_null()) {
          util_seen = true;
          EXPECT_EQ(p["sm_util_percent"], 50);
          EXPECT_EQ(p["memory_util_percent"], 20);
        }
      }
      if (p["pid"] == 5001) {
        EXPECT_EQ(p["gpu_instance_id"], 1);
      }
    }
    for (const auto& m : tick["gpm"]) {
      gpm_seen = true;
      EXPECT_EQ(m["gpu"], 0);
      EXPECT_EQ(m["uuid"], "GPU-00000000-1111-2222-3333-444444444444");
      EXPECT_EQ(m["tensor_util_percent"], 12.5);
      EXPECT_EQ(m["dram_bw_util_percent"], 55.0);
    }
  }
  EXPECT_TRUE(gpm_seen);
  EXPECT_TRUE(util_seen);
}

TEST(FakeNvml, MonitorTableShowsTheScriptedFigures) {
  ScratchDir dir;
  FakeDriver driver(dir, two_gpus());
  auto r = gpumix({"monitor", "--duration", "1s", "--interval", "100ms"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("time ", 0), 0u) << r.out;
  // time, gpu, util%, mem%, mem_used, sm_mhz, mem_mhz, power_w, temp_c, GPM (6; FP32 not scripted), procs,
  // clock events.
  static const std::regex gpu0(
      R"(\n\d\d:\d\d:\d\d\.\d{3} +0 +87 +41 +20\.0 GiB +1980 +3201 +350\.0 +45 +62\.5 +31\.2 +12\.5 +55\.0 +7\.5 +- +2 +gpu_idle,sw_power_cap\n)");
  EXPECT_TRUE(std::regex_search(r.out, gpu0)) << r.out;
  static const std::regex gpu1(
      R"(\n\d\d:\d\d:\d\d\.\d{3} +1 +- +- +20\.0 GiB +1980 +3201 +350\.0 +45 +- +- +- +- +- +- +2 +gpu_idle,sw_power_cap\n)");
  EXPECT_TRUE(std::regex_search(r.out, gpu1)) << r.out;
}

// What `monitor` serves at /metrics once the sampler has GPM figures (they
// need two samples 100 ms apart): `gpm_family` names a GPM metric of the scheme.
std::string scrape_with_gpm(const Background& monitor, const std::string& gpm_family) {
  const int port = serving_port(monitor);
  EXPECT_GT(port, 0) << monitor.output();
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5, 0);
  client.set_read_timeout(5, 0);
  std::string body;
  eventually(
      [&] {
        auto res = client.Get("/metrics");
        if (!res || res->status != 200) return false;
        body = res->body;
        return body.find(gpm_family + "{") != std::string::npos;
      },
      10s);
  return body;
}

// promtool's verdict on scraped text: "" when clean, else its complaints.
// nullopt when promtool is not installed.
std::optional<std::string> promtool_problems(const ScratchDir& dir, const std::string& body) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) return std::nullopt;
  const auto scraped = dir.write("metrics.txt", body);
  auto check = run_and_capture({"/bin/sh", "-c", "promtool check metrics < \"$0\"", scraped.string()}, 30s);
  return check.exit_code == 0 ? "" : "exit " + std::to_string(check.exit_code) + ": " + check.out + check.err;
}

// An Xid while `monitor --listen` runs: counted by type and Xid in gpumix's
// names, the last Xid per GPU in dcgm-exporter's (0 on a GPU without any).
TEST(FakeNvml, ListenServesXidEventsInBothSchemes) {
  ScratchDir dir;
  json state = two_gpus();
  const auto events = dir.path() / "events.jsonl";
  state["gpus"][0]["events_file"] = events.string();
  FakeDriver driver(dir, state);
  for (const auto& [names, xid, expected] :
       std::vector<std::tuple<std::string, int, std::string>>{
           {"gpumix", 31, R"(\ngpumix_gpu_nvml_events_total\{gpu="0",uuid="GPU-0[^}]*type="xid_critical_error",xid="31"\} 1\n)"},
           {"dcgm", 79, R"(\nDCGM_FI_DEV_XID_ERRORS\{gpu="0",[^}]*\} 79\n)"}}) {
    SCOPED_TRACE(names);
    const auto cwd = dir.path() / names;  // each monitor's output file of its own
    std::filesystem::create_directories(cwd);
    Background monitor({"monitor", "--listen", "127.0.0.1:0", "--interval", "100ms", "--names", names}, cwd);
    const int port = serving_port(monitor);
    ASSERT_GT(port, 0) << monitor.output();
    std::this_thread::sleep_for(300ms);  // registered: later lines are events
    std::ofstream(events, std::ios::app) << R"({"type": 8, "data": )" << xid << "}\n";
    httplib::Client client("127.0.0.1", port);
    std::string body;
    const std::regex re(expected);
    eventually(
        [&] {
          auto res = client.Get("/metrics");
          body = res && res->status == 200 ? res->body : "";
          return std::regex_search(body, re);
        },
        10s);
    EXPECT_TRUE(std::regex_search(body, re)) << body << "\nport " << port << "\n" << monitor.output();
    if (names == "dcgm") {
      EXPECT_TRUE(std::regex_search(body, std::regex(R"(\nDCGM_FI_DEV_XID_ERRORS\{gpu="1",[^}]*\} 0\n)"))) << body;
    }
    monitor.signal(SIGINT);
    EXPECT_EQ(monitor.wait(5s), 0) << monitor.output();
  }
}

TEST(FakeNvml, ListenServesTheScriptedFigures) {
  ScratchDir dir;
  FakeDriver driver(dir, two_gpus());
  Background monitor({"monitor", "--listen", "127.0.0.1:0", "--interval", "100ms"}, dir.path());
  const std::string body = scrape_with_gpm(monitor, "gpumix_gpm_sm_utilization_percent");
  const std::string gpu0 = R"(gpu="0",uuid="GPU-00000000-1111-2222-3333-444444444444",model="NVIDIA H200")";
  for (const std::string& line : std::vector<std::string>{
           "gpumix_nvml_available 1",
        R"(gpumix_gpu_info{gpu="0",uuid="GPU-00000000-1111-2222-3333-444444444444",model="NVIDIA H200",pci_bus_id="00000000:10:00.0",driver_version="580.95.05",compute_mode="Default",mig="disabled",timeslice_policy="unknown"} 1)",
        R"(gpumix_gpu_info{gpu="1",uuid="GPU-00000001-1111-2222-3333-444444444444",model="NVIDIA H200",pci_bus_id="00000000:11:00.0",driver_version="580.95.05",compute_mode="Exclusive_Process",mig="enabled",timeslice_policy="unknown"} 1)",
        "gpumix_gpu_utilization_percent{" + gpu0 + "} 87", "gpumix_gpu_memory_utilization_percent{" + gpu0 + "} 41",
        "gpumix_gpu_memory_used_bytes{" + gpu0 + "} 21474836480", "gpumix_gpu_memory_total_bytes{" + gpu0 + "} 151397597184",
        "gpumix_gpu_sm_clock_hertz{" + gpu0 + "} 1.98e+09", "gpumix_gpu_memory_clock_hertz{" + gpu0 + "} 3.201e+09",
        "gpumix_gpu_power_watts{" + gpu0 + "} 350", "gpumix_gpu_temperature_celsius{" + gpu0 + "} 45",
        "gpumix_gpu_clock_event_reasons{" + gpu0 + "} 5",
        "gpumix_gpu_clock_event_reason_active{" + gpu0 + ",reason=\"sw_power_cap\"} 1",
        "gpumix_gpu_clock_event_reason_active{" + gpu0 + ",reason=\"hw_slowdown\"} 0",
        "gpumix_gpm_sm_utilization_percent{" + gpu0 + "} 62.5", "gpumix_gpm_sm_occupancy_percent{" + gpu0 + "} 31.25",
        "gpumix_gpm_tensor_active_percent{" + gpu0 + "} 12.5",
        "gpumix_gpm_dram_bandwidth_utilization_percent{" + gpu0 + "} 55",
        R"(gpumix_process_gpu_memory_used_bytes{gpu="0",uuid="GPU-00000000-1111-2222-3333-444444444444",pid="4002",kind="compute"} 5368709120)",
        R"(gpumix_process_gpu_memory_used_bytes{gpu="1",uuid="GPU-00000001-1111-2222-3333-444444444444",pid="5002",kind="compute"} 1073741824)"})
    EXPECT_NE(body.find("\n" + line + "\n"), std::string::npos) << line << "\nin\n" << body;
  static const std::regex energy(R"(\ngpumix_gpu_energy_joules_total\{gpu="0",[^}]*\} (\d+(\.\d+)?)\n)");
  std::smatch e;
  ASSERT_TRUE(std::regex_search(body, e, energy)) << body;
  EXPECT_GT(std::stod(e[1]), 5000.0) << "energy_start_mj 5000000 and rising";

  // Prometheus's own checker, where it is installed (scripts/setup.sh --test).
  const auto problems = promtool_problems(dir, body);
  if (problems) {
    EXPECT_EQ(*problems, "") << body;
  }
  monitor.signal(SIGINT);
  EXPECT_EQ(monitor.wait(5s), 0) << monitor.output();
  if (!problems) GTEST_SKIP() << "promtool is not installed (Debian's prometheus package, scripts/setup.sh --test): "
                                 "the figures were checked, the exposition format was not";
}

// --names dcgm: dcgm-exporter's names, units (MiB, MHz, mJ, ratios) and labels.
TEST(FakeNvml, ListenServesDcgmExporterNames) {
  ScratchDir dir;
  FakeDriver driver(dir, two_gpus());
  Background monitor({"monitor", "--listen", "127.0.0.1:0", "--interval", "100ms", "--names", "dcgm"}, dir.path());
  const std::string body = scrape_with_gpm(monitor, "DCGM_FI_PROF_SM_ACTIVE");
  const std::string gpu0 =
      R"(gpu="0",UUID="GPU-00000000-1111-2222-3333-444444444444",pci_bus_id="00000000:10:00.0",device="nvidia0",modelName="NVIDIA H200",hostname=")";
  for (const std::string& line : std::vector<std::string>{
           "DCGM_FI_DEV_GPU_UTIL{" + gpu0, "DCGM_FI_DEV_FB_USED{" + gpu0, "DCGM_FI_DEV_POWER_USAGE{" + gpu0,
           "DCGM_FI_DEV_SM_CLOCK{" + gpu0, "DCGM_FI_PROF_SM_ACTIVE{" + gpu0, "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{" + gpu0})
    EXPECT_NE(body.find("\n" + line), std::string::npos) << line << "\nin\n" << body;
  for (const auto& [family, value] : std::vector<std::pair<std::string, std::string>>{
           {"DCGM_FI_DEV_GPU_UTIL", "87"},            {"DCGM_FI_DEV_FB_USED", "20480"},
           // NVML's free: 141 GiB less 20 GiB used and 1 GiB the driver reserves.
           {"DCGM_FI_DEV_FB_FREE", "122880"},         {"DCGM_FI_DEV_FB_RESERVED", "1024"},
           {"DCGM_FI_DEV_POWER_USAGE", "350"},        {"DCGM_FI_PROF_PIPE_FP16_ACTIVE", "0.075"},
           {"DCGM_FI_DEV_SM_CLOCK", "1980"},          {"DCGM_FI_DEV_GPU_TEMP", "45"},
           {"DCGM_FI_PROF_SM_ACTIVE", "0.625"},       {"DCGM_FI_PROF_SM_OCCUPANCY", "0.3125"},
           {"DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "0.125"}, {"DCGM_FI_PROF_DRAM_ACTIVE", "0.55"}}) {
    const std::regex re("\n" + family + R"(\{gpu="0",[^}]*\} )" + std::regex_replace(value, std::regex(R"(\.)"), R"(\.)") + "\n");
    EXPECT_TRUE(std::regex_search(body, re)) << family << " " << value << "\nin\n" << body;
  }
  EXPECT_EQ(body.find("gpumix_gpu_"), std::string::npos) << body;
  // The text must parse (promtool's exit 1 would say it does not). Its lint
  // (exit 3) objects to dcgm-exporter's own naming, camelCase labels (UUID,
  // modelName) and a counter without _total; those are the names dashboards
  // use, so they are the only complaints allowed.
  if (const auto problems = promtool_problems(dir, body); problems && !problems->empty()) {
    EXPECT_EQ(problems->rfind("exit 3: ", 0), 0u) << *problems;
    std::istringstream lines(problems->substr(problems->find(": ") + 2));
    static const std::regex allowed(
        R"(DCGM_FI_[A-Z0-9_]+ (label names should be written in 'snake_case' not 'camelCase'|counter metrics should have "_total" suffix))");
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) {
        EXPECT_TRUE(std::regex_match(line, allowed)) << line;
      }
    }
  }
  monitor.signal(SIGINT);
  EXPECT_EQ(monitor.wait(5s), 0) << monitor.output();

  auto bad = gpumix({"monitor", "--listen", "127.0.0.1:0", "--names", "prom"}, dir.path());
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--names: expected gpumix or dcgm, got 'prom'"), std::string::npos) << bad.err;
  auto alone = gpumix({"monitor", "--duration", "1s", "--names", "dcgm"}, dir.path());
  EXPECT_EQ(alone.exit_code, 2);
  EXPECT_NE(alone.err.find("--names: only with --listen"), std::string::npos) << alone.err;
}

// deploy/grafana's dashboard: valid JSON whose every query names only metrics
// gpumix serves (each family appears with the fake's two GPUs, MIG and processes).
TEST(FakeNvml, TheGrafanaDashboardQueriesOnlyServedMetrics) {
  std::ifstream in(GPUMIX_GRAFANA_DASHBOARD);
  ASSERT_TRUE(in) << GPUMIX_GRAFANA_DASHBOARD;
  const json dash = json::parse(in);
  std::vector<std::string> queries;
  std::set<int> ids;
  for (const auto& panel : dash.at("panels")) {
    EXPECT_TRUE(ids.insert(panel.at("id").get<int>()).second) << "duplicate panel id " << panel.at("id");
    EXPECT_EQ(panel.at("datasource").at("uid"), "${datasource}") << panel.at("title");
    ASSERT_FALSE(panel.at("targets").empty()) << panel.at("title");
    for (const auto& t : panel.at("targets")) queries.push_back(t.at("expr").get<std::string>());
  }
  for (const auto& v : dash.at("templating").at("list"))
    if (v.at("type") == "query") queries.push_back(v.at("query").at("query").get<std::string>());

  ScratchDir dir;
  FakeDriver driver(dir, two_gpus());
  Background monitor({"monitor", "--listen", "127.0.0.1:0", "--interval", "100ms"}, dir.path());
  const std::string body = scrape_with_gpm(monitor, "gpumix_gpm_sm_utilization_percent");
  static const std::regex metric(R"(\bgpumix_[a-z_]+\b)");
  int names = 0;
  for (const auto& q : queries)
    for (auto it = std::sregex_iterator(q.begin(), q.end(), metric); it != std::sregex_iterator(); ++it, ++names)
      EXPECT_NE(body.find("\n# TYPE " + it->str() + " "), std::string::npos) << it->str() << " in " << q << " is not served";
  EXPECT_GT(names, 15);
  monitor.signal(SIGINT);
  EXPECT_EQ(monitor.wait(5s), 0) << monitor.output();
}

// The run's sampler: figures per cell in the report.
TEST(FakeNvml, RunReportsTelemetryAndEnergyPerCell) {
  ScratchDir dir;
  FakeDriver driver(dir, two_gpus());
  dir.write("mix.yaml", R"(name: pair
cell_duration: 1s
stop_grace: 1s
modes: [exclusive, timeslice]
workloads:
  - name: train
    command: [TESTLOAD, --iters, "0", --interval-ms, "20", --samples, "8"]
    warmup: none
  - name: server
    command: [TESTLOAD, --iters, "0", --interval-ms, "5", --latency-ms, "4"]
    warmup: none
)");
  auto r = gpumix({"run", "mix.yaml"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("GPU 0: NVIDIA H200 (driver 580.95.05, CUDA 13.0, MIG off, compute mode Default)"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("no NVIDIA GPU available"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("   (the analysis, the recommended mode and plots)\n"), std::string::npos) << r.out;

  auto rep = gpumix({"report", "--format", "json"}, dir.path());
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  auto doc = json::parse(rep.out);
  EXPECT_EQ(doc["run"]["device"], "gpu");
  EXPECT_TRUE(doc["run"]["cpu_only"].is_null());
  EXPECT_EQ(doc["run"]["has_telemetry"], true);
  EXPECT_EQ(doc["run"]["has_gpm"], true);
  EXPECT_EQ(doc["run"]["has_energy"], true);
  EXPECT_EQ(doc["run"]["environment"]["nvml"]["devices"].size(), 2u) << doc["run"]["environment"].dump();
  ASSERT_EQ(doc["cells"].size(), 3u);
  for (const auto& c : doc["cells"]) {
    SCOPED_TRACE(c["label"].get<std::string>());
    EXPECT_EQ(c["status"], "ok");
    EXPECT_EQ(c["gpu"], 0);
    EXPECT_GE(c["gpu_samples"].get<int>(), 4);
    EXPECT_EQ(c["gpu_util"]["mean"], 87.0);
    EXPECT_EQ(c["gpu_util"]["p95"], 87.0);
    EXPECT_EQ(c["gpm_sm"]["mean"], 62.5);
    EXPECT_EQ(c["gpm_tensor"]["mean"], 12.5);
    EXPECT_EQ(c["gpm_dram"]["mean"], 55.0);
    EXPECT_EQ(c["energy_source"], "energy counter");
    EXPECT_NEAR(c["mean_power_w"].get<double>(), 350.0, 350.0 * 0.1);
    // The counter's increase over the cell's window, at 350 W.
    const double window = c["window"]["seconds"].get<double>();
    EXPECT_GT(c["energy_j"].get<double>(), 0);
    EXPECT_LE(c["energy_j"].get<double>(), 350.0 * window * 1.05) << "window " << window;
    EXPECT_GE(c["energy_j"].get<double>(), 350.0 * (window - 0.35)) << "window " << window;
    if (c["samples_processed"].get<int64_t>() > 0) {
      EXPECT_NEAR(c["energy_per_sample_j"].get<double>(),
                  c["energy_j"].get<double>() / c["samples_processed"].get<double>(), 1e-9);
    }
  }
}

// NVML's per-process figures for the workloads' own pids (the fake lists
// whatever pid each workload wrote): each one's share of SM time, energy and
// memory over the window, idle apart, adding up to the cell's energy.
TEST(FakeNvml, RunAttributesSmTimeMemoryAndEnergyToWorkloads) {
  ScratchDir dir;
  json state = two_gpus();
  const std::string train_pids = (dir / "train.pid").string(), server_pids = (dir / "server.pid").string();
  state["gpus"][0]["processes"] = {{{"pid_file", train_pids}, {"used_memory", 3 * kGiB}},
                                   {{"pid_file", server_pids}, {"used_memory", kGiB}}};
  state["gpus"][0]["process_utilization"] = {{{"pid_file", train_pids}, {"sm", 30}, {"memory", 10}},
                                             {{"pid_file", server_pids}, {"sm", 45}, {"memory", 5}}};
  FakeDriver driver(dir, state);
  dir.write("mix.yaml", "name: pair\ncell_duration: 1s\nstop_grace: 1s\nmodes: [timeslice]\nworkloads:\n"
                        "  - name: train\n    warmup: none\n    command: [TESTLOAD, --iters, '0', --interval-ms, '20', --pid-file, " +
                            train_pids + "]\n"
                        "  - name: server\n    warmup: none\n    command: [TESTLOAD, --iters, '0', --interval-ms, '5', --pid-file, " +
                            server_pids + "]\n");
  auto r = gpumix({"run", "mix.yaml"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto rep = gpumix({"report", "--format", "json"}, dir.path());
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  const auto doc = json::parse(rep.out);
  ASSERT_EQ(doc["cells"].size(), 1u);
  const auto& cell = doc["cells"][0];
  const auto& at = cell["attribution"];
  ASSERT_EQ(at["sm_attributed"], true) << at.dump();
  EXPECT_EQ(at["overlapping"], false) << at.dump();
  EXPECT_GE(at["ticks"].get<int>(), 5) << at.dump();
  std::map<std::string, json> by_name;
  for (const auto& w : at["workloads"]) by_name[w["workload"]] = w;
  ASSERT_EQ(by_name.size(), 2u) << at.dump();
  // Not scaled: each share is the workload's mean SM percent over the
  // window's ticks. A tick may come before a workload wrote its pid (a slow
  // machine, sanitizers): then it counts 0, so allow two of ~10.
  for (const auto& [name, scripted] : {std::pair<std::string, double>{"train", 30}, {"server", 45}}) {
    const double share = by_name[name]["sm_share"].get<double>();
    EXPECT_DOUBLE_EQ(share, by_name[name]["sm_util_mean"].get<double>() / 100) << at.dump();
    EXPECT_LE(share, scripted / 100 + 1e-9) << name << at.dump();
    EXPECT_GE(share, scripted / 100 * 0.8 - 1e-9) << name << at.dump();  // exactly two of ten missed: at the bound
  }
  EXPECT_EQ(at["other_share"].get<double>(), 0.0) << at.dump();
  EXPECT_NEAR(at["idle_share"].get<double>(),
              1 - by_name["train"]["sm_share"].get<double>() - by_name["server"]["sm_share"].get<double>(), 1e-9)
      << at.dump();
  const double energy = cell["energy_j"].get<double>();
  EXPECT_GT(energy, 0);
  EXPECT_NEAR(by_name["train"]["energy_j"].get<double>() + by_name["server"]["energy_j"].get<double>() +
                  at["other_energy_j"].get<double>() + at["idle_energy_j"].get<double>(),
              energy, energy * 1e-9);
  EXPECT_EQ(by_name["train"]["memory_peak_bytes"].get<double>(), static_cast<double>(3 * kGiB));
  EXPECT_EQ(by_name["server"]["memory_peak_bytes"].get<double>(), static_cast<double>(kGiB));

  auto text = gpumix({"report", "--format", "text"}, dir.path());
  EXPECT_NE(text.out.find("GPU time, memory and energy per workload"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("(idle)"), std::string::npos) << text.out;

  auto csv = gpumix({"export", "--format", "csv", "--table", "attribution"}, dir.path());
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(csv.out.rfind("cell,workload,sm_util_mean,sm_share,energy_j,memory_mean_gib,memory_peak_gib,basis\n", 0), 0u)
      << csv.out;
  EXPECT_NE(csv.out.find("\ntimeslice-r1,train,"), std::string::npos) << csv.out;
  auto all = gpumix({"export", "--format", "json"}, dir.path());
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(json::parse(all.out)["attribution"].size(), 4u) << "train, server, other processes, idle";
}

// An Xid while a cell runs (a workload appends it to the GPU's event file,
// which the fake serves as NVML's event queue) is stored with that cell and
// shown next to it; the run's notes say how many there were.
TEST(FakeNvml, AnXidDuringACellIsRecordedWithThatCell) {
  ScratchDir dir;
  json state = two_gpus();
  const std::string events = (dir / "events.jsonl").string();
  state["gpus"][0]["events_file"] = events;
  FakeDriver driver(dir, state);
  dir.write("mix.yaml", "name: faulty\ncell_duration: 2s\nstop_grace: 1s\nmodes: [timeslice]\nworkloads:\n"
                        "  - name: steady\n    warmup: none\n    command: [TESTLOAD, --iters, '0', --interval-ms, '20']\n"
                        "  - name: faulter\n    warmup: none\n    command: [sh, -c, 'sleep 0.5; echo \"{\\\"type\\\": 8, "
                        "\\\"data\\\": 31}\" >> " + events + "; exec TESTLOAD --iters 0 --interval-ms 20']\n");
  auto r = gpumix({"run", "mix.yaml"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("GPU 0: Xid 31 (GPU memory page fault"), std::string::npos) << r.err;

  auto rep = gpumix({"report", "--format", "json"}, dir.path());
  ASSERT_EQ(rep.exit_code, 0) << rep.err;
  const auto doc = json::parse(rep.out);
  ASSERT_EQ(doc["cells"].size(), 1u);
  const auto& ev = doc["cells"][0]["events"];
  ASSERT_EQ(ev.size(), 1u) << doc["cells"][0].dump();
  EXPECT_EQ(ev[0]["type"], "xid_critical_error");
  EXPECT_EQ(ev[0]["data"], 31);
  EXPECT_EQ(ev[0]["gpu"], 0);
  EXPECT_TRUE(ev[0]["gpu_instance_id"].is_null());
  EXPECT_GT(ev[0]["t_s"].get<double>(), 0.4);
  EXPECT_LT(ev[0]["t_s"].get<double>(), 10.0);  // tagged with the cell: it came while the cell ran
  bool noted = false;
  for (const auto& m : doc["missing"]) noted = noted || m.get<std::string>().find("NVML reported 1 fault event") != std::string::npos;
  EXPECT_TRUE(noted) << doc["missing"].dump();

  auto text = gpumix({"report", "--format", "text"}, dir.path());
  EXPECT_NE(text.out.find("Xid 31 at "), std::string::npos) << text.out;
  auto csv = gpumix({"export", "--format", "csv", "--table", "gpu_events"}, dir.path());
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_NE(csv.out.find(",timeslice-r1,0,GPU-00000000-1111-2222-3333-444444444444,xid_critical_error,31,,,GPU memory page "
                         "fault"),
            std::string::npos)
      << csv.out;

  // The session says which GPU could not be watched (GPU 1 has no ECC: no ECC events).
  telemetry::TelemetryStore t(dir / "results");
  const auto sessions = t.sessions();
  ASSERT_FALSE(sessions.empty());
  EXPECT_NE(sessions[0].notes.find("no double_bit_ecc events"), std::string::npos) << sessions[0].notes;
}

TEST(FakeNvml, InitFailureExitsOneWithTheReason) {
  ScratchDir dir;
  FakeDriver driver(dir, {{"init_error", "DRIVER_NOT_LOADED"}});
  auto r = gpumix({"gpu"}, dir.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find("gpumix: no GPU information: NVML is not available: nvmlInit_v2 failed: Driver Not Loaded"),
            std::string::npos)
      << r.err;
  auto j = gpumix({"gpu", "--format", "json"}, dir.path());
  EXPECT_EQ(j.exit_code, 1);
  auto doc = json::parse(j.out);
  EXPECT_EQ(doc["available"], false);
  EXPECT_NE(doc["reason"].get<std::string>().find("Driver Not Loaded"), std::string::npos) << doc;
  auto m = gpumix({"monitor", "--duration", "1s"}, dir.path());
  EXPECT_EQ(m.exit_code, 1);
  EXPECT_NE(m.err.find("gpumix: no GPU telemetry: NVML is not available: nvmlInit_v2 failed: Driver Not Loaded"),
            std::string::npos)
      << m.err;
}

TEST(FakeNvml, AGpuLostDuringMonitorIsReportedAndStored) {
  ScratchDir dir;
  json state = two_gpus();
  state["gpus"][0]["errors"] = {{"nvmlDeviceGetUtilizationRates", "GPU_IS_LOST"}};
  FakeDriver driver(dir, state);
  auto r = gpumix({"monitor", "--duration", "1s", "--interval", "100ms", "--format", "json", "--results", "results"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string error = "GPU 0: nvmlDeviceGetUtilizationRates: GPU is lost";
  auto ticks = json_lines(r.out);
  ASSERT_GE(ticks.size(), 5u);
  for (const auto& tick : ticks) {
    EXPECT_EQ(tick["errors"], json({error})) << "GPU 1 still reads";
    EXPECT_TRUE(gpu_of(tick, 0)["gpu_util_percent"].is_null());
    EXPECT_EQ(gpu_of(tick, 0)["power_watts"], 350.0) << "the other figures still come";
  }
  EXPECT_NE(r.err.find("GPU telemetry: " + error), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("GPU telemetry: " + error, r.err.find(error) + 1), std::string::npos) << "logged once";
  telemetry::TelemetryStore t(dir / "results");
  auto sessions = t.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].errors, sessions[0].ticks);
  EXPECT_EQ(sessions[0].last_error, error);
}

TEST(FakeNvml, NotSupportedLeavesTheFieldEmptyWithoutAnError) {
  ScratchDir dir;
  json state = two_gpus();
  state["errors"] = {{"nvmlDeviceGetPowerUsage", "NOT_SUPPORTED"}, {"nvmlDeviceGetTemperatureV", "NOT_SUPPORTED"}};
  FakeDriver driver(dir, state);
  auto r = gpumix({"monitor", "--duration", "1s", "--interval", "100ms", "--format", "json"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ticks = json_lines(r.out);
  ASSERT_GE(ticks.size(), 5u);
  for (const auto& tick : ticks) {
    EXPECT_TRUE(tick["errors"].empty()) << tick.dump();
    for (int gpu : {0, 1}) {
      EXPECT_TRUE(gpu_of(tick, gpu)["power_watts"].is_null());
      EXPECT_TRUE(gpu_of(tick, gpu)["temperature_c"].is_null());
      EXPECT_TRUE(gpu_of(tick, gpu)["energy_mj"].is_number()) << "another function";
    }
  }
  EXPECT_EQ(r.err.find("GPU telemetry: GPU 0: "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("GPU telemetry: GPU 1: "), std::string::npos) << r.err;
}

// Processes that start between a caller's calls: the first list query with a
// buffer finds more than fit, as does the first of 40 processes in gpumix's 32 slots.
TEST(FakeNvml, ProcessListsAreCompleteWhenTheyOutgrowTheBuffer) {
  ScratchDir dir;
  json state = two_gpus();
  state["insufficient_size_first"] = true;
  json many = json::array(), mps = json::array();
  std::set<int64_t> want;
  for (int pid = 6000; pid < 6040; ++pid) {
    many.push_back({{"pid", pid}, {"used_memory", 1 << 20}});
    want.insert(pid);
  }
  mps.push_back({{"pid", 7001}, {"used_memory", 1 << 20}});
  state["gpus"][0]["processes"] = many;
  state["gpus"][0]["mps_processes"] = mps;
  FakeDriver driver(dir, state);
  auto r = gpumix({"monitor", "--duration", "1s", "--interval", "100ms", "--format", "json"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ticks = json_lines(r.out);
  ASSERT_GE(ticks.size(), 5u);
  want.insert(7001);
  for (const auto& tick : ticks) {
    EXPECT_TRUE(tick["errors"].empty()) << tick.dump();
    EXPECT_EQ(pids_of(tick, 0), want);
    EXPECT_EQ(pids_of(tick, 1), (std::set<int64_t>{5001, 5002}));
    for (const auto& p : tick["processes"])
      if (p["pid"] == 7001) {
        EXPECT_EQ(p["kind"], "mps_client");
      }
  }
}

// On a MIG GPU only a privileged user may list the whole GPU's processes:
// gpumix then lists each MIG device's. GPM figures come per GPU instance.
TEST(FakeNvml, MigProcessesAndGpmAreReadPerInstance) {
  ScratchDir dir;
  json state = two_gpus();
  state["gpus"][1]["errors"] = {{"nvmlDeviceGetComputeRunningProcesses_v3", "NO_PERMISSION"}};
  state["gpus"][1]["gpm"] = {{"sm_util", 20.0}, {"any_tensor_util", 5.0}};
  state["gpus"][1]["mig"]["instances"][1]["gpm"] = {{"sm_util", 70.0}};
  FakeDriver driver(dir, state);
  auto r = gpumix({"monitor", "--duration", "1s", "--interval", "100ms", "--format", "json"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto ticks = json_lines(r.out);
  ASSERT_GE(ticks.size(), 5u);
  std::set<int> gpm_instances;
  for (const auto& tick : ticks) {
    EXPECT_TRUE(tick["errors"].empty()) << tick.dump();
    EXPECT_EQ(pids_of(tick, 1), (std::set<int64_t>{5001, 5002}));
    for (const auto& p : tick["processes"]) {
      if (p["pid"] == 5001) {
        EXPECT_EQ(p["gpu_instance_id"], 1);
      }
      if (p["pid"] == 5002) {
        EXPECT_EQ(p["gpu_instance_id"], 9);
      }
    }
    for (const auto& m : tick["gpm"]) {
      if (m["gpu"] != 1) continue;
      if (m["gpu_instance_id"] == 1) {
        EXPECT_EQ(m["uuid"], "MIG-aaaaaaa1-bbbb-cccc-dddd-eeeeeeeeeeee");
        EXPECT_EQ(m["sm_util_percent"], 20.0);
        EXPECT_EQ(m["tensor_util_percent"], 5.0);
      } else {
        EXPECT_EQ(m["gpu_instance_id"], 9);
        EXPECT_EQ(m["uuid"], "MIG-aaaaaaa9-bbbb-cccc-dddd-eeeeeeeeeeee");
        EXPECT_EQ(m["sm_util_percent"], 70.0);
        EXPECT_TRUE(m["tensor_util_percent"].is_null()) << "not in the instance's figures";
      }
      gpm_instances.insert(m["gpu_instance_id"].get<int>());
    }
  }
  EXPECT_EQ(gpm_instances, (std::set<int>{1, 9}));
}

// mig mode on a fake MIG GPU: each workload gets its own instance
// (CUDA_VISIBLE_DEVICES) and runs there, as NVML's process lists show. The
// test load writes its pid file before it reports ready, and the cell's
// evidence is taken after the warm-up (warmup: ready).
TEST(FakeNvml, MigModeGivesEachWorkloadItsOwnInstance) {
  ScratchDir dir;
  json gpu = h200_with_mig(0);
  for (auto& [name, slot] : {std::pair<std::string, int>{"big", 0}, {"small", 1}})
    gpu["mig"]["instances"][slot]["processes"] = {{{"pid_file", (dir / (name + ".pid")).string()}, {"used_memory", kGiB}}};
  FakeDriver driver(dir, {{"gpus", {gpu}}});
  const std::string d = dir.path().string();
  dir.write("mix.yaml", "name: split\ncell_duration: 1s\nstop_grace: 1s\nmodes: [mig]\nworkloads:\n"
                        "  - name: big\n    gpu_memory: 40GiB\n    warmup: ready\n"
                        "    command: [sh, -c, 'echo \"$CUDA_VISIBLE_DEVICES\" > " + d + "/big.cvd; exec TESTLOAD --iters 0 --pid-file " + d + "/big.pid']\n"
                        "  - name: small\n    warmup: ready\n"
                        "    command: [sh, -c, 'echo \"$CUDA_VISIBLE_DEVICES\" > " + d + "/small.cvd; exec TESTLOAD --iters 0 --pid-file " + d + "/small.pid']\n");
  auto r = gpumix({"run", "mix.yaml"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto run = latest_run(dir / "results");
  ASSERT_EQ(run.cells.size(), 1u);
  const auto& cell = run.cells[0];
  EXPECT_EQ(cell.mode, "mig");
  EXPECT_EQ(cell.status, store::CellStatus::ok) << cell.error;
  auto ev = json::parse(cell.evidence_json);
  // gpu_memory 40GiB fits only the 3g.71gb instance; the other gets the smallest free one.
  const std::string big = "MIG-aaaaaaa1-bbbb-cccc-dddd-eeeeeeeeeeee", small = "MIG-aaaaaaa9-bbbb-cccc-dddd-eeeeeeeeeeee";
  EXPECT_EQ(ev["assignment"], json({{"big", big}, {"small", small}})) << ev.dump();
  EXPECT_EQ(ev["instances"].size(), 2u);
  auto first_line = [](const std::filesystem::path& p) {
    std::string line;
    std::getline(std::ifstream(p), line);
    return line;
  };
  EXPECT_EQ(first_line(dir / "big.cvd"), big);
  EXPECT_EQ(first_line(dir / "small.cvd"), small);
  EXPECT_EQ(ev["gpu"]["every_workload_on_gpu"], true) << ev.dump();
  EXPECT_EQ(ev["gpu"]["separate_gpu_processes"], true) << ev.dump();

  // The run's telemetry attributes those processes to the workloads, by instance.
  telemetry::TelemetryStore t(dir / "results");
  std::map<std::string, std::set<int64_t>> instances;
  for (const auto& p : t.samples(run.run.id).processes)
    if (p.tags.cell_id == cell.id && p.workload_id && p.gpu_instance_id) instances[p.workload].insert(*p.gpu_instance_id);
  EXPECT_EQ(instances, (std::map<std::string, std::set<int64_t>>{{"big", {1}}, {"small", {9}}}));
}

// A container under MPS is given what the mode asks for: the daemon's pipe
// folder (the same path inside) and the host's IPC (run/container_launcher
// adds them; unit/container_spec_argv_test checks the engine's arguments).
TEST(FakeNvml, MpsModeAsksContainersForItsPipeFolderAndHostIpc) {
  ScratchDir dir;
  FakeDriver driver(dir, two_gpus());
  ScopedEnv path("PATH", std::string(GPUMIX_TEST_DATA) + "/fake-mps:" + std::getenv("PATH"));
  std::string why;
  std::shared_ptr<gpu::Nvml> nvml = gpu::Nvml::open(&why);
  ASSERT_TRUE(nvml) << why;
  spec::Workload w;
  w.name = "a";
  modes::MpsMode mps(modes::MpsMode::Limits::from_mix, {nvml, "token"});
  const auto cell_dir = dir.path() / "cell";
  std::filesystem::create_directories(cell_dir);
  modes::ModeSession session(mps, {"mps-r1", cell_dir, {&w}});
  const std::string pipe = mps.env_for(w).at("CUDA_MPS_PIPE_DIRECTORY");
  EXPECT_EQ(pipe, (cell_dir / "mps-pipe").string());
  const auto needs = mps.container_needs();
  EXPECT_EQ(needs.volumes, std::vector<std::string>{pipe + ":" + pipe});
  EXPECT_TRUE(needs.host_ipc);
  session.finish();
}

}  // namespace
}  // namespace gpumix::test
