#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

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
  EXPECT_EQ(s.recover(), 1);
  EXPECT_EQ(s.run(dead_id)->status, store::RunStatus::interrupted);
  EXPECT_EQ(s.run(live_id)->status, store::RunStatus::running);
}

TEST_F(StoreTest, OpenExistingRejectsMissingAndForeignFiles) {
  EXPECT_THROW(Store::open_for_reading(dir_), InputError);
  std::filesystem::create_directories(dir_);
  test::execute(dir_ / kDatabaseName, "CREATE TABLE other(x)");
  try {
    Store::open_for_reading(dir_);
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
      Store::open_for_reading(bad);
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
                  "ALTER TABLE workloads DROP COLUMN ready_ns; ALTER TABLE events DROP COLUMN ttft_ms; "
                  "ALTER TABLE events DROP COLUMN tpot_ms; ALTER TABLE events DROP COLUMN output_tokens; "
                  "UPDATE meta SET value='1' WHERE key='schema_version'");
    { auto s = existing ? Store::open_for_reading(dir_) : Store::open(dir_); }
    EXPECT_EQ(query("SELECT value FROM meta WHERE key='schema_version'"), std::to_string(kSchemaVersion)) << existing;
    EXPECT_EQ(query("SELECT COUNT(*) FROM pragma_table_info('cells') WHERE name = 'window_start_ns'"), "1") << existing;
    EXPECT_EQ(query("SELECT COUNT(*) FROM pragma_table_info('workloads') WHERE name = 'ready_ns'"), "1") << existing;
  }
}

// Version 2 kept a streamed completion's tokens only in the event's line:
// an older database opens either way, its events get the token columns from
// their lines (a field of the wrong type or negative stays null, as the
// collector leaves it), and reads back through events().
TEST_F(StoreTest, MigratesVersion2EventsToTokenColumns) {
  for (bool existing : {false, true}) {
    std::filesystem::remove_all(dir_);
    {
      auto s = Store::open(dir_);
      RunRow r;
      r.host = "h";
      r.gpumix_pid = ::getpid();
      const auto run = s.begin_run(r);
      CellRow c;
      c.run_id = run;
      c.label = "baseline-a";
      c.mode = "exclusive";
      WorkloadRow w;
      w.cell_id = s.begin_cell(c);
      w.name = "a";
      w.id = s.add_workload(w);
      s.add_events({{w.id, 10, "latency", std::nullopt, 130.0, R"({"ev":"latency","ms":130,"ttft_ms":12.5,"tpot_ms":2,"output_tokens":60})"},
                    {w.id, 11, "latency", std::nullopt, 5.0, R"({"ev":"latency","ms":5,"ttft_ms":"fast","tpot_ms":-1,"output_tokens":1.5})"},
                    {w.id, 12, "info", std::nullopt, std::nullopt, R"({"ev":"info","ttft_ms":3})"}});
    }
    test::execute(dir_ / kDatabaseName,
                  "ALTER TABLE events DROP COLUMN ttft_ms; ALTER TABLE events DROP COLUMN tpot_ms; "
                  "ALTER TABLE events DROP COLUMN output_tokens; UPDATE meta SET value='2' WHERE key='schema_version'");
    {
      auto s = existing ? Store::open_for_reading(dir_) : Store::open(dir_);
      const auto events = s.events(1, EventData::for_analysis);
      ASSERT_EQ(events.size(), 3u);
      EXPECT_EQ(events[0].ttft_ms, 12.5) << existing;
      EXPECT_EQ(events[0].tpot_ms, 2.0);
      EXPECT_EQ(events[0].output_tokens, int64_t{60});
      EXPECT_FALSE(events[1].ttft_ms);
      EXPECT_FALSE(events[1].tpot_ms);
      EXPECT_FALSE(events[1].output_tokens);
      EXPECT_FALSE(events[2].ttft_ms) << "only latency events carry tokens";
    }
    EXPECT_EQ(query("SELECT value FROM meta WHERE key='schema_version'"), std::to_string(kSchemaVersion)) << existing;
  }
}

TEST_F(StoreTest, RefusesANewerSchemaVersion) {
  { auto s = Store::open(dir_); }
  test::execute(dir_ / kDatabaseName, "UPDATE meta SET value='99' WHERE key='schema_version'");
  try {
    Store::open(dir_);
    FAIL() << "a newer results schema was opened";
  } catch (const RunError& e) {
    EXPECT_NE(std::string(e.what()).find("results schema version 99, newer than this gpumix's " + std::to_string(kSchemaVersion)), std::string::npos)
        << e.what();
  }
}


// A run whose gpumix died (SIGKILL, or a full disk that ended it as
// `failed`) leaves nothing `running` once recovered: cells become
// interrupted, running workloads interrupted, pending ones not_started; what
// had ended keeps its status (issue 15).
TEST_F(StoreTest, RecoveryMakesEveryStatusOfAnEndedRunFinal) {
  auto s = Store::open(dir_);
  RunRow dead;
  dead.host = "a host that is not this one";  // its gpumix cannot be alive here
  dead.gpumix_pid = 1;
  const auto killed = s.begin_run(dead);
  const auto failed = s.begin_run(dead);
  RunRow live;
  live.host = [] {
    char h[256] = {};
    ::gethostname(h, sizeof h - 1);
    return std::string(h);
  }();
  live.gpumix_pid = ::getpid();
  const auto running = s.begin_run(live);
  std::map<int64_t, std::vector<int64_t>> workloads;  // by run
  for (auto run : {killed, failed, running}) {
    CellRow done_cell;
    done_cell.run_id = run;
    done_cell.index = 0;
    const auto done_id = s.begin_cell(done_cell);
    s.end_cell(done_id, CellStatus::ok, "");
    CellRow c;
    c.run_id = run;
    c.index = 1;
    const auto cell = s.begin_cell(c);
    for (int i = 0; i < 3; ++i) {
      WorkloadRow w;
      w.cell_id = cell;
      w.name = "w" + std::to_string(i);
      w.id = s.add_workload(w);
      workloads[run].push_back(w.id);
    }
    s.workload_started(workloads[run][0], 10, 1);  // running
    s.workload_started(workloads[run][1], 11, 1);
    WorkloadRow finished;
    finished.id = workloads[run][1];
    finished.status = WorkloadStatus::ok;
    s.workload_finished(finished);  // w2 stays pending
  }
  s.end_run(failed, RunStatus::failed, "disk full");  // ends what it left running at once
  EXPECT_EQ(s.recover(), 1);

  for (auto run : {killed, failed}) {
    const auto cells = s.cells(run);
    EXPECT_EQ(cells[0].status, CellStatus::ok);
    EXPECT_EQ(cells[1].status, CellStatus::interrupted);
    const auto ws = s.workloads(run);
    ASSERT_EQ(ws.size(), 3u);
    EXPECT_EQ(ws[0].status, WorkloadStatus::interrupted);
    EXPECT_EQ(ws[1].status, WorkloadStatus::ok);
    EXPECT_EQ(ws[2].status, WorkloadStatus::not_started);
  }
  EXPECT_EQ(s.run(killed)->status, RunStatus::interrupted);
  EXPECT_EQ(s.run(failed)->status, RunStatus::failed);
  // The live run is left alone.
  EXPECT_EQ(s.run(running)->status, RunStatus::running);
  EXPECT_EQ(s.cells(running)[1].status, CellStatus::running);
  EXPECT_EQ(s.workloads(running)[0].status, WorkloadStatus::running);
}

// A damaged file is refused by every way of opening it, with exit 2's error
// naming it and the check that failed, and is not written to (issue 15).
TEST_F(StoreTest, ADamagedDatabaseIsRefusedAndNotWritten) {
  {
    auto s = Store::open(dir_);
    RunRow r;
    for (int i = 0; i < 400; ++i) {
      r.mix_yaml = std::string(2000, static_cast<char>('a' + i % 26));
      s.begin_run(r);
    }
  }
  const auto file = dir_ / kDatabaseName;
  test::execute(file, "PRAGMA wal_checkpoint(TRUNCATE)");
  std::filesystem::remove(dir_ / (std::string(kDatabaseName) + "-wal"));
  std::filesystem::remove(dir_ / (std::string(kDatabaseName) + "-shm"));
  {
    // Garbage over an interior page of the runs table's b-tree.
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 * 40);
    const std::string junk(4096, '\x5a');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  const auto bytes = [&] {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string before = bytes();
  for (bool reading : {false, true}) {
    try {
      if (reading) Store::open_for_reading(dir_);
      else Store::open(dir_);
      FAIL() << "a damaged database was opened " << (reading ? "to read" : "to write");
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(file.string()), std::string::npos) << what;
      EXPECT_NE(what.find("damaged results database"), std::string::npos) << what;
    }
  }
  EXPECT_TRUE(bytes() == before) << "the damaged file was written";
}

TEST_F(StoreTest, ASchemaVersionThatIsNotANumberIsBadInputNamingTheFile) {
  { auto s = Store::open(dir_); }
  test::execute(dir_ / kDatabaseName, "UPDATE meta SET value='two' WHERE key='schema_version'");
  for (bool reading : {false, true}) {
    try {
      if (reading) Store::open_for_reading(dir_);
      else Store::open(dir_);
      FAIL() << "opened";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("results schema version 'two' is not a version number"), std::string::npos)
          << e.what();
    }
  }
}

// The analysis reads each event's kind, time and numbers; of the raw line
// only a failed request's `ok` and an `info` event's peak device memory, so
// a report's memory does not grow with what workloads wrote (issue 15).
TEST_F(StoreTest, EventsForTheAnalysisKeepOnlyTheFieldsItReads) {
  auto s = Store::open(dir_);
  RunRow r;
  const auto run = s.begin_run(r);
  CellRow c;
  c.run_id = run;
  const auto cell = s.begin_cell(c);
  WorkloadRow w;
  w.cell_id = cell;
  w.id = s.add_workload(w);
  const std::string pad(4000, 'x');
  s.add_events({{w.id, 1, "iter", 1, 2.0, R"({"ev":"iter","pad":")" + pad + "\"}"},
                {w.id, 2, "latency", {}, 3.0, R"({"ev":"latency","ok":false,"pad":")" + pad + "\"}"},
                {w.id, 3, "latency", {}, 4.0, R"({"ev":"latency","ok":true})"},
                {w.id, 4, "info", {}, {}, R"({"ev":"info","peak_device_mem_bytes":123456789012,"pad":")" + pad + "\"}"},
                {w.id, 5, "info", {}, {}, R"({"ev":"info","note":")" + pad + "\"}"},
                {w.id, 6, "malformed", {}, {}, "not json " + pad}});
  const auto full = s.events(run);
  ASSERT_EQ(full.size(), 6u);
  EXPECT_GT(full[5].data.size(), 4000u);
  const auto compact = s.events(run, EventData::for_analysis);
  ASSERT_EQ(compact.size(), 6u);
  EXPECT_EQ(compact[0].data, "");
  EXPECT_EQ(compact[0].n, 1);
  EXPECT_EQ(compact[0].ms, 2.0);
  EXPECT_EQ(compact[1].data, R"({"ok":false})");
  EXPECT_EQ(compact[2].data, "");
  EXPECT_EQ(compact[3].data, R"({"peak_device_mem_bytes":123456789012})");
  EXPECT_EQ(compact[4].data, "");
  EXPECT_EQ(compact[5].data, "");
  EXPECT_EQ(compact[5].ev, "malformed");
}

// Results on a read-only mount are read by every read-only command's way of
// opening them (issue 15). Root ignores file modes, so the test makes a
// read-only bind mount in a private mount namespace of a child process.
TEST_F(StoreTest, ResultsOnAReadOnlyMountCanBeRead) {
  {
    auto s = Store::open(dir_);
    RunRow r;
    r.mix_name = "on a read-only mount";
    s.begin_run(r);
  }
  const pid_t child = ::fork();
  if (child == 0) {
    int code = 0;
    try {
      if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
          ::mount(dir_.c_str(), dir_.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
          ::mount(nullptr, dir_.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0)
        ::_exit(77);
      auto s = Store::open_for_reading(dir_);
      const auto runs = s.runs();
      code = runs.size() == 1 && runs[0].mix_name == "on a read-only mount" ? 0 : 1;
      // Absent files in a read-only folder are not made.
      if (std::filesystem::exists(dir_ / (std::string(kDatabaseName) + "-wal"))) code = 3;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
      code = 2;
    }
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "cannot make a read-only bind mount here (needs root)";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace gpumix::store
