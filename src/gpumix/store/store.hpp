// The results store: one SQLite database (WAL) per results folder. Every
// write is its own committed transaction, so a crash of gpumix loses nothing
// that was already measured. Safe to use from several threads.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/spec/mix.hpp"
#include "gpumix/store/sqlite.hpp"
#include "gpumix/store/status.hpp"

namespace gpumix::store {

inline constexpr int kSchemaVersion = 3;
inline constexpr const char* kDatabaseName = "gpumix.db";

// Unix time in nanoseconds; every stored timestamp uses it.
int64_t now_ns();

struct RunRow {
  int64_t id = 0;
  std::string mix_name;
  std::string mix_path;
  std::string mix_yaml;
  std::string mix_sha256;
  RunStatus status = RunStatus::running;
  std::string error;
  int64_t started_ns = 0;
  int64_t ended_ns = 0;  // 0 while running
  std::string gpumix_version;
  std::string git_sha;
  std::string host;
  int64_t gpumix_pid = 0;
  std::string environment_json;
  std::string plan_json;  // effective mix: modes, repeats, cell duration, seed
};

struct CellRow {
  int64_t id = 0;
  int64_t run_id = 0;
  int index = 0;
  std::string label;  // baseline-train, timeslice-r1
  std::string mode;
  int repeat = 0;  // 0 for baseline cells
  bool baseline = false;
  CellStatus status = CellStatus::running;
  std::string error;
  std::string evidence_json;
  int64_t started_ns = 0;
  int64_t ended_ns = 0;
  // The measured window: opens for every workload at once when the last one
  // is ready, lasts cell_duration. 0 when the cell never measured (skipped,
  // failed or interrupted in its warm-up).
  int64_t window_start_ns = 0;
  int64_t window_end_ns = 0;
};

struct WorkloadRow {
  int64_t id = 0;
  int64_t cell_id = 0;
  std::string name;
  spec::Role role = spec::Role::other;
  std::string argv_json;
  std::string slo_json;  // [{"percentile":99,"ms":25}]
  int64_t pid = 0;
  WorkloadStatus status = WorkloadStatus::pending;
  int64_t ready_ns = 0;  // when its warm-up ended (its `ready`, `warmup` or start); 0 never
  std::string reason;
  std::optional<int> exit_code;
  std::optional<int> signal;
  int64_t started_ns = 0;
  int64_t ended_ns = 0;
  int64_t peak_rss_kb = 0;
  std::string stdout_path;
  std::string stderr_path;
};

struct EventRow {
  int64_t workload_id = 0;
  int64_t t_ns = 0;  // when the collector read it
  std::string ev;
  std::optional<int64_t> n;
  std::optional<double> ms;
  std::string data;  // the whole line as sent (JSON), or the raw text if malformed
  // A streamed LLM completion's `latency` event (docs/metrics-protocol.md):
  // time to first token, mean time per output token after it, tokens.
  std::optional<double> ttft_ms, tpot_ms;
  std::optional<int64_t> output_tokens;
};

// The token columns of `events` (schema 3), and the SQL expression that takes
// one from the stored line `data` (an SQL expression) as the collector would
// have: a latency event's field of the right type, not negative. Events
// stored before schema 3 get theirs this way, by the migration and by merge.
inline constexpr const char* kEventTokenColumns[] = {"ttft_ms", "tpot_ms", "output_tokens"};
std::string event_token_from_line(const std::string& column, const std::string& ev, const std::string& data);

// Which events to read: every byte as stored (export), or only what the
// analysis uses (show, report, compare): the raw line is kept for `info`
// events that carry a peak device memory (reduced to that field) and for
// failed requests (reduced to {"ok":false}), so memory grows with the number
// of events, about 200 bytes each, not with what workloads wrote in them.
enum class EventData { full, for_analysis };

class Store {
 public:
  // Opens `results_dir`/gpumix.db to write, creating folder and schema as
  // needed. A damaged database (PRAGMA quick_check) or a newer schema is
  // refused: InputError, nothing written.
  static Store open(const std::filesystem::path& results_dir);
  // Opens an existing database read-only (ls, show, report, export,
  // compare). Where the file can be written, first recovers it: statuses a
  // killed gpumix left unfinished are made final (recover()) and an older
  // schema is migrated. InputError naming the path when it is absent,
  // damaged, not gpumix's, or older than this gpumix reads and not writable.
  static Store open_for_reading(const std::filesystem::path& results_dir);

  Store(Store&& other) noexcept;
  Store& operator=(Store&&) = delete;
  ~Store();

  const std::filesystem::path& path() const { return path_; }

  // Writes.
  int64_t begin_run(const RunRow& run);
  void end_run(int64_t run_id, RunStatus status, const std::string& error = "");
  void set_plan(int64_t run_id, const std::string& plan_json);  // `repeats: auto` stopped early
  int64_t begin_cell(const CellRow& cell);
  void end_cell(int64_t cell_id, CellStatus status, const std::string& error);
  void set_window(int64_t cell_id, int64_t start_ns, int64_t end_ns);
  void workload_ready(int64_t workload_id, int64_t ready_ns);
  void set_evidence(int64_t cell_id, const std::string& evidence_json);
  int64_t add_workload(const WorkloadRow& w);
  void workload_started(int64_t workload_id, int64_t pid, int64_t started_ns);
  void workload_finished(const WorkloadRow& w);  // status, reason, exit, signal, ended, rss
  void add_events(const std::vector<EventRow>& events);  // one transaction

  // Runs left 'running' by a gpumix that no longer exists become
  // 'interrupted', and every cell and workload of a run that has ended gets a
  // final status (running -> interrupted, pending -> not_started): after a
  // SIGKILL of gpumix or a full disk nothing stays 'running'. Returns the
  // number of runs marked interrupted.
  int recover();

  // Reads.
  std::vector<RunRow> runs();
  std::optional<RunRow> run(int64_t run_id);
  std::optional<int64_t> latest_run_id();
  std::vector<CellRow> cells(int64_t run_id);
  std::vector<WorkloadRow> workloads(int64_t run_id);
  std::vector<EventRow> events(int64_t run_id, EventData data = EventData::full);
  std::vector<EventRow> workload_events(int64_t workload_id);

 private:
  Store(std::filesystem::path path, Access access, bool check_integrity = true);
  void exec(const char* sql);
  void finalize_ended_runs();
  // open_for_reading's writes, through a second, read-write connection: the
  // migration of an older `version`, then recover().
  void upgrade_and_recover(int version);  // the second half of recover(); the caller holds mutex_
  void migrate(int from);  // brings an older schema up to kSchemaVersion (apply_schema_version)

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  std::mutex mutex_;
};

}  // namespace gpumix::store
