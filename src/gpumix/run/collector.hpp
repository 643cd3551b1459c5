// The collector reads the workloads' metrics channels (one JSON object per
// line, docs/metrics-protocol.md), timestamps each line as it arrives and
// commits it to the store at once.
//
// A workload cannot take the runner's time or memory: each wake-up reads at
// most kReadPerWakeup bytes of a channel (the rest waits in the pipe, which
// blocks the writer: backpressure), a line is held up to kMaxLineBytes, and
// beyond a rate (events_per_second_limit) a workload's events are counted, not stored: one
// `dropped` event per second says how many and why.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gpumix/run/metrics_line.hpp"
#include "gpumix/store/store.hpp"

namespace gpumix::run {

inline constexpr size_t kReadPerWakeup = 64 * 1024;
// What a channel may still hold when its workload ended: more than a pipe
// can buffer (1 MiB at most by default, fs.pipe-max-size).
inline constexpr size_t kReadAtFinish = 4 * 1024 * 1024;
// Far above what a workload reports (a server's requests, a trainer's steps);
// the store takes this from several workloads at once on a loaded machine.
// GPUMIX_MAX_EVENTS_PER_SECOND sets another (events_per_second_limit).
inline constexpr int64_t kDefaultMaxEventsPerSecond = 50'000;
// The limit from GPUMIX_MAX_EVENTS_PER_SECOND, else the default; InputError
// when it is not a positive integer.
int64_t events_per_second_limit();

class Collector {
 public:
  explicit Collector(store::Store& store, int64_t max_events_per_second = kDefaultMaxEventsPerSecond)
      : store_(store), max_per_second_(max_events_per_second) {}
  ~Collector();
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  // Takes ownership of `read_fd` (made non-blocking).
  void add(int64_t workload_id, int read_fd);
  // Descriptors to poll for input.
  std::vector<pollfd> pollfds() const;
  // Reads up to kReadPerWakeup bytes of `fd`, stores every complete line and
  // returns the events. At end of file the channel is closed (a last
  // unterminated line counts).
  std::vector<Event> on_readable(int fd);
  // Reads what is left for the workload (up to kReadAtFinish) and closes its channel.
  std::vector<Event> finish(int64_t workload_id);
  // Events of the workload counted but not stored (over the rate).
  int64_t dropped(int64_t workload_id) const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Channel {
    int64_t workload_id = 0;
    LineSplitter lines;
    Clock::time_point second_start{};  // the rate limit's current second
    int64_t in_second = 0;             // events stored in it
    int64_t dropped_in_second = 0;     // events dropped in it, not yet reported
  };
  std::vector<Event> drain(int fd, Channel& ch, size_t budget, bool final);
  void accept(Channel& ch, std::string_view line, bool cut, int64_t t_ns, std::vector<Event>& events);
  void report_dropped(Channel& ch, int64_t t_ns, std::vector<Event>& events);
  void close_fd(int fd);

  store::Store& store_;
  int64_t max_per_second_;
  std::map<int, Channel> channels_;        // by fd
  std::map<int64_t, int64_t> dropped_;     // by workload id, also after its channel closed
};

}  // namespace gpumix::run
