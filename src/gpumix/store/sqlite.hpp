// The thin layer over SQLite's C API that the results store and the telemetry
// store share: one check macro, a prepared statement that finalizes itself,
// and exec.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "gpumix/util/errors.hpp"

// Names the call, where it was made and SQLite's message.
#define GPUMIX_SQLITE_CHECK(db, call)                                                   \
  do {                                                                                  \
    const int gpumix_sqlite_rc_ = (call);                                               \
    if (gpumix_sqlite_rc_ != SQLITE_OK && gpumix_sqlite_rc_ != SQLITE_DONE)            \
      throw ::gpumix::RunError(std::string("sqlite: ") + #call + " failed at " + __FILE__ + ":" + \
                               std::to_string(__LINE__) + ": " + sqlite3_errmsg(db));  \
  } while (0)

namespace gpumix::store {

// A prepared statement: binds by position, steps, finalizes on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) { GPUMIX_SQLITE_CHECK(db, sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr)); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, int64_t v) {
    GPUMIX_SQLITE_CHECK(db_, sqlite3_bind_int64(stmt_, i, v));
    return *this;
  }
  Stmt& bind(int i, int v) { return bind(i, static_cast<int64_t>(v)); }
  Stmt& bind(int i, double v) {
    GPUMIX_SQLITE_CHECK(db_, sqlite3_bind_double(stmt_, i, v));
    return *this;
  }
  Stmt& bind(int i, const std::string& v) {
    GPUMIX_SQLITE_CHECK(db_, sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  template <typename T>
  Stmt& bind(int i, const std::optional<T>& v) {
    if (v) return bind(i, *v);
    GPUMIX_SQLITE_CHECK(db_, sqlite3_bind_null(stmt_, i));
    return *this;
  }

  // True while a row is available.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    GPUMIX_SQLITE_CHECK(db_, rc);
    return false;
  }
  // Executes a write and readies the statement for the next one.
  void run() {
    step();
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  bool null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int64_t i64(int col) const { return sqlite3_column_int64(stmt_, col); }
  double f64(int col) const { return sqlite3_column_double(stmt_, col); }
  std::optional<int64_t> opt_i64(int col) const { return null(col) ? std::nullopt : std::optional<int64_t>(i64(col)); }
  std::optional<double> opt_f64(int col) const { return null(col) ? std::nullopt : std::optional<double>(f64(col)); }
  std::string text(int col) const {
    auto p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : "";
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// Runs SQL that returns no rows; throws RunError with SQLite's message.
inline void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw RunError("sqlite: " + msg + " in: " + std::string(sql).substr(0, 80));
  }
}

// A second connection to a results database (telemetry, probes), safe to use
// from another thread: created if missing, WAL, waits up to 5 s for locks.
// Throws RunError naming the file.
inline sqlite3* open_side_connection(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw RunError("cannot open " + path + ": " + msg);
  }
  try {
    sqlite3_busy_timeout(db, 5000);
    exec(db, "PRAGMA journal_mode=WAL");
    exec(db, "PRAGMA synchronous=NORMAL");
  } catch (...) {
    sqlite3_close(db);
    throw;
  }
  return db;
}

// The one schema-version rule of every table family in a results database
// (runs, telemetry, probes), each versioned in its own `meta_table` under the
// key 'schema_version':
//   - none recorded (a new database, or a family not there yet): `current`;
//   - older: `migrate(from)` brings it up (each family knows how; one that
//     cannot throws), then `current` is recorded;
//   - newer: refused with RunError, since this gpumix would misread or damage it.
// Call inside the caller's transaction, after creating the family's tables.
// `family` names it in the message ("probe schema").
inline void apply_schema_version(sqlite3* db, const std::string& path, const char* meta_table, const char* family,
                                 int current, const std::function<void(int from)>& migrate) {
  std::optional<int> found;
  {
    Stmt get(db, (std::string("SELECT value FROM ") + meta_table + " WHERE key = 'schema_version'").c_str());
    if (get.step()) found = std::stoi(get.text(0));
  }
  if (found && *found > current)
    throw RunError(path + ": " + family + " version " + std::to_string(*found) + ", newer than this gpumix's " +
                   std::to_string(current) + "; use a newer gpumix or another results folder");
  if (found && *found == current) return;
  if (found) migrate(*found);
  Stmt(db, (std::string("INSERT OR REPLACE INTO ") + meta_table + " (key, value) VALUES ('schema_version', ?)").c_str())
      .bind(1, std::to_string(current))
      .run();
}

}  // namespace gpumix::store
