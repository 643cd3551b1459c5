// Probe results in the results database (gpumix.db): their own tables and
// schema version (probe_meta), beside the runs' and the telemetry's, written
// through the same SQLite layer. A probe session is one `gpumix probe`
// command; its rows are committed as each measurement ends, so an interrupted
// probe keeps what it measured.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/store/sqlite.hpp"

namespace gpumix::probe {

inline constexpr int kProbeSchemaVersion = 1;

struct SessionRow {
  int64_t id = 0;
  std::string kind;    // timeslice, isolation
  std::string status;  // running, ok, failed, interrupted
  std::string error;
  int64_t started_ns = 0, ended_ns = 0;
  std::string host, gpu_name, gpu_uuid, driver;
  std::string options_json;
};

// One mode × process count × repeat of `gpumix probe timeslice`.
struct TimesliceRow {
  int64_t session_id = 0;
  std::string mode;
  int repeat = 0;
  int processes = 0;
  bool valid = false;
  std::string note;
  std::optional<double> slice_p10_us, slice_p50_us, slice_p90_us;
  std::optional<double> gap_p10_us, gap_p50_us, gap_p90_us;
  int64_t switches = 0;
  std::optional<double> overhead_p50_us, overhead_mean_us;
  double efficiency = 0, concurrency = 0;
  int64_t hiccups = 0;
  std::string evidence_json;  // per-process figures, mode evidence, raw trace file
};

// A GPU-bound kernel loop next to `others` copies of itself, against alone.
struct SlowdownRow {
  int64_t session_id = 0;
  std::string mode;
  int repeat = 0;
  int others = 0;
  std::optional<double> rate_alone;   // kernels/s of one loop alone
  std::optional<double> rate_shared;  // mean kernels/s of a loop among others+1
  std::optional<double> slowdown;     // rate_alone ÷ rate_shared (others+1 = fair share, no loss)
  std::optional<double> throughput;   // Σ shared rates ÷ rate_alone (1 = no loss to switching)
  std::string evidence_json;
};

// One cell of the isolation matrix.
struct IsolationRow {
  int64_t session_id = 0;
  std::string mode;
  std::string case_name;  // memory, mps-memory-limit, fault, performance
  std::string variant;    // e.g. "neighbour at 50% SMs"
  std::string outcome;    // what happened, in words
  std::optional<bool> isolated;
  std::optional<double> value;  // the case's figure (seconds to recovery, p99 ratio, ...)
  std::string unit;
  std::string evidence_json;  // exit codes, error strings, timings of every process
};

// The latest probe results for one GPU model, for the reports.
struct ProbeResults {
  std::string gpu_name;  // what was looked for
  std::optional<SessionRow> timeslice_session, isolation_session;
  std::vector<TimesliceRow> timeslice;
  std::vector<SlowdownRow> slowdown;
  std::vector<IsolationRow> isolation;
  bool empty() const { return !timeslice_session && !isolation_session; }
};

class ProbeStore {
 public:
  // `results_dir`/gpumix.db. read_write: created as needed. read_only
  // (reports, `probe show`): nothing is written, and a file without probe
  // tables reads as empty. `check_integrity` as in store::open_database.
  explicit ProbeStore(const std::filesystem::path& results_dir, store::Access access = store::Access::read_write,
                      bool check_integrity = true);
  ~ProbeStore();
  ProbeStore(const ProbeStore&) = delete;
  ProbeStore& operator=(const ProbeStore&) = delete;

  const std::filesystem::path& path() const { return path_; }

  int64_t begin_session(const SessionRow& s);
  void end_session(int64_t id, const std::string& status, const std::string& error);
  void add(const TimesliceRow& r);
  void add(const SlowdownRow& r);
  void add(const IsolationRow& r);

  std::vector<SessionRow> sessions(const std::string& kind = "");
  std::optional<SessionRow> session(int64_t id);
  // The latest session of `kind` with rows, optionally on the GPU named `gpu_name`.
  std::optional<SessionRow> latest(const std::string& kind, const std::string& gpu_name = "");
  std::vector<TimesliceRow> timeslice(int64_t session_id);
  std::vector<SlowdownRow> slowdown(int64_t session_id);
  std::vector<IsolationRow> isolation(int64_t session_id);
  // The latest sessions of both kinds on `gpu_name` (any GPU when empty).
  ProbeResults latest_results(const std::string& gpu_name);

  // `gpumix merge`: copies the probe sessions of the database `file` (a
  // fleet's probe pods, other machines) with new ids, in one transaction.
  // A session already here (same host, GPU, kind and start) is skipped, so
  // merging again adds nothing. Check every input with check_mergeable
  // before the first write.
  struct MergeCount {
    int copied = 0, already = 0;
  };
  MergeCount merge_from(const std::filesystem::path& file);
  // InputError when the database `file` holds probe tables of a newer schema.
  static void check_mergeable(const std::filesystem::path& file);

 private:
  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
};

}  // namespace gpumix::probe
