// The thin layer over SQLite's C API that the results, telemetry and probe
// stores share: one check macro, a prepared statement that finalizes itself,
// exec, one way to open the database and one schema-version rule.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
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

// How a command uses a results database. Commands that only read (ls, show,
// report, export, compare) open it read-only, so results on a read-only
// mount or in a folder the user cannot write are still readable.
enum class Access { read_write, read_only };

// Opens the results database `path`.
//   read_write: created when missing; WAL; waits up to 5 s for locks.
//   read_only: never writes (no WAL switch, no schema); waits for locks. In a
//     folder that cannot be written (where SQLite cannot make the WAL index)
//     the file is opened as immutable.
// With `check_integrity` (once per process and file is enough), a file that
// fails PRAGMA quick_check is refused: gpumix never reads or writes a
// damaged database. Throws InputError naming the file for a missing,
// damaged or foreign file. The connection is safe to use from several threads.
sqlite3* open_database(const std::filesystem::path& path, Access access, bool check_integrity = true);

// Refuses (InputError) a database (`schema`: "main" or an attached one) whose
// PRAGMA quick_check finds damage.
void check_integrity(sqlite3* db, const std::filesystem::path& path, const std::string& schema = "main");

// `path` as an SQLite file: URI, escaped, for query parameters such as ?mode=ro.
std::string file_uri(const std::filesystem::path& path);

// True when `schema`.`table` exists.
bool has_table(sqlite3* db, const std::string& schema, const std::string& table);

// The stored schema version of a table family (`meta_table`, key
// 'schema_version'); nullopt when none is recorded. Text that is not a
// version number is a damaged or foreign file: InputError naming it.
std::optional<int> stored_schema_version(sqlite3* db, const std::filesystem::path& path, const char* meta_table,
                                         const char* family, const std::string& schema = "main");

// The one schema-version rule of every table family in a results database
// (runs, telemetry, probes), each versioned in its own `meta_table` under the
// key 'schema_version':
//   - none recorded (a new database, or a family not there yet): `current`;
//   - older: `migrate(from)` brings it up (each family knows how; one that
//     cannot throws), then `current` is recorded;
//   - newer: refused with RunError, since this gpumix would misread or damage it.
// Call inside the caller's transaction, after creating the family's tables.
// `family` names it in the message ("probe schema").
void apply_schema_version(sqlite3* db, const std::filesystem::path& path, const char* meta_table, const char* family,
                          int current, const std::function<void(int from)>& migrate);

// For a read-only connection to a file that lacks a table family (results
// written before it existed, or by a command that never made it): runs the
// family's CREATE TABLE IF NOT EXISTS statements as empty TEMP tables (and
// skips its indexes), so that reads find nothing instead of failing.
void create_empty_temp_tables(sqlite3* db, const std::string& schema_sql);

// For readers, which never migrate: the family's stored version, 0 when none
// is recorded (its tables may be absent); a version newer than `current`, or
// below 1, is refused with InputError naming the file.
int readable_schema_version(sqlite3* db, const std::filesystem::path& path, const char* meta_table, const char* family,
                            int current);

}  // namespace gpumix::store
