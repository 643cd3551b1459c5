// The probe tables: written and read back through a real SQLite file, the
// latest session per GPU, the schema version, and the tables over repeats.
#include <gtest/gtest.h>

#include <filesystem>

#include "gpumix/probe/probe_store.hpp"
#include "gpumix/report/probe_tables.hpp"
#include "gpumix/store/store.hpp"
#include "gpumix/util/errors.hpp"

using namespace gpumix;

namespace {
std::filesystem::path fresh_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("gpumix-probe-store-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  return d;
}
}  // namespace

TEST(ProbeStore, RoundTripAndLatestPerGpu) {
  auto dir = fresh_dir("rt");
  probe::ProbeStore store(dir);
  probe::SessionRow s{0, "timeslice", "", "", 0, 0, "host", "NVIDIA H100 80GB HBM3", "GPU-1", "580", "{}"};
  const int64_t a = store.begin_session(s);
  for (int rep = 1; rep <= 2; ++rep) {
    probe::TimesliceRow r;
    r.session_id = a, r.mode = "timeslice", r.repeat = rep, r.processes = 2, r.valid = true;
    r.slice_p50_us = rep == 1 ? 2000.0 : 2100.0;
    r.switches = 10, r.efficiency = 0.93, r.concurrency = 0.93, r.evidence_json = "{}";
    store.add(r);
  }
  store.add(probe::SlowdownRow{a, "timeslice", 1, 1, 100.0, 45.0, 100.0 / 45.0, 0.9, "{}"});
  store.end_session(a, "ok", "");
  s.gpu_name = "other GPU";
  s.kind = "isolation";
  const int64_t b = store.begin_session(s);
  store.add(probe::IsolationRow{b, "mps", "fault", "v", "both failed", false, 0.36, "s to recovery", "{\"x\":1}"});
  store.add(probe::IsolationRow{b, "timeslice", "mps-memory-limit", "", "n/a", std::nullopt, std::nullopt, "", "{}"});

  auto ts = store.timeslice(a);
  ASSERT_EQ(ts.size(), 2u);
  EXPECT_EQ(*ts[1].slice_p50_us, 2100.0);
  EXPECT_FALSE(ts[0].gap_p50_us.has_value());
  EXPECT_EQ(store.session(a)->status, "ok");
  auto iso = store.isolation(b);
  ASSERT_EQ(iso.size(), 2u);
  EXPECT_EQ(iso[0].isolated, false);
  EXPECT_FALSE(iso[1].isolated.has_value());
  EXPECT_EQ(iso[0].evidence_json, "{\"x\":1}");

  auto h100 = store.latest_results("NVIDIA H100 80GB HBM3");
  ASSERT_TRUE(h100.timeslice_session);
  EXPECT_FALSE(h100.isolation_session);  // the isolation session was on another GPU
  EXPECT_EQ(h100.slowdown.size(), 1u);
  EXPECT_TRUE(store.latest_results("").isolation_session.has_value());

  // Over repeats: median 2050 and a spread of 100/2050.
  auto t = report::timeslice_table(ts);
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(std::get<double>(t.rows[0][4]), 2050.0);
  EXPECT_NEAR(std::get<double>(t.rows[0][11]), 100.0 / 2050.0 * 100.0, 1e-9);
  auto it = report::isolation_table(iso);
  EXPECT_EQ(std::get<bool>(it.rows[0][3]), false);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(it.rows[1][3]));  // n/a: shown as "-", null in JSON
  std::filesystem::remove_all(dir);
}

TEST(ProbeStore, RefusesANewerSchema) {
  auto dir = fresh_dir("schema");
  { probe::ProbeStore store(dir); }
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir / store::kDatabaseName).c_str(), &db), SQLITE_OK);
    sqlite3_exec(db, "UPDATE probe_meta SET value = '99' WHERE key = 'schema_version'", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  try {
    probe::ProbeStore store(dir);
    FAIL() << "a newer probe schema was opened";
  } catch (const RunError& e) {
    EXPECT_NE(std::string(e.what()).find("probe schema version 99, newer than this gpumix's"), std::string::npos)
        << e.what();
  }
  std::filesystem::remove_all(dir);
}
