#include "gpumix/kserve.hpp"

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstring>
#include "gpumix/json_text.hpp"

namespace gpumix::kserve {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& message) { throw ProtocolError(400, message); }
[[noreturn]] void bad_answer(const std::string& message) { throw ProtocolError(502, message); }

// A decimal byte count, the whole of `text`.
std::optional<size_t> byte_count(std::string_view text) {
  size_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// Appends the values of a (possibly nested) JSON array to `out` as `type`.
// Depth is bounded by the shape's rank, so malicious nesting cannot recurse deeply.
void flatten(const json& value, DataType type, size_t depth, size_t max_depth, std::string& out, size_t limit) {
  if (value.is_array()) {
    if (depth >= max_depth) bad("inputs[0].data: nested deeper than the shape's " + std::to_string(max_depth) + " dimensions");
    for (const auto& v : value) flatten(v, type, depth + 1, max_depth, out, limit);
    return;
  }
  if (out.size() >= limit) bad("inputs[0].data: more values than the shape holds");
  if (type == DataType::uint8) {
    if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > 255)
      bad("inputs[0].data: UINT8 values must be integers 0..255, got " + json_text(value).substr(0, 40));
    out.push_back(static_cast<char>(value.get<int64_t>()));
  } else {
    if (!value.is_number()) bad("inputs[0].data: FP32 values must be numbers, got " + json_text(value).substr(0, 40));
    const float f = value.get<float>();
    char bytes[sizeof f];
    std::memcpy(bytes, &f, sizeof f);
    out.append(bytes, sizeof f);
  }
}

bool bool_parameter(const json& parent, const char* where, const char* key) {
  if (!parent.contains("parameters")) return false;
  const auto& p = parent["parameters"];
  if (!p.is_object()) bad(std::string(where) + ".parameters: must be an object");
  if (!p.contains(key)) return false;
  if (!p[key].is_boolean()) bad(std::string(where) + ".parameters." + key + ": must be true or false");
  return p[key].get<bool>();
}

// Triton's raw binary request (Inference-Header-Content-Length: 0): no JSON
// header, the body is one batch item of the only input.
InferRequest raw_binary_request(std::string_view body, const ModelSpec& model) {
  TensorSpec one = model.input;
  one.shape[0] = 1;
  if (body.size() != static_cast<size_t>(one.bytes()))
    bad("raw binary request (Inference-Header-Content-Length: 0): " + std::to_string(body.size()) +
        " bytes, but one " + shape_text(one.shape) + " " + to_string(one.datatype) + " input is " +
        std::to_string(one.bytes()) + " bytes");
  InferRequest request;
  request.batch = 1;
  request.data = body;
  request.binary_output = true;
  return request;
}

}  // namespace

const char* to_string(DataType type) { return type == DataType::uint8 ? "UINT8" : "FP32"; }

std::optional<DataType> datatype_from_string(std::string_view text) {
  if (text == "UINT8") return DataType::uint8;
  if (text == "FP32") return DataType::fp32;
  return std::nullopt;
}

size_t element_size(DataType type) { return type == DataType::uint8 ? 1 : 4; }

int64_t TensorSpec::elements() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

int64_t TensorSpec::bytes() const { return elements() * static_cast<int64_t>(element_size(datatype)); }

InferRequest parse_infer_request(std::string_view body, std::optional<std::string_view> header_length,
                                 const ModelSpec& model) {
  if (body.empty()) bad("empty body: expected a JSON inference request");
  size_t json_length = body.size();
  if (header_length) {
    const auto n = byte_count(*header_length);
    if (!n) bad("Inference-Header-Content-Length: '" + std::string(header_length->substr(0, 40)) + "' is not a byte count");
    if (*n == 0) return raw_binary_request(body, model);
    if (*n > body.size())
      bad("Inference-Header-Content-Length: " + std::to_string(*n) + " does not fit the " + std::to_string(body.size()) +
          "-byte body");
    json_length = *n;
  }

  json root;
  try {
    root = json::parse(body.substr(0, json_length));
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number too big for a double
    bad(std::string("invalid JSON: ") + e.what());
  }
  if (!root.is_object()) bad("the request must be a JSON object");

  InferRequest request;
  if (root.contains("id")) {
    if (!root["id"].is_string()) bad("id: must be a string");
    request.id = root["id"].get<std::string>();
  }
  if (!root.contains("inputs")) bad("inputs: missing");
  const auto& inputs = root["inputs"];
  if (!inputs.is_array() || inputs.empty()) bad("inputs: must be a non-empty array");
  if (inputs.size() != 1)
    bad("inputs: model '" + model.name + "' has one input ('" + model.input.name + "'), got " +
        std::to_string(inputs.size()));

  const auto& in = inputs[0];
  if (!in.is_object()) bad("inputs[0]: must be an object");
  if (!in.contains("name") || !in["name"].is_string()) bad("inputs[0].name: missing or not a string");
  const auto name = in["name"].get<std::string>();
  if (name != model.input.name)
    bad("inputs[0].name: model '" + model.name + "' has no input '" + name + "' (its input is '" + model.input.name +
        "')");
  if (!in.contains("datatype") || !in["datatype"].is_string()) bad("inputs[0].datatype: missing or not a string");
  const auto datatype = in["datatype"].get<std::string>();
  if (datatype != to_string(model.input.datatype))
    bad("inputs[0].datatype: '" + datatype + "', model '" + model.name + "' expects " + to_string(model.input.datatype));

  if (!in.contains("shape") || !in["shape"].is_array()) bad("inputs[0].shape: missing or not an array");
  std::vector<int64_t> shape;
  for (const auto& d : in["shape"]) {
    if (!d.is_number_integer()) bad("inputs[0].shape: dimensions must be integers");
    shape.push_back(d.get<int64_t>());
  }
  const auto& expected = model.input.shape;
  bool shape_ok = shape.size() == expected.size() && !shape.empty() && shape[0] >= 1;
  for (size_t i = 1; shape_ok && i < shape.size(); ++i) shape_ok = shape[i] == expected[i];
  if (!shape_ok) bad("inputs[0].shape: " + shape_text(shape) + " does not match the model's " + shape_text(expected));
  if (shape[0] > model.max_batch)
    bad("inputs[0].shape: batch " + std::to_string(shape[0]) + " exceeds the model's maximum batch size " +
        std::to_string(model.max_batch));
  request.batch = shape[0];
  size_t elements = 1;
  for (auto d : shape) elements *= static_cast<size_t>(d);
  const size_t bytes = elements * element_size(model.input.datatype);

  const bool has_data = in.contains("data");
  std::optional<size_t> binary_size;
  if (in.contains("parameters")) {
    const auto& p = in["parameters"];
    if (!p.is_object()) bad("inputs[0].parameters: must be an object");
    if (p.contains("binary_data_size")) {
      if (!p["binary_data_size"].is_number_unsigned()) bad("inputs[0].parameters.binary_data_size: must be a byte count");
      binary_size = p["binary_data_size"].get<size_t>();
    }
  }
  if (has_data && binary_size) bad("inputs[0]: has both data and parameters.binary_data_size");
  if (!has_data && !binary_size) bad("inputs[0]: has neither data nor parameters.binary_data_size");

  if (binary_size) {
    if (!header_length)
      bad("inputs[0].parameters.binary_data_size: binary data needs the Inference-Header-Content-Length header");
    const size_t available = body.size() - json_length;
    if (*binary_size != bytes)
      bad("inputs[0].parameters.binary_data_size: " + std::to_string(*binary_size) + " bytes, but shape " +
          shape_text(shape) + " of " + datatype + " is " + std::to_string(bytes) + " bytes");
    if (available < bytes)
      bad("truncated binary data: inputs[0] needs " + std::to_string(bytes) + " bytes, the body has " +
          std::to_string(available) + " after the JSON header");
    if (available > bytes)
      bad(std::to_string(available - bytes) + " bytes after the binary tensors that no input claims");
    request.data = body.substr(json_length, bytes);
  } else {
    if (header_length && body.size() != json_length)
      bad(std::to_string(body.size() - json_length) + " bytes after the JSON header that no input claims");
    const auto& data = in["data"];
    if (!data.is_array()) bad("inputs[0].data: must be an array");
    request.json_data.reserve(bytes);
    flatten(data, model.input.datatype, 0, shape.size(), request.json_data, bytes);
    if (request.json_data.size() != bytes)
      bad("inputs[0].data: " + std::to_string(request.json_data.size() / element_size(model.input.datatype)) +
          " values, shape " + shape_text(shape) + " needs " + std::to_string(elements));
    request.data = request.json_data;
  }

  request.binary_output = bool_parameter(root, "request", "binary_data_output");
  if (root.contains("outputs")) {
    const auto& outputs = root["outputs"];
    if (!outputs.is_array()) bad("outputs: must be an array");
    for (size_t i = 0; i < outputs.size(); ++i) {
      const auto& o = outputs[i];
      const std::string where = "outputs[" + std::to_string(i) + "]";
      if (!o.is_object() || !o.contains("name") || !o["name"].is_string()) bad(where + ".name: missing or not a string");
      if (o["name"].get<std::string>() != model.output.name)
        bad(where + ".name: model '" + model.name + "' has no output '" + o["name"].get<std::string>() + "'");
      if (o.contains("parameters") && o["parameters"].is_object() && o["parameters"].contains("classification"))
        bad(where + ".parameters.classification: the classification extension is not supported");
      if (bool_parameter(o, where.c_str(), "binary_data")) request.binary_output = true;
    }
  }
  return request;
}

EncodedMessage encode_infer_response(const ModelSpec& model, const InferRequest& request, const float* output,
                                      size_t count) {
  json out = {{"name", model.output.name}, {"datatype", to_string(model.output.datatype)}};
  std::vector<int64_t> shape = model.output.shape;
  shape[0] = request.batch;
  out["shape"] = shape;
  EncodedMessage r;
  if (request.binary_output) {
    out["parameters"] = {{"binary_data_size", count * sizeof(float)}};
  } else {
    out["data"] = std::vector<float>(output, output + count);
  }
  json root = {{"model_name", model.name}, {"model_version", model.version}, {"outputs", json::array({out})}};
  if (!request.id.empty()) root["id"] = request.id;
  r.body = json_text(root);
  if (request.binary_output) {
    r.header_length = r.body.size();
    r.body.append(reinterpret_cast<const char*>(output), count * sizeof(float));
    r.content_type = "application/octet-stream";
  } else {
    r.content_type = "application/json";
  }
  return r;
}

std::string error_body(std::string_view message) { return json_text(json{{"error", std::string(message)}}); }

std::string model_metadata(const ModelSpec& model) {
  auto tensor = [](const TensorSpec& t) {
    return json{{"name", t.name}, {"datatype", to_string(t.datatype)}, {"shape", t.shape}};
  };
  return json_text(json{{"name", model.name},
              {"versions", {model.version}},
              {"platform", model.platform},
              {"inputs", json::array({tensor(model.input)})},
              {"outputs", json::array({tensor(model.output)})},
              {"parameters", {{"max_batch_size", model.max_batch}}}});
}

std::string server_metadata(std::string_view name, std::string_view version) {
  return json_text(json{{"name", std::string(name)}, {"version", std::string(version)}, {"extensions", {"binary_tensor_data"}}});
}

std::string live_body(bool live) { return json_text(json{{"live", live}}); }

std::string ready_body(bool ready) { return json_text(json{{"ready", ready}}); }

std::string model_ready_body(const ModelSpec& model, bool ready) {
  return json_text(json{{"name", model.name}, {"ready", ready}});
}

ModelMetadata parse_model_metadata(std::string_view body) {
  const auto j = json::parse(body, nullptr, false);
  if (!j.is_object()) bad_answer("model metadata: not a JSON object");
  const auto inputs = j.find("inputs");
  if (inputs == j.end() || !inputs->is_array() || inputs->empty()) bad_answer("model metadata: no inputs");
  const auto& in = (*inputs)[0];
  if (!in.is_object() || !in.contains("name") || !in["name"].is_string())
    bad_answer("model metadata: inputs[0].name: missing or not a string");
  ModelMetadata m;
  m.input.name = in["name"].get<std::string>();
  const std::string datatype = in.contains("datatype") && in["datatype"].is_string() ? in["datatype"].get<std::string>() : "";
  const auto type = datatype_from_string(datatype);
  if (!type)
    bad_answer("model metadata: inputs[0].datatype '" + datatype + "' is not supported (UINT8 or FP32)");
  m.input.datatype = *type;
  if (!in.contains("shape") || !in["shape"].is_array() || in["shape"].empty())
    bad_answer("model metadata: inputs[0].shape: missing or empty");
  // A request of it is built in memory: at most 2^30 elements, as `--shape`.
  constexpr int64_t kMaxElements = int64_t{1} << 30;
  int64_t elements = 1;
  for (const auto& d : in["shape"]) {
    if (!d.is_number_integer() || d.get<int64_t>() == 0 || d.get<int64_t>() < -1)
      bad_answer("model metadata: inputs[0].shape: " + json_text(in["shape"]) + " is not a list of sizes (or -1)");
    const int64_t size = d.get<int64_t>() < 0 ? 1 : d.get<int64_t>();
    if (size > kMaxElements / elements)
      bad_answer("model metadata: inputs[0].shape: " + json_text(in["shape"]) + " holds more than 2^30 elements");
    elements *= size;
    m.input.shape.push_back(size);
  }
  if (const auto outputs = j.find("outputs"); outputs != j.end() && outputs->is_array())
    for (const auto& o : *outputs)
      if (o.is_object() && o.contains("name") && o["name"].is_string()) m.outputs.push_back(o["name"].get<std::string>());
  return m;
}

EncodedMessage encode_infer_request(const TensorSpec& input, std::string_view data,
                                    const std::vector<std::string>& outputs, bool binary) {
  json tensor = {{"name", input.name}, {"shape", input.shape}, {"datatype", to_string(input.datatype)}};
  json header = {{"inputs", json::array()}};
  json outs = json::array();
  for (const auto& o : outputs) {
    json out = {{"name", o}};
    if (binary) out["parameters"] = {{"binary_data", true}};
    outs.push_back(out);
  }
  if (!outs.empty()) header["outputs"] = outs;
  else if (binary) header["parameters"] = {{"binary_data_output", true}};  // every output binary

  EncodedMessage m;
  if (!binary) {
    json values = json::array();
    const size_t size = element_size(input.datatype);
    for (size_t at = 0; at + size <= data.size(); at += size) {
      if (input.datatype == DataType::uint8) {
        values.push_back(static_cast<uint8_t>(data[at]));
      } else {
        float f;
        std::memcpy(&f, data.data() + at, sizeof f);
        values.push_back(f);
      }
    }
    tensor["data"] = std::move(values);
    header["inputs"].push_back(tensor);
    m.body = json_text(header);
    m.content_type = "application/json";
    return m;
  }
  tensor["parameters"] = {{"binary_data_size", data.size()}};
  header["inputs"].push_back(tensor);
  m.body = json_text(header);
  m.header_length = m.body.size();
  m.content_type = "application/octet-stream";
  m.body.append(data.data(), data.size());
  return m;
}

std::optional<std::string> check_infer_response(std::string_view body, std::optional<std::string_view> header_length) {
  size_t length = body.size();
  if (header_length) {
    const auto n = byte_count(*header_length);
    if (!n || *n > body.size())
      return "bad Inference-Header-Content-Length '" + std::string(header_length->substr(0, 40)) + "' for a body of " +
             std::to_string(body.size()) + " bytes";
    length = *n;
  }
  // accept() validates without building the document: cheap at 10,000 req/s.
  if (!json::accept(body.substr(0, length))) return "the response's JSON header does not parse";
  return std::nullopt;
}

std::string error_message(std::string_view body) {
  const auto j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
  std::string s(body.substr(0, 200));
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

}  // namespace gpumix::kserve
