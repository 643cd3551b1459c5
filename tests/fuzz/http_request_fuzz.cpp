// libFuzzer target: arbitrary bytes as what one client connection sends
// (pipelined requests, heads, bodies, encodings) into both gpumix HTTP
// servers through their real routes and handlers: gpumix-infer-server's
// KServe v2 routes (the model answered by a fake batcher, as in the unit
// tests) and `gpumix monitor --listen`'s, with the guarded server's own
// framing and limits (GuardedServer::serve_bytes, the socket path without the
// socket). Never a crash, a hang, a leak or undefined behaviour (ASan, UBSan),
// and whatever is written is HTTP responses.
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

#include "gpumix/telemetry/metrics_http.hpp"
#include "http_server.hpp"

namespace {

using namespace gpumix::serving;

struct InferServer {
  BatchQueue queue{BatchQueue::Limits{4, 8, std::chrono::microseconds(0)}};
  gpumix::metrics::Reporter reporter;  // disabled: no GPUMIX_METRICS_FD here
  HttpServer server;
  std::thread batcher;

  static gpumix::kserve::ModelSpec model() {
    gpumix::kserve::ModelSpec m;
    m.name = "resnet18";
    m.input = {"input", gpumix::kserve::DataType::uint8, {-1, 3, 4, 4}};
    m.output = {"output", gpumix::kserve::DataType::fp32, {-1, 10}};
    m.max_batch = 4;
    return m;
  }
  static HttpOptions options() {
    HttpOptions o;
    o.limits.max_body_bytes = 1 << 20;  // small inputs reach the limits too
    o.report_requests = false;
    return o;
  }
  InferServer() : server(options(), model(), 48, queue, reporter) {
    batcher = std::thread([this] {
      for (auto batch = queue.next_batch(); !batch.empty(); batch = queue.next_batch())
        for (Job* job : batch) {
          job->output.assign(static_cast<size_t>(job->images) * 10, 0.25f);
          job->complete();
        }
    });
  }
};

bool only_responses(const std::string& out) { return out.empty() || out.rfind("HTTP/1.1 ", 0) == 0; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto* infer = new InferServer();  // lives for the whole run (its batcher thread too)
  static auto* monitor = gpumix::telemetry::make_metrics_server([] {
                           return std::string("# TYPE gpumix_up gauge\ngpumix_up 1\n");
                         }).release();
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  if (!only_responses(infer->server.serve_bytes(raw))) __builtin_trap();
  if (!only_responses(monitor->serve_bytes(raw))) __builtin_trap();
  return 0;
}
