// A cpp-httplib server hardened against slow, large and too many requests,
// shared by gpumix-infer-server and `gpumix monitor --listen`.
//
// cpp-httplib 0.11 runs one thread per connection and bounds neither header
// count nor the time a request head may take, nor bodies after decoding. Here
// one event-driven reception thread (epoll) reads every connection's request
// with limits (head bytes, header lines, a deadline for the head and one for
// the body, an idle keep-alive timeout, a cap on open connections) and hands
// complete requests, held in memory, to a bounded worker pool, which runs
// httplib's own process_request on them: routing, handlers, error handler and
// keep-alive behave as in httplib. Slow clients cost a file descriptor and a
// bounded buffer, never a thread. Under overload requests get 503 with
// Retry-After instead of waiting; `priority` requests (health, metrics) have a
// worker of their own and go first. See docs/http-limits.md.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace gpumix::http {

struct GuardLimits {
  size_t max_connections = 1024;             // open at once; at the cap the longest-waiting unfinished one goes
  // The request line: 414 above. Routes are matched by std::regex (cpp-httplib's
  // and ours), which recurses once per character and overflows the stack on
  // paths of some 30,000 characters.
  size_t max_request_line_bytes = 8 << 10;
  size_t max_head_bytes = 64 << 10;          // request line and headers: 431 above
  size_t max_header_lines = 100;             // 431 above
  std::chrono::milliseconds head_timeout{10'000};   // the whole head, from its first byte: 408 after
  std::chrono::milliseconds body_timeout{60'000};   // the whole body, from the end of the head: 408 after
  std::chrono::milliseconds idle_timeout{30'000};   // a kept-alive connection without a new request is closed
  std::chrono::milliseconds write_timeout{10'000};  // a response the client does not read in time is dropped
  size_t max_body_bytes = 64 << 20;          // as sent and, for Post routes, after decoding: 413 above
  size_t max_buffered_bytes = size_t{1} << 30;  // request bytes held over all connections: 503 above
  int workers = 16;                          // requests handled at once (besides the priority worker)
  size_t max_waiting = 256;                  // requests waiting for a worker; 503 beyond
  std::chrono::milliseconds max_wait{2'000}; // a request that waited longer for a worker gets 503
};

// Counters since start, for /metrics.
struct GuardStats {
  int64_t open_connections = 0;
  int64_t shed = 0;      // 503: workers busy (queue full or waited too long)
  int64_t rejected = 0;  // 408, 411, 413, 414, 431, 503 (bodies in memory) given by the reception before any handler
  int64_t evicted = 0;   // connections closed at the cap to admit a new one
};

class GuardedServer : public httplib::Server {
 public:
  explicit GuardedServer(GuardLimits limits = {});
  ~GuardedServer() override;
  GuardedServer(const GuardedServer&) = delete;
  GuardedServer& operator=(const GuardedServer&) = delete;

  // Routes answered by GET (and HEAD, as httplib does). Recorded, with the
  // Post routes, so that another method on a known path gets 405 with an
  // `Allow` header rather than 404.
  GuardedServer& Get(const std::string& pattern, Handler handler);
  // The only routes that take a body: it reaches the handler in req.body, at
  // most max_body_bytes after decoding (gzip, deflate, br), else 413. Other
  // methods with a body (PUT, PATCH, DELETE, POST elsewhere) are answered
  // 405 or 404 without reading it.
  GuardedServer& Post(const std::string& pattern, Handler handler);

  // The methods `path` is served with ("GET, HEAD, POST"), empty when none:
  // the value of a 405's Allow header.
  std::string allowed_methods(const std::string& path) const;

  // Requests (method, target) answered by the priority worker, ahead of the rest.
  void set_priority(std::function<bool(std::string_view method, std::string_view target)> is_priority);

  // The body of the answers the server gives before any handler runs (408,
  // 411, 413, 431, 503): (body, content type). Plain text unless set.
  using RejectBody = std::function<std::pair<std::string, std::string>(int status, const std::string& message)>;
  void set_reject_body(RejectBody reject_body);

  GuardStats stats() const;
  const GuardLimits& limits() const { return limits_; }

  // Serves `raw` as one connection would have sent it (pipelined requests,
  // the same limits, no socket) and returns every byte the server wrote: for
  // the fuzz target and tests.
  std::string serve_bytes(std::string_view raw);

  struct Engine;  // reception thread, workers (guarded_http.cpp)

 private:
  bool process_and_close_socket(socket_t sock) override;  // httplib's accept thread hands the socket over here

  friend struct Engine;
  GuardLimits limits_;
  std::vector<std::regex> get_patterns_, post_patterns_;
  std::function<bool(std::string_view, std::string_view)> is_priority_;
  RejectBody reject_body_;
  std::unique_ptr<Engine> engine_;
};

// What both built-in servers do around a GuardedServer: serve it on a thread
// of its own, count the requests in flight, and drain on SIGTERM (new
// requests refused, those in flight given time to end). Declare it after
// its server: it stops the server before the server goes.
class ServingLoop {
 public:
  explicit ServingLoop(GuardedServer& server) : server_(server) {}
  ~ServingLoop() { stop(); }
  ServingLoop(const ServingLoop&) = delete;
  ServingLoop& operator=(const ServingLoop&) = delete;

  // Binds host:port (port 0: any free port) and serves; std::runtime_error
  // naming the address when it cannot bind.
  void start(const std::string& host, int port);
  // "http://host:port" once started, an IPv6 address in brackets.
  std::string url() const;

  // Counts a request until the returned token is gone (a stream keeps it
  // beyond its handler).
  std::shared_ptr<void> enter();
  int64_t in_flight() const { return in_flight_; }
  bool draining() const { return draining_; }
  // Refuses new requests from now on and waits up to `timeout_s` for those
  // in flight; how many are still in flight.
  int64_t drain(double timeout_s);
  // Stops serving and joins the thread (idempotent).
  void stop();

 private:
  GuardedServer& server_;
  std::thread thread_;
  std::string host_;
  int port_ = 0;
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> in_flight_{0};
};

}  // namespace gpumix::http
