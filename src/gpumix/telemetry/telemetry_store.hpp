// Telemetry in the results database: its own SQLite connection to the same
// file as store::Store (WAL, busy timeout), its own tables, and one
// transaction per sampling tick. Safe to use from several threads.
#pragma once

#include <sqlite3.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/store/sqlite.hpp"
#include "gpumix/telemetry/snapshot.hpp"

namespace gpumix::telemetry {

inline constexpr int kTelemetrySchemaVersion = 2;  // 2: memory free/reserved, GPM FP16/FP32 columns

// One sampler's life: what it sampled for, how often, and why it could not.
struct SessionRow {
  int64_t id = 0;
  std::optional<int64_t> run_id;
  std::string source;  // "run" or "monitor"
  int64_t started_ns = 0;
  int64_t ended_ns = 0;  // 0 while sampling
  int64_t interval_ns = 0;
  bool available = false;  // NVML could be used
  std::string reason;      // why not, when not
  std::string notes;       // e.g. GPM not supported
  int64_t ticks = 0;
  int64_t errors = 0;
  std::string last_error;
};

class TelemetryStore {
 public:
  // The telemetry tables of `results_dir`/gpumix.db, as store::Store opens
  // its own tables there. read_write: the folder and tables are created as
  // needed. read_only (reports): nothing is written; a file without
  // telemetry reads as empty; `check_integrity` as in store::open_database
  // (false where a store::Store of the same file has checked it).
  explicit TelemetryStore(const std::filesystem::path& results_dir,
                          store::Access access = store::Access::read_write, bool check_integrity = false);
  ~TelemetryStore();
  TelemetryStore(const TelemetryStore&) = delete;
  TelemetryStore& operator=(const TelemetryStore&) = delete;

  const std::filesystem::path& path() const { return path_; }

  int64_t begin_session(const SessionRow& session);
  void set_session_run(int64_t session_id, int64_t run_id);
  void end_session(int64_t session_id, int64_t ticks, int64_t errors, const std::string& last_error);
  // Every row of the snapshot, in one transaction.
  void write(const Samples& samples);

  std::vector<SessionRow> sessions(std::optional<int64_t> run_id = std::nullopt);
  // A run's samples in time order.
  Samples samples(int64_t run_id);
  // Samples with from_ns <= t_ns <= to_ns (e.g. a monitor session's).
  Samples samples_between(int64_t from_ns, int64_t to_ns);

  struct Statements;

 private:
  Samples read_samples(const char* where, int64_t a, int64_t b);

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  std::unique_ptr<Statements> stmts_;
  std::mutex mutex_;
};

}  // namespace gpumix::telemetry
