// What happened to a workload in a cell: one vocabulary for the runner that
// decides it, the store that keeps it (by name) and the analysis and reports
// that judge it. docs/mix-spec.md has the table for users.
#pragma once

#include <optional>
#include <string>

namespace gpumix::store {

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

const char* to_string(WorkloadStatus status);
// Unknown names (a newer gpumix's) are nullopt.
std::optional<WorkloadStatus> workload_status_from_string(const std::string& name);

// Did what was asked of it, or was skipped because its mode cannot exist here.
bool is_success(WorkloadStatus status);
// The workload's own fault or the sharing's: failed, crashed, timeout,
// not_ready, early_exit, killed. A mode with one is never recommended.
bool is_failure(WorkloadStatus status);

// The same, for a stored name (an unknown name is neither).
bool is_success_status(const std::string& name);
bool is_failure_status(const std::string& name);

}  // namespace gpumix::store
