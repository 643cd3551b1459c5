#include "gpumix/loadgen/settle.hpp"

#include <poll.h>

#include <chrono>

namespace gpumix::loadgen {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kRound = 3;  // probe requests per round

// Sleeps `d`; false when `stop_fd` became readable first.
bool quiet_for(Duration d, int stop_fd) {
  pollfd p{stop_fd, POLLIN, 0};
  const int ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(d).count());
  return ::poll(&p, stop_fd >= 0 ? 1 : 0, ms) <= 0;
}

}  // namespace

std::optional<double> probe_latency(const LoadSpec& base, int64_t n, int stop_fd) {
  LoadSpec probe = base;
  probe.rate = 0;
  probe.concurrency = 1;
  probe.think_time = {};
  probe.warmup = {};
  probe.duration = {};
  probe.requests = n;
  probe.min_requests = 0;
  const auto s = summarize(run_load(probe, stop_fd), {}, 0, 1);
  if (s.ok < n) return std::nullopt;
  return s.p50;
}

double settle_target_ms(double unloaded_ms) { return 2 * unloaded_ms + 1; }

Settle settle(const LoadSpec& base, std::optional<double> unloaded_ms, Duration quiet, Duration bound, int stop_fd) {
  const auto t0 = Clock::now();
  Settle s;
  s.quiet_s = to_seconds(quiet);
  bool go_on = quiet_for(quiet, stop_fd);
  if (unloaded_ms) {
    s.target_ms = settle_target_ms(*unloaded_ms);
    const auto deadline = Clock::now() + bound;
    while (go_on && !s.settled) {
      s.probe_ms = probe_latency(base, kRound, stop_fd);
      s.probes += kRound;
      s.settled = s.probe_ms && *s.probe_ms <= *s.target_ms;
      if (s.settled || Clock::now() >= deadline) break;
      // A failed round (503 at once, say) would spin: pause a little.
      if (!s.probe_ms) go_on = quiet_for(std::chrono::milliseconds(50), stop_fd);
    }
  } else {
    s.settled = go_on;
  }
  s.waited_s = std::chrono::duration<double>(Clock::now() - t0).count();
  return s;
}

}  // namespace gpumix::loadgen
