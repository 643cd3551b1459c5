// A fleet as the Indexed Job runs it — `gpumix run --cell-index i
// --fleet-id F` once per cell, each into its own results folder — then
// `gpumix merge` and `gpumix report` on the merged database; merge's refusals.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <sstream>

#include "gpumix/store/sqlite.hpp"
#include "gpumix/probe/probe_store.hpp"
#include "harness.hpp"
#include "results.hpp"

namespace gpumix::test {
namespace {

namespace fs = std::filesystem;

const char* kMix = R"(name: fleet
seed: 5
cell_duration: 800ms
stop_grace: 1s
modes: [exclusive, timeslice]
workloads:
  - name: train
    command: [TESTLOAD, --iters, "0", --interval-ms, "20", --samples, "8", --ready-after, "2"]
    role: training
  - name: server
    command: [TESTLOAD, --iters, "0", --interval-ms, "5", --latency-ms, "3", --samples, "0"]
    role: server
    slo: {p99: 50ms}
)";

// Runs cell `index` of the plan into nodes/node-<index>, as one fleet pod does.
void run_cell(const ScratchDir& dir, const fs::path& mix, int index, const std::string& fleet = "F1") {
  auto r = gpumix({"run", mix.string(), "--cell-index", std::to_string(index), "--fleet-id", fleet, "--results",
                   (dir / "nodes" / ("node-" + std::to_string(index))).string()},
                  dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

int64_t count(const fs::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr);
  int64_t n = -1;
  {
    store::Stmt s(h, sql.c_str());
    if (s.step()) n = s.i64(0);
  }
  sqlite3_close(h);
  return n;
}

TEST(Fleet, CellIndexRunsOneCellAndRejectsOutOfRange) {
  ScratchDir dir;
  const auto mix = dir.write("mix.yaml", kMix);
  run_cell(dir, mix, 2);
  const auto d = latest_run(dir / "nodes" / "node-2");
  ASSERT_EQ(d.cells.size(), 1u);
  EXPECT_EQ(d.cells[0].label, "timeslice-r1");
  EXPECT_EQ(d.cells[0].index, 2);
  EXPECT_NE(d.run.plan_json.find("\"selected_cell\":2"), std::string::npos) << d.run.plan_json;
  auto r = gpumix({"run", mix.string(), "--cell-index", "3", "--results", (dir / "x").string()}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--cell-index 3: the plan has 3 cell(s), 0..2 (0 baseline-train-r1, 1 baseline-server-r1, 2 timeslice-r1)"),
            std::string::npos)
      << r.err;
}

TEST(Merge, FleetCellsBecomeOneRunThatReportsAndMergingAgainAddsNothing) {
  ScratchDir dir;
  const auto mix = dir.write("mix.yaml", kMix);
  for (int i = 0; i < 3; ++i) run_cell(dir, mix, i);
  size_t events = 0;
  for (int i = 0; i < 3; ++i) events += latest_run(dir / "nodes" / ("node-" + std::to_string(i))).events.size();

  auto r = gpumix({"merge", "--results", (dir / "merged").string(), (dir / "nodes").string()}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("1 new run(s), 3 cell(s) copied, 0 already there"), std::string::npos) << r.out;
  const auto d = latest_run(dir / "merged");
  EXPECT_EQ(d.run.status, store::RunStatus::completed) << d.run.error;
  ASSERT_EQ(d.cells.size(), 3u);
  EXPECT_EQ(d.cells[0].label, "baseline-train-r1");
  EXPECT_EQ(d.cells[1].label, "baseline-server-r1");
  EXPECT_EQ(d.cells[2].label, "timeslice-r1");
  EXPECT_EQ(d.events.size(), events);  // every event, each under its remapped workload
  EXPECT_EQ(d.run.plan_json.find("selected_cell"), std::string::npos);
  EXPECT_GT(d.summary("timeslice-r1", "train").throughput.value_or(0), 0);
  const auto db = dir / "merged" / "gpumix.db";
  EXPECT_EQ(count(db, "SELECT COUNT(DISTINCT source_file) FROM merged_from"), 3);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM merged_from WHERE source_host = ''"), 0);

  // The report sees baselines and the shared cell together.
  r = gpumix({"report", "latest", "--results", (dir / "merged").string(), "--format", "text"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("timeslice"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("no NP"), std::string::npos) << r.out;  // NP needs the baselines

  // Idempotent: the same inputs again add nothing.
  r = gpumix({"merge", "--results", (dir / "merged").string(), (dir / "nodes").string()}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("0 new run(s), 0 cell(s) copied, 3 already there"), std::string::npos) << r.out;
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM cells"), 3);
}

TEST(Merge, APartialFleetIsMarkedAndCompletedByALaterMerge) {
  ScratchDir dir;
  const auto mix = dir.write("mix.yaml", kMix);
  run_cell(dir, mix, 0);
  run_cell(dir, mix, 2);
  auto r = gpumix({"merge", "--results", (dir / "merged").string(), (dir / "nodes").string()}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("missing: baseline-server-r1"), std::string::npos) << r.err;
  EXPECT_EQ(latest_run(dir / "merged").run.status, store::RunStatus::interrupted);
  run_cell(dir, mix, 1);
  r = gpumix({"merge", "--results", (dir / "merged").string(), (dir / "nodes" / "node-1").string()}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto d = latest_run(dir / "merged");
  EXPECT_EQ(d.run.status, store::RunStatus::completed) << d.run.error;
  EXPECT_EQ(d.cells.size(), 3u);
  EXPECT_EQ(count(dir / "merged" / "gpumix.db", "SELECT COUNT(*) FROM runs"), 1);
}

TEST(Merge, OrdinaryRunsAreCopiedWithNewIds) {
  ScratchDir dir;
  const auto mix = dir.write("mix.yaml", kMix);
  for (const char* node : {"a", "b"}) {
    auto r = gpumix({"run", mix.string(), "--modes", "timeslice", "--results", (dir / node).string()}, dir.path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  auto r = gpumix({"merge", "--results", (dir / "merged").string(), (dir / "a" / "gpumix.db").string(), (dir / "b").string()}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto db = dir / "merged" / "gpumix.db";
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM runs"), 2);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM workloads w JOIN cells c ON c.id = w.cell_id"), 4);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM events e LEFT JOIN workloads w ON w.id = e.workload_id WHERE w.id IS NULL"), 0);
}

// A fleet's probe pods write databases holding only probe sessions: merged
// beside the runs, shown by `probe show`, and not copied twice.
TEST(Merge, ProbeSessionsOfAFleetsProbePodsAreMergedOnce) {
  ScratchDir dir;
  const std::pair<const char*, const char*> nodes[] = {{"probe-timeslice", "timeslice"}, {"probe-isolation", "isolation"}};
  for (const auto& [node, kind] : nodes) {
    probe::ProbeStore store(dir / node);
    const auto id = store.begin_session({0, kind, "", "", 0, 0, "node-a", "NVIDIA H200", "GPU-1", "580", "{}"});
    if (std::string(kind) == "timeslice") {
      probe::TimesliceRow t;
      t.session_id = id, t.mode = "timeslice", t.repeat = 1, t.processes = 2, t.valid = true, t.slice_p50_us = 2000.0;
      t.switches = 10, t.efficiency = 0.9, t.concurrency = 0.9, t.evidence_json = "{}";
      store.add(t);
      store.add(probe::SlowdownRow{id, "timeslice", 1, 1, 100.0, 45.0, 100.0 / 45.0, 0.9, "{}"});
    } else {
      store.add(probe::IsolationRow{id, "mps", "fault", "v", "both failed", false, 0.36, "s to recovery", "{}"});
    }
    store.end_session(id, "ok", "");
  }
  // With a run of the fleet beside them, as on the volume.
  const auto mix = dir.write("mix.yaml", kMix);
  auto run = gpumix({"run", mix.string(), "--modes", "timeslice", "--results", (dir / "cell-0").string()}, dir.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto r = gpumix({"merge", "--results", (dir / "merged").string(), (dir / "probe-timeslice").string(), (dir / "probe-isolation").string(),
                   (dir / "cell-0").string()},
                  dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("2 probe session(s) copied, 0 already there"), std::string::npos) << r.out;
  const auto db = dir / "merged" / "gpumix.db";
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM runs"), 1);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM probe_timeslice t JOIN probe_sessions s ON s.id = t.session_id WHERE s.kind = 'timeslice'"), 1);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM probe_slowdown"), 1);
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM probe_isolation i JOIN probe_sessions s ON s.id = i.session_id WHERE s.kind = 'isolation'"), 1);
  auto shown = gpumix({"probe", "show", "--results", (dir / "merged").string(), "--format", "json"}, dir.path());
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("both failed"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("2000"), std::string::npos) << shown.out;

  auto again = gpumix({"merge", "--results", (dir / "merged").string(), (dir / "probe-timeslice").string(), (dir / "probe-isolation").string()},
                      dir.path());
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("0 probe session(s) copied, 2 already there"), std::string::npos) << again.out;
  EXPECT_EQ(count(db, "SELECT COUNT(*) FROM probe_sessions"), 2);

  // A probe schema newer than this gpumix's: refused before anything is written.
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open((dir / "probe-isolation" / "gpumix.db").c_str(), &raw), SQLITE_OK);
    sqlite3_exec(raw, "UPDATE probe_meta SET value = '99' WHERE key = 'schema_version'", nullptr, nullptr, nullptr);
    sqlite3_close(raw);
  }
  auto newer = gpumix({"merge", "--results", (dir / "merged2").string(), (dir / "probe-isolation").string()}, dir.path());
  EXPECT_EQ(newer.exit_code, 2) << newer.out << newer.err;
  EXPECT_NE(newer.err.find("probe schema version 99"), std::string::npos) << newer.err;
  EXPECT_FALSE(fs::exists(dir / "merged2"));
}

// A database written before measured windows (results schema 1) and before
// some telemetry columns: merged as its migration would leave it, and the
// source itself is not written.
TEST(Merge, AnOlderDatabaseIsMergedWithoutBeingChanged) {
  ScratchDir dir;
  const auto mix = dir.write("mix.yaml", kMix);
  run_cell(dir, mix, 0);
  fs::create_directories(dir / "old");
  const auto old_db = dir / "old" / "gpumix.db";
  fs::copy_file(dir / "nodes" / "node-0" / "gpumix.db", old_db);
  {
    sqlite3* h = nullptr;
    sqlite3_open(old_db.c_str(), &h);
    store::exec(h,
                "ALTER TABLE cells DROP COLUMN window_start_ns; ALTER TABLE cells DROP COLUMN window_end_ns; "
                "ALTER TABLE workloads DROP COLUMN ready_ns; UPDATE meta SET value = '1' WHERE key = 'schema_version'; "
                "PRAGMA wal_checkpoint(TRUNCATE);");
    sqlite3_close(h);
  }
  const auto before = fs::last_write_time(old_db);
  auto r = gpumix({"merge", "--results", (dir / "merged").string(), (dir / "old").string()}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = dir / "merged" / "gpumix.db";
  EXPECT_EQ(count(out, "SELECT COUNT(*) FROM runs"), 1);
  EXPECT_EQ(count(out, "SELECT COUNT(*) FROM cells WHERE window_start_ns = 0 AND window_end_ns = 0"), 1);
  EXPECT_GT(count(out, "SELECT COUNT(*) FROM events"), 0);
  EXPECT_EQ(count(old_db, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema_version'"), 1);
  EXPECT_EQ(fs::last_write_time(old_db), before);
  // And the report reads it as a run from before windows.
  auto report = gpumix({"report", "--results", (dir / "merged").string(), "--format", "json"}, dir.path());
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_NE(report.out.find("\"no_windows\""), std::string::npos) << report.out.substr(0, 2000);
}

TEST(Merge, RefusesOtherSchemasDuplicateFleetCellsAndItsOwnOutput) {
  ScratchDir dir;
  const auto mix = dir.write("mix.yaml", kMix);
  run_cell(dir, mix, 0);
  fs::create_directories(dir / "old");
  fs::copy_file(dir / "nodes" / "node-0" / "gpumix.db", dir / "old" / "gpumix.db");
  {
    sqlite3* h = nullptr;
    sqlite3_open((dir / "old" / "gpumix.db").c_str(), &h);
    store::exec(h, "UPDATE meta SET value = '99' WHERE key = 'schema_version'");
    sqlite3_close(h);
  }
  auto r = gpumix({"merge", "--results", (dir / "merged").string(), (dir / "old").string()}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("results schema version 99"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "merged" / "gpumix.db") && count(dir / "merged" / "gpumix.db", "SELECT COUNT(*) FROM runs") > 0);

  // The same fleet cell run twice, both completed: which one is meant?
  auto again = gpumix({"run", mix.string(), "--cell-index", "0", "--fleet-id", "F1", "--results", (dir / "retry").string()}, dir.path());
  ASSERT_EQ(again.exit_code, 0) << again.err;
  r = gpumix({"merge", "--results", (dir / "merged").string(), (dir / "nodes").string(), (dir / "retry").string()}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cell 0 was run more than once"), std::string::npos) << r.err;

  r = gpumix({"merge", "--results", (dir / "nodes" / "node-0").string(), (dir / "nodes" / "node-0").string()}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is the output itself"), std::string::npos) << r.err;
  r = gpumix({"merge", "--results", (dir / "merged").string(), (dir / "nowhere").string()}, dir.path());
  EXPECT_EQ(r.exit_code, 2);
}

// GPUMIX_METRICS_FILE: the channel of a workload running without gpumix
// beside it (a Kubernetes Job), the same JSON lines appended to a file.
TEST(MetricsFile, TheClientAppendsTheProtocolToTheFile) {
  ScratchDir dir;
  const auto file = dir / "m.jsonl";
  auto r = gpumix({"validate", "--help"}, dir.path());  // a cheap sanity check that the binary runs
  ASSERT_EQ(r.exit_code, 0);
  const std::string cmd = "env -u GPUMIX_METRICS_FD GPUMIX_METRICS_FILE=" + file.string() + " " + kTestload +
                          " --iters 5 --samples 4 --interval-ms 1 --ready-after 1 >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(file);
  int iters = 0, lines = 0;
  for (std::string line; std::getline(in, line); ++lines) iters += line.find("\"ev\":\"iter\"") != std::string::npos;
  EXPECT_EQ(iters, 5);
  EXPECT_GE(lines, 7);  // ready, 5 iter, done
}

}  // namespace
}  // namespace gpumix::test
