// One line of a workload's metrics channel (docs/metrics-protocol.md): how a
// byte stream is cut into bounded lines and how a line becomes an event. Pure
// (no store, no descriptors), so it is fuzzed on its own (tests/fuzz).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace gpumix::run {

struct Event {
  int64_t workload_id = 0;
  int64_t t_ns = 0;
  std::string ev;  // "malformed" when the line is not a valid event
  std::optional<int64_t> n;
  std::optional<double> ms;
  std::string data;  // the line as received (a cut line: its start and kCutMark)
  // A `latency` event's optional token fields; one of the wrong type or
  // negative is left out (it stays in `data`).
  std::optional<double> ttft_ms, tpot_ms;
  std::optional<int64_t> output_tokens;
};

// The longest line kept; the rest of a longer one is discarded as it arrives.
inline constexpr size_t kMaxLineBytes = 64 * 1024;
// Appended to a line that was longer than kMaxLineBytes.
inline constexpr std::string_view kCutMark = " [cut: line longer than 65536 bytes]";

// Pure: one line → one event (the timestamp is left to the caller). A cut
// line is `malformed`, with kCutMark after what was kept of it.
Event parse_event_line(std::string_view line, bool cut = false);

// Splits a byte stream into lines of at most `max_line` bytes without ever
// holding more than that: `line(text, cut)` is called for each complete
// non-empty line, in order.
class LineSplitter {
 public:
  using OnLine = std::function<void(std::string_view line, bool cut)>;
  explicit LineSplitter(size_t max_line = kMaxLineBytes) : max_line_(max_line) {}
  void feed(std::string_view bytes, const OnLine& line);
  // End of the stream: a last line without newline counts.
  void finish(const OnLine& line);

 private:
  size_t max_line_;
  std::string pending_;  // bytes after the last newline (at most max_line_)
  bool cut_ = false;     // the pending line was longer than the bound
};

}  // namespace gpumix::run
