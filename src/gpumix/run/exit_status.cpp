#include "gpumix/run/exit_status.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <string_view>

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

std::string last_output_line(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  struct stat st {};
  std::string tail;
  off_t from = 0;
  if (::fstat(fd, &st) == 0) {
    from = st.st_size > static_cast<off_t>(kOutputTailBytes) ? st.st_size - static_cast<off_t>(kOutputTailBytes) : 0;
    tail.resize(static_cast<size_t>(st.st_size - from));
    const ssize_t got = tail.empty() ? 0 : ::pread(fd, tail.data(), tail.size(), from);
    tail.resize(got > 0 ? static_cast<size_t>(got) : 0);
  }
  ::close(fd);
  std::string_view text(tail);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  const auto nl = text.rfind('\n');
  const bool cut = nl == std::string_view::npos && from > 0;  // it began before the tail
  std::string_view line = nl == std::string_view::npos ? text : text.substr(nl + 1);
  constexpr size_t kShown = 300;
  if (cut) return "..." + std::string(line.substr(line.size() > kShown ? line.size() - kShown : 0)) +
                  fmt::format(" [cut: line longer than {} bytes]", kOutputTailBytes);
  if (line.size() > kShown) return std::string(line.substr(0, kShown)) + "...";
  return std::string(line);
}

}  // namespace gpumix::run
