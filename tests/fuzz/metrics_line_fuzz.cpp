// libFuzzer target: a workload's metrics channel (docs/metrics-protocol.md)
// on arbitrary bytes. The bytes are cut into lines by LineSplitter, fed in
// chunks whose size the first byte picks, with a line bound of 16 to 128
// bytes (the first byte's top bits; gpumix's 64 KiB is past libFuzzer's
// input sizes, the logic is the same), and every line goes through
// parse_event_line: never a crash, a leak or undefined behaviour (ASan,
// UBSan), never a line longer than the bound, and the invariants the runner
// relies on (an `iter` has n >= 0, a `latency` has ms >= 0, a cut line is
// malformed and marked).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "gpumix/run/metrics_line.hpp"

namespace {

void check(const gpumix::run::Event& e, std::string_view line, bool cut, size_t max_line) {
  using gpumix::run::kCutMark;
  if (line.size() > max_line) std::abort();
  if (cut && (e.ev != "malformed" || e.data.size() != line.size() + kCutMark.size())) std::abort();
  if (!cut && e.data != line) std::abort();
  if (e.ev == "iter" && (!e.n || *e.n < 0)) std::abort();
  if (e.ev == "latency" && (!e.ms || *e.ms < 0)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
  const size_t max_line = size_t{16} << (data[0] >> 6);
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  check(gpumix::run::parse_event_line(bytes), bytes, false, bytes.size());

  gpumix::run::LineSplitter splitter(max_line);
  auto on_line = [&](std::string_view line, bool cut) {
    check(gpumix::run::parse_event_line(line, cut), line, cut, max_line);
  };
  for (size_t at = 0; at < bytes.size(); at += chunk) splitter.feed(bytes.substr(at, chunk), on_line);
  splitter.finish(on_line);
  return 0;
}
