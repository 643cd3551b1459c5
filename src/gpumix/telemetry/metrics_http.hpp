// The HTTP side of `gpumix monitor --listen`: Prometheus text at /metrics, a
// pointer to it at /, on the guarded server gpumix-infer-server uses too
// (workloads/common/gpumix/guarded_http.hpp), so that slow or large requests
// and connection floods cannot keep /metrics from answering. The fuzz target
// (tests/fuzz/http_request_fuzz.cpp) serves raw bytes through the same routes.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "gpumix/guarded_http.hpp"

namespace gpumix::telemetry {

// `render` writes the exposition (called on a worker thread per request).
std::unique_ptr<http::GuardedServer> make_metrics_server(std::function<std::string()> render);

}  // namespace gpumix::telemetry
