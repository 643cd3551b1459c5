// What happened to a run, a cell and a workload: one vocabulary for the runner
// that decides it, the store that keeps it (by name, converted here and only
// here) and the analysis and reports that judge it. docs/mix-spec.md has the
// workloads' table for users.
#pragma once

#include <optional>
#include <string>

namespace gpumix::store {

enum class RunStatus {
  running,      // its gpumix is still at it (or died: Store::recover)
  completed,    // every planned cell ran (or `repeats: auto` stopped it early)
  failed,       // gpumix itself failed
  interrupted,  // stopped by a signal, or its gpumix is gone
};

enum class CellStatus {
  running,
  ok,           // every workload did what was asked
  degraded,     // it measured, but a workload failed
  failed,       // its warm-up failed: it measured nothing
  interrupted,  // gpumix was interrupted during it
  skipped,      // its mode is unavailable on this machine
};

enum class WorkloadStatus {
  pending,      // has a row, not started yet
  running,      // started, not ended
  ok,           // did what was asked
  stopped,      // a `stop: completion` workload still running when the window closed
  failed,       // exited non-zero, or could not start
  crashed,      // ended by a signal gpumix did not send
  timeout,      // ran past its `timeout`
  not_ready,    // its warm-up did not end within setup_timeout
  early_exit,   // exited 0 before its stop condition
  killed,       // ignored SIGTERM; killed after stop_grace
  interrupted,  // gpumix was interrupted while it ran
  not_started,  // the cell ended, or gpumix was interrupted, before it could start
  skipped,      // its cell's mode is unavailable on this machine
};

const char* to_string(RunStatus status);
const char* to_string(CellStatus status);
const char* to_string(WorkloadStatus status);
// nullopt for an unknown name. The store reads a name it does not know (only
// a damaged database can hold one: a newer schema is refused) as `failed`, so
// that nothing unexplained is ever counted as a success.
std::optional<RunStatus> run_status_from_string(const std::string& name);
std::optional<CellStatus> cell_status_from_string(const std::string& name);
std::optional<WorkloadStatus> workload_status_from_string(const std::string& name);

// Did what was asked of it, or was skipped because its mode cannot exist here.
bool is_success(WorkloadStatus status);
// The workload's own fault or the sharing's: failed, crashed, timeout,
// not_ready, early_exit, killed. A mode with one is never recommended.
bool is_failure(WorkloadStatus status);

}  // namespace gpumix::store
