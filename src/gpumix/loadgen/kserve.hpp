// The client side of the KServe v2 (Triton) REST protocol that the load
// generator speaks: where the server is, what the model takes, one request
// body built once, and the check of each response.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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

// Polls GET /v2/health/ready every 100 ms until it answers 200 (true) or
// `stop_fd` becomes readable (false); throws RunError with the last answer
// after `timeout`.
bool wait_ready(const Endpoint& endpoint, Duration timeout, int stop_fd);

// The one input tensor a request carries. Datatype UINT8 or FP32.
struct TensorSpec {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;
  int64_t elements() const;
  int64_t bytes() const;  // binary size
};

// "1,3,224,224" → {1, 3, 224, 224}; throws InputError on anything else.
std::vector<int64_t> parse_shape(const std::string& text);

// From the body of GET /v2/models/{model}: the first input (a variable batch
// dimension, -1, becomes 1) and the output names. Throws RunError naming what
// is missing.
struct ModelMetadata {
  TensorSpec input;
  std::vector<std::string> outputs;
};
ModelMetadata parse_model_metadata(const std::string& body);
// GET /v2/models/{model}; throws RunError with the status and message.
ModelMetadata fetch_model_metadata(const Endpoint& endpoint, const std::string& model);

// One request body, built once from `seed` and sent for every request.
// Binary (the tensor data extension): JSON header, then the raw tensor bytes;
// `header_length` goes in Inference-Header-Content-Length. JSON: the tensor
// as "data": [...] and header_length 0.
struct InferRequest {
  std::string body;
  size_t header_length = 0;
  std::string content_type;
};
InferRequest build_request(const TensorSpec& input, const std::vector<std::string>& outputs, bool json,
                           uint64_t seed);

// nullopt when a 200 response's JSON header parses; else why not. The header
// is the first `Inference-Header-Content-Length` bytes when the server sent
// that header, else the whole body.
std::optional<std::string> check_response(const std::string& body, const std::string& header_length);

// A short message from an error response: its {"error": "..."} when it has
// one, else the start of the body.
std::string error_message(const std::string& body);

}  // namespace gpumix::loadgen
