#include "gpumix/run/collector.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

namespace gpumix::run {

Event parse_event_line(std::string_view line) {
  Event e;
  e.data = std::string(line);
  e.ev = "malformed";
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ev") || !j["ev"].is_string()) return e;
  const auto ev = j["ev"].get<std::string>();
  auto n = j.find("n");
  auto ms = j.find("ms");
  // Required fields and their types, per event kind.
  if (ev == "iter" && (n == j.end() || !n->is_number_integer() || n->get<int64_t>() < 0)) return e;
  if (ev == "latency" && (ms == j.end() || !ms->is_number() || ms->get<double>() < 0)) return e;
  if (n != j.end() && n->is_number_integer()) e.n = n->get<int64_t>();
  if (ms != j.end() && ms->is_number()) e.ms = ms->get<double>();
  e.ev = ev;
  return e;
}

Collector::~Collector() {
  for (auto& [fd, ch] : channels_) ::close(fd);
}

void Collector::add(int64_t workload_id, int read_fd) {
  ::fcntl(read_fd, F_SETFL, ::fcntl(read_fd, F_GETFL) | O_NONBLOCK);
  channels_[read_fd] = Channel{workload_id, {}, false};
}

std::vector<pollfd> Collector::pollfds() const {
  std::vector<pollfd> fds;
  for (const auto& [fd, ch] : channels_) fds.push_back({fd, POLLIN, 0});
  return fds;
}

std::vector<Event> Collector::on_readable(int fd) {
  auto it = channels_.find(fd);
  if (it == channels_.end()) return {};
  return drain(fd, it->second, false);
}

std::vector<Event> Collector::finish(int64_t workload_id) {
  for (auto& [fd, ch] : channels_)
    if (ch.workload_id == workload_id) return drain(fd, ch, true);
  return {};
}

std::vector<Event> Collector::drain(int fd, Channel& ch, bool final) {
  std::vector<Event> events;
  bool eof = false;
  char buf[16384];
  for (;;) {
    ssize_t got = ::read(fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      eof = got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
      break;
    }
    const int64_t t = store::now_ns();
    std::string_view chunk(buf, static_cast<size_t>(got));
    while (!chunk.empty()) {
      auto nl = chunk.find('\n');
      auto piece = chunk.substr(0, nl);
      if (!ch.truncating) {
        ch.pending.append(piece.substr(0, kMaxLineBytes - std::min(kMaxLineBytes, ch.pending.size())));
        if (ch.pending.size() >= kMaxLineBytes && nl == std::string_view::npos) ch.truncating = true;
      }
      if (nl == std::string_view::npos) break;
      if (!ch.pending.empty()) {
        Event e = parse_event_line(ch.pending);
        e.workload_id = ch.workload_id;
        e.t_ns = t;
        events.push_back(std::move(e));
      }
      ch.pending.clear();
      ch.truncating = false;
      chunk.remove_prefix(nl + 1);
    }
  }
  if ((eof || final) && !ch.pending.empty()) {
    Event e = parse_event_line(ch.pending);
    e.workload_id = ch.workload_id;
    e.t_ns = store::now_ns();
    events.push_back(std::move(e));
    ch.pending.clear();
  }
  std::vector<store::EventRow> rows;
  rows.reserve(events.size());
  for (const auto& e : events) rows.push_back({e.workload_id, e.t_ns, e.ev, e.n, e.ms, e.data});
  store_.add_events(rows);
  if (eof || final) close_fd(fd);
  return events;
}

void Collector::close_fd(int fd) {
  ::close(fd);
  channels_.erase(fd);
}

}  // namespace gpumix::run
