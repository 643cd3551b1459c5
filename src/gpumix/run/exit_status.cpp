#include "gpumix/run/exit_status.hpp"

#include <signal.h>

#include <fmt/format.h>

namespace gpumix::run {

StatusDecision decide_status(const ExitFacts& f) {
  using S = store::WorkloadStatus;
  const std::string detail = f.detail.empty() ? "" : ": " + f.detail;
  // Asked to stop, a workload may die of the SIGTERM or exit 0 (or 143, a
  // shell's way of saying SIGTERM); any other status is a failure it reported.
  const bool failed_at_stop = f.exit_code && *f.exit_code != 0 && *f.exit_code != 128 + SIGTERM;
  const std::string killed_note = f.killed ? "; killed after ignoring SIGTERM" : "";
  switch (f.cause) {
    case StopCause::planned:
    case StopCause::window_end:
      if (f.killed)
        return {S::killed, "ignored SIGTERM" + std::string(f.cause == StopCause::window_end ? " at the window's end" : "") +
                               "; killed after the " + f.stop_grace + " grace period"};
      if (failed_at_stop) return {S::failed, f.how + " after SIGTERM" + detail};
      if (f.cause == StopCause::window_end && f.stop_kind != spec::StopKind::duration)
        return {S::stopped, "the measured window (" + f.window + ") closed before it completed"};
      return {S::ok, ""};
    case StopCause::timeout:
      return {S::timeout, "ran past its timeout of " + f.timeout + killed_note};
    case StopCause::not_ready:
      return {S::not_ready, "its warm-up did not end within setup_timeout " + f.setup_timeout +
                                (f.not_ready_hint.empty() ? "" : " (" + f.not_ready_hint + ")") + killed_note};
    case StopCause::warmup_failed:
      if (failed_at_stop) return {S::failed, f.how + " after SIGTERM" + detail};
      return {S::stopped, "stopped before the window opened: another workload was not ready within setup_timeout" +
                              killed_note};
    case StopCause::interrupted:
      return {S::interrupted, "gpumix was interrupted" + std::string(f.killed ? "; killed" : "")};
    case StopCause::none:
      break;
  }
  if (f.signal) return {S::crashed, f.how + detail};
  if (f.exit_code && *f.exit_code != 0) return {S::failed, f.how + detail};
  if (f.stop_kind != spec::StopKind::completion)
    return {S::early_exit, fmt::format("exited with status 0 after {:.1f}s, before its stop condition: {}", f.ran_s, f.expected)};
  return {S::ok, ""};
}

}  // namespace gpumix::run
