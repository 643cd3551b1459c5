// The KServe v2 / Triton inference protocol over HTTP/REST: the one codec
// that gpumix-infer-server (server side: parse requests, encode responses and
// metadata) and `gpumix loadgen` (client side: read metadata, encode requests,
// check responses) both link, so each side's tests run against the other's
// encoding. JSON tensors and the binary tensor data extension. No LibTorch and
// no HTTP library here, so that the parser can be unit-tested and fuzzed on
// its own (tests/fuzz).
//
// Protocol: https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/
// Binary extension: the body is a JSON header of `Inference-Header-Content-Length`
// bytes followed by the raw tensors, in the order of the inputs that carry
// `"parameters": {"binary_data_size": N}`.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace gpumix::kserve {

// A message that breaks the protocol. Server side: a request it rejects, with
// the HTTP status and a message for the response's {"error": ...} body.
// Client side: an answer from the server that is not the protocol (502).
class ProtocolError : public std::runtime_error {
 public:
  ProtocolError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

enum class DataType { uint8, fp32 };
const char* to_string(DataType type);                 // "UINT8", "FP32"
std::optional<DataType> datatype_from_string(std::string_view text);
size_t element_size(DataType type);

// What a model accepts or produces: shape with -1 for the variable batch dimension.
struct TensorSpec {
  std::string name;
  DataType datatype = DataType::fp32;
  std::vector<int64_t> shape;
  // Of a concrete shape (no -1).
  int64_t elements() const;
  int64_t bytes() const;
};

struct ModelSpec {
  std::string name;
  std::string version = "1";
  std::string platform = "pytorch_libtorch";  // Triton's name for a LibTorch model
  TensorSpec input;   // one input; shape [-1, ...]
  TensorSpec output;  // one output; shape [-1, ...]
  int64_t max_batch = 1;
};

// A parsed, validated inference request for `ModelSpec`: the input as raw
// little-endian bytes of the model's datatype (a view into the body for
// binary data, or converted from JSON), and how the output is wanted.
struct InferRequest {
  std::string id;            // echoed in the response when given
  int64_t batch = 0;         // first dimension of the input
  std::string_view data;     // prod(shape) * element_size bytes
  std::string json_data;     // owns the bytes when they came as JSON
  bool binary_output = false;
};

// Parses `body` (the whole POST body) for `model`. `header_length` is the
// value of the Inference-Header-Content-Length header when present (binary
// extension); 0 is Triton's raw binary request: the body is the input tensor
// of one batch item alone, and the output comes back binary. The returned
// request may point into `body`: keep it alive. Throws ProtocolError (400)
// saying what is wrong and where.
InferRequest parse_infer_request(std::string_view body, std::optional<std::string_view> header_length,
                                 const ModelSpec& model);

// An encoded request or response: `body`, and for binary tensor data the
// length of its JSON header (the value for Inference-Header-Content-Length).
struct EncodedMessage {
  std::string body;
  std::optional<size_t> header_length;
  std::string content_type;
};

// The response for `request` with `output` = batch × (output shape without
// the batch dimension) float32 values.
EncodedMessage encode_infer_response(const ModelSpec& model, const InferRequest& request, const float* output,
                                      size_t count);

// {"error": message}
std::string error_body(std::string_view message);
// GET /v2/models/{name}[/versions/{v}]
std::string model_metadata(const ModelSpec& model);
// GET /v2
std::string server_metadata(std::string_view name, std::string_view version);
// GET /v2/health/live: {"live": live}
std::string live_body(bool live);
// GET /v2/health/ready: {"ready": ready}
std::string ready_body(bool ready);
// GET /v2/models/{name}[/versions/{v}]/ready: {"name": ..., "ready": ready}
std::string model_ready_body(const ModelSpec& model, bool ready);

// ---- client side

// What a client needs from GET /v2/models/{name}: the first input, its
// variable batch dimension (-1) as 1, and the output names. Throws
// ProtocolError (502) naming what is missing or unsupported.
struct ModelMetadata {
  TensorSpec input;
  std::vector<std::string> outputs;
};
ModelMetadata parse_model_metadata(std::string_view body);

// A request carrying `data` (input.bytes() little-endian bytes) as `input`
// (a concrete shape): with the binary tensor data extension, or as JSON
// "data". Outputs by name (binary when `binary`); none named: all of them.
EncodedMessage encode_infer_request(const TensorSpec& input, std::string_view data,
                                    const std::vector<std::string>& outputs, bool binary);

// nullopt when a response's JSON header parses; else why not. The header is
// the first `header_length` bytes when the server sent that header, else the
// whole body.
std::optional<std::string> check_infer_response(std::string_view body, std::optional<std::string_view> header_length);

// A short message from an error response: its {"error": "..."} when it has
// one, else the start of the body on one line.
std::string error_message(std::string_view body);

}  // namespace gpumix::kserve
