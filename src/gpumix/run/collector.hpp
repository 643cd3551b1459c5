// The collector reads the workloads' metrics channels (one JSON object per
// line, docs/metrics-protocol.md), timestamps each line as it arrives and
// commits it to the store at once.
#pragma once

#include <poll.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumix/store/store.hpp"

namespace gpumix::run {

struct Event {
  int64_t workload_id = 0;
  int64_t t_ns = 0;
  std::string ev;  // "malformed" when the line is not a valid event
  std::optional<int64_t> n;
  std::optional<double> ms;
  std::string data;  // the line as received
};

// Pure: one line → one event (the timestamp is left to the caller).
Event parse_event_line(std::string_view line);

inline constexpr size_t kMaxLineBytes = 64 * 1024;

class Collector {
 public:
  explicit Collector(store::Store& store) : store_(store) {}
  ~Collector();
  Collector(const Collector&) = delete;
  Collector& operator=(const Collector&) = delete;

  // Takes ownership of `read_fd` (made non-blocking).
  void add(int64_t workload_id, int read_fd);
  // Descriptors to poll for input.
  std::vector<pollfd> pollfds() const;
  // Reads what `fd` has, stores every complete line and returns the events.
  // At end of file the channel is closed (a last unterminated line counts).
  std::vector<Event> on_readable(int fd);
  // Reads what is left for the workload and closes its channel.
  std::vector<Event> finish(int64_t workload_id);

 private:
  struct Channel {
    int64_t workload_id = 0;
    std::string pending;  // bytes after the last newline
    bool truncating = false;  // dropping the rest of an over-long line
  };
  std::vector<Event> drain(int fd, Channel& ch, bool final);
  void close_fd(int fd);

  store::Store& store_;
  std::map<int, Channel> channels_;  // by fd
};

}  // namespace gpumix::run
