#include "gpumix/telemetry/metrics_http.hpp"

#include "gpumix/telemetry/prometheus.hpp"

namespace gpumix::telemetry {

std::unique_ptr<http::GuardedServer> make_metrics_server(std::function<std::string()> render) {
  http::GuardLimits limits;
  limits.workers = 2;                // one render takes well under a millisecond
  limits.max_body_bytes = 64 << 10;  // no route takes a body
  auto server = std::make_unique<http::GuardedServer>(limits);
  // SO_REUSEADDR only: cpp-httplib's default SO_REUSEPORT would let a
  // second gpumix share a port that is in use.
  server->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  server->set_priority([](std::string_view method, std::string_view target) {
    return method == "GET" && target.substr(0, target.find('?')) == "/metrics";
  });
  server->Get("/metrics", [render = std::move(render)](const httplib::Request&, httplib::Response& res) {
    res.set_content(render(), kPrometheusContentType);
  });
  server->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("gpumix monitor: Prometheus metrics at /metrics\n", "text/plain; charset=utf-8");
  });
  return server;
}

}  // namespace gpumix::telemetry
