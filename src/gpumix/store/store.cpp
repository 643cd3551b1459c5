#include "gpumix/store/store.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <system_error>

#include "gpumix/store/sqlite.hpp"
#include "gpumix/util/environment.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::store {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string event_token_from_line(const std::string& column, const std::string& ev, const std::string& data) {
  const std::string path = "'$." + column + "'";
  const std::string types = column == "output_tokens" ? "('integer')" : "('integer', 'real')";
  return "(CASE WHEN " + ev + " = 'latency' AND json_valid(" + data + ") AND json_type(" + data + ", " + path + ") IN " +
         types + " AND json_extract(" + data + ", " + path + ") >= 0 THEN json_extract(" + data + ", " + path + ") END)";
}

namespace {

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  mix_name TEXT NOT NULL, mix_path TEXT NOT NULL, mix_yaml TEXT NOT NULL, mix_sha256 TEXT NOT NULL,
  status TEXT NOT NULL, error TEXT NOT NULL DEFAULT '',
  started_ns INTEGER NOT NULL, ended_ns INTEGER NOT NULL DEFAULT 0,
  gpumix_version TEXT NOT NULL, git_sha TEXT NOT NULL, host TEXT NOT NULL, gpumix_pid INTEGER NOT NULL,
  environment_json TEXT NOT NULL, plan_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER NOT NULL REFERENCES runs(id),
  idx INTEGER NOT NULL, label TEXT NOT NULL, mode TEXT NOT NULL, repeat INTEGER NOT NULL, baseline INTEGER NOT NULL,
  status TEXT NOT NULL, error TEXT NOT NULL DEFAULT '', evidence_json TEXT NOT NULL DEFAULT '{}',
  started_ns INTEGER NOT NULL, ended_ns INTEGER NOT NULL DEFAULT 0,
  window_start_ns INTEGER NOT NULL DEFAULT 0, window_end_ns INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS workloads (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  cell_id INTEGER NOT NULL REFERENCES cells(id),
  name TEXT NOT NULL, role TEXT NOT NULL, argv_json TEXT NOT NULL, slo_json TEXT NOT NULL,
  pid INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',
  exit_code INTEGER, signal INTEGER,
  started_ns INTEGER NOT NULL DEFAULT 0, ended_ns INTEGER NOT NULL DEFAULT 0, peak_rss_kb INTEGER NOT NULL DEFAULT 0,
  stdout_path TEXT NOT NULL, stderr_path TEXT NOT NULL, ready_ns INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  workload_id INTEGER NOT NULL REFERENCES workloads(id),
  t_ns INTEGER NOT NULL, ev TEXT NOT NULL, n INTEGER, ms REAL, data TEXT NOT NULL,
  ttft_ms REAL, tpot_ms REAL, output_tokens INTEGER);
CREATE INDEX IF NOT EXISTS events_by_workload ON events(workload_id, t_ns);
CREATE INDEX IF NOT EXISTS cells_by_run ON cells(run_id);
CREATE INDEX IF NOT EXISTS workloads_by_cell ON workloads(cell_id);
)sql";

// Version 1 had no measured window: its cells get none (the analysis then
// falls back to each workload's own span) and its workloads no ready time.
const char* kMigrateFrom1 = R"sql(
ALTER TABLE cells ADD COLUMN window_start_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cells ADD COLUMN window_end_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE workloads ADD COLUMN ready_ns INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 2 kept a streamed completion's tokens only in the event's line:
// they get their columns, filled from the lines.
std::string migrate_from_2() {
  std::string sql;
  for (const char* c : kEventTokenColumns)
    sql += std::string("ALTER TABLE events ADD COLUMN ") + c + (std::string(c) == "output_tokens" ? " INTEGER;" : " REAL;");
  sql += "UPDATE events SET ";
  for (const char* c : kEventTokenColumns)
    sql += std::string(c) + " = " + event_token_from_line(c, "ev", "data") + (std::string(c) == "output_tokens" ? "" : ", ");
  return sql + " WHERE ev = 'latency';";
}

const char* kRunColumns =
    "id, mix_name, mix_path, mix_yaml, mix_sha256, status, error, started_ns, ended_ns, gpumix_version, git_sha, host, "
    "gpumix_pid, environment_json, plan_json";

// Names the store does not know (a damaged database) read as failed.
RunStatus run_status_of(const std::string& name) { return run_status_from_string(name).value_or(RunStatus::failed); }
CellStatus cell_status_of(const std::string& name) { return cell_status_from_string(name).value_or(CellStatus::failed); }
WorkloadStatus workload_status_of(const std::string& name) {
  return workload_status_from_string(name).value_or(WorkloadStatus::failed);
}

RunRow read_run(const Stmt& s) {
  RunRow r;
  r.id = s.i64(0);
  r.mix_name = s.text(1);
  r.mix_path = s.text(2);
  r.mix_yaml = s.text(3);
  r.mix_sha256 = s.text(4);
  r.status = run_status_of(s.text(5));
  r.error = s.text(6);
  r.started_ns = s.i64(7);
  r.ended_ns = s.i64(8);
  r.gpumix_version = s.text(9);
  r.git_sha = s.text(10);
  r.host = s.text(11);
  r.gpumix_pid = s.i64(12);
  r.environment_json = s.text(13);
  r.plan_json = s.text(14);
  return r;
}

const char* kWorkloadColumns =
    "w.id, w.cell_id, w.name, w.role, w.argv_json, w.slo_json, w.pid, w.status, w.reason, w.exit_code, w.signal, "
    "w.started_ns, w.ended_ns, w.peak_rss_kb, w.stdout_path, w.stderr_path, w.ready_ns";

WorkloadRow read_workload(const Stmt& s) {
  WorkloadRow w;
  w.id = s.i64(0);
  w.cell_id = s.i64(1);
  w.name = s.text(2);
  w.role = spec::role_from_string(s.text(3)).value_or(spec::Role::other);
  w.argv_json = s.text(4);
  w.slo_json = s.text(5);
  w.pid = s.i64(6);
  w.status = workload_status_of(s.text(7));
  w.reason = s.text(8);
  if (!s.null(9)) w.exit_code = static_cast<int>(s.i64(9));
  if (!s.null(10)) w.signal = static_cast<int>(s.i64(10));
  w.started_ns = s.i64(11);
  w.ended_ns = s.i64(12);
  w.peak_rss_kb = s.i64(13);
  w.stdout_path = s.text(14);
  w.stderr_path = s.text(15);
  w.ready_ns = s.i64(16);
  return w;
}

EventRow read_event(const Stmt& s) {
  EventRow e;
  e.workload_id = s.i64(0);
  e.t_ns = s.i64(1);
  e.ev = s.text(2);
  if (!s.null(3)) e.n = s.i64(3);
  if (!s.null(4)) e.ms = s.f64(4);
  e.data = s.text(5);
  if (!s.null(6)) e.ttft_ms = s.f64(6);
  if (!s.null(7)) e.tpot_ms = s.f64(7);
  if (!s.null(8)) e.output_tokens = s.i64(8);
  return e;
}

}  // namespace

Store::Store(std::filesystem::path path, Access access, bool check_integrity)
    : path_(std::move(path)), db_(open_database(path_, access, check_integrity)) {
  if (access == Access::read_write) exec("PRAGMA foreign_keys=ON");
}

Store Store::open(const std::filesystem::path& results_dir) {
  std::error_code ec;
  std::filesystem::create_directories(results_dir, ec);
  // The folder is the user's input (--results, GPUMIX_RESULTS, the mix's
  // results_dir): a loop of links or a file in the way is bad input.
  if (ec) throw InputError(results_dir.string() + ": cannot create results folder: " + ec.message());
  Store s(results_dir / kDatabaseName, Access::read_write);
  std::lock_guard lock(s.mutex_);
  s.exec("BEGIN IMMEDIATE");
  try {
    s.exec(kSchema);
    apply_schema_version(s.db_, s.path_, "meta", "results schema", kSchemaVersion, [&](int from) { s.migrate(from); });
  } catch (...) {
    s.exec("ROLLBACK");
    throw;
  }
  s.exec("COMMIT");
  return s;
}

Store Store::open_for_reading(const std::filesystem::path& results_dir) {
  auto path = results_dir / kDatabaseName;
  std::error_code ec;
  const bool there = std::filesystem::exists(path, ec);
  if (ec) throw InputError(path.string() + ": " + ec.message());
  if (!there)
    throw InputError(path.string() + ": no results database here (run `gpumix run` first, or pass --results DIR)");
  const auto gpumix_version = [&](sqlite3* db) {
    const auto version = stored_schema_version(db, path, "meta", "results schema");
    if (!version || !has_table(db, "main", "runs"))
      throw InputError(path.string() + ": not a gpumix results database");
    if (*version > kSchemaVersion)
      throw InputError(path.string() + ": results schema version " + std::to_string(*version) +
                       ", newer than this gpumix's " + std::to_string(kSchemaVersion) + "; use a newer gpumix");
    return *version;
  };
  Store s(path, Access::read_only);
  const int version = gpumix_version(s.db_);
  // Recovery and migration write: only where the file can be written, and
  // only into a file just checked to be gpumix's and undamaged.
  const bool writable =
      ::access(path.c_str(), W_OK) == 0 && ::access(results_dir.empty() ? "." : results_dir.c_str(), W_OK) == 0;
  if (!writable) {
    if (version < kSchemaVersion)
      throw InputError(path.string() + ": results schema version " + std::to_string(version) +
                       ", older than this gpumix's, in a place this user cannot write: open it once where it can be "
                       "written (gpumix upgrades it), or copy the folder");
    return s;
  }
  try {
    s.upgrade_and_recover(version);
  } catch (const std::exception&) {
    // A full disk or a lock held past the busy timeout: read what is stored
    // (the next writable open recovers); an older schema cannot be read.
    if (version < kSchemaVersion) throw;
  }
  return s;
}

void Store::upgrade_and_recover(int version) {
  Store writer(path_, Access::read_write, false);
  if (version < kSchemaVersion) {
    std::lock_guard lock(writer.mutex_);
    writer.exec("BEGIN IMMEDIATE");
    try {
      apply_schema_version(writer.db_, path_, "meta", "results schema", kSchemaVersion, [&](int from) { writer.migrate(from); });
    } catch (...) {
      writer.exec("ROLLBACK");
      throw;
    }
    writer.exec("COMMIT");
  }
  writer.recover();
}

Store::Store(Store&& other) noexcept : path_(std::move(other.path_)), db_(other.db_) { other.db_ = nullptr; }

Store::~Store() {
  if (db_) sqlite3_close(db_);
}

void Store::exec(const char* sql) { store::exec(db_, sql); }

void Store::migrate(int from) {
  if (from <= 1) exec(kMigrateFrom1);  // 1 → 2
  if (from <= 2) exec(migrate_from_2().c_str());  // 2 → 3
}

int64_t Store::begin_run(const RunRow& r) {
  std::lock_guard lock(mutex_);
  Stmt s(db_,
         "INSERT INTO runs(mix_name, mix_path, mix_yaml, mix_sha256, status, started_ns, gpumix_version, git_sha, host, "
         "gpumix_pid, environment_json, plan_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
  s.bind(1, r.mix_name).bind(2, r.mix_path).bind(3, r.mix_yaml).bind(4, r.mix_sha256).bind(5, std::string("running"));
  s.bind(6, r.started_ns).bind(7, r.gpumix_version).bind(8, r.git_sha).bind(9, r.host).bind(10, r.gpumix_pid);
  s.bind(11, r.environment_json).bind(12, r.plan_json).run();
  return sqlite3_last_insert_rowid(db_);
}

void Store::end_run(int64_t run_id, RunStatus status, const std::string& error) {
  std::lock_guard lock(mutex_);
  exec("BEGIN IMMEDIATE");
  try {
    Stmt s(db_, "UPDATE runs SET status = ?, error = ?, ended_ns = ? WHERE id = ?");
    s.bind(1, std::string(to_string(status))).bind(2, error).bind(3, now_ns()).bind(4, run_id).run();
    // What a failure (a full disk, say) left unfinished ends with the run.
    finalize_ended_runs();
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void Store::set_plan(int64_t run_id, const std::string& plan_json) {
  std::lock_guard lock(mutex_);
  Stmt s(db_, "UPDATE runs SET plan_json = ? WHERE id = ?");
  s.bind(1, plan_json).bind(2, run_id).run();
}

int64_t Store::begin_cell(const CellRow& c) {
  std::lock_guard lock(mutex_);
  Stmt s(db_,
         "INSERT INTO cells(run_id, idx, label, mode, repeat, baseline, status, started_ns) VALUES (?,?,?,?,?,?,?,?)");
  s.bind(1, c.run_id).bind(2, c.index).bind(3, c.label).bind(4, c.mode).bind(5, c.repeat).bind(6, c.baseline ? 1 : 0);
  s.bind(7, std::string("running")).bind(8, c.started_ns ? c.started_ns : now_ns()).run();
  return sqlite3_last_insert_rowid(db_);
}

void Store::end_cell(int64_t cell_id, CellStatus status, const std::string& error) {
  std::lock_guard lock(mutex_);
  Stmt s(db_, "UPDATE cells SET status = ?, error = ?, ended_ns = ? WHERE id = ?");
  s.bind(1, std::string(to_string(status))).bind(2, error).bind(3, now_ns()).bind(4, cell_id).run();
}

void Store::set_window(int64_t cell_id, int64_t start_ns, int64_t end_ns) {
  std::lock_guard lock(mutex_);
  Stmt s(db_, "UPDATE cells SET window_start_ns = ?, window_end_ns = ? WHERE id = ?");
  s.bind(1, start_ns).bind(2, end_ns).bind(3, cell_id).run();
}

void Store::workload_ready(int64_t workload_id, int64_t ready_ns) {
  std::lock_guard lock(mutex_);
  Stmt s(db_, "UPDATE workloads SET ready_ns = ? WHERE id = ?");
  s.bind(1, ready_ns).bind(2, workload_id).run();
}

void Store::set_evidence(int64_t cell_id, const std::string& evidence_json) {
  std::lock_guard lock(mutex_);
  Stmt s(db_, "UPDATE cells SET evidence_json = ? WHERE id = ?");
  s.bind(1, evidence_json).bind(2, cell_id).run();
}

int64_t Store::add_workload(const WorkloadRow& w) {
  std::lock_guard lock(mutex_);
  Stmt s(db_,
         "INSERT INTO workloads(cell_id, name, role, argv_json, slo_json, status, stdout_path, stderr_path) "
         "VALUES (?,?,?,?,?,?,?,?)");
  s.bind(1, w.cell_id).bind(2, w.name).bind(3, std::string(spec::to_string(w.role))).bind(4, w.argv_json).bind(5, w.slo_json);
  s.bind(6, std::string(to_string(w.status))).bind(7, w.stdout_path).bind(8, w.stderr_path).run();
  return sqlite3_last_insert_rowid(db_);
}

void Store::workload_started(int64_t workload_id, int64_t pid, int64_t started_ns) {
  std::lock_guard lock(mutex_);
  Stmt s(db_, "UPDATE workloads SET pid = ?, started_ns = ?, status = 'running' WHERE id = ?");
  s.bind(1, pid).bind(2, started_ns).bind(3, workload_id).run();
}

void Store::workload_finished(const WorkloadRow& w) {
  std::lock_guard lock(mutex_);
  Stmt s(db_,
         "UPDATE workloads SET status = ?, reason = ?, exit_code = ?, signal = ?, ended_ns = ?, peak_rss_kb = ? "
         "WHERE id = ?");
  s.bind(1, std::string(to_string(w.status))).bind(2, w.reason).bind(3, w.exit_code).bind(4, w.signal).bind(5, w.ended_ns);
  s.bind(6, w.peak_rss_kb).bind(7, w.id).run();
}

void Store::add_events(const std::vector<EventRow>& events) {
  if (events.empty()) return;
  std::lock_guard lock(mutex_);
  exec("BEGIN");
  try {
    Stmt s(db_,
           "INSERT INTO events(workload_id, t_ns, ev, n, ms, data, ttft_ms, tpot_ms, output_tokens) VALUES (?,?,?,?,?,?,?,?,?)");
    for (const auto& e : events)
      s.bind(1, e.workload_id).bind(2, e.t_ns).bind(3, e.ev).bind(4, e.n).bind(5, e.ms).bind(6, e.data).bind(7, e.ttft_ms)
          .bind(8, e.tpot_ms).bind(9, e.output_tokens).run();
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

int Store::recover() {
  std::vector<int64_t> stale;
  const std::string host = hostname();
  std::lock_guard lock(mutex_);
  {
    Stmt s(db_, "SELECT id, gpumix_pid, host FROM runs WHERE status = 'running'");
    while (s.step()) {
      auto pid = static_cast<pid_t>(s.i64(1));
      bool alive = s.text(2) == host && pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM);
      if (!alive) stale.push_back(s.i64(0));
    }
  }
  // Readers call this before every read: take the write lock only when there
  // is something to finish, never while a live run is merely being watched.
  const bool unfinished = [&] {
    Stmt q(db_,
           "SELECT EXISTS (SELECT 1 FROM cells c JOIN runs r ON r.id = c.run_id WHERE c.status = 'running' AND "
           "r.status != 'running') OR EXISTS (SELECT 1 FROM workloads w JOIN cells c ON c.id = w.cell_id WHERE "
           "w.status IN ('running', 'pending') AND c.status != 'running')");
    return q.step() && q.i64(0) != 0;
  }();
  if (stale.empty() && !unfinished) return 0;
  exec("BEGIN IMMEDIATE");
  try {
    for (auto id : stale) {
      Stmt s(db_, "UPDATE runs SET status = 'interrupted', error = 'gpumix stopped before the run ended' WHERE id = ?");
      s.bind(1, id).run();
    }
    finalize_ended_runs();
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  return static_cast<int>(stale.size());
}

void Store::finalize_ended_runs() {
  exec(R"sql(
UPDATE cells SET status = 'interrupted'
  WHERE status = 'running' AND run_id IN (SELECT id FROM runs WHERE status != 'running');
UPDATE workloads SET status = CASE status WHEN 'running' THEN 'interrupted' ELSE 'not_started' END
  WHERE status IN ('running', 'pending') AND cell_id IN (SELECT id FROM cells WHERE status != 'running');
)sql");
}

std::vector<RunRow> Store::runs() {
  std::lock_guard lock(mutex_);
  Stmt s(db_, (std::string("SELECT ") + kRunColumns + " FROM runs ORDER BY id").c_str());
  std::vector<RunRow> out;
  while (s.step()) out.push_back(read_run(s));
  return out;
}

std::optional<RunRow> Store::run(int64_t run_id) {
  std::lock_guard lock(mutex_);
  Stmt s(db_, (std::string("SELECT ") + kRunColumns + " FROM runs WHERE id = ?").c_str());
  s.bind(1, run_id);
  if (!s.step()) return std::nullopt;
  return read_run(s);
}

std::optional<int64_t> Store::latest_run_id() {
  std::lock_guard lock(mutex_);
  Stmt s(db_, "SELECT max(id) FROM runs");
  if (!s.step() || s.null(0)) return std::nullopt;
  return s.i64(0);
}

std::vector<CellRow> Store::cells(int64_t run_id) {
  std::lock_guard lock(mutex_);
  Stmt s(db_,
         "SELECT id, run_id, idx, label, mode, repeat, baseline, status, error, evidence_json, started_ns, ended_ns, "
         "window_start_ns, window_end_ns "
         "FROM cells WHERE run_id = ? ORDER BY idx");
  s.bind(1, run_id);
  std::vector<CellRow> out;
  while (s.step()) {
    CellRow c;
    c.id = s.i64(0);
    c.run_id = s.i64(1);
    c.index = static_cast<int>(s.i64(2));
    c.label = s.text(3);
    c.mode = s.text(4);
    c.repeat = static_cast<int>(s.i64(5));
    c.baseline = s.i64(6) != 0;
    c.status = cell_status_of(s.text(7));
    c.error = s.text(8);
    c.evidence_json = s.text(9);
    c.started_ns = s.i64(10);
    c.ended_ns = s.i64(11);
    c.window_start_ns = s.i64(12);
    c.window_end_ns = s.i64(13);
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<WorkloadRow> Store::workloads(int64_t run_id) {
  std::lock_guard lock(mutex_);
  Stmt s(db_, (std::string("SELECT ") + kWorkloadColumns +
               " FROM workloads w JOIN cells c ON c.id = w.cell_id WHERE c.run_id = ? ORDER BY c.idx, w.id")
                  .c_str());
  s.bind(1, run_id);
  std::vector<WorkloadRow> out;
  while (s.step()) out.push_back(read_workload(s));
  return out;
}

std::vector<EventRow> Store::events(int64_t run_id, EventData data) {
  // For the analysis, SQLite reduces each line to the one field it reads.
  const char* data_column = data == EventData::full ? "e.data" : R"sql(CASE
      WHEN e.ev NOT IN ('latency', 'info') OR NOT json_valid(e.data) THEN ''
      WHEN e.ev = 'latency' AND json_type(e.data, '$.ok') = 'false' THEN '{"ok":false}'
      WHEN e.ev = 'info' AND json_type(e.data, '$.peak_device_mem_bytes') IN ('integer', 'real')
        THEN json_object('peak_device_mem_bytes', json_extract(e.data, '$.peak_device_mem_bytes'))
      ELSE '' END)sql";
  std::lock_guard lock(mutex_);
  Stmt s(db_, (std::string("SELECT e.workload_id, e.t_ns, e.ev, e.n, e.ms, ") + data_column +
               ", e.ttft_ms, e.tpot_ms, e.output_tokens FROM events e JOIN workloads w ON w.id = e.workload_id "
               "JOIN cells c ON c.id = w.cell_id WHERE c.run_id = ? ORDER BY e.id")
                  .c_str());
  s.bind(1, run_id);
  std::vector<EventRow> out;
  while (s.step()) out.push_back(read_event(s));
  return out;
}

std::vector<EventRow> Store::workload_events(int64_t workload_id) {
  std::lock_guard lock(mutex_);
  Stmt s(db_,
         "SELECT workload_id, t_ns, ev, n, ms, data, ttft_ms, tpot_ms, output_tokens FROM events WHERE workload_id = ? "
         "ORDER BY id");
  s.bind(1, workload_id);
  std::vector<EventRow> out;
  while (s.step()) out.push_back(read_event(s));
  return out;
}

}  // namespace gpumix::store
