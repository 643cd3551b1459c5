// The load generator's side of talking to a KServe v2 (Triton) server: where
// it is, waiting for it, fetching what the model takes, and the input data.
// The protocol's messages are encoded and checked by the codec the server
// links too (workloads/common/gpumix/kserve.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/kserve.hpp"
#include "gpumix/util/units.hpp"

namespace gpumix::loadgen {

// http://host[:port][/prefix]; the prefix (no trailing slash) goes before /v2.
struct Endpoint {
  std::string host;
  int port = 80;
  std::string prefix;
  std::string url() const;  // http://host:port/prefix, for messages
};
// Throws InputError naming the problem (only http:// is supported).
Endpoint parse_url(const std::string& text);

// Polls GET `path` (/v2/health/ready, /v1/models) every 100 ms until it
// answers 200 (true) or `stop_fd` becomes readable (false); throws RunError
// with the last answer after `timeout`.
bool wait_ready(const Endpoint& endpoint, const std::string& path, Duration timeout, int stop_fd);

// "1,3,224,224" → {1, 3, 224, 224}; throws InputError on anything else.
std::vector<int64_t> parse_shape(const std::string& text);

// GET /v2/models/{model}; throws RunError with the status and message, or
// with what the metadata lacks.
kserve::ModelMetadata fetch_model_metadata(const Endpoint& endpoint, const std::string& model);

// The bytes of one request's input: uniform at random from `seed` (UINT8
// 0..255, FP32 in [0, 1)), so the same seed sends the same request.
std::string random_tensor_data(const kserve::TensorSpec& input, uint64_t seed);

}  // namespace gpumix::loadgen
