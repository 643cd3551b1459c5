#include "gpumix/telemetry/telemetry_store.hpp"

#include <string>

#include "gpumix/store/sqlite.hpp"
#include "gpumix/store/store.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::telemetry {
namespace {

using store::exec;
using store::Stmt;

const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS telemetry_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS telemetry_sessions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER, source TEXT NOT NULL,
  started_ns INTEGER NOT NULL, ended_ns INTEGER NOT NULL DEFAULT 0, interval_ns INTEGER NOT NULL,
  available INTEGER NOT NULL, reason TEXT NOT NULL DEFAULT '', notes TEXT NOT NULL DEFAULT '',
  ticks INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS gpu_samples (
  t_ns INTEGER NOT NULL, run_id INTEGER, cell_id INTEGER, gpu INTEGER NOT NULL, uuid TEXT NOT NULL,
  gpu_util_percent INTEGER, memory_util_percent INTEGER, memory_used_bytes INTEGER, memory_total_bytes INTEGER,
  sm_clock_mhz INTEGER, memory_clock_mhz INTEGER, power_watts REAL, energy_mj INTEGER, temperature_c INTEGER,
  clock_event_reasons INTEGER);
CREATE TABLE IF NOT EXISTS process_samples (
  t_ns INTEGER NOT NULL, run_id INTEGER, cell_id INTEGER, gpu INTEGER NOT NULL, pid INTEGER NOT NULL,
  kind TEXT NOT NULL, workload_id INTEGER, workload TEXT NOT NULL DEFAULT '', gpu_instance_id INTEGER,
  used_memory_bytes INTEGER, sm_util_percent INTEGER, memory_util_percent INTEGER);
CREATE TABLE IF NOT EXISTS gpm_samples (
  t_ns INTEGER NOT NULL, run_id INTEGER, cell_id INTEGER, gpu INTEGER NOT NULL, gpu_instance_id INTEGER,
  uuid TEXT NOT NULL, sm_util_percent REAL, sm_occupancy_percent REAL, tensor_util_percent REAL,
  dram_bw_util_percent REAL);
CREATE INDEX IF NOT EXISTS gpu_samples_by_run ON gpu_samples(run_id, t_ns);
CREATE INDEX IF NOT EXISTS gpu_samples_by_time ON gpu_samples(t_ns);
CREATE INDEX IF NOT EXISTS process_samples_by_run ON process_samples(run_id, t_ns);
CREATE INDEX IF NOT EXISTS process_samples_by_time ON process_samples(t_ns);
CREATE INDEX IF NOT EXISTS gpm_samples_by_run ON gpm_samples(run_id, t_ns);
CREATE INDEX IF NOT EXISTS gpm_samples_by_time ON gpm_samples(t_ns);
)sql";

const char* kGpuColumns =
    "t_ns, run_id, cell_id, gpu, uuid, gpu_util_percent, memory_util_percent, memory_used_bytes, memory_total_bytes, "
    "sm_clock_mhz, memory_clock_mhz, power_watts, energy_mj, temperature_c, clock_event_reasons";
const char* kProcessColumns =
    "t_ns, run_id, cell_id, gpu, pid, kind, workload_id, workload, gpu_instance_id, used_memory_bytes, sm_util_percent, "
    "memory_util_percent";
const char* kGpmColumns =
    "t_ns, run_id, cell_id, gpu, gpu_instance_id, uuid, sm_util_percent, sm_occupancy_percent, tensor_util_percent, "
    "dram_bw_util_percent";

std::string insert_sql(const char* table, const char* columns, int n) {
  std::string q = std::string("INSERT INTO ") + table + " (" + columns + ") VALUES (";
  for (int i = 0; i < n; ++i) q += i ? ",?" : "?";
  return q + ")";
}

}  // namespace

struct TelemetryStore::Statements {
  explicit Statements(sqlite3* db)
      : begin(db, "BEGIN IMMEDIATE"),
        commit(db, "COMMIT"),
        gpu(db, insert_sql("gpu_samples", kGpuColumns, 15).c_str()),
        process(db, insert_sql("process_samples", kProcessColumns, 12).c_str()),
        gpm(db, insert_sql("gpm_samples", kGpmColumns, 10).c_str()) {}
  Stmt begin, commit, gpu, process, gpm;
};

TelemetryStore::TelemetryStore(const std::filesystem::path& db) {
  std::error_code ec;
  const bool file = std::filesystem::is_regular_file(db, ec) || db.extension() == ".db";
  path_ = file ? db : db / store::kDatabaseName;
  if (path_.has_parent_path()) std::filesystem::create_directories(path_.parent_path(), ec);
  db_ = store::open_side_connection(path_.string());
  try {
    exec(db_, kSchema);
    exec(db_, ("INSERT OR REPLACE INTO telemetry_meta (key, value) VALUES ('schema_version', '" +
               std::to_string(kTelemetrySchemaVersion) + "')")
                  .c_str());
    stmts_ = std::make_unique<Statements>(db_);
  } catch (...) {
    stmts_.reset();
    sqlite3_close(db_);
    throw;
  }
}

TelemetryStore::~TelemetryStore() {
  stmts_.reset();
  sqlite3_close(db_);
}

int64_t TelemetryStore::begin_session(const SessionRow& s) {
  std::lock_guard lock(mutex_);
  Stmt q(db_,
         "INSERT INTO telemetry_sessions (run_id, source, started_ns, interval_ns, available, reason, notes) "
         "VALUES (?,?,?,?,?,?,?)");
  q.bind(1, s.run_id).bind(2, s.source).bind(3, s.started_ns).bind(4, s.interval_ns);
  q.bind(5, static_cast<int64_t>(s.available)).bind(6, s.reason).bind(7, s.notes).run();
  return sqlite3_last_insert_rowid(db_);
}

void TelemetryStore::set_session_run(int64_t session_id, int64_t run_id) {
  std::lock_guard lock(mutex_);
  Stmt(db_, "UPDATE telemetry_sessions SET run_id = ? WHERE id = ?").bind(1, run_id).bind(2, session_id).run();
}

void TelemetryStore::end_session(int64_t session_id, int64_t ticks, int64_t errors, const std::string& last_error) {
  std::lock_guard lock(mutex_);
  Stmt(db_, "UPDATE telemetry_sessions SET ended_ns = ?, ticks = ?, errors = ?, last_error = ? WHERE id = ?")
      .bind(1, store::now_ns())
      .bind(2, ticks)
      .bind(3, errors)
      .bind(4, last_error)
      .bind(5, session_id)
      .run();
}

void TelemetryStore::write(const Samples& s) {
  if (s.gpus.empty() && s.processes.empty() && s.gpm.empty()) return;
  std::lock_guard lock(mutex_);
  auto& st = *stmts_;
  st.begin.run();
  try {
    for (const auto& g : s.gpus) {
      st.gpu.bind(1, g.t_ns).bind(2, g.tags.run_id).bind(3, g.tags.cell_id).bind(4, static_cast<int64_t>(g.gpu));
      st.gpu.bind(5, g.uuid).bind(6, g.gpu_util_percent).bind(7, g.memory_util_percent).bind(8, g.memory_used_bytes);
      st.gpu.bind(9, g.memory_total_bytes).bind(10, g.sm_clock_mhz).bind(11, g.memory_clock_mhz).bind(12, g.power_watts);
      st.gpu.bind(13, g.energy_mj).bind(14, g.temperature_c).bind(15, g.clock_event_reasons).run();
    }
    for (const auto& p : s.processes) {
      st.process.bind(1, p.t_ns).bind(2, p.tags.run_id).bind(3, p.tags.cell_id).bind(4, static_cast<int64_t>(p.gpu));
      st.process.bind(5, p.pid).bind(6, p.kind).bind(7, p.workload_id).bind(8, p.workload).bind(9, p.gpu_instance_id);
      st.process.bind(10, p.used_memory_bytes).bind(11, p.sm_util_percent).bind(12, p.memory_util_percent).run();
    }
    for (const auto& m : s.gpm) {
      st.gpm.bind(1, m.t_ns).bind(2, m.tags.run_id).bind(3, m.tags.cell_id).bind(4, static_cast<int64_t>(m.gpu));
      st.gpm.bind(5, m.gpu_instance_id).bind(6, m.uuid).bind(7, m.sm_util_percent).bind(8, m.sm_occupancy_percent);
      st.gpm.bind(9, m.tensor_util_percent).bind(10, m.dram_bw_util_percent).run();
    }
    st.commit.run();
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

std::vector<SessionRow> TelemetryStore::sessions(std::optional<int64_t> run_id) {
  std::lock_guard lock(mutex_);
  Stmt q(db_, run_id ? "SELECT id, run_id, source, started_ns, ended_ns, interval_ns, available, reason, notes, ticks, "
                       "errors, last_error FROM telemetry_sessions WHERE run_id = ? ORDER BY id"
                     : "SELECT id, run_id, source, started_ns, ended_ns, interval_ns, available, reason, notes, ticks, "
                       "errors, last_error FROM telemetry_sessions ORDER BY id");
  if (run_id) q.bind(1, *run_id);
  std::vector<SessionRow> out;
  while (q.step()) {
    SessionRow r;
    r.id = q.i64(0);
    r.run_id = q.opt_i64(1);
    r.source = q.text(2);
    r.started_ns = q.i64(3);
    r.ended_ns = q.i64(4);
    r.interval_ns = q.i64(5);
    r.available = q.i64(6) != 0;
    r.reason = q.text(7);
    r.notes = q.text(8);
    r.ticks = q.i64(9);
    r.errors = q.i64(10);
    r.last_error = q.text(11);
    out.push_back(std::move(r));
  }
  return out;
}

Samples TelemetryStore::samples(int64_t run_id) { return read_samples("run_id = ?1", run_id, 0); }

Samples TelemetryStore::samples_between(int64_t from_ns, int64_t to_ns) {
  return read_samples("t_ns BETWEEN ?1 AND ?2", from_ns, to_ns);
}

Samples TelemetryStore::read_samples(const char* where, int64_t a, int64_t b) {
  std::lock_guard lock(mutex_);
  const bool two = std::string(where).find("?2") != std::string::npos;
  auto query = [&](const char* columns, const char* table, const char* order) {
    auto q = std::make_unique<Stmt>(
        db_, (std::string("SELECT ") + columns + " FROM " + table + " WHERE " + where + " ORDER BY " + order).c_str());
    q->bind(1, a);
    if (two) q->bind(2, b);
    return q;
  };
  Samples out;
  for (auto q = query(kGpuColumns, "gpu_samples", "t_ns, gpu"); q->step();) {
    GpuSample g;
    g.t_ns = q->i64(0);
    g.tags = {q->opt_i64(1), q->opt_i64(2)};
    g.gpu = static_cast<int>(q->i64(3));
    g.uuid = q->text(4);
    g.gpu_util_percent = q->opt_i64(5);
    g.memory_util_percent = q->opt_i64(6);
    g.memory_used_bytes = q->opt_i64(7);
    g.memory_total_bytes = q->opt_i64(8);
    g.sm_clock_mhz = q->opt_i64(9);
    g.memory_clock_mhz = q->opt_i64(10);
    g.power_watts = q->opt_f64(11);
    g.energy_mj = q->opt_i64(12);
    g.temperature_c = q->opt_i64(13);
    g.clock_event_reasons = q->opt_i64(14);
    out.gpus.push_back(std::move(g));
  }
  for (auto q = query(kProcessColumns, "process_samples", "t_ns, gpu, pid"); q->step();) {
    ProcessSample p;
    p.t_ns = q->i64(0);
    p.tags = {q->opt_i64(1), q->opt_i64(2)};
    p.gpu = static_cast<int>(q->i64(3));
    p.pid = q->i64(4);
    p.kind = q->text(5);
    p.workload_id = q->opt_i64(6);
    p.workload = q->text(7);
    p.gpu_instance_id = q->opt_i64(8);
    p.used_memory_bytes = q->opt_i64(9);
    p.sm_util_percent = q->opt_i64(10);
    p.memory_util_percent = q->opt_i64(11);
    out.processes.push_back(std::move(p));
  }
  for (auto q = query(kGpmColumns, "gpm_samples", "t_ns, gpu, gpu_instance_id"); q->step();) {
    GpmSample m;
    m.t_ns = q->i64(0);
    m.tags = {q->opt_i64(1), q->opt_i64(2)};
    m.gpu = static_cast<int>(q->i64(3));
    m.gpu_instance_id = q->opt_i64(4);
    m.uuid = q->text(5);
    m.sm_util_percent = q->opt_f64(6);
    m.sm_occupancy_percent = q->opt_f64(7);
    m.tensor_util_percent = q->opt_f64(8);
    m.dram_bw_util_percent = q->opt_f64(9);
    out.gpm.push_back(std::move(m));
  }
  return out;
}

}  // namespace gpumix::telemetry
