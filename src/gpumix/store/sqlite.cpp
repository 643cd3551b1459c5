#include "gpumix/store/sqlite.hpp"

#include <unistd.h>

#include <charconv>

namespace gpumix::store {

namespace {

sqlite3* open_raw(const std::string& uri, int flags, std::string* error) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(uri.c_str(), &db, flags | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_URI, nullptr) == SQLITE_OK) return db;
  *error = db ? sqlite3_errmsg(db) : "out of memory";
  sqlite3_close(db);
  return nullptr;
}

}  // namespace

std::string file_uri(const std::filesystem::path& path) {
  std::string out = "file:";
  for (unsigned char c : std::filesystem::absolute(path).string()) {
    if (c == '%' || c == '?' || c == '#' || c < 0x20) {
      static const char* hex = "0123456789ABCDEF";
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

namespace {

// A read on the fresh connection: makes SQLite open the file for real, so
// that a file that is not a database, or a WAL it cannot use, fails here.
bool readable(sqlite3* db, std::string* error) {
  char* err = nullptr;
  if (sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, &err) == SQLITE_OK) return true;
  *error = err ? err : sqlite3_errmsg(db);
  sqlite3_free(err);
  return false;
}

}  // namespace

void check_integrity(sqlite3* db, const std::filesystem::path& path, const std::string& schema) {
  std::string first;
  try {
    Stmt s(db, ("PRAGMA " + schema + ".quick_check(1)").c_str());
    if (s.step()) first = s.text(0);
  } catch (const std::exception& e) {
    first = e.what();
  }
  if (first != "ok")
    throw InputError(path.string() + ": damaged results database (PRAGMA quick_check: " + first.substr(0, 200) +
                     "); gpumix will not read or write it. Recover what it holds with `sqlite3 " + path.string() +
                     " .recover | sqlite3 OTHER/gpumix.db`, or use another results folder");
}

sqlite3* open_database(const std::filesystem::path& path, Access access, bool check) {
  std::string error;
  sqlite3* db = nullptr;
  if (access == Access::read_write) {
    db = open_raw(file_uri(path), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &error);
    if (!db) throw InputError(path.string() + ": cannot open results database: " + error);
  } else {
    db = open_raw(file_uri(path), SQLITE_OPEN_READONLY, &error);
    if (db && !readable(db, &error)) {
      sqlite3_close(db);
      db = nullptr;
    }
    // A WAL database in a folder nobody may write: SQLite cannot create the
    // shared-memory index, so read the file as it is (no writer can exist).
    const bool folder_writable = ::access(path.parent_path().empty() ? "." : path.parent_path().c_str(), W_OK) == 0;
    if (!db && !folder_writable) {
      db = open_raw(file_uri(path) + "?immutable=1", SQLITE_OPEN_READONLY, &error);
      if (db && !readable(db, &error)) {
        sqlite3_close(db);
        db = nullptr;
      }
    }
    if (!db) throw InputError(path.string() + ": cannot read results database: " + error);
  }
  try {
    sqlite3_busy_timeout(db, 5000);
    if (access == Access::read_write) {
      // WAL: readers (gpumix show) never block the running gpumix; NORMAL
      // synchronous keeps every commit through a crash of gpumix (not of the OS).
      exec(db, "PRAGMA journal_mode=WAL");
      exec(db, "PRAGMA synchronous=NORMAL");
    }
    if (check) check_integrity(db, path);
  } catch (const RunError& e) {
    sqlite3_close(db);
    // "file is not a database", a locked or unwritable file: the user's input.
    throw InputError(path.string() + ": cannot open results database: " + e.what());
  } catch (...) {
    sqlite3_close(db);
    throw;
  }
  return db;
}

bool has_table(sqlite3* db, const std::string& schema, const std::string& table) {
  Stmt s(db, ("SELECT 1 FROM " + schema + ".sqlite_master WHERE type = 'table' AND name = ?").c_str());
  s.bind(1, table);
  return s.step();
}

std::optional<int> stored_schema_version(sqlite3* db, const std::filesystem::path& path, const char* meta_table,
                                         const char* family, const std::string& schema) {
  if (!has_table(db, schema, meta_table)) return std::nullopt;
  Stmt get(db, ("SELECT value FROM " + schema + "." + meta_table + " WHERE key = 'schema_version'").c_str());
  if (!get.step()) return std::nullopt;
  const std::string text = get.text(0);
  int version = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), version);
  if (ec != std::errc() || end != text.data() + text.size() || version < 1)
    throw InputError(path.string() + ": " + family + " version '" + text.substr(0, 40) +
                     "' is not a version number: a damaged results database, or not one of gpumix's");
  return version;
}

void apply_schema_version(sqlite3* db, const std::filesystem::path& path, const char* meta_table, const char* family,
                          int current, const std::function<void(int from)>& migrate) {
  const auto found = stored_schema_version(db, path, meta_table, family);
  if (found && *found > current)
    throw RunError(path.string() + ": " + family + " version " + std::to_string(*found) + ", newer than this gpumix's " +
                   std::to_string(current) + "; use a newer gpumix or another results folder");
  if (found && *found == current) return;
  if (found) migrate(*found);
  Stmt(db, (std::string("INSERT OR REPLACE INTO ") + meta_table + " (key, value) VALUES ('schema_version', ?)").c_str())
      .bind(1, std::to_string(current))
      .run();
}

void create_empty_temp_tables(sqlite3* db, const std::string& schema_sql) {
  std::string sql;
  size_t start = 0;
  while (start < schema_sql.size()) {
    size_t end = schema_sql.find(';', start);
    if (end == std::string::npos) end = schema_sql.size();
    std::string statement = schema_sql.substr(start, end - start);
    start = end + 1;
    const std::string create = "CREATE TABLE IF NOT EXISTS ";
    if (const auto at = statement.find(create); at != std::string::npos)
      sql += statement.replace(at, create.size(), "CREATE TEMP TABLE IF NOT EXISTS ") + ";";
  }
  exec(db, sql.c_str());
}

int readable_schema_version(sqlite3* db, const std::filesystem::path& path, const char* meta_table, const char* family,
                            int current) {
  const auto found = stored_schema_version(db, path, meta_table, family);
  if (found && *found > current)
    throw InputError(path.string() + ": " + family + " version " + std::to_string(*found) +
                     ", newer than this gpumix's " + std::to_string(current) + "; use a newer gpumix");
  return found.value_or(0);
}

}  // namespace gpumix::store
