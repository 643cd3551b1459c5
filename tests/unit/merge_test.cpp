// store::merge on real SQLite files written by store::Store: two results
// databases into one (new ids, events following their workloads, where each
// cell came from), a repeated merge adding only what is new, a fleet's parts
// joining one run in plan order, and the inputs it refuses before writing.
// The fleet run by the real binary is in integration/cluster_test.
#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "fixtures/sqlite_query.hpp"
#include "fixtures/temp_dir.hpp"
#include "gpumix/spec/effective_plan.hpp"
#include "gpumix/store/merge.hpp"
#include "gpumix/store/store.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::store {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The plan of a run with these cells; a fleet part names the one it ran.
json plan_of(const std::vector<std::string>& labels, std::optional<int> selected = std::nullopt,
             const std::string& fleet = "F1") {
  json p = {{"modes", {"exclusive", "timeslice"}}, {"repeats", 1}, {"cells", json::array()}};
  for (const auto& l : labels) p["cells"].push_back({{"label", l}, {"mode", l.substr(0, l.find('-'))}, {"repeat", 1}});
  if (selected) {
    p["selected_cell"] = *selected;
    p["fleet_id"] = fleet;
  }
  return p;
}

// Appends cell `index` (`label`) to run `run_id`: one workload "train" with
// `events` iteration events whose n is 100 * index + i.
int64_t add_cell(Store& s, int64_t run_id, int index, const std::string& label, int events = 3,
                 store::CellStatus status = store::CellStatus::ok) {
  CellRow c;
  c.run_id = run_id;
  c.index = index;
  c.label = label;
  c.mode = label.substr(0, label.find('-'));
  c.repeat = 1;
  c.started_ns = 1000 + 100 * index;
  const auto cell = s.begin_cell(c);
  s.end_cell(cell, status, "");
  WorkloadRow w;
  w.cell_id = cell;
  w.name = "train";
  w.role = spec::Role::other;
  w.status = store::WorkloadStatus::ok;
  const auto wl = s.add_workload(w);
  std::vector<EventRow> ev;
  for (int i = 0; i < events; ++i) ev.push_back({wl, 5000 + i, "iter", 100 * index + i, 1.5, "{}"});
  s.add_events(ev);
  return cell;
}

// A results folder holding one run on `host` of the cells `labels` (at
// plan indices `indices`, default 0, 1, ...); returns its database file.
fs::path make_results(const fs::path& dir, const std::string& host, const std::vector<std::string>& labels,
                      const json& plan, std::vector<int> indices = {}, store::RunStatus status = store::RunStatus::completed,
                      int64_t started_ns = 1000) {
  auto s = Store::open(dir);
  RunRow r;
  r.mix_name = "mix";
  r.mix_yaml = "name: mix\n";
  r.mix_sha256 = "sha-of-the-mix";
  r.started_ns = started_ns;
  r.host = host;
  r.environment_json = "{}";
  r.plan_json = plan.dump();
  const auto run = s.begin_run(r);
  for (size_t i = 0; i < labels.size(); ++i) add_cell(s, run, indices.empty() ? static_cast<int>(i) : indices[i], labels[i]);
  s.end_run(run, status);
  return s.path();
}

class MergeTest : public ::testing::Test {
 protected:
  // The output's runs, cells of each and events, read back through Store.
  std::vector<RunRow> runs() { return Store::open_for_reading(out()).runs(); }
  std::vector<CellRow> cells(int64_t run) { return Store::open_for_reading(out()).cells(run); }
  std::string query(const std::string& sql) { return test::query_one(out() / kDatabaseName, sql); }
  fs::path out() const { return tmp_ / "merged"; }

  test::TempDir tmp_{"merge"};
};

TEST_F(MergeTest, TwoDatabasesBecomeOneWithNewIdsAndTheirEventsFollowingThem) {
  const auto a = make_results(tmp_ / "a", "node-a", {"exclusive-r1", "timeslice-r1"}, plan_of({"exclusive-r1", "timeslice-r1"}));
  const auto b = make_results(tmp_ / "b", "node-b", {"timeslice-r1"}, plan_of({"timeslice-r1"}));  // the same ids as a's
  const auto rep = merge(out(), {a, b});
  EXPECT_EQ(rep.runs_created, 2);
  EXPECT_EQ(rep.cells_copied, 3);
  EXPECT_EQ(rep.cells_already, 0);
  EXPECT_TRUE(rep.notes.empty()) << rep.notes.front();

  const auto rs = runs();
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].host, "node-a");
  EXPECT_EQ(rs[1].host, "node-b");
  EXPECT_EQ(rs[0].status, store::RunStatus::completed);
  EXPECT_EQ(json::parse(rs[1].plan_json), plan_of({"timeslice-r1"}));
  auto store = Store::open_for_reading(out());
  const auto cells_b = store.cells(rs[1].id);
  ASSERT_EQ(cells_b.size(), 1u);
  EXPECT_EQ(cells_b[0].label, "timeslice-r1");
  EXPECT_EQ(cells_b[0].status, store::CellStatus::ok);
  EXPECT_EQ(store.cells(rs[0].id).size(), 2u);

  // Each event belongs to a workload of its own run's cells, with its values.
  const auto ev_a = store.events(rs[0].id), ev_b = store.events(rs[1].id);
  ASSERT_EQ(ev_a.size(), 6u);
  ASSERT_EQ(ev_b.size(), 3u);
  EXPECT_EQ(ev_b[2].n, 2);
  EXPECT_EQ(ev_b[2].ms, 1.5);
  EXPECT_EQ(ev_a[5].n, 102);  // a's cell 1, event 2
  const auto wl_b = store.workloads(rs[1].id);
  ASSERT_EQ(wl_b.size(), 1u);
  EXPECT_EQ(wl_b[0].cell_id, cells_b[0].id);
  for (const auto& e : ev_b) EXPECT_EQ(e.workload_id, wl_b[0].id);
  EXPECT_EQ(query("SELECT COUNT(*) FROM events e LEFT JOIN workloads w ON w.id = e.workload_id WHERE w.id IS NULL"), "0");

  // Where every cell came from.
  EXPECT_EQ(query("SELECT COUNT(*) FROM merged_from"), "3");
  EXPECT_EQ(query("SELECT source_file FROM merged_from WHERE source_host = 'node-b'"), fs::absolute(b).string());
  EXPECT_EQ(query("SELECT COUNT(*) FROM merged_from m JOIN cells c ON c.id = m.cell_id AND c.run_id = m.run_id"), "3");
}

TEST_F(MergeTest, MergingAgainAddsOnlyWhatIsNew) {
  const auto a = make_results(tmp_ / "a", "node-a", {"exclusive-r1"}, plan_of({"exclusive-r1", "timeslice-r1"}), {}, RunStatus::running);
  merge(out(), {a});
  auto again = merge(out(), {a});
  EXPECT_EQ(again.runs_created, 0);
  EXPECT_EQ(again.cells_copied, 0);
  EXPECT_EQ(again.cells_already, 1);
  ASSERT_EQ(runs().size(), 1u);
  EXPECT_EQ(query("SELECT COUNT(*) FROM events"), "3");

  // The run went on after the first merge: its new cell joins the same run.
  {
    auto s = Store::open(tmp_ / "a");
    add_cell(s, 1, 1, "timeslice-r1", 4);
  }
  again = merge(out(), {a});
  EXPECT_EQ(again.runs_created, 0);
  EXPECT_EQ(again.cells_copied, 1);
  EXPECT_EQ(again.cells_already, 1);
  const auto rs = runs();
  ASSERT_EQ(rs.size(), 1u);
  const auto cs = cells(rs[0].id);
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[1].label, "timeslice-r1");
  EXPECT_EQ(query("SELECT COUNT(*) FROM events"), "7");
}

// A fleet: one database per cell of the plan, merged in any order, becomes
// one run with its cells in plan order; an incomplete fleet is an
// interrupted run that a later merge completes.
TEST_F(MergeTest, FleetPartsJoinOneRunInPlanOrder) {
  const std::vector<std::string> labels{"exclusive-train", "timeslice-r1", "timeslice-r2"};
  std::vector<fs::path> parts;
  for (int i = 0; i < 3; ++i)
    parts.push_back(make_results(tmp_ / ("node-" + std::to_string(i)), "host-" + std::to_string(i), {labels[i]},
                                 plan_of(labels, i), {i}, RunStatus::completed, 2000 - 100 * i));
  auto rep = merge(out(), {parts[2], parts[0]});
  EXPECT_EQ(rep.runs_created, 1);
  EXPECT_EQ(rep.cells_copied, 2);
  auto rs = runs();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, store::RunStatus::interrupted);
  EXPECT_EQ(rs[0].error, "fleet merged 2 of 3 cells; missing: timeslice-r1");
  ASSERT_EQ(rep.notes.size(), 1u);
  EXPECT_NE(rep.notes[0].find("missing: timeslice-r1"), std::string::npos);

  rep = merge(out(), parts);  // the last node finished: merge the whole folder again
  EXPECT_EQ(rep.runs_created, 0);
  EXPECT_EQ(rep.cells_copied, 1);
  EXPECT_EQ(rep.cells_already, 2);
  rs = runs();
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, store::RunStatus::completed);
  EXPECT_EQ(rs[0].error, "");
  EXPECT_EQ(rs[0].host, "host-0,host-1,host-2");
  const auto plan = spec::EffectivePlan::from_json(rs[0].plan_json);  // the fleet's plan, no part's selection
  EXPECT_FALSE(plan.selected_cell);
  EXPECT_EQ(plan.fleet_id, "");
  ASSERT_EQ(plan.cells.size(), 3u);
  EXPECT_EQ(plan.cells[1].label, "timeslice-r1");
  const auto cs = cells(rs[0].id);
  ASSERT_EQ(cs.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(cs[static_cast<size_t>(i)].label, labels[static_cast<size_t>(i)]);
    EXPECT_EQ(cs[static_cast<size_t>(i)].index, i);
  }
  EXPECT_EQ(rs[0].started_ns, std::min({cs[0].started_ns, cs[1].started_ns, cs[2].started_ns}));
}

TEST_F(MergeTest, AFleetCellRunTwiceTakesTheCompletedOneOrIsRefused) {
  const std::vector<std::string> labels{"exclusive-train", "timeslice-r1"};
  const auto first = make_results(tmp_ / "node-0", "host-0", {labels[0]}, plan_of(labels, 0), {0}, RunStatus::interrupted);
  const auto retry = make_results(tmp_ / "retry", "host-9", {labels[0]}, plan_of(labels, 0), {0}, RunStatus::completed);
  const auto other = make_results(tmp_ / "node-1", "host-1", {labels[1]}, plan_of(labels, 1), {1});
  const auto rep = merge(out(), {first, retry, other});
  EXPECT_EQ(rep.runs_created, 1);
  ASSERT_EQ(rep.notes.size(), 1u);
  EXPECT_NE(rep.notes[0].find("skipped " + first.string() + " run 1 (interrupted): fleet cell 0 comes from " + retry.string()),
            std::string::npos)
      << rep.notes[0];
  EXPECT_EQ(runs()[0].host, "host-1,host-9");

  // Both completed: which one is meant cannot be told.
  const auto twice = make_results(tmp_ / "twice", "host-8", {labels[0]}, plan_of(labels, 0), {0}, RunStatus::completed);
  try {
    merge(tmp_ / "merged-2", {retry, twice});
    FAIL() << "two completed runs of one fleet cell were merged";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("fleet 'F1' cell 0 was run more than once"), std::string::npos) << e.what();
  }
  // Parts of one fleet that ran other plans.
  const auto other_plan = make_results(tmp_ / "other-plan", "host-7", {"mps-r1"}, plan_of({"exclusive-train", "mps-r1"}, 1), {1});
  try {
    merge(tmp_ / "merged-3", {retry, other_plan});
    FAIL() << "fleet parts of different plans were merged";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("ran another plan than " + retry.string()), std::string::npos) << e.what();
  }
}

// Every input is checked before the first write: a database of a newer
// schema version among good ones leaves the output empty, and the message
// names the file. An older one is merged as its migration would leave it
// (the columns added since take their defaults), and is not written.
TEST_F(MergeTest, ANewerSchemaIsRefusedByNameAndAnOlderOneIsMergedAsItsMigrationWouldLeaveIt) {
  const auto good = make_results(tmp_ / "good", "node-a", {"exclusive-r1"}, plan_of({"exclusive-r1"}));
  const auto newer = make_results(tmp_ / "newer", "node-b", {"exclusive-r1"}, plan_of({"exclusive-r1"}));
  test::execute(newer, "UPDATE meta SET value = '" + std::to_string(kSchemaVersion + 1) + "' WHERE key = 'schema_version'");
  try {
    merge(out(), {good, newer});
    FAIL() << "a database of a newer schema version was merged";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(newer.string() + ": results schema version " + std::to_string(kSchemaVersion + 1) +
                                          ", newer than this gpumix's " + std::to_string(kSchemaVersion)),
              std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(runs().empty()) << "the good database was merged before the bad one was refused";

  // Version 1 had no measured windows: those columns are what 1 → 2 added.
  const auto older = make_results(tmp_ / "older", "node-c", {"exclusive-r1"}, plan_of({"exclusive-r1"}));
  test::execute(older,
                "ALTER TABLE cells DROP COLUMN window_start_ns; ALTER TABLE cells DROP COLUMN window_end_ns; "
                "ALTER TABLE workloads DROP COLUMN ready_ns; UPDATE meta SET value = '1' WHERE key = 'schema_version'");
  const auto report = merge(out(), {older});
  EXPECT_EQ(report.cells_copied, 1);
  ASSERT_EQ(runs().size(), 1u);
  const auto merged = cells(runs()[0].id);
  ASSERT_EQ(merged.size(), 1u);
  EXPECT_EQ(merged[0].window_start_ns, 0);
  EXPECT_EQ(test::query_one(older, "SELECT value FROM meta WHERE key = 'schema_version'"), "1") << "the source was migrated";

  test::execute(tmp_ / "foreign.db", "CREATE TABLE t (x)");
  try {
    merge(out(), {tmp_ / "foreign.db"});
    FAIL() << "a database without gpumix's tables was merged";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("foreign.db: not a gpumix results database"), std::string::npos) << e.what();
  }
  EXPECT_THROW(merge(tmp_ / "good", {good}), InputError);  // into itself
}

// Version 2 kept a streamed completion's tokens only in the event's line:
// merged, its events get the token columns from their lines, as its
// migration would give them (and the source stays as it was).
TEST_F(MergeTest, AnOlderSourcesEventsGetTheirTokensFromTheirLines) {
  const auto older = make_results(tmp_ / "v2", "node-d", {"exclusive-r1"}, plan_of({"exclusive-r1"}));
  test::execute(older,
                "ALTER TABLE events DROP COLUMN ttft_ms; ALTER TABLE events DROP COLUMN tpot_ms; "
                "ALTER TABLE events DROP COLUMN output_tokens; UPDATE meta SET value = '2' WHERE key = 'schema_version'; "
                "INSERT INTO events (workload_id, t_ns, ev, n, ms, data) SELECT id, 6000, 'latency', NULL, 130, "
                "'{\"ev\":\"latency\",\"ms\":130,\"ttft_ms\":12.5,\"tpot_ms\":2,\"output_tokens\":60}' FROM workloads");
  ASSERT_EQ(merge(out(), {older}).cells_copied, 1);
  EXPECT_EQ(query("SELECT ttft_ms || ' ' || tpot_ms || ' ' || output_tokens FROM events WHERE ev = 'latency'"), "12.5 2.0 60");
  EXPECT_EQ(query("SELECT COUNT(*) FROM events WHERE ev = 'iter' AND ttft_ms IS NULL"), "3");
  EXPECT_EQ(test::query_one(older, "SELECT value FROM meta WHERE key = 'schema_version'"), "2") << "the source was migrated";
}

TEST_F(MergeTest, FindDatabasesTakesFilesResultsFoldersAndFoldersOfThem) {
  const auto a = make_results(tmp_ / "fleet" / "cell-1", "h", {"exclusive-r1"}, plan_of({"exclusive-r1"}));
  const auto b = make_results(tmp_ / "fleet" / "cell-0", "h", {"exclusive-r1"}, plan_of({"exclusive-r1"}));
  const auto c = make_results(tmp_ / "single", "h", {"exclusive-r1"}, plan_of({"exclusive-r1"}));
  EXPECT_EQ(find_databases({c}), std::vector<fs::path>{c});
  EXPECT_EQ(find_databases({tmp_ / "single"}), std::vector<fs::path>{c});
  EXPECT_EQ(find_databases({tmp_ / "fleet", c}), (std::vector<fs::path>{b, a, c}));  // subfolders in name order
  fs::create_directories(tmp_ / "empty");
  EXPECT_THROW(find_databases({tmp_ / "empty"}), InputError);
  EXPECT_THROW(find_databases({tmp_ / "nowhere"}), InputError);
}

}  // namespace
}  // namespace gpumix::store
