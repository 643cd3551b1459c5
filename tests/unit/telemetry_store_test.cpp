// TelemetryStore on a real SQLite file, beside store::Store on the same file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <thread>

#include "fixtures/sqlite_query.hpp"
#include "fixtures/telemetry_samples.hpp"
#include "fixtures/temp_dir.hpp"
#include "gpumix/store/store.hpp"
#include "gpumix/telemetry/telemetry_store.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::telemetry {
namespace {

class TelemetryStoreTest : public ::testing::Test {
 protected:
  std::string query(const std::string& sql) { return test::query_one(dir_ / store::kDatabaseName, sql); }

  static Snapshot snapshot(int64_t t_ns, Tags tags) {
    Snapshot s;
    s.t_ns = t_ns;
    GpuSample g = test::busy_gpu(t_ns, tags);
    GpuSample sparse;  // a second GPU that reports nothing but its counters' absence
    sparse.t_ns = t_ns;
    sparse.tags = tags;
    sparse.gpu = 1;
    sparse.uuid = "GPU-2";
    s.gpus = {g, sparse};
    ProcessSample p = test::train_process("mps_client", 3, t_ns, tags);
    ProcessSample q;
    q.t_ns = t_ns;
    q.tags = tags;
    q.gpu = 0;
    q.pid = 77;
    q.kind = "compute";
    q.gpu_instance_id = 2;
    s.processes = {p, q};
    GpmSample m = test::busy_gpm(t_ns, tags);
    m.values[metric(Scope::gpm, "fp16_util_percent")] = 3.5;
    GpmSample mig = test::mig_gpm(t_ns, tags);
    mig.values[metric(Scope::gpm, "dram_bw_util_percent")] = 12.125;
    s.gpm = {m, mig};
    EventSample xid;
    xid.t_ns = t_ns;
    xid.tags = tags;
    xid.uuid = "GPU-1";
    xid.type = "xid_critical_error";
    xid.data = 31;
    xid.gpu_instance_id = 3;
    xid.compute_instance_id = 0;
    xid.description = "GPU memory page fault";
    s.events = {xid};
    return s;
  }

  test::TempDir tmp_{"telemetry"};
  const std::filesystem::path dir_ = tmp_ / "results";  // not there yet: the stores create it
};

void expect_same(const GpuSample& a, const GpuSample& b) {
  EXPECT_EQ(a.t_ns, b.t_ns);
  EXPECT_EQ(a.tags.run_id, b.tags.run_id);
  EXPECT_EQ(a.tags.cell_id, b.tags.cell_id);
  EXPECT_EQ(a.gpu, b.gpu);
  EXPECT_EQ(a.uuid, b.uuid);
  EXPECT_EQ(a.values, b.values);
}

void expect_same(const ProcessSample& a, const ProcessSample& b) {
  EXPECT_EQ(a.t_ns, b.t_ns);
  EXPECT_EQ(a.tags.run_id, b.tags.run_id);
  EXPECT_EQ(a.tags.cell_id, b.tags.cell_id);
  EXPECT_EQ(a.gpu, b.gpu);
  EXPECT_EQ(a.pid, b.pid);
  EXPECT_EQ(a.kind, b.kind);
  EXPECT_EQ(a.workload_id, b.workload_id);
  EXPECT_EQ(a.workload, b.workload);
  EXPECT_EQ(a.gpu_instance_id, b.gpu_instance_id);
  EXPECT_EQ(a.values, b.values);
}

void expect_same(const GpmSample& a, const GpmSample& b) {
  EXPECT_EQ(a.t_ns, b.t_ns);
  EXPECT_EQ(a.tags.run_id, b.tags.run_id);
  EXPECT_EQ(a.tags.cell_id, b.tags.cell_id);
  EXPECT_EQ(a.gpu, b.gpu);
  EXPECT_EQ(a.gpu_instance_id, b.gpu_instance_id);
  EXPECT_EQ(a.uuid, b.uuid);
  EXPECT_EQ(a.values, b.values);
}

TEST_F(TelemetryStoreTest, WritesAndReadsBackEveryFieldIncludingNulls) {
  TelemetryStore t(dir_);  // a folder: gpumix.db inside, created
  EXPECT_EQ(t.path(), dir_ / store::kDatabaseName);
  EXPECT_EQ(query("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query("SELECT value FROM telemetry_meta WHERE key='schema_version'"), "2");
  const auto in = snapshot(1000, {5, 9});
  t.write(in);
  const auto out = t.samples(5);
  ASSERT_EQ(out.gpus.size(), 2u);
  ASSERT_EQ(out.processes.size(), 2u);
  ASSERT_EQ(out.gpm.size(), 2u);
  expect_same(out.gpus[0], in.gpus[0]);
  expect_same(out.gpus[1], in.gpus[1]);
  // Ordered by time, GPU, pid.
  expect_same(out.processes[0], in.processes[1]);
  expect_same(out.processes[1], in.processes[0]);
  // Ordered by time, GPU, instance (the whole GPU's first).
  expect_same(out.gpm[0], in.gpm[0]);
  expect_same(out.gpm[1], in.gpm[1]);
  EXPECT_EQ(query("SELECT count(*) FROM gpu_samples WHERE power_watts IS NULL"), "1");
  ASSERT_EQ(out.events.size(), 1u);
  const auto& e = out.events[0];
  EXPECT_EQ(e.t_ns, 1000);
  EXPECT_EQ(e.tags.cell_id, 9);
  EXPECT_EQ(e.uuid, "GPU-1");
  EXPECT_EQ(e.type, "xid_critical_error");
  EXPECT_EQ(e.data, 31);
  EXPECT_EQ(e.gpu_instance_id, 3);
  EXPECT_EQ(e.compute_instance_id, 0);
  EXPECT_EQ(e.description, "GPU memory page fault");
}

// A database written by schema 1 (before memory free/reserved and GPM
// FP16/FP32): its rows read back with the new metrics empty, and new rows
// carry them.
TEST_F(TelemetryStoreTest, AddsTheColumnsOfNewMetricsToAnOlderDatabase) {
  std::filesystem::create_directories(dir_);
  test::execute(dir_ / store::kDatabaseName, R"sql(
    CREATE TABLE gpu_samples (t_ns INTEGER NOT NULL, run_id INTEGER, cell_id INTEGER, gpu INTEGER NOT NULL,
      uuid TEXT NOT NULL, gpu_util_percent INTEGER, memory_util_percent INTEGER, memory_used_bytes INTEGER,
      memory_total_bytes INTEGER, sm_clock_mhz INTEGER, memory_clock_mhz INTEGER, power_watts REAL, energy_mj INTEGER,
      temperature_c INTEGER, clock_event_reasons INTEGER);
    CREATE TABLE gpm_samples (t_ns INTEGER NOT NULL, run_id INTEGER, cell_id INTEGER, gpu INTEGER NOT NULL,
      gpu_instance_id INTEGER, uuid TEXT NOT NULL, sm_util_percent REAL, sm_occupancy_percent REAL,
      tensor_util_percent REAL, dram_bw_util_percent REAL);
    INSERT INTO gpu_samples (t_ns, run_id, gpu, uuid, gpu_util_percent, power_watts) VALUES (10, 1, 0, 'GPU-old', 55, 123.5);
    INSERT INTO gpm_samples (t_ns, run_id, gpu, uuid, sm_util_percent) VALUES (10, 1, 0, 'GPU-old', 44.5);
    CREATE TABLE telemetry_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO telemetry_meta VALUES ('schema_version', '1');
  )sql");

  TelemetryStore t(dir_);
  EXPECT_EQ(query("SELECT value FROM telemetry_meta WHERE key='schema_version'"), std::to_string(kTelemetrySchemaVersion));
  const auto old = t.samples(1);
  ASSERT_EQ(old.gpus.size(), 1u);
  EXPECT_EQ(old.gpus[0].values[metrics::gpu_util], 55);
  EXPECT_EQ(old.gpus[0].values[metrics::power], 123.5);
  EXPECT_EQ(old.gpus[0].values[metric(Scope::gpu, "memory_free_bytes")], std::nullopt);
  ASSERT_EQ(old.gpm.size(), 1u);
  EXPECT_EQ(old.gpm[0].values[metrics::gpm_sm], 44.5);
  EXPECT_EQ(old.gpm[0].values[metric(Scope::gpm, "fp16_util_percent")], std::nullopt);

  const auto in = snapshot(2000, {2, 3});
  t.write(in);
  const auto out = t.samples(2);
  ASSERT_EQ(out.gpus.size(), 2u);
  expect_same(out.gpus[0], in.gpus[0]);
  expect_same(out.gpm[0], in.gpm[0]);
}

// The version rule every table family follows (store/sqlite.hpp): a newer
// telemetry schema is refused, its samples and version left as they were.
TEST_F(TelemetryStoreTest, RefusesANewerSchemaAndLeavesItAlone) {
  { TelemetryStore t(dir_); }
  test::execute(dir_ / store::kDatabaseName, "UPDATE telemetry_meta SET value = '99' WHERE key = 'schema_version'");
  try {
    TelemetryStore t(dir_);
    FAIL() << "a newer telemetry schema was opened";
  } catch (const RunError& e) {
    EXPECT_NE(std::string(e.what()).find("telemetry schema version 99, newer than this gpumix's"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(query("SELECT value FROM telemetry_meta WHERE key='schema_version'"), "99");
}

TEST_F(TelemetryStoreTest, SelectsByRunAndByTime) {
  TelemetryStore t(dir_);
  t.write(snapshot(100, {}));        // before the run
  t.write(snapshot(200, {1, 10}));   // run 1, cell 10
  t.write(snapshot(300, {1, {}}));   // run 1, between cells
  t.write(snapshot(400, {2, 20}));   // run 2
  const auto run1 = t.samples(1);
  ASSERT_EQ(run1.gpus.size(), 4u);
  EXPECT_EQ(run1.gpus[0].t_ns, 200);
  EXPECT_EQ(run1.gpus[0].tags.cell_id, 10);
  EXPECT_EQ(run1.gpus[3].t_ns, 300);
  EXPECT_EQ(run1.gpus[3].tags.cell_id, std::nullopt);
  EXPECT_EQ(t.samples(2).processes.size(), 2u);
  EXPECT_TRUE(t.samples(3).gpus.empty());
  const auto early = t.samples_between(0, 250);
  ASSERT_EQ(early.gpus.size(), 4u);
  EXPECT_EQ(early.gpus[0].tags.run_id, std::nullopt);
  EXPECT_EQ(early.gpm.size(), 4u);
}

TEST_F(TelemetryStoreTest, SessionsRecordAvailabilityAndCounts) {
  TelemetryStore t(dir_);
  SessionRow s;
  s.source = "monitor";
  s.started_ns = 10;
  s.interval_ns = 100'000'000;
  s.available = false;
  s.reason = "NVML is not available: cannot load libnvidia-ml.so.1";
  const auto id = t.begin_session(s);
  s.source = "run";
  s.available = true;
  s.reason.clear();
  s.notes = "GPU 0: no GPM metrics";
  const auto id2 = t.begin_session(s);
  t.set_session_run(id2, 4);
  t.end_session(id2, 25, 1, "GPU 0: nvmlDeviceGetPowerUsage: Unknown Error");
  auto all = t.sessions();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, id);
  EXPECT_EQ(all[0].source, "monitor");
  EXPECT_FALSE(all[0].available);
  EXPECT_EQ(all[0].reason, "NVML is not available: cannot load libnvidia-ml.so.1");
  EXPECT_EQ(all[0].run_id, std::nullopt);
  EXPECT_EQ(all[0].ended_ns, 0);
  auto run = t.sessions(4);
  ASSERT_EQ(run.size(), 1u);
  EXPECT_TRUE(run[0].available);
  EXPECT_EQ(run[0].notes, "GPU 0: no GPM metrics");
  EXPECT_EQ(run[0].ticks, 25);
  EXPECT_EQ(run[0].errors, 1);
  EXPECT_EQ(run[0].last_error, "GPU 0: nvmlDeviceGetPowerUsage: Unknown Error");
  EXPECT_GT(run[0].ended_ns, 0);
}

TEST_F(TelemetryStoreTest, CoexistsWithTheResultsStoreOnOneFile) {
  auto results = store::Store::open(dir_);
  store::RunRow r;
  r.mix_name = "mix";
  r.status = store::RunStatus::running;
  r.started_ns = store::now_ns();
  r.host = "h";
  r.gpumix_pid = ::getpid();
  r.environment_json = "{}";
  r.plan_json = "{}";
  const auto run_id = results.begin_run(r);

  TelemetryStore t(dir_);
  // Both write at once from two threads, as the runner and the sampler do.
  constexpr int kRounds = 150;
  std::thread sampler([&] {
    for (int i = 0; i < kRounds; ++i) t.write(snapshot(1000 + i, {run_id, {}}));
  });
  for (int i = 0; i < kRounds; ++i) {
    store::CellRow c;
    c.run_id = run_id;
    c.index = i;
    c.label = "cell-" + std::to_string(i);
    c.mode = "timeslice";
    c.status = store::CellStatus::ok;
    c.started_ns = store::now_ns();
    results.begin_cell(c);
  }
  sampler.join();
  EXPECT_EQ(results.cells(run_id).size(), static_cast<size_t>(kRounds));
  EXPECT_EQ(t.samples(run_id).gpus.size(), static_cast<size_t>(2 * kRounds));
  EXPECT_EQ(results.run(run_id)->mix_name, "mix");
  // A new connection of either kind sees the other's tables.
  auto reopened = store::Store::open_for_reading(dir_);
  EXPECT_EQ(reopened.runs().size(), 1u);
  TelemetryStore again(dir_);
  EXPECT_EQ(again.samples(run_id).processes.size(), static_cast<size_t>(2 * kRounds));
  EXPECT_EQ(query("SELECT count(*) FROM gpm_samples"), std::to_string(2 * kRounds));
}

TEST_F(TelemetryStoreTest, AnEmptySnapshotWritesNothing) {
  TelemetryStore t(dir_);
  t.write(Snapshot{});
  EXPECT_EQ(query("SELECT count(*) FROM gpu_samples"), "0");
}

}  // namespace
}  // namespace gpumix::telemetry
