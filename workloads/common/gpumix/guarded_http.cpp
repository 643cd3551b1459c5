#include "gpumix/guarded_http.hpp"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

namespace gpumix::http {

namespace {

using Clock = std::chrono::steady_clock;

// Set on a worker while it answers a request with 503 instead of its handler.
thread_local bool t_shed = false;

const char* reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Error";
  }
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::string seconds_text(std::chrono::milliseconds d) {
  const auto ms = d.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

// Where one request ends in a connection's buffer, found the way
// cpp-httplib's parser reads it (lines end at '\n'; the head ends at the
// first line that is exactly "\r\n"; headers only from lines ending in
// "\r\n"), so that the bytes handed to process_request are exactly one
// request: nothing of the next one is read as a body, no body as a head.
struct Framing {
  size_t scanned = 0;      // bytes of the head looked at
  size_t lines = 0;        // request line included
  size_t head_end = 0;     // 0 until the head is complete
  size_t request_end = 0;  // head and body
  bool expects_continue = false;
};

struct Verdict {
  enum Step { need_more, complete, reject } step = need_more;
  int status = 0;
  std::string message;
};

Verdict reject(int status, std::string message) { return {Verdict::reject, status, std::move(message)}; }

Verdict frame(std::string& in, Framing& f, const GuardLimits& lim) {
  if (!f.head_end) {
    while (f.scanned < in.size()) {
      const size_t nl = in.find('\n', f.scanned);
      if (f.lines == 0 && (nl == std::string::npos ? in.size() : nl) > lim.max_request_line_bytes)
        return reject(414, "request line longer than " + std::to_string(lim.max_request_line_bytes) + " bytes");
      if (nl == std::string::npos) {
        f.scanned = in.size();
        break;
      }
      const size_t start = f.scanned;
      f.scanned = nl + 1;
      if (f.lines > 0 && nl == start + 1 && in[start] == '\r') {
        f.head_end = nl + 1;
        break;
      }
      if (++f.lines > lim.max_header_lines + 1)
        return reject(431, "more than " + std::to_string(lim.max_header_lines) + " header lines");
    }
    if (f.head_end ? f.head_end > lim.max_head_bytes : in.size() > lim.max_head_bytes)
      return reject(431, "request head larger than " + std::to_string(lim.max_head_bytes) + " bytes");
    if (!f.head_end) return {};

    // The headers that decide the framing.
    const size_t first_line_end = in.find('\n') + 1;
    std::optional<uint64_t> length;
    for (size_t pos = first_line_end; pos + 2 < f.head_end;) {
      const size_t nl = in.find('\n', pos);
      const size_t line = pos;
      pos = nl + 1;
      if (nl == line || in[nl - 1] != '\r') continue;  // httplib skips lines not ending in CRLF
      size_t end = nl - 1;
      while (end > line && (in[end - 1] == ' ' || in[end - 1] == '\t')) --end;
      const size_t colon = in.find(':', line);
      if (colon == std::string::npos || colon >= end) continue;
      size_t value = colon + 1;
      while (value < end && (in[value] == ' ' || in[value] == '\t')) ++value;
      if (value == end) continue;  // httplib keeps no header without a value
      const std::string_view key(in.data() + line, colon - line);
      const std::string_view text(in.data() + value, end - value);
      if (iequals(key, "Content-Length")) {
        if (length) return reject(400, "more than one Content-Length header");
        if (text.size() > 18 || text.find_first_not_of("0123456789") != std::string_view::npos)
          return reject(400, "Content-Length: '" + std::string(text.substr(0, 40)) + "' is not a byte count");
        length = std::stoull(std::string(text));
      } else if (iequals(key, "Transfer-Encoding")) {
        return reject(411, "Transfer-Encoding is not accepted: send the body with a Content-Length");
      } else if (iequals(key, "Expect")) {
        // The reception answers 100 Continue itself (the body is read
        // before any handler runs): hide the header from httplib, which
        // would send a second one.
        in[line] = 'X';
        f.expects_continue = true;
      }
    }
    const uint64_t body = length.value_or(0);
    if (body > lim.max_body_bytes)
      return reject(413, "request body too large: " + std::to_string(body) + " bytes, more than the " +
                             std::to_string(lim.max_body_bytes) + " accepted");
    f.request_end = f.head_end + static_cast<size_t>(body);
  }
  Verdict v;
  if (in.size() >= f.request_end) v.step = Verdict::complete;
  return v;
}

// The request line's method and target.
std::pair<std::string_view, std::string_view> method_and_target(const std::string& in) {
  const std::string_view line(in.data(), in.find_first_of("\r\n"));
  const size_t sp = line.find(' ');
  if (sp == std::string_view::npos) return {line, {}};
  const size_t sp2 = line.find(' ', sp + 1);
  return {line.substr(0, sp), line.substr(sp + 1, sp2 == std::string_view::npos ? std::string_view::npos : sp2 - sp - 1)};
}

std::string ip_and_port(const sockaddr_storage& addr, int& port) {
  char host[NI_MAXHOST] = "";
  char serv[NI_MAXSERV] = "";
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), sizeof addr, host, sizeof host, serv, sizeof serv,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return {};
  port = std::atoi(serv);
  return host;
}

}  // namespace

// One client connection. Owned by the reception thread while it reads a
// request, by one worker while the request is answered.
struct Conn {
  int fd = -1;
  std::string in;  // the current request first, then what followed it
  Framing framing;
  Clock::time_point last_active, head_started, head_done, queued_at;
  bool continue_sent = false;
  bool draining = false;  // rejected: discard what the client still sends, then close
  Clock::time_point drain_until;
  size_t drain_budget = 0;
  bool priority = false;
  std::string remote_ip, local_ip;
  int remote_port = 0, local_port = 0;
  size_t accounted = 0;  // bytes of `in` counted in Engine::buffered

  bool head_incomplete() const { return !framing.head_end; }
  void next_request(Clock::time_point now) {
    in.erase(0, framing.request_end);
    framing = {};
    continue_sent = false;
    last_active = now;
    head_started = in.empty() ? Clock::time_point{} : now;
  }
};

namespace {

// One request, already in memory, as httplib's Stream: reads come from the
// buffer, writes go to the socket (or to `sink`) within a deadline.
class BufferedStream : public httplib::Stream {
 public:
  BufferedStream(const Conn& conn, Clock::time_point write_deadline, std::string* sink = nullptr)
      : conn_(conn), size_(conn.framing.request_end), deadline_(write_deadline), sink_(sink) {}

  bool is_readable() const override { return pos_ < size_; }
  bool is_writable() const override { return !failed_; }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, size_ - pos_);
    std::memcpy(ptr, conn_.in.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (sink_) {
      sink_->append(ptr, size);
      return static_cast<ssize_t>(size);
    }
    size_t done = 0;
    while (!failed_ && done < size) {
      const ssize_t n = ::send(conn_.fd, ptr + done, size - done, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
        pollfd p{conn_.fd, POLLOUT, 0};
        if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) < 0) failed_ = errno != EINTR || left <= 0;
      } else if (!(n < 0 && errno == EINTR)) {
        failed_ = true;
      }
    }
    return failed_ ? -1 : static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = conn_.remote_ip;
    port = conn_.remote_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = conn_.local_ip;
    port = conn_.local_port;
  }
  // httplib only uses it to refuse descriptors past select()'s FD_SETSIZE,
  // which does not apply here (epoll).
  socket_t socket() const override { return INVALID_SOCKET; }
  bool failed() const { return failed_; }

 private:
  const Conn& conn_;
  size_t pos_ = 0;
  size_t size_;
  Clock::time_point deadline_;
  std::string* sink_;
  bool failed_ = false;
};

std::string raw_response(int status, const std::pair<std::string, std::string>& body, bool close) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
  if (status == 503) out += "Retry-After: 1\r\n";
  out += "Content-Type: " + body.second + "\r\nContent-Length: " + std::to_string(body.first.size()) + "\r\n";
  if (close) out += "Connection: close\r\n";
  return out + "\r\n" + body.first;
}

}  // namespace

struct GuardedServer::Engine {
  GuardedServer& server;
  const GuardLimits lim;
  size_t max_connections;
  int ep = -1, wake = -1;
  std::thread reception;
  std::vector<std::thread> workers;
  std::atomic<bool> stopping{false};

  std::mutex mu;  // guards the queues and hand-over lists
  std::condition_variable work_cv, priority_cv;
  std::deque<std::unique_ptr<Conn>> normal, urgent;
  std::vector<int> accepted;
  std::vector<std::unique_ptr<Conn>> returned;

  std::unordered_map<int, std::unique_ptr<Conn>> conns;  // the reception thread's
  std::atomic<int64_t> open{0}, shed{0}, rejected{0}, evicted{0};
  std::atomic<int64_t> buffered{0};  // request bytes held by all connections

  Engine(GuardedServer& s, const GuardLimits& l) : server(s), lim(l), max_connections(l.max_connections) {}

  void start() {
    // Each connection is a descriptor: take the hard limit, and keep the cap
    // below it (with room for the process's own files), so that accept()
    // never fails with EMFILE while the cap evicts.
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
      if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
      }
      if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < max_connections + 64)
        max_connections = rl.rlim_cur > 128 ? rl.rlim_cur - 64 : 64;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ep < 0 || wake < 0) throw std::runtime_error(std::string("guarded HTTP server: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake;
    epoll_ctl(ep, EPOLL_CTL_ADD, wake, &ev);
    reception = std::thread([this] { run_reception(); });
    workers.emplace_back([this] { run_worker(/*priority_only=*/true); });
    for (int i = 0; i < std::max(1, lim.workers); ++i) workers.emplace_back([this] { run_worker(false); });
  }

  void stop() {
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    notify_reception();
    work_cv.notify_all();
    priority_cv.notify_all();
    if (reception.joinable()) reception.join();
    for (auto& w : workers) w.join();
    workers.clear();
    std::lock_guard lock(mu);
    for (auto* q : {&normal, &urgent})
      for (auto& c : *q) close_conn(*c);
    for (auto& c : returned) close_conn(*c);
    for (int fd : accepted) ::close(fd);  // not yet counted in `open`
    normal.clear(), urgent.clear(), returned.clear(), accepted.clear();
    if (ep >= 0) ::close(ep);
    if (wake >= 0) ::close(wake);
    ep = wake = -1;
  }

  void notify_reception() {
    const uint64_t one = 1;
    if (wake >= 0) {
      [[maybe_unused]] auto n = ::write(wake, &one, sizeof one);
    }
  }

  void close_conn(Conn& c) {
    buffered -= static_cast<int64_t>(c.accounted);
    c.accounted = 0;
    ::close(c.fd);
    --open;
  }

  // Keeps `buffered` equal to the request bytes all connections hold.
  void account(Conn& c) {
    buffered += static_cast<int64_t>(c.in.size()) - static_cast<int64_t>(c.accounted);
    c.accounted = c.in.size();
  }

  // From httplib's accept thread.
  void adopt(int fd) {
    {
      std::lock_guard lock(mu);
      if (stopping) {
        ::close(fd);
        return;
      }
      accepted.push_back(fd);
    }
    notify_reception();
  }

  // A worker is done with a request; the connection waits for the next one.
  void give_back(std::unique_ptr<Conn> c) {
    {
      std::lock_guard lock(mu);
      if (!stopping) {
        returned.push_back(std::move(c));
        c = nullptr;
      }
    }
    if (c) return close_conn(*c);
    notify_reception();
  }

  // ---- reception thread ----

  void run_reception() {
    std::vector<epoll_event> events(256);
    auto last_sweep = Clock::now();
    while (!stopping) {
      const int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
      const auto now = Clock::now();
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == wake) {
          uint64_t count;
          [[maybe_unused]] auto r = ::read(wake, &count, sizeof count);
          continue;
        }
        auto it = conns.find(fd);
        if (it != conns.end()) on_readable(it->second.get(), now);
      }
      take_incoming(now);
      if (now - last_sweep >= std::chrono::milliseconds(100)) {
        sweep(now);
        last_sweep = now;
      }
    }
    for (auto& [fd, c] : conns) close_conn(*c);
    conns.clear();
  }

  void take_incoming(Clock::time_point now) {
    std::vector<int> fresh;
    std::vector<std::unique_ptr<Conn>> back;
    {
      std::lock_guard lock(mu);
      fresh.swap(accepted);
      back.swap(returned);
    }
    for (auto& c : back) enter(std::move(c), now);
    for (int fd : fresh) {
      if (static_cast<size_t>(open.load()) >= max_connections && !evict_one()) {
        ::close(fd);  // every connection has a worker: nothing to evict
        continue;
      }
      ++open;
      auto c = std::make_unique<Conn>();
      c->fd = fd;
      c->last_active = now;
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
      const int yes = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);  // small responses must not wait for ACKs
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) c->remote_ip = ip_and_port(addr, c->remote_port);
      len = sizeof addr;
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) c->local_ip = ip_and_port(addr, c->local_port);
      enter(std::move(c), now);
    }
  }

  // At the cap: the connection waiting longest for its client (a refused
  // one first, then the slowest request or the longest idle) makes room, so
  // that a new one, a health check say, gets in. Those with a worker stay.
  bool evict_one() {
    Conn* victim = nullptr;
    auto waiting_since = [](const Conn& c) {
      return c.draining ? Clock::time_point{} : c.in.empty() ? c.last_active : c.head_started;
    };
    for (auto& [fd, c] : conns)  // every connection here waits for its client
      if (!victim || waiting_since(*c) < waiting_since(*victim)) victim = c.get();
    if (!victim) return false;
    ++evicted;
    drop(victim);
    return true;
  }

  void enter(std::unique_ptr<Conn> c, Clock::time_point now) {
    const int fd = c->fd;
    Conn* raw = c.get();
    conns.emplace(fd, std::move(c));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) return drop(raw);
    if (!raw->in.empty()) advance(raw, now);  // a pipelined request may be complete already
  }

  void drop(Conn* c) {
    const int fd = c->fd;
    epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    close_conn(*c);
    conns.erase(fd);
  }

  void on_readable(Conn* c, Clock::time_point now) {
    char scratch[16384];
    if (c->draining) {
      for (;;) {
        const ssize_t n = ::recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT);
        if (n > 0 && static_cast<size_t>(n) < c->drain_budget) {
          c->drain_budget -= static_cast<size_t>(n);
          continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n < 0 && errno == EINTR) continue;
        return drop(c);  // the client closed, or sent more than we discard
      }
    }
    for (int round = 0; round < 16; ++round) {
      const auto& f = c->framing;
      size_t want = f.head_end ? f.request_end - std::min(f.request_end, c->in.size())
                               : lim.max_head_bytes + 1 - std::min(lim.max_head_bytes, c->in.size());
      if (want == 0) break;
      want = std::min<size_t>(want, 256 << 10);
      const size_t old = c->in.size();
      c->in.resize(old + want);
      const ssize_t n = ::recv(c->fd, c->in.data() + old, want, MSG_DONTWAIT);
      c->in.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
      if (n == 0) return drop(c);  // the client closed
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return drop(c);
      }
      c->last_active = now;
      if (c->head_started == Clock::time_point{}) c->head_started = now;
      account(*c);
      if (!advance(c, now)) return;
    }
  }

  // Frames what the buffer holds; returns whether the connection is still
  // the reception's and reading.
  bool advance(Conn* c, Clock::time_point now) {
    const bool had_head = !c->head_incomplete();
    const Verdict v = frame(c->in, c->framing, lim);
    if (v.step == Verdict::reject) {
      refuse(c, v.status, v.message, now);
      return false;
    }
    if (!had_head && !c->head_incomplete()) {
      c->head_done = now;
      // Bodies in memory over all connections are bounded too: a thousand
      // clients each sending the largest body must not exhaust memory.
      const size_t body = c->framing.request_end - c->framing.head_end;
      if (static_cast<size_t>(buffered.load()) + body > lim.max_buffered_bytes) {
        refuse(c, 503, "overloaded: too many request bodies in memory, retry later", now);
        return false;
      }
    }
    if (v.step == Verdict::complete) {
      dispatch(c, now);
      return false;
    }
    if (c->framing.expects_continue && !c->continue_sent && !c->head_incomplete()) {
      static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      [[maybe_unused]] auto n = ::send(c->fd, kContinue, sizeof kContinue - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      c->continue_sent = true;
    }
    return true;
  }

  // An answer before any handler (the limits): sent without waiting, then
  // the connection discards what the client still sends, for a while, so
  // that the client reads the answer rather than a reset.
  void refuse(Conn* c, int status, const std::string& message, Clock::time_point now) {
    ++rejected;
    const std::string out = raw_response(status, server.reject_body_(status, message), /*close=*/true);
    [[maybe_unused]] auto n = ::send(c->fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(c->fd, SHUT_WR);
    c->draining = true;
    c->drain_until = now + std::chrono::seconds(2);
    c->drain_budget = std::max<size_t>(lim.max_body_bytes, 1 << 20);
    c->in.clear();
    c->in.shrink_to_fit();
    account(*c);
  }

  void dispatch(Conn* raw, Clock::time_point now) {
    epoll_ctl(ep, EPOLL_CTL_DEL, raw->fd, nullptr);
    auto node = conns.extract(raw->fd);
    std::unique_ptr<Conn> c = std::move(node.mapped());
    c->queued_at = now;
    const auto [method, target] = method_and_target(c->in);
    const bool priority = server.is_priority_ && server.is_priority_(method, target);
    c->priority = priority;
    {
      std::lock_guard lock(mu);
      auto& queue = priority ? urgent : normal;
      if (queue.size() < lim.max_waiting) queue.push_back(std::move(c));
    }
    if (!c) {
      (priority ? priority_cv : work_cv).notify_one();
      return;
    }
    // Every worker busy and the queue full: answer 503 here and now, without
    // waiting for a slow reader (the answer is small; it fits the socket).
    serve(std::move(c), /*shed=*/true, Clock::now());
  }

  // Sweeps the deadlines.
  void sweep(Clock::time_point now) {
    enum class Due { close, slow_head, slow_body };
    std::vector<std::pair<Conn*, Due>> due;
    for (auto& [fd, c] : conns) {
      if (c->draining) {
        if (now >= c->drain_until) due.emplace_back(c.get(), Due::close);
      } else if (!c->head_incomplete()) {
        if (now - c->head_done > lim.body_timeout) due.emplace_back(c.get(), Due::slow_body);
      } else if (!c->in.empty()) {
        if (now - c->head_started > lim.head_timeout) due.emplace_back(c.get(), Due::slow_head);
      } else if (now - c->last_active > lim.idle_timeout) {
        due.emplace_back(c.get(), Due::close);
      }
    }
    for (auto [c, what] : due) {
      if (what == Due::close) drop(c);
      else if (what == Due::slow_body)
        refuse(c, 408, "request body not received within " + seconds_text(lim.body_timeout), now);
      else refuse(c, 408, "request head not received within " + seconds_text(lim.head_timeout), now);
    }
  }

  // ---- workers ----

  void run_worker(bool priority_only) {
    for (;;) {
      std::unique_ptr<Conn> c;
      {
        std::unique_lock lock(mu);
        auto& cv = priority_only ? priority_cv : work_cv;
        cv.wait(lock, [&] { return stopping || !urgent.empty() || (!priority_only && !normal.empty()); });
        if (stopping) return;
        auto& queue = !urgent.empty() ? urgent : normal;
        c = std::move(queue.front());
        queue.pop_front();
      }
      const auto now = Clock::now();
      const bool late = !c->priority && now - c->queued_at > lim.max_wait;
      serve(std::move(c), late, now + lim.write_timeout);
    }
  }

  void serve(std::unique_ptr<Conn> c, bool shed_it, Clock::time_point write_deadline) {
    BufferedStream strm(*c, write_deadline);
    bool closed = false;
    t_shed = shed_it;
    bool ok = false;
    try {
      ok = server.process_request(strm, stopping.load(), closed, nullptr);
    } catch (...) {  // handlers' exceptions are httplib's; this is out of memory and the like
    }
    t_shed = false;
    if (shed_it) ++shed;
    if (!ok || closed || strm.failed() || stopping) return close_conn(*c);
    c->next_request(Clock::now());
    account(*c);
    give_back(std::move(c));
  }
};

GuardedServer::GuardedServer(GuardLimits limits) : limits_(limits), engine_(std::make_unique<Engine>(*this, limits_)) {
  reject_body_ = [](int status, const std::string& message) {
    return std::make_pair(std::to_string(status) + " " + reason_phrase(status) + ": " + message + "\n",
                          std::string("text/plain; charset=utf-8"));
  };
  // The accept thread hands each socket to the reception at once.
  struct HandOver : httplib::TaskQueue {
    Engine& engine;
    explicit HandOver(Engine& e) : engine(e) {}
    void enqueue(std::function<void()> fn) override { fn(); }
    void shutdown() override { engine.stop(); }
  };
  new_task_queue = [this] {
    // cpp-httplib listens with a backlog of 5 (compiled into Debian's
    // library): a burst of new connections would overflow it and clients
    // wait for SYN retransmits. Linux applies a second listen() in place.
    ::listen(svr_sock_, SOMAXCONN);
    engine_->start();
    return new HandOver(*engine_);
  };
  set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (t_shed) {
      res.status = 503;
      res.set_header("Retry-After", "1");
      auto [body, type] = reject_body_(503, "overloaded: every worker is busy, retry later");
      res.set_content(body, type.c_str());
      return HandlerResponse::Handled;
    }
    const bool takes_body =
        req.method == "POST" || req.method == "PUT" || req.method == "PATCH" || req.method == "DELETE";
    if (takes_body && (req.method != "POST" || std::none_of(post_patterns_.begin(), post_patterns_.end(),
                                                            [&](const std::regex& p) {
                                                              return std::regex_match(req.path, p);
                                                            }))) {
      res.status = 404;  // unread: no body reaches httplib's unbounded reader (405 when the path has other methods)
      return HandlerResponse::Handled;
    }
    return HandlerResponse::Unhandled;
  });
  // Answers that no handler wrote (no route, a body refused unread, bad
  // HTTP) get the reject body. A path served with other methods only is 405
  // with Allow (RFC 9110), not 404.
  set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = reason_phrase(res.status);
    if (res.status == 404) {
      const auto allow = allowed_methods(req.path);
      const std::string method = req.method == "HEAD" ? "GET" : req.method;
      if (!allow.empty() && (", " + allow + ",").find(", " + method + ",") == std::string::npos) {
        res.status = 405;
        res.set_header("Allow", allow);
        message = "method " + req.method + " is not allowed on " + req.path + " (allowed: " + allow + ")";
      } else {
        message = "no such endpoint: " + req.method + " " + req.path;
      }
    }
    auto [body, type] = reject_body_(res.status, message);
    res.set_content(body, type.c_str());
  });
}

GuardedServer::~GuardedServer() {
  if (is_running()) stop();
}

bool GuardedServer::process_and_close_socket(socket_t sock) {
  engine_->adopt(sock);
  return true;
}

GuardedServer& GuardedServer::Get(const std::string& pattern, Handler handler) {
  get_patterns_.emplace_back(pattern);
  httplib::Server::Get(pattern, std::move(handler));
  return *this;
}

std::string GuardedServer::allowed_methods(const std::string& path) const {
  auto served = [&](const std::vector<std::regex>& patterns) {
    return std::any_of(patterns.begin(), patterns.end(), [&](const std::regex& p) { return std::regex_match(path, p); });
  };
  std::string allow = served(get_patterns_) ? "GET, HEAD" : "";
  if (served(post_patterns_)) allow += allow.empty() ? "POST" : ", POST";
  return allow;
}

GuardedServer& GuardedServer::Post(const std::string& pattern, Handler handler) {
  post_patterns_.emplace_back(pattern);
  httplib::Server::Post(pattern, [this, handler = std::move(handler)](const httplib::Request& req,
                                                                      httplib::Response& res,
                                                                      const httplib::ContentReader& read) {
    // The Request is process_request's own non-const object. The body
    // reaches the handler as sent whatever its Content-Type: a multipart one
    // would otherwise go to httplib's form parser (KServe servers read JSON
    // under any type, as Triton does).
    auto& request = const_cast<httplib::Request&>(req);
    httplib::Headers hidden;
    if (request.is_multipart_form_data()) {
      const auto types = request.headers.equal_range("Content-Type");
      hidden.insert(types.first, types.second);
      request.headers.erase(types.first, types.second);
    }
    std::string body;
    bool too_large = false;
    const bool ok = read([&](const char* data, size_t n) {
      if (body.size() + n > limits_.max_body_bytes) {
        too_large = true;
        return false;  // stops inflating a compressed body at the limit
      }
      body.append(data, n);
      return true;
    });
    request.headers.insert(hidden.begin(), hidden.end());
    if (!ok) {
      res.status = too_large ? 413 : res.status >= 400 ? res.status : 400;
      auto [text, type] = reject_body_(res.status, too_large ? "request body too large once decoded: more than " +
                                                                   std::to_string(limits_.max_body_bytes) + " bytes"
                                                             : "unreadable request body (bad or unsupported "
                                                               "Content-Encoding)");
      res.set_content(text, type.c_str());
      return;
    }
    request.body = std::move(body);  // as for any httplib route
    handler(req, res);
  });
  return *this;
}

void GuardedServer::set_priority(std::function<bool(std::string_view, std::string_view)> is_priority) {
  is_priority_ = std::move(is_priority);
}

void GuardedServer::set_reject_body(RejectBody reject_body) { reject_body_ = std::move(reject_body); }

GuardStats GuardedServer::stats() const {
  GuardStats s;
  s.open_connections = engine_->open;
  s.shed = engine_->shed;
  s.rejected = engine_->rejected;
  s.evicted = engine_->evicted;
  return s;
}

std::string GuardedServer::serve_bytes(std::string_view raw) {
  std::string out;
  Conn c;
  c.in.assign(raw.data(), raw.size());
  c.remote_ip = c.local_ip = "127.0.0.1";
  for (;;) {
    const Verdict v = frame(c.in, c.framing, limits_);
    if (v.step == Verdict::reject) {
      out += raw_response(v.status, reject_body_(v.status, v.message), true);
      return out;
    }
    if (v.step == Verdict::need_more) return out;  // what the head or body timeout would end
    BufferedStream strm(c, Clock::now(), &out);
    bool closed = false;
    if (!process_request(strm, false, closed, nullptr) || closed) return out;
    c.next_request(Clock::now());
  }
}

void ServingLoop::start(const std::string& host, int port) {
  server_.set_keep_alive_max_count(1u << 30);  // the guard keeps connections alive; this is only the header
  server_.set_keep_alive_timeout(static_cast<time_t>(server_.limits().idle_timeout.count() / 1000));
  server_.set_payload_max_length(server_.limits().max_body_bytes);
  int bound = port;
  if (port == 0) {
    bound = server_.bind_to_any_port(host);
    if (bound < 0) throw std::runtime_error("cannot bind to " + host + " (any port)");
  } else if (!server_.bind_to_port(host, port)) {
    throw std::runtime_error("cannot bind to " + host + ":" + std::to_string(port) + " (in use, or not an address of this machine)");
  }
  host_ = host;
  port_ = bound;
  thread_ = std::thread([this] { server_.listen_after_bind(); });
}

std::string ServingLoop::url() const {
  const bool v6 = host_.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
}

std::shared_ptr<void> ServingLoop::enter() {
  ++in_flight_;
  return std::shared_ptr<void>(nullptr, [this](void*) { --in_flight_; });
}

int64_t ServingLoop::drain(double timeout_s) {
  draining_ = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (in_flight_ > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return in_flight_;
}

void ServingLoop::stop() {
  if (!thread_.joinable()) return;
  server_.stop();
  thread_.join();
}

}  // namespace gpumix::http
