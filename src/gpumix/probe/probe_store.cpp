#include "gpumix/probe/probe_store.hpp"

#include <fmt/format.h>

#include "gpumix/store/sqlite.hpp"
#include "gpumix/store/store.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::probe {
namespace {

using store::exec;
using store::Stmt;

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS probe_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS probe_sessions (
  id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, status TEXT NOT NULL, error TEXT NOT NULL DEFAULT '',
  started_ns INTEGER NOT NULL, ended_ns INTEGER NOT NULL DEFAULT 0, host TEXT NOT NULL, gpu_name TEXT NOT NULL,
  gpu_uuid TEXT NOT NULL, driver TEXT NOT NULL, options_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS probe_timeslice (
  session_id INTEGER NOT NULL REFERENCES probe_sessions(id), mode TEXT NOT NULL, repeat INTEGER NOT NULL,
  processes INTEGER NOT NULL, valid INTEGER NOT NULL, note TEXT NOT NULL,
  slice_p10_us REAL, slice_p50_us REAL, slice_p90_us REAL, gap_p10_us REAL, gap_p50_us REAL, gap_p90_us REAL,
  switches INTEGER NOT NULL, overhead_p50_us REAL, overhead_mean_us REAL, efficiency REAL NOT NULL,
  concurrency REAL NOT NULL, hiccups INTEGER NOT NULL, evidence_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS probe_slowdown (
  session_id INTEGER NOT NULL REFERENCES probe_sessions(id), mode TEXT NOT NULL, repeat INTEGER NOT NULL,
  others INTEGER NOT NULL, rate_alone REAL, rate_shared REAL, slowdown REAL, throughput REAL,
  evidence_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS probe_isolation (
  session_id INTEGER NOT NULL REFERENCES probe_sessions(id), mode TEXT NOT NULL, case_name TEXT NOT NULL,
  variant TEXT NOT NULL, outcome TEXT NOT NULL, isolated INTEGER, value REAL, unit TEXT NOT NULL,
  evidence_json TEXT NOT NULL);
)sql";

const char* kSessionColumns =
    "id, kind, status, error, started_ns, ended_ns, host, gpu_name, gpu_uuid, driver, options_json";

SessionRow read_session(const Stmt& s) {
  return {s.i64(0), s.text(1), s.text(2), s.text(3), s.i64(4), s.i64(5), s.text(6), s.text(7), s.text(8), s.text(9), s.text(10)};
}

}  // namespace

ProbeStore::ProbeStore(const std::filesystem::path& results_dir, store::Access access, bool check_integrity)
    : path_(results_dir / store::kDatabaseName) {
  if (access == store::Access::read_write) {
    std::error_code ec;
    std::filesystem::create_directories(results_dir, ec);
  }
  db_ = store::open_database(path_, access, check_integrity);
  try {
    if (access == store::Access::read_only) {
      if (store::readable_schema_version(db_, path_, "probe_meta", "probe schema", kProbeSchemaVersion) == 0)
        store::create_empty_temp_tables(db_, kSchema);
      return;
    }
    exec(db_, kSchema);
    // Version 1 is the only one so far: nothing older to migrate.
    store::apply_schema_version(db_, path_, "probe_meta", "probe schema", kProbeSchemaVersion, [](int) {});
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

ProbeStore::~ProbeStore() { sqlite3_close(db_); }

int64_t ProbeStore::begin_session(const SessionRow& s) {
  Stmt q(db_,
         "INSERT INTO probe_sessions (kind, status, started_ns, host, gpu_name, gpu_uuid, driver, options_json) "
         "VALUES (?,?,?,?,?,?,?,?)");
  q.bind(1, s.kind).bind(2, std::string("running")).bind(3, s.started_ns ? s.started_ns : store::now_ns()).bind(4, s.host);
  q.bind(5, s.gpu_name).bind(6, s.gpu_uuid).bind(7, s.driver).bind(8, s.options_json).run();
  return sqlite3_last_insert_rowid(db_);
}

void ProbeStore::end_session(int64_t id, const std::string& status, const std::string& error) {
  Stmt(db_, "UPDATE probe_sessions SET status = ?, error = ?, ended_ns = ? WHERE id = ?")
      .bind(1, status)
      .bind(2, error)
      .bind(3, store::now_ns())
      .bind(4, id)
      .run();
}

void ProbeStore::add(const TimesliceRow& r) {
  Stmt q(db_,
         "INSERT INTO probe_timeslice (session_id, mode, repeat, processes, valid, note, slice_p10_us, slice_p50_us, "
         "slice_p90_us, gap_p10_us, gap_p50_us, gap_p90_us, switches, overhead_p50_us, overhead_mean_us, efficiency, "
         "concurrency, hiccups, evidence_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  q.bind(1, r.session_id).bind(2, r.mode).bind(3, r.repeat).bind(4, r.processes).bind(5, static_cast<int64_t>(r.valid));
  q.bind(6, r.note).bind(7, r.slice_p10_us).bind(8, r.slice_p50_us).bind(9, r.slice_p90_us).bind(10, r.gap_p10_us);
  q.bind(11, r.gap_p50_us).bind(12, r.gap_p90_us).bind(13, r.switches).bind(14, r.overhead_p50_us);
  q.bind(15, r.overhead_mean_us).bind(16, r.efficiency).bind(17, r.concurrency).bind(18, r.hiccups);
  q.bind(19, r.evidence_json).run();
}

void ProbeStore::add(const SlowdownRow& r) {
  Stmt q(db_,
         "INSERT INTO probe_slowdown (session_id, mode, repeat, others, rate_alone, rate_shared, slowdown, throughput, "
         "evidence_json) VALUES (?,?,?,?,?,?,?,?,?)");
  q.bind(1, r.session_id).bind(2, r.mode).bind(3, r.repeat).bind(4, r.others).bind(5, r.rate_alone);
  q.bind(6, r.rate_shared).bind(7, r.slowdown).bind(8, r.throughput).bind(9, r.evidence_json).run();
}

void ProbeStore::add(const IsolationRow& r) {
  Stmt q(db_,
         "INSERT INTO probe_isolation (session_id, mode, case_name, variant, outcome, isolated, value, unit, "
         "evidence_json) VALUES (?,?,?,?,?,?,?,?,?)");
  std::optional<int64_t> isolated;
  if (r.isolated) isolated = *r.isolated ? 1 : 0;
  q.bind(1, r.session_id).bind(2, r.mode).bind(3, r.case_name).bind(4, r.variant).bind(5, r.outcome);
  q.bind(6, isolated).bind(7, r.value).bind(8, r.unit).bind(9, r.evidence_json).run();
}

std::vector<SessionRow> ProbeStore::sessions(const std::string& kind) {
  Stmt q(db_, (std::string("SELECT ") + kSessionColumns + " FROM probe_sessions WHERE ? = '' OR kind = ? ORDER BY id").c_str());
  q.bind(1, kind).bind(2, kind);
  std::vector<SessionRow> out;
  while (q.step()) out.push_back(read_session(q));
  return out;
}

std::optional<SessionRow> ProbeStore::session(int64_t id) {
  Stmt q(db_, (std::string("SELECT ") + kSessionColumns + " FROM probe_sessions WHERE id = ?").c_str());
  q.bind(1, id);
  if (!q.step()) return std::nullopt;
  return read_session(q);
}

std::optional<SessionRow> ProbeStore::latest(const std::string& kind, const std::string& gpu_name) {
  const char* table = kind == "timeslice" ? "probe_timeslice" : "probe_isolation";
  Stmt q(db_, (std::string("SELECT ") + kSessionColumns + " FROM probe_sessions s WHERE kind = ? AND (? = '' OR gpu_name = ?) " +
               "AND EXISTS (SELECT 1 FROM " + table + " r WHERE r.session_id = s.id) ORDER BY id DESC LIMIT 1")
                  .c_str());
  q.bind(1, kind).bind(2, gpu_name).bind(3, gpu_name);
  if (!q.step()) return std::nullopt;
  return read_session(q);
}

std::vector<TimesliceRow> ProbeStore::timeslice(int64_t session_id) {
  Stmt q(db_,
         "SELECT session_id, mode, repeat, processes, valid, note, slice_p10_us, slice_p50_us, slice_p90_us, gap_p10_us, "
         "gap_p50_us, gap_p90_us, switches, overhead_p50_us, overhead_mean_us, efficiency, concurrency, hiccups, "
         "evidence_json FROM probe_timeslice WHERE session_id = ? ORDER BY rowid");
  q.bind(1, session_id);
  std::vector<TimesliceRow> out;
  while (q.step()) {
    TimesliceRow r;
    r.session_id = q.i64(0);
    r.mode = q.text(1);
    r.repeat = static_cast<int>(q.i64(2));
    r.processes = static_cast<int>(q.i64(3));
    r.valid = q.i64(4) != 0;
    r.note = q.text(5);
    r.slice_p10_us = q.opt_f64(6), r.slice_p50_us = q.opt_f64(7), r.slice_p90_us = q.opt_f64(8);
    r.gap_p10_us = q.opt_f64(9), r.gap_p50_us = q.opt_f64(10), r.gap_p90_us = q.opt_f64(11);
    r.switches = q.i64(12);
    r.overhead_p50_us = q.opt_f64(13), r.overhead_mean_us = q.opt_f64(14);
    r.efficiency = q.f64(15), r.concurrency = q.f64(16);
    r.hiccups = q.i64(17);
    r.evidence_json = q.text(18);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<SlowdownRow> ProbeStore::slowdown(int64_t session_id) {
  Stmt q(db_,
         "SELECT session_id, mode, repeat, others, rate_alone, rate_shared, slowdown, throughput, evidence_json "
         "FROM probe_slowdown WHERE session_id = ? ORDER BY rowid");
  q.bind(1, session_id);
  std::vector<SlowdownRow> out;
  while (q.step())
    out.push_back({q.i64(0), q.text(1), static_cast<int>(q.i64(2)), static_cast<int>(q.i64(3)), q.opt_f64(4), q.opt_f64(5),
                   q.opt_f64(6), q.opt_f64(7), q.text(8)});
  return out;
}

std::vector<IsolationRow> ProbeStore::isolation(int64_t session_id) {
  Stmt q(db_,
         "SELECT session_id, mode, case_name, variant, outcome, isolated, value, unit, evidence_json "
         "FROM probe_isolation WHERE session_id = ? ORDER BY rowid");
  q.bind(1, session_id);
  std::vector<IsolationRow> out;
  while (q.step()) {
    IsolationRow r{q.i64(0), q.text(1), q.text(2), q.text(3), q.text(4), std::nullopt, q.opt_f64(6), q.text(7), q.text(8)};
    if (!q.null(5)) r.isolated = q.i64(5) != 0;
    out.push_back(std::move(r));
  }
  return out;
}

ProbeResults ProbeStore::latest_results(const std::string& gpu_name) {
  ProbeResults r;
  r.gpu_name = gpu_name;
  r.timeslice_session = latest("timeslice", gpu_name);
  r.isolation_session = latest("isolation", gpu_name);
  if (r.timeslice_session) {
    r.timeslice = timeslice(r.timeslice_session->id);
    r.slowdown = slowdown(r.timeslice_session->id);
  }
  if (r.isolation_session) r.isolation = isolation(r.isolation_session->id);
  return r;
}

namespace {
std::string newer_schema(const std::filesystem::path& file, int version) {
  return file.string() + ": probe schema version " + std::to_string(version) + ", newer than this gpumix's " +
         std::to_string(kProbeSchemaVersion) + "; merge it with a gpumix at least as new as the one that wrote it";
}
}  // namespace

void ProbeStore::check_mergeable(const std::filesystem::path& file) {
  sqlite3* db = store::open_database(file, store::Access::read_only, false);
  std::optional<int> version;
  try {
    if (store::has_table(db, "main", "probe_meta")) version = store::stored_schema_version(db, file, "probe_meta", "probe schema");
  } catch (...) {
    sqlite3_close(db);
    throw;
  }
  sqlite3_close(db);
  if (version && *version > kProbeSchemaVersion) throw InputError(newer_schema(file, *version));
}

ProbeStore::MergeCount ProbeStore::merge_from(const std::filesystem::path& file) {
  MergeCount count;
  {
    store::Stmt attach(db_, "ATTACH DATABASE ? AS psrc");
    attach.bind(1, store::file_uri(file) + "?mode=ro").run();
  }
  auto detach = [this] { sqlite3_exec(db_, "DETACH DATABASE psrc", nullptr, nullptr, nullptr); };
  try {
    if (!store::has_table(db_, "psrc", "probe_sessions")) {
      detach();
      return count;
    }
    const auto version = store::stored_schema_version(db_, file, "probe_meta", "probe schema", "psrc");
    if (version && *version > kProbeSchemaVersion) throw InputError(newer_schema(file, *version));
    exec(db_, "BEGIN IMMEDIATE");
    std::vector<int64_t> sources;
    {
      store::Stmt ids(db_, "SELECT id FROM psrc.probe_sessions ORDER BY id");
      while (ids.step()) sources.push_back(ids.i64(0));
    }
    for (const int64_t old_id : sources) {
      store::Stmt seen(db_,
                       "SELECT 1 FROM main.probe_sessions m JOIN psrc.probe_sessions s ON m.host = s.host AND "
                       "m.gpu_uuid = s.gpu_uuid AND m.kind = s.kind AND m.started_ns = s.started_ns WHERE s.id = ?");
      seen.bind(1, old_id);
      if (seen.step()) {
        ++count.already;
        continue;
      }
      const char* kSession = "kind, status, error, started_ns, ended_ns, host, gpu_name, gpu_uuid, driver, options_json";
      store::Stmt(db_, fmt::format("INSERT INTO main.probe_sessions ({0}) SELECT {0} FROM psrc.probe_sessions WHERE id = ?", kSession).c_str())
          .bind(1, old_id)
          .run();
      const int64_t new_id = sqlite3_last_insert_rowid(db_);
      // Every column but session_id, as the schema above lists them.
      const std::pair<const char*, const char*> rows[] = {
          {"probe_timeslice",
           "mode, repeat, processes, valid, note, slice_p10_us, slice_p50_us, slice_p90_us, gap_p10_us, gap_p50_us, gap_p90_us, "
           "switches, overhead_p50_us, overhead_mean_us, efficiency, concurrency, hiccups, evidence_json"},
          {"probe_slowdown", "mode, repeat, others, rate_alone, rate_shared, slowdown, throughput, evidence_json"},
          {"probe_isolation", "mode, case_name, variant, outcome, isolated, value, unit, evidence_json"}};
      for (const auto& [table, cols] : rows)
        store::Stmt(db_, fmt::format("INSERT INTO main.{0} (session_id, {1}) SELECT ?, {1} FROM psrc.{0} WHERE session_id = ?", table, cols)
                             .c_str())
            .bind(1, new_id)
            .bind(2, old_id)
            .run();
      ++count.copied;
    }
    exec(db_, "COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    detach();
    throw;
  }
  detach();
  return count;
}

}  // namespace gpumix::probe
