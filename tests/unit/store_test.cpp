#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fixtures/sqlite_query.hpp"
#include "fixtures/temp_dir.hpp"
#include "gpumix/store/store.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::store {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  std::string query(const std::string& sql) { return test::query_one(dir_ / kDatabaseName, sql); }

  test::TempDir tmp_{"store"};
  const std::filesystem::path dir_ = tmp_ / "results";  // not there yet: Store::open creates it
};

TEST_F(StoreTest, CreatesWalDatabaseWithSchemaVersion) {
  auto s = Store::open(dir_);
  EXPECT_TRUE(std::filesystem::exists(dir_ / kDatabaseName));
  EXPECT_EQ(query("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(query("SELECT value FROM meta WHERE key='schema_version'"), std::to_string(kSchemaVersion));
}

TEST_F(StoreTest, RoundTripsARun) {
  auto s = Store::open(dir_);
  RunRow r;
  r.mix_name = "mix";
  r.mix_yaml = "name: mix\n";
  r.mix_sha256 = "abc";
  r.started_ns = 123;
  r.host = "h";
  r.gpumix_pid = ::getpid();
  r.environment_json = R"({"host":"h"})";
  r.plan_json = "{}";
  auto run_id = s.begin_run(r);
  CellRow c;
  c.run_id = run_id;
  c.index = 0;
  c.label = "baseline-a";
  c.mode = "exclusive";
  c.baseline = true;
  auto cell_id = s.begin_cell(c);
  WorkloadRow w;
  w.cell_id = cell_id;
  w.name = "a";
  w.role = spec::Role::training;
  w.argv_json = R"(["x"])";
  w.slo_json = "[]";
  w.id = s.add_workload(w);
  s.workload_started(w.id, 4242, 1000);
  s.add_events({{w.id, 1100, "iter", 8, 1.5, R"({"ev":"iter","n":8})"}, {w.id, 1200, "done", {}, {}, "{}"}});
  w.status = store::WorkloadStatus::ok;
  w.exit_code = 0;
  w.ended_ns = 2000;
  w.peak_rss_kb = 77;
  s.workload_finished(w);
  s.set_evidence(cell_id, R"({"alone":true})");
  s.end_cell(cell_id, CellStatus::ok, "");
  s.end_run(run_id, RunStatus::completed);

  auto runs = s.runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].status, store::RunStatus::completed);
  EXPECT_EQ(runs[0].mix_yaml, "name: mix\n");
  EXPECT_GT(runs[0].ended_ns, 0);
  auto cells = s.cells(run_id);
  ASSERT_EQ(cells.size(), 1u);
  EXPECT_TRUE(cells[0].baseline);
  EXPECT_EQ(cells[0].evidence_json, R"({"alone":true})");
  auto ws = s.workloads(run_id);
  ASSERT_EQ(ws.size(), 1u);
  EXPECT_EQ(ws[0].pid, 4242);
  EXPECT_EQ(ws[0].exit_code, 0);
  EXPECT_FALSE(ws[0].signal.has_value());
  EXPECT_EQ(ws[0].peak_rss_kb, 77);
  auto evs = s.events(run_id);
  ASSERT_EQ(evs.size(), 2u);
  EXPECT_EQ(evs[0].n, 8);
  EXPECT_DOUBLE_EQ(*evs[0].ms, 1.5);
  EXPECT_FALSE(evs[1].n.has_value());
  EXPECT_EQ(s.latest_run_id(), run_id);
}

// Statuses and roles are names in the file and enums in gpumix: every name
// reads back as what was written, and a name no gpumix wrote (a damaged file)
// reads as failed, never as a success.
TEST_F(StoreTest, StatusNamesAreConvertedOnlyAtTheStoreAndUnknownOnesReadAsFailed) {
  auto s = Store::open(dir_);
  RunRow r;
  r.mix_name = "mix";
  const auto run_id = s.begin_run(r);
  CellRow c;
  c.run_id = run_id;
  c.label = "timeslice-r1";
  c.mode = "timeslice";
  const auto cell_id = s.begin_cell(c);
  WorkloadRow w;
  w.cell_id = cell_id;
  w.name = "a";
  w.role = spec::Role::server;
  w.id = s.add_workload(w);
  EXPECT_EQ(s.workloads(run_id)[0].status, WorkloadStatus::pending);
  w.status = WorkloadStatus::early_exit;
  s.workload_finished(w);
  s.end_cell(cell_id, CellStatus::degraded, "a: early_exit");
  s.end_run(run_id, RunStatus::interrupted, "stopped by SIGINT");
  EXPECT_EQ(query("SELECT status FROM workloads"), "early_exit");
  EXPECT_EQ(query("SELECT role FROM workloads"), "server");
  EXPECT_EQ(query("SELECT status FROM cells"), "degraded");
  EXPECT_EQ(query("SELECT status FROM runs"), "interrupted");
  EXPECT_EQ(s.workloads(run_id)[0].status, WorkloadStatus::early_exit);
  EXPECT_EQ(s.workloads(run_id)[0].role, spec::Role::server);
  EXPECT_EQ(s.cells(run_id)[0].status, CellStatus::degraded);
  EXPECT_EQ(s.run(run_id)->status, RunStatus::interrupted);

  test::execute(dir_ / kDatabaseName,
                "UPDATE workloads SET status = 'splendid', role = 'oracle'; UPDATE cells SET status = 'fine'; "
                "UPDATE runs SET status = 'done'");
  EXPECT_EQ(s.workloads(run_id)[0].status, WorkloadStatus::failed);
  EXPECT_EQ(s.workloads(run_id)[0].role, spec::Role::other);
  EXPECT_EQ(s.cells(run_id)[0].status, CellStatus::failed);
  EXPECT_EQ(s.run(run_id)->status, RunStatus::failed);
}

TEST_F(StoreTest, EventsAreVisibleToOtherReadersImmediately) {
  auto s = Store::open(dir_);
  RunRow r;
  auto run_id = s.begin_run(r);
  CellRow c;
  c.run_id = run_id;
  auto cell_id = s.begin_cell(c);
  WorkloadRow w;
  w.cell_id = cell_id;
  w.slo_json = "[]";
  w.id = s.add_workload(w);
  s.add_events({{w.id, 1, "ready", {}, {}, "{}"}});
  // A separate connection (another process would be the same) sees it now.
  EXPECT_EQ(query("SELECT count(*) FROM events"), "1");
}

TEST_F(StoreTest, StaleRunsOfDeadGpumixAreMarkedInterrupted) {
  auto s = Store::open(dir_);
  RunRow dead;
  dead.host = [] {
    char h[256] = {};
    ::gethostname(h, sizeof h - 1);
    return std::string(h);
  }();
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int st;
  ::waitpid(child, &st, 0);
  dead.gpumix_pid = child;  // exited: no gpumix behind this run
  auto dead_id = s.begin_run(dead);
  RunRow live = dead;
  live.gpumix_pid = ::getpid();
  auto live_id = s.begin_run(live);
  EXPECT_EQ(s.mark_stale_runs(), 1);
  EXPECT_EQ(s.run(dead_id)->status, store::RunStatus::interrupted);
  EXPECT_EQ(s.run(live_id)->status, store::RunStatus::running);
}

TEST_F(StoreTest, OpenExistingRejectsMissingAndForeignFiles) {
  EXPECT_THROW(Store::open_existing(dir_), InputError);
  std::filesystem::create_directories(dir_);
  test::execute(dir_ / kDatabaseName, "CREATE TABLE other(x)");
  try {
    Store::open_existing(dir_);
    FAIL() << "a database without gpumix's schema was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not a gpumix results database"), std::string::npos);
  }
}

// A loop of symbolic links or a file where the folder should be is the
// user's input gone wrong: InputError (exit 2) naming it, not a raw
// filesystem error (issue 15).
TEST_F(StoreTest, ALinkLoopOrAFileInTheWayIsBadInputNamingThePath) {
  std::filesystem::create_directories(tmp_.path());
  const auto loop = tmp_ / "loop";
  std::filesystem::create_symlink(loop, loop);
  for (const auto& bad : {loop, loop / "results"}) {
    EXPECT_THROW(Store::open(bad), InputError) << bad;
    try {
      Store::open_existing(bad);
      FAIL() << "opened " << bad;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(bad.string()), std::string::npos) << e.what();
    }
  }
  std::ofstream(tmp_ / "file") << "not a folder";
  EXPECT_THROW(Store::open(tmp_ / "file"), InputError);
}

// An older results database (version 1: no measured window, no ready time)
// is brought up to this version by either way of opening it.
TEST_F(StoreTest, MigratesAnOlderSchemaWhicheverWayItIsOpened) {
  for (bool existing : {false, true}) {
    std::filesystem::remove_all(dir_);
    { auto s = Store::open(dir_); }
    test::execute(dir_ / kDatabaseName,
                  "ALTER TABLE cells DROP COLUMN window_start_ns; ALTER TABLE cells DROP COLUMN window_end_ns; "
                  "ALTER TABLE workloads DROP COLUMN ready_ns; UPDATE meta SET value='1' WHERE key='schema_version'");
    { auto s = existing ? Store::open_existing(dir_) : Store::open(dir_); }
    EXPECT_EQ(query("SELECT value FROM meta WHERE key='schema_version'"), std::to_string(kSchemaVersion)) << existing;
    EXPECT_EQ(query("SELECT COUNT(*) FROM pragma_table_info('cells') WHERE name = 'window_start_ns'"), "1") << existing;
    EXPECT_EQ(query("SELECT COUNT(*) FROM pragma_table_info('workloads') WHERE name = 'ready_ns'"), "1") << existing;
  }
}

TEST_F(StoreTest, RefusesANewerSchemaVersion) {
  { auto s = Store::open(dir_); }
  test::execute(dir_ / kDatabaseName, "UPDATE meta SET value='99' WHERE key='schema_version'");
  try {
    Store::open(dir_);
    FAIL() << "a newer results schema was opened";
  } catch (const RunError& e) {
    EXPECT_NE(std::string(e.what()).find("results schema version 99, newer than this gpumix's 2"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace gpumix::store
