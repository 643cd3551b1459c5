// The HTTP side of gpumix-infer-server: KServe v2 REST routes over
// cpp-httplib's guarded server (gpumix/guarded_http.hpp: bounded requests,
// connections and waiting, 503 under overload, health and /metrics first),
// admission (bounded queue, draining), per-request metrics events and the
// Prometheus /metrics page. No LibTorch: the model is a
// ModelSpec plus the BatchQueue its engine serves.
#pragma once

#include "batch_queue.hpp"
#include "gpumix/guarded_http.hpp"
#include "gpumix/kserve.hpp"
#include "gpumix/metrics.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace gpumix::serving {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port
  http::GuardLimits limits;  // workers, body, head, connections, waiting
  bool report_requests = true;  // one `latency` event per request
};

// Request counters, exposed on /metrics and in the `done` event.
struct ServerCounts {
  int64_t ok = 0;
  int64_t client_errors = 0;  // 4xx other than 404 on unknown routes
  int64_t rejected = 0;       // 503: queue full, draining, or every HTTP worker busy
  int64_t server_errors = 0;  // 5xx other than 503
  int64_t images = 0;
};

class HttpServer {
 public:
  // `queue` belongs to the engine serving `model`; `input_bytes` per image.
  HttpServer(HttpOptions options, kserve::ModelSpec model, size_t input_bytes, BatchQueue& queue,
             metrics::Reporter& reporter);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds (throws std::runtime_error when it cannot) and serves on a thread.
  void start();
  // http://host:port once started.
  std::string url() const;

  // Refuses new inference requests (503) and reports not ready; waits up to
  // `timeout_s` for the requests in flight to be answered. Returns how many
  // were still in flight then.
  int64_t drain(double timeout_s);
  // Stops listening and joins the server thread.
  void stop();

  int64_t in_flight() const;
  ServerCounts counts() const;

  // Serves raw request bytes without a socket (GuardedServer::serve_bytes):
  // the fuzz target's way in.
  std::string serve_bytes(std::string_view raw);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpumix::serving
