// NVML absent (this machine has no NVIDIA driver), the dynamic loader, and
// the Sampler: without NVML it records why and starts no thread; with a
// scripted source it samples on its own thread, tags rows with the run and
// cell and stores them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "gpumix/gpu/dynamic_library.hpp"
#include "gpumix/gpu/nvml.hpp"
#include "gpumix/run/run_environment.hpp"
#include "gpumix/telemetry/nvml_reader.hpp"
#include "gpumix/telemetry/sampler.hpp"
#include "gpumix/telemetry/telemetry_store.hpp"
#include "gpumix/util/environment.hpp"

namespace gpumix {
namespace {

using namespace std::chrono_literals;

// True when this machine has an NVIDIA driver: the "absent" tests then skip.
bool driver_present() {
  std::string why;
  return gpu::DynamicLibrary::open("libnvidia-ml.so.1", &why) != nullptr;
}

int thread_count() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  return -1;
}

// Sets an environment variable for one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) { ::setenv(name, value.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("gpumix-nvml-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(DynamicLibrary, LoadsALibraryAndFindsItsSymbols) {
  std::string why;
  auto libc = gpu::DynamicLibrary::open("libc.so.6", &why);
  ASSERT_TRUE(libc) << why;
  EXPECT_NE(libc->symbol("getpid"), nullptr);
  EXPECT_EQ(libc->symbol("nvmlInit_v2"), nullptr);
}

TEST(DynamicLibrary, SaysWhyALibraryCannotBeLoaded) {
  std::string why;
  EXPECT_EQ(gpu::DynamicLibrary::open("libgpumix-no-such-library.so.1", &why), nullptr);
  EXPECT_NE(why.find("libgpumix-no-such-library.so.1"), std::string::npos) << why;
}

TEST(Nvml, OpenWithoutADriverReturnsNullAndTheReason) {
  if (driver_present()) GTEST_SKIP() << "this machine has an NVIDIA driver";
  std::string why;
  EXPECT_EQ(gpu::Nvml::open(&why), nullptr);
  EXPECT_NE(why.find("cannot load libnvidia-ml.so.1"), std::string::npos) << why;
  EXPECT_NE(why.find("install the driver"), std::string::npos) << why;
  EXPECT_EQ(gpu::Nvml::open(nullptr), nullptr);  // a null `why` is allowed
}

TEST(Nvml, ALibraryThatIsNotNvmlIsRefusedByName) {
  ScopedEnv env("GPUMIX_NVML_LIBRARY", "libc.so.6");
  std::string why;
  EXPECT_EQ(gpu::Nvml::open(&why), nullptr);
  EXPECT_NE(why.find("libc.so.6 does not define nvmlInit_v2"), std::string::npos) << why;
}

TEST(Nvml, TheLibraryPathCanBeOverridden) {
  ScopedEnv env("GPUMIX_NVML_LIBRARY", "/nonexistent/libnvidia-ml.so.1");
  std::string why;
  EXPECT_EQ(gpu::Nvml::open(&why), nullptr);
  EXPECT_NE(why.find("cannot load /nonexistent/libnvidia-ml.so.1"), std::string::npos) << why;
}

TEST(Nvml, DescribeGpusSaysUnavailableWithTheReason) {
  if (driver_present()) GTEST_SKIP() << "this machine has an NVIDIA driver";
  auto j = gpu::describe_gpus();
  EXPECT_EQ(j["available"], false);
  std::string why;
  gpu::Nvml::open(&why);
  EXPECT_EQ(j["reason"], why);
  EXPECT_EQ(gpu::describe_gpus(nullptr, "no driver"), (nlohmann::json{{"available", false}, {"reason", "no driver"}}));
  // The run's environment record carries it.
  EXPECT_EQ(run::describe_environment()["nvml"], j);
}

TEST(Nvml, DeviceInfoJsonHasEveryField) {
  gpu::DeviceInfo d;
  d.index = 1;
  d.name = "NVIDIA H100 80GB HBM3";
  d.uuid = "GPU-970af2fa";
  d.pci_bus_id = "00000000:00:06.0";
  d.memory_total_bytes = 85520809984;
  d.memory_used_bytes = 1 << 20;
  d.mig_enabled = false;
  d.compute_mode = "Default";
  d.ecc_enabled = true;
  d.timeslice_policy = "Default";
  d.gpm_supported = true;
  EXPECT_EQ(gpu::to_json(d), nlohmann::json::parse(R"({
    "index": 1, "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-970af2fa", "pci_bus_id": "00000000:00:06.0",
    "memory_total_bytes": 85520809984, "memory_used_bytes": 1048576, "mig_enabled": false,
    "compute_mode": "Default", "ecc_enabled": true, "persistence": null, "timeslice_policy": "Default",
    "gpm_supported": true})"));
  gpu::MigInstance m{"MIG-1234", 2, 0, 10ull << 30, 16, "1g.10gb", 0};
  EXPECT_EQ(gpu::to_json(m), nlohmann::json::parse(R"({"uuid": "MIG-1234", "gpu_instance_id": 2,
    "compute_instance_id": 0, "memory_bytes": 10737418240, "sm_count": 16, "profile": "1g.10gb", "parent_index": 0})"));
}

TEST(Nvml, ErrorsNameTheFunctionThePlaceAndNvmlsText) {
  gpu::NvmlError e("nvmlDeviceGetPowerUsage", 3, "Not Supported", "src/gpumix/gpu/nvml_loaded.cpp:12");
  EXPECT_STREQ(e.what(), "nvmlDeviceGetPowerUsage failed at src/gpumix/gpu/nvml_loaded.cpp:12: Not Supported (NVML error 3)");
  EXPECT_EQ(e.code(), 3);
  EXPECT_EQ(e.function(), "nvmlDeviceGetPowerUsage");
  const std::runtime_error& base = e;  // a typed error deriving from runtime_error
  EXPECT_NE(std::string(base.what()).find("Not Supported"), std::string::npos);
}

TEST(Sampler, WithoutNvmlRecordsTheReasonAndStartsNoThread) {
  TempDir dir;
  const int threads = thread_count();
  {
    telemetry::Sampler sampler(dir.path(), 10ms, nullptr, "NVML is not available: no driver here");
    sampler.run_started(7);  // before start(): remembered
    sampler.start();
    EXPECT_EQ(thread_count(), threads);  // nothing sampling, nothing spinning
    std::this_thread::sleep_for(100ms);
    sampler.cell_started(3, "baseline-a");
    sampler.workload_started(3, 11, "a", ::getpid());
    sampler.workload_ended(3, 11);
    sampler.cell_ended(3);
    auto st = sampler.status();
    EXPECT_FALSE(st.available);
    EXPECT_EQ(st.reason, "NVML is not available: no driver here");
    EXPECT_EQ(st.ticks, 0);
    EXPECT_FALSE(sampler.latest());
    sampler.stop();
    sampler.stop();  // idempotent
  }
  telemetry::TelemetryStore store(dir.path());
  auto sessions = store.sessions();
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_EQ(sessions[0].run_id, 7);
  EXPECT_FALSE(sessions[0].available);
  EXPECT_EQ(sessions[0].reason, "NVML is not available: no driver here");
  EXPECT_EQ(sessions[0].interval_ns, 10'000'000);
  EXPECT_GT(sessions[0].ended_ns, 0);
  EXPECT_EQ(sessions[0].ticks, 0);
  EXPECT_TRUE(store.samples(7).gpus.empty());
}

TEST(Sampler, WithoutNvmlAndWithoutAReasonStillSaysNvmlIsUnavailable) {
  telemetry::Sampler sampler({}, 100ms, std::shared_ptr<gpu::Nvml>());
  sampler.start();
  EXPECT_EQ(sampler.status().reason, "NVML is not available");
}

// A scripted source: one GPU whose utilization counts the ticks, and one
// process per workload it is told about. Records what it was given.
class ScriptedSource : public telemetry::SnapshotSource {
 public:
  std::atomic<int> reads{0};
  std::atomic<bool> fail_next{false};
  int gpm_at = -1;  // the read that has GPM figures

  std::vector<gpu::DeviceInfo> devices() const override {
    gpu::DeviceInfo d;
    d.name = "Scripted GPU";
    d.uuid = "GPU-scripted";
    return {d};
  }
  std::vector<std::string> notes() const override { return {"GPU 0: no GPM metrics (scripted)"}; }
  telemetry::Snapshot read(const telemetry::WorkloadPids& workloads, const telemetry::Tags& tags) override {
    if (fail_next.exchange(false)) throw std::runtime_error("the GPU fell off the bus");
    telemetry::Snapshot s;
    s.t_ns = 1000 + reads;
    telemetry::GpuSample g;
    g.t_ns = s.t_ns;
    g.tags = tags;
    g.uuid = "GPU-scripted";
    g.values[telemetry::metric(telemetry::Scope::gpu, "gpu_util_percent")] = ++reads;
    s.gpus.push_back(g);
    if (reads == gpm_at) {
      telemetry::GpmSample m;
      m.t_ns = s.t_ns;
      m.tags = tags;
      m.uuid = "GPU-scripted";
      m.values[telemetry::metric(telemetry::Scope::gpm, "sm_util_percent")] = 42.5;
      s.gpm.push_back(m);
    }
    for (const auto& [pid, w] : workloads) {
      telemetry::ProcessSample p;
      p.t_ns = s.t_ns;
      p.tags = tags;
      p.pid = pid;
      p.kind = "compute";
      p.workload_id = w.workload_id;
      p.workload = w.name;
      s.processes.push_back(p);
    }
    return s;
  }
};

TEST(Sampler, SamplesOnItsOwnThreadAndTagsRowsWithRunAndCell) {
  TempDir dir;
  auto source = std::make_unique<ScriptedSource>();
  auto* script = source.get();
  std::atomic<int> callbacks{0};
  telemetry::Sampler sampler(dir.path(), 20ms, std::move(source));
  sampler.on_snapshot([&](const telemetry::Snapshot&) { ++callbacks; });
  sampler.start();
  EXPECT_TRUE(sampler.status().available);
  ASSERT_EQ(sampler.devices().size(), 1u);
  EXPECT_EQ(sampler.devices()[0].uuid, "GPU-scripted");

  auto wait_ticks = [&](int n) {
    const int target = script->reads + n;
    for (int i = 0; i < 300 && script->reads < target; ++i) std::this_thread::sleep_for(5ms);
  };
  wait_ticks(2);  // before the run: no tags
  sampler.run_started(5);
  sampler.cell_started(9, "timeslice-r1");
  sampler.workload_started(9, 21, "train", 4242);
  wait_ticks(3);
  sampler.workload_ended(9, 21);
  sampler.cell_ended(9);
  wait_ticks(2);  // between cells: the run but no cell
  script->fail_next = true;
  wait_ticks(2);  // a failing tick is counted, sampling goes on
  sampler.run_ended(5);
  sampler.stop();
  const auto st = sampler.status();
  EXPECT_EQ(st.errors, 1);
  EXPECT_NE(st.last_error.find("the GPU fell off the bus"), std::string::npos) << st.last_error;
  EXPECT_EQ(st.ticks, script->reads.load());
  EXPECT_EQ(callbacks.load(), script->reads.load());
  ASSERT_TRUE(sampler.latest());

  telemetry::TelemetryStore store(dir.path());
  const auto run = store.samples(5);
  ASSERT_GE(run.gpus.size(), 5u);
  int in_cell = 0, between = 0;
  for (const auto& g : run.gpus) (g.tags.cell_id ? in_cell : between)++;
  for (const auto& g : run.gpus)
    if (g.tags.cell_id) {
      EXPECT_EQ(*g.tags.cell_id, 9);
    }
  EXPECT_GE(in_cell, 3);
  EXPECT_GE(between, 2);
  ASSERT_FALSE(run.processes.empty());
  for (const auto& p : run.processes) {
    EXPECT_EQ(p.pid, 4242);
    EXPECT_EQ(p.workload, "train");
    EXPECT_EQ(p.workload_id, 21);
    EXPECT_EQ(p.tags.cell_id, 9);
  }
  const auto all = store.samples_between(0, 1'000'000);
  EXPECT_EQ(static_cast<int>(all.gpus.size()), st.ticks);  // before the run too, untagged
  auto sessions = store.sessions(5);
  ASSERT_EQ(sessions.size(), 1u);
  EXPECT_TRUE(sessions[0].available);
  EXPECT_EQ(sessions[0].source, "run");
  EXPECT_EQ(sessions[0].notes, "GPU 0: no GPM metrics (scripted)");
  EXPECT_EQ(sessions[0].ticks, st.ticks);
  EXPECT_EQ(sessions[0].errors, 1);
}

TEST(Sampler, TheLatestFiguresKeepTheLastGpmSample) {
  TempDir dir;
  auto source = std::make_unique<ScriptedSource>();
  auto* script = source.get();
  script->gpm_at = 2;
  telemetry::Sampler sampler(dir.path(), 10ms, std::move(source));
  sampler.start();
  for (int i = 0; i < 300 && script->reads < 5; ++i) std::this_thread::sleep_for(5ms);
  sampler.stop();
  const auto latest = sampler.latest();
  ASSERT_TRUE(latest);
  EXPECT_GE(*latest->gpus[0].values[telemetry::metric(telemetry::Scope::gpu, "gpu_util_percent")], 5);  // the last tick's
  ASSERT_EQ(latest->gpm.size(), 1u);                 // the second tick's GPM
  EXPECT_EQ(latest->gpm[0].values[telemetry::metric(telemetry::Scope::gpm, "sm_util_percent")], 42.5);
  telemetry::TelemetryStore store(dir.path());
  EXPECT_EQ(store.samples_between(0, 1'000'000).gpm.size(), 1u);  // stored once
}

TEST(Sampler, KeepsToItsIntervalAndStopsPromptly) {
  auto source = std::make_unique<ScriptedSource>();
  auto* script = source.get();
  telemetry::Sampler sampler({}, 50ms, std::move(source));
  const int threads = thread_count();
  sampler.start();
  EXPECT_EQ(thread_count(), threads + 1);
  std::this_thread::sleep_for(520ms);
  const auto t0 = std::chrono::steady_clock::now();
  sampler.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 100ms);  // woken, not waiting out its interval
  EXPECT_EQ(thread_count(), threads);
  // Ticks at 0, 50, ..., 500 ms: 11, give or take a loaded machine.
  EXPECT_GE(script->reads.load(), 8);
  EXPECT_LE(script->reads.load(), 12);
}

TEST(Sampler, DestructorStopsTheThread) {
  const int threads = thread_count();
  {
    telemetry::Sampler sampler({}, 10ms, std::make_unique<ScriptedSource>());
    sampler.start();
    std::this_thread::sleep_for(30ms);
  }
  EXPECT_EQ(thread_count(), threads);
}

}  // namespace
}  // namespace gpumix

namespace gpumix::telemetry {
namespace {

// NVML sends a sample only for a process busy in a period: a period without
// one is 0 for it, and a process on the GPU with none in the batch was idle.
TEST(ProcessUtilization, AveragesOverThePeriodsOfTheBatch) {
  const std::vector<gpu::ProcessUtilization> batch = {
      {11, 1000, 90, 40}, {12, 1000, 30, 10},  // period 1: both busy
      {11, 2000, 70, 20},                       // period 2: 12 idle
  };
  auto u = utilization_over_periods(batch, {11, 12, 13});
  ASSERT_EQ(u.size(), 3u);
  EXPECT_DOUBLE_EQ(u[11].sm, 80);
  EXPECT_DOUBLE_EQ(u[11].memory, 30);
  EXPECT_DOUBLE_EQ(u[12].sm, 15);
  EXPECT_DOUBLE_EQ(u[13].sm, 0);  // on the GPU, idle throughout
  EXPECT_TRUE(utilization_over_periods({}, {11}).empty()) << "no period ended: nothing new";
}

}  // namespace
}  // namespace gpumix::telemetry
