#include "http_server.hpp"

#include "gpumix/prometheus.hpp"

#include <httplib.h>

#include <map>
#include <optional>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace gpumix::serving {

namespace {

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

const std::vector<double> kLatencyBounds = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

}  // namespace

struct HttpServer::Impl {
  HttpOptions opt;
  kserve::ModelSpec model;
  size_t input_bytes;
  BatchQueue& queue;
  metrics::Reporter& rep;

  http::GuardedServer server;
  http::ServingLoop serving{server};

  mutable std::mutex mu;  // guards what follows
  ServerCounts counts;
  std::map<int, int64_t> by_status;
  metrics::Histogram latency{kLatencyBounds}, queue_time{kLatencyBounds};
  metrics::Histogram batch_size{{1, 2, 4, 8, 16, 32, 64, 128, 256}};

  Impl(HttpOptions o, kserve::ModelSpec m, size_t bytes, BatchQueue& q, metrics::Reporter& r)
      : opt(std::move(o)), model(std::move(m)), input_bytes(bytes), queue(q), rep(r), server(opt.limits) {}

  void count(int status) {
    std::lock_guard lock(mu);
    ++by_status[status];
    if (status == 200) ++counts.ok;
    else if (status == 503) ++counts.rejected;
    else if (status >= 500) ++counts.server_errors;
    else ++counts.client_errors;
  }

  static void reply_error(httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    res.set_content(kserve::error_body(message), "application/json");
  }

  // The model named in the path, or a 404 already set on `res`.
  const kserve::ModelSpec* find_model(const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1];
    const std::string version = req.matches.size() > 2 ? std::string(req.matches[2]) : "";
    if (name != model.name) {
      reply_error(res, 404, "unknown model '" + name + "' (this server serves '" + model.name + "')");
      return nullptr;
    }
    if (!version.empty() && version != model.version) {
      reply_error(res, 404, "model '" + name + "' has no version '" + version + "' (it has '" + model.version + "')");
      return nullptr;
    }
    return &model;
  }

  void infer(const httplib::Request& req, httplib::Response& res) {
    const auto arrived = Clock::now();
    const auto guard = serving.enter();
    if (!find_model(req, res)) return count(res.status);
    if (serving.draining()) {
      reply_error(res, 503, "the server is shutting down");
      return count(503);
    }
    kserve::InferRequest request;
    try {
      const bool binary = req.has_header("Inference-Header-Content-Length");
      const std::string header_length = binary ? req.get_header_value("Inference-Header-Content-Length") : "";
      request = kserve::parse_infer_request(req.body, binary ? std::optional<std::string_view>(header_length) : std::nullopt,
                                            model);
    } catch (const kserve::ProtocolError& e) {
      reply_error(res, e.status(), e.what());
      return count(e.status());
    }

    Job job;
    job.images = request.batch;
    job.input = request.data.data();
    job.arrived = arrived;
    switch (queue.push(&job)) {
      case BatchQueue::Push::full:
        reply_error(res, 503, "queue full: " + std::to_string(queue.depth()) + " requests waiting");
        return count(503);
      case BatchQueue::Push::closed:
        reply_error(res, 503, "the server is shutting down");
        return count(503);
      case BatchQueue::Push::queued:
        break;
    }
    job.wait();
    if (!job.error.empty()) {
      reply_error(res, 500, "inference failed: " + job.error);
      return count(500);
    }
    auto encoded = kserve::encode_infer_response(model, request, job.output.data(), job.output.size());
    if (encoded.header_length) res.set_header("Inference-Header-Content-Length", std::to_string(*encoded.header_length));
    res.set_content(std::move(encoded.body), encoded.content_type.c_str());
    res.status = 200;

    const auto finished = Clock::now();
    const double ms = ms_between(arrived, finished), queue_ms = ms_between(arrived, job.batched);
    {
      std::lock_guard lock(mu);
      ++by_status[200];
      ++counts.ok;
      counts.images += job.images;
      latency.observe(ms / 1e3);
      queue_time.observe(queue_ms / 1e3);
      batch_size.observe(static_cast<double>(job.batch_images));
    }
    if (opt.report_requests)
      rep.latency(ms, {{"queue_ms", queue_ms}, {"batch", job.batch_images}, {"images", job.images}});
  }

  std::string prometheus() const {
    std::ostringstream out;
    const std::string labels = "model=\"" + model.name + "\"";
    const auto guard = server.stats();
    std::lock_guard lock(mu);
    out << "# HELP gpumix_infer_requests_total Inference requests answered, by HTTP status.\n"
        << "# TYPE gpumix_infer_requests_total counter\n";
    auto statuses = by_status;
    if (guard.shed > 0) statuses[503] += guard.shed;
    for (const auto& [status, n] : statuses)
      out << "gpumix_infer_requests_total{" << labels << ",code=\"" << status << "\"} " << n << '\n';
    out << "# HELP gpumix_infer_images_total Images inferred.\n# TYPE gpumix_infer_images_total counter\n"
        << "gpumix_infer_images_total{" << labels << "} " << counts.images << '\n'
        << "# HELP gpumix_infer_queue_depth Requests waiting for a batch.\n# TYPE gpumix_infer_queue_depth gauge\n"
        << "gpumix_infer_queue_depth{" << labels << "} " << queue.depth() << '\n'
        << "# HELP gpumix_infer_in_flight Requests received and not yet answered.\n"
        << "# TYPE gpumix_infer_in_flight gauge\n"
        << "gpumix_infer_in_flight{" << labels << "} " << serving.in_flight() << '\n';
    latency.render(out, "gpumix_infer_request_duration_seconds",
                   "Server-side latency of successful requests, from receipt to response.", labels);
    queue_time.render(out, "gpumix_infer_queue_duration_seconds", "Time requests waited for their batch.", labels);
    batch_size.render(out, "gpumix_infer_request_batch_size", "Images in the batch each request ran in.", labels);
    out << "# HELP gpumix_http_open_connections Client connections open.\n"
        << "# TYPE gpumix_http_open_connections gauge\n"
        << "gpumix_http_open_connections " << guard.open_connections << '\n'
        << "# HELP gpumix_http_refused_total Requests refused before any handler ran: over a limit or too slow "
           "(408, 411, 413, 431; 503 when request bodies fill their memory bound).\n"
        << "# TYPE gpumix_http_refused_total counter\n"
        << "gpumix_http_refused_total " << guard.rejected << '\n'
        << "# HELP gpumix_http_evicted_total Connections closed at the connection cap to admit a new one.\n"
        << "# TYPE gpumix_http_evicted_total counter\n"
        << "gpumix_http_evicted_total " << guard.evicted << '\n';
    return out.str();
  }

  void routes() {
    // The Open Inference Protocol's REST endpoints (docs/inference-protocol.md).
    const std::string model_path = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";
    auto reply_json = [](httplib::Response& res, int status, const std::string& body) {
      res.status = status;
      res.set_content(body, "application/json");
    };
    server.Get("/v2/?", [reply_json](const httplib::Request&, httplib::Response& res) {
      reply_json(res, 200, kserve::server_metadata("gpumix-infer-server", "1"));
    });
    server.Get("/v2/health/live", [reply_json](const httplib::Request&, httplib::Response& res) {
      reply_json(res, 200, kserve::live_body(true));
    });
    // Not ready (503) only while draining: the server listens once the model is loaded and warm.
    server.Get("/v2/health/ready", [this, reply_json](const httplib::Request&, httplib::Response& res) {
      reply_json(res, serving.draining() ? 503 : 200, kserve::ready_body(!serving.draining()));
    });
    server.Get(model_path, [this, reply_json](const httplib::Request& req, httplib::Response& res) {
      if (find_model(req, res)) reply_json(res, 200, kserve::model_metadata(model));
    });
    server.Get(model_path + "/ready", [this, reply_json](const httplib::Request& req, httplib::Response& res) {
      if (find_model(req, res)) reply_json(res, serving.draining() ? 503 : 200, kserve::model_ready_body(model, !serving.draining()));
    });
    // Any Content-Type: the body is JSON, or binary tensors when
    // Inference-Header-Content-Length is present (as Triton decides).
    server.Post(model_path + "/infer", [this](const httplib::Request& req, httplib::Response& res) { infer(req, res); });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(prometheus(), "text/plain; version=0.0.4");
    });
    // Health and metrics answer ahead of inference, also under overload.
    server.set_priority([](std::string_view method, std::string_view target) {
      const auto path = target.substr(0, target.find('?'));
      return method == "GET" && (path == "/v2/health/live" || path == "/v2/health/ready" || path == "/metrics" ||
                                 (path.size() > 6 && path.substr(path.size() - 6) == "/ready"));
    });
    // Every answer no handler wrote (limits, overload, no route, wrong
    // method) is {"error": "..."} too.
    server.set_reject_body([](int, const std::string& message) {
      return std::make_pair(kserve::error_body(message), std::string("application/json"));
    });
    server.set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what += std::string(": ") + e.what();
      } catch (...) {
      }
      reply_error(res, 500, what);
      count(500);
    });
  }
};

HttpServer::HttpServer(HttpOptions options, kserve::ModelSpec model, size_t input_bytes, BatchQueue& queue,
                       metrics::Reporter& reporter)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(model), input_bytes, queue, reporter)) {
  impl_->routes();
}

HttpServer::~HttpServer() { stop(); }

void HttpServer::start() { impl_->serving.start(impl_->opt.host, impl_->opt.port); }

std::string HttpServer::url() const { return impl_->serving.url(); }

int64_t HttpServer::drain(double timeout_s) { return impl_->serving.drain(timeout_s); }

void HttpServer::stop() { impl_->serving.stop(); }

std::string HttpServer::serve_bytes(std::string_view raw) { return impl_->server.serve_bytes(raw); }

int64_t HttpServer::in_flight() const { return impl_->serving.in_flight(); }

ServerCounts HttpServer::counts() const {
  const int64_t shed = impl_->server.stats().shed;
  std::lock_guard lock(impl_->mu);
  auto c = impl_->counts;
  c.rejected += shed;
  return c;
}

}  // namespace gpumix::serving
