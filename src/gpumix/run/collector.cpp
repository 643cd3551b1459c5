#include "gpumix/run/collector.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>

#include "gpumix/json_text.hpp"
#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::run {

int64_t events_per_second_limit() {
  const char* text = std::getenv(env_vars::kMaxEventsPerSecond);
  if (!text || !*text) return kDefaultMaxEventsPerSecond;
  const std::string_view s(text);
  int64_t limit = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), limit);
  if (ec != std::errc() || end != s.data() + s.size() || limit <= 0)
    throw InputError(std::string(env_vars::kMaxEventsPerSecond) + ": '" + std::string(s.substr(0, 40)) +
                     "' is not a positive integer (events per second per workload)");
  return limit;
}

Collector::~Collector() {
  for (auto& [fd, ch] : channels_) ::close(fd);
}

void Collector::add(int64_t workload_id, int read_fd) {
  ::fcntl(read_fd, F_SETFL, ::fcntl(read_fd, F_GETFL) | O_NONBLOCK);
  Channel ch;
  ch.workload_id = workload_id;
  ch.second_start = Clock::now();
  channels_[read_fd] = std::move(ch);
}

std::vector<pollfd> Collector::pollfds() const {
  std::vector<pollfd> fds;
  for (const auto& [fd, ch] : channels_) fds.push_back({fd, POLLIN, 0});
  return fds;
}

std::vector<Event> Collector::on_readable(int fd) {
  auto it = channels_.find(fd);
  if (it == channels_.end()) return {};
  return drain(fd, it->second, kReadPerWakeup, false);
}

std::vector<Event> Collector::finish(int64_t workload_id) {
  for (auto& [fd, ch] : channels_)
    if (ch.workload_id == workload_id) return drain(fd, ch, kReadAtFinish, true);
  return {};
}

int64_t Collector::dropped(int64_t workload_id) const {
  auto it = dropped_.find(workload_id);
  return it == dropped_.end() ? 0 : it->second;
}

void Collector::report_dropped(Channel& ch, int64_t t_ns, std::vector<Event>& events) {
  if (ch.dropped_in_second == 0) return;
  Event e;
  e.workload_id = ch.workload_id;
  e.t_ns = t_ns;
  e.ev = "dropped";
  e.n = ch.dropped_in_second;
  e.data = json_text(nlohmann::json{
      {"ev", "dropped"},
      {"n", ch.dropped_in_second},
      {"reason", fmt::format("{} events dropped: more than {} events/s", ch.dropped_in_second, max_per_second_)}});
  events.push_back(std::move(e));
  ch.dropped_in_second = 0;
}

void Collector::accept(Channel& ch, std::string_view line, bool cut, int64_t t_ns, std::vector<Event>& events) {
  const auto now = Clock::now();
  if (now - ch.second_start >= std::chrono::seconds(1)) {
    report_dropped(ch, t_ns, events);
    ch.second_start = now;
    ch.in_second = 0;
  }
  if (ch.in_second >= max_per_second_) {  // counted, neither parsed nor stored
    ++ch.dropped_in_second;
    ++dropped_[ch.workload_id];
    return;
  }
  ++ch.in_second;
  Event e = parse_event_line(line, cut);
  e.workload_id = ch.workload_id;
  e.t_ns = t_ns;
  events.push_back(std::move(e));
}

std::vector<Event> Collector::drain(int fd, Channel& ch, size_t budget, bool final) {
  std::vector<Event> events;
  bool eof = false;
  char buf[16384];
  int64_t t = store::now_ns();
  for (size_t read_total = 0; read_total < budget;) {
    ssize_t got = ::read(fd, buf, std::min(sizeof buf, budget - read_total));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      eof = got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      break;
    }
    read_total += static_cast<size_t>(got);
    t = store::now_ns();
    ch.lines.feed(std::string_view(buf, static_cast<size_t>(got)),
                  [&](std::string_view line, bool cut) { accept(ch, line, cut, t, events); });
  }
  if (eof || final) {
    t = store::now_ns();
    ch.lines.finish([&](std::string_view line, bool cut) { accept(ch, line, cut, t, events); });
    report_dropped(ch, t, events);
  }
  std::vector<store::EventRow> rows;
  rows.reserve(events.size());
  for (const auto& e : events) rows.push_back({e.workload_id, e.t_ns, e.ev, e.n, e.ms, e.data, e.ttft_ms, e.tpot_ms, e.output_tokens});
  store_.add_events(rows);
  if (eof || final) close_fd(fd);
  return events;
}

void Collector::close_fd(int fd) {
  ::close(fd);
  channels_.erase(fd);
}

}  // namespace gpumix::run
