#include "gpumix/telemetry/telemetry_store.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "gpumix/store/sqlite.hpp"
#include "gpumix/store/store.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::telemetry {
namespace {

using store::exec;
using store::Stmt;

// The tables' fixed columns; each metric of metrics.hpp is a column of its
// scope's table after these, added to older databases when missing.
const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS telemetry_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS telemetry_sessions (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id INTEGER, source TEXT NOT NULL,
  started_ns INTEGER NOT NULL, ended_ns INTEGER NOT NULL DEFAULT 0, interval_ns INTEGER NOT NULL,
  available INTEGER NOT NULL, reason TEXT NOT NULL DEFAULT '', notes TEXT NOT NULL DEFAULT '',
  ticks INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS gpu_samples (
  t_ns INTEGER NOT NULL, run_id INTEGER, cell_id INTEGER, gpu INTEGER NOT NULL, uuid TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS process_samples (
  t_ns INTEGER NOT NULL, run_id INTEGER, cell_id INTEGER, gpu INTEGER NOT NULL, pid INTEGER NOT NULL,
  kind TEXT NOT NULL, workload_id INTEGER, workload TEXT NOT NULL DEFAULT '', gpu_instance_id INTEGER);
CREATE TABLE IF NOT EXISTS gpm_samples (
  t_ns INTEGER NOT NULL, run_id INTEGER, cell_id INTEGER, gpu INTEGER NOT NULL, gpu_instance_id INTEGER,
  uuid TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gpu_events (
  t_ns INTEGER NOT NULL, run_id INTEGER, cell_id INTEGER, gpu INTEGER NOT NULL, uuid TEXT NOT NULL,
  type TEXT NOT NULL, data INTEGER NOT NULL, gpu_instance_id INTEGER, compute_instance_id INTEGER,
  description TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS gpu_events_by_run ON gpu_events(run_id, t_ns);
CREATE INDEX IF NOT EXISTS gpu_samples_by_run ON gpu_samples(run_id, t_ns);
CREATE INDEX IF NOT EXISTS gpu_samples_by_time ON gpu_samples(t_ns);
CREATE INDEX IF NOT EXISTS process_samples_by_run ON process_samples(run_id, t_ns);
CREATE INDEX IF NOT EXISTS process_samples_by_time ON process_samples(t_ns);
CREATE INDEX IF NOT EXISTS gpm_samples_by_run ON gpm_samples(run_id, t_ns);
CREATE INDEX IF NOT EXISTS gpm_samples_by_time ON gpm_samples(t_ns);
)sql";

constexpr auto kGpuMetrics = metrics_of<Scope::gpu>();
constexpr auto kProcessMetrics = metrics_of<Scope::process>();
constexpr auto kGpmMetrics = metrics_of<Scope::gpm>();

const std::string kGpuFixed = "t_ns, run_id, cell_id, gpu, uuid";
const std::string kProcessFixed = "t_ns, run_id, cell_id, gpu, pid, kind, workload_id, workload, gpu_instance_id";
const std::string kGpmFixed = "t_ns, run_id, cell_id, gpu, gpu_instance_id, uuid";
const std::string kEventColumns =
    "t_ns, run_id, cell_id, gpu, uuid, type, data, gpu_instance_id, compute_instance_id, description";
constexpr int kGpuFixedCount = 5, kProcessFixedCount = 9, kGpmFixedCount = 6;

template <size_t N>
std::string columns(const std::string& fixed, const std::array<MetricId, N>& metrics) {
  std::string out = fixed;
  for (auto m : metrics) out.append(", ").append(m.def().name);
  return out;
}

std::set<std::string> column_names(sqlite3* db, const char* table) {
  std::set<std::string> have;
  for (Stmt q(db, (std::string("PRAGMA table_info(") + table + ")").c_str()); q.step();) have.insert(q.text(1));
  return have;
}

// The SELECT list of `table`: a metric column that an older file lacks (read
// without migrating it) reads as NULL.
template <size_t N>
std::string select_columns(sqlite3* db, const char* table, const std::string& fixed, const std::array<MetricId, N>& metrics) {
  const auto have = column_names(db, table);
  std::string out = fixed;
  for (auto m : metrics) {
    const std::string name(m.def().name);
    out.append(", ").append(have.count(name) ? name : "NULL AS " + name);
  }
  return out;
}

// Adds the metric columns `table` lacks (all of them in a new database).
template <size_t N>
void add_metric_columns(sqlite3* db, const char* table, const std::array<MetricId, N>& metrics) {
  const auto have = column_names(db, table);
  for (auto m : metrics) {
    const std::string name(m.def().name);
    if (have.count(name)) continue;
    exec(db, ("ALTER TABLE " + std::string(table) + " ADD COLUMN " + name + (m.def().integer ? " INTEGER" : " REAL"))
                 .c_str());
  }
}

std::string insert_sql(const char* table, const std::string& columns) {
  std::string q = std::string("INSERT INTO ") + table + " (" + columns + ") VALUES (";
  const auto n = std::count(columns.begin(), columns.end(), ',') + 1;
  for (int i = 0; i < n; ++i) q += i ? ",?" : "?";
  return q + ")";
}

// Binds the metrics from parameter `first` on, integers as integers.
template <size_t N>
void bind_metrics(Stmt& q, int first, const Values& values, const std::array<MetricId, N>& metrics) {
  for (size_t k = 0; k < N; ++k) {
    const auto& v = values[metrics[k]];
    const int at = first + static_cast<int>(k);
    if (!v) q.bind(at, std::optional<int64_t>());
    else if (metrics[k].def().integer) q.bind(at, static_cast<int64_t>(std::llround(*v)));
    else q.bind(at, *v);
  }
}

template <size_t N>
void read_metrics(const Stmt& q, int first, Values& values, const std::array<MetricId, N>& metrics) {
  for (size_t k = 0; k < N; ++k) {
    const int at = first + static_cast<int>(k);
    if (metrics[k].def().integer) {
      if (auto v = q.opt_i64(at)) values[metrics[k]] = static_cast<double>(*v);
    } else {
      values[metrics[k]] = q.opt_f64(at);
    }
  }
}

}  // namespace

struct TelemetryStore::Statements {
  explicit Statements(sqlite3* db)
      : begin(db, "BEGIN IMMEDIATE"),
        commit(db, "COMMIT"),
        gpu(db, insert_sql("gpu_samples", columns(kGpuFixed, kGpuMetrics)).c_str()),
        process(db, insert_sql("process_samples", columns(kProcessFixed, kProcessMetrics)).c_str()),
        gpm(db, insert_sql("gpm_samples", columns(kGpmFixed, kGpmMetrics)).c_str()),
        event(db, insert_sql("gpu_events", kEventColumns).c_str()) {}
  Stmt begin, commit, gpu, process, gpm, event;
};

TelemetryStore::TelemetryStore(const std::filesystem::path& results_dir, store::Access access, bool check_integrity)
    : path_(results_dir / store::kDatabaseName) {
  if (access == store::Access::read_only) {
    db_ = store::open_database(path_, access, check_integrity);
    try {
      // A newer file is refused; an older one reads the columns it has.
      if (store::readable_schema_version(db_, path_, "telemetry_meta", "telemetry schema", kTelemetrySchemaVersion) == 0)
        store::create_empty_temp_tables(db_, kSchema);
    } catch (...) {
      sqlite3_close(db_);
      throw;
    }
    return;
  }
  std::error_code ec;
  std::filesystem::create_directories(results_dir, ec);
  db_ = store::open_database(path_, access, check_integrity);
  try {
    exec(db_, kSchema);
    exec(db_, "BEGIN IMMEDIATE");
    try {
      // An older version lacks some metrics' columns, a new database all of
      // them: either way add_metric_columns adds what metrics.hpp has and the
      // file lacks, after the version rule has refused a newer file.
      store::apply_schema_version(db_, path_.string(), "telemetry_meta", "telemetry schema", kTelemetrySchemaVersion,
                                  [](int) {});
      add_metric_columns(db_, "gpu_samples", kGpuMetrics);
      add_metric_columns(db_, "process_samples", kProcessMetrics);
      add_metric_columns(db_, "gpm_samples", kGpmMetrics);
      exec(db_, "COMMIT");
    } catch (...) {
      exec(db_, "ROLLBACK");
      throw;
    }
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
  if (s.gpus.empty() && s.processes.empty() && s.gpm.empty() && s.events.empty()) return;
  std::lock_guard lock(mutex_);
  auto& st = *stmts_;
  st.begin.run();
  try {
    for (const auto& g : s.gpus) {
      st.gpu.bind(1, g.t_ns).bind(2, g.tags.run_id).bind(3, g.tags.cell_id).bind(4, static_cast<int64_t>(g.gpu));
      st.gpu.bind(5, g.uuid);
      bind_metrics(st.gpu, kGpuFixedCount + 1, g.values, kGpuMetrics);
      st.gpu.run();
    }
    for (const auto& p : s.processes) {
      st.process.bind(1, p.t_ns).bind(2, p.tags.run_id).bind(3, p.tags.cell_id).bind(4, static_cast<int64_t>(p.gpu));
      st.process.bind(5, p.pid).bind(6, p.kind).bind(7, p.workload_id).bind(8, p.workload).bind(9, p.gpu_instance_id);
      bind_metrics(st.process, kProcessFixedCount + 1, p.values, kProcessMetrics);
      st.process.run();
    }
    for (const auto& m : s.gpm) {
      st.gpm.bind(1, m.t_ns).bind(2, m.tags.run_id).bind(3, m.tags.cell_id).bind(4, static_cast<int64_t>(m.gpu));
      st.gpm.bind(5, m.gpu_instance_id).bind(6, m.uuid);
      bind_metrics(st.gpm, kGpmFixedCount + 1, m.values, kGpmMetrics);
      st.gpm.run();
    }
    for (const auto& e : s.events) {
      st.event.bind(1, e.t_ns).bind(2, e.tags.run_id).bind(3, e.tags.cell_id).bind(4, static_cast<int64_t>(e.gpu));
      st.event.bind(5, e.uuid).bind(6, e.type).bind(7, e.data).bind(8, e.gpu_instance_id).bind(9, e.compute_instance_id);
      st.event.bind(10, e.description).run();
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
  auto query = [&](const std::string& columns, const char* table, const char* order) {
    auto q = std::make_unique<Stmt>(
        db_, ("SELECT " + columns + " FROM " + table + " WHERE " + where + " ORDER BY " + order).c_str());
    q->bind(1, a);
    if (two) q->bind(2, b);
    return q;
  };
  Samples out;
  for (auto q = query(select_columns(db_, "gpu_samples", kGpuFixed, kGpuMetrics), "gpu_samples", "t_ns, gpu"); q->step();) {
    GpuSample g;
    g.t_ns = q->i64(0);
    g.tags = {q->opt_i64(1), q->opt_i64(2)};
    g.gpu = static_cast<int>(q->i64(3));
    g.uuid = q->text(4);
    read_metrics(*q, kGpuFixedCount, g.values, kGpuMetrics);
    out.gpus.push_back(std::move(g));
  }
  for (auto q = query(select_columns(db_, "process_samples", kProcessFixed, kProcessMetrics), "process_samples", "t_ns, gpu, pid"); q->step();) {
    ProcessSample p;
    p.t_ns = q->i64(0);
    p.tags = {q->opt_i64(1), q->opt_i64(2)};
    p.gpu = static_cast<int>(q->i64(3));
    p.pid = q->i64(4);
    p.kind = q->text(5);
    p.workload_id = q->opt_i64(6);
    p.workload = q->text(7);
    p.gpu_instance_id = q->opt_i64(8);
    read_metrics(*q, kProcessFixedCount, p.values, kProcessMetrics);
    out.processes.push_back(std::move(p));
  }
  for (auto q = query(select_columns(db_, "gpm_samples", kGpmFixed, kGpmMetrics), "gpm_samples", "t_ns, gpu, gpu_instance_id"); q->step();) {
    GpmSample m;
    m.t_ns = q->i64(0);
    m.tags = {q->opt_i64(1), q->opt_i64(2)};
    m.gpu = static_cast<int>(q->i64(3));
    m.gpu_instance_id = q->opt_i64(4);
    m.uuid = q->text(5);
    read_metrics(*q, kGpmFixedCount, m.values, kGpmMetrics);
    out.gpm.push_back(std::move(m));
  }
  for (auto q = query(kEventColumns, "gpu_events", "t_ns, gpu"); q->step();) {
    EventSample e;
    e.t_ns = q->i64(0);
    e.tags = {q->opt_i64(1), q->opt_i64(2)};
    e.gpu = static_cast<int>(q->i64(3));
    e.uuid = q->text(4);
    e.type = q->text(5);
    e.data = q->i64(6);
    e.gpu_instance_id = q->opt_i64(7);
    e.compute_instance_id = q->opt_i64(8);
    e.description = q->text(9);
    out.events.push_back(std::move(e));
  }
  return out;
}

}  // namespace gpumix::telemetry
