#include "gpumix/loadgen/kserve.hpp"

#include <httplib.h>
#include <poll.h>

#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>

#include "gpumix/util/errors.hpp"

namespace gpumix::loadgen {

std::string Endpoint::url() const { return "http://" + host + ":" + std::to_string(port) + prefix; }

Endpoint parse_url(const std::string& text) {
  static const std::regex re(R"(^([a-zA-Z][a-zA-Z0-9+.-]*)://(\[[0-9a-fA-F:.]+\]|[^/:\[\]]+)(:([0-9]+))?(/.*)?$)");
  std::smatch m;
  if (!std::regex_match(text, m, re))
    throw InputError("--url: '" + text + "' is not a URL (expected http://host[:port][/prefix])");
  if (m[1].str() != "http")
    throw InputError("--url: '" + text + "': only http:// is supported, got " + m[1].str() + "://");
  Endpoint e;
  e.host = m[2].str();
  if (e.host.front() == '[') e.host = e.host.substr(1, e.host.size() - 2);
  if (m[4].matched) {
    const std::string port = m[4].str();
    int v = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || p != port.data() + port.size() || v < 1 || v > 65535)
      throw InputError("--url: '" + text + "': port must be 1..65535, got " + port);
    e.port = v;
  }
  e.prefix = m[5].str();
  while (!e.prefix.empty() && e.prefix.back() == '/') e.prefix.pop_back();
  return e;
}

bool wait_ready(const Endpoint& endpoint, Duration timeout, int stop_fd) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  httplib::Client client(endpoint.host, endpoint.port);
  client.set_connection_timeout(std::chrono::seconds(1));
  client.set_read_timeout(std::chrono::seconds(2));
  const std::string path = endpoint.prefix + "/v2/health/ready";
  for (;;) {
    auto res = client.Get(path);
    if (res && res->status == 200) return true;
    const std::string last = res ? "HTTP " + std::to_string(res->status) : httplib::to_string(res.error());
    if (Clock::now() >= deadline)
      throw RunError("the server at " + endpoint.url() + " was not ready within " + format_duration(timeout) +
                     " (last answer to GET " + path + ": " + last + ")");
    pollfd p{stop_fd, POLLIN, 0};
    if (::poll(&p, stop_fd >= 0 ? 1 : 0, 100) > 0) return false;
  }
}

ModelMetadata fetch_model_metadata(const Endpoint& endpoint, const std::string& model) {
  httplib::Client client(endpoint.host, endpoint.port);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(10));
  const std::string path = endpoint.prefix + "/v2/models/" + model;
  auto res = client.Get(path);
  if (!res) throw RunError("GET " + endpoint.url() + path + ": " + httplib::to_string(res.error()));
  if (res->status != 200)
    throw RunError("GET " + endpoint.url() + path + ": HTTP " + std::to_string(res->status) + ": " +
                   error_message(res->body));
  return parse_model_metadata(res->body);
}

int64_t TensorSpec::elements() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

int64_t TensorSpec::bytes() const { return elements() * (datatype == "FP32" ? 4 : 1); }

std::vector<int64_t> parse_shape(const std::string& text) {
  std::vector<int64_t> shape;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string part = text.substr(start, end - start);
    int64_t v = 0;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (part.empty() || ec != std::errc() || p != part.data() + part.size() || v < 1 || v > (1 << 24))
      throw InputError("--shape: '" + text + "': expected positive integers separated by commas, e.g. 1,3,224,224");
    shape.push_back(v);
    start = end + 1;
  }
  int64_t n = 1;
  for (auto d : shape) {
    n *= d;
    if (n > (int64_t{1} << 30)) throw InputError("--shape: '" + text + "': more than 2^30 elements");
  }
  return shape;
}

ModelMetadata parse_model_metadata(const std::string& body) {
  ModelMetadata m;
  try {
    const auto j = nlohmann::json::parse(body);
    const auto& inputs = j.at("inputs");
    if (!inputs.is_array() || inputs.empty()) throw RunError("model metadata has no inputs");
    const auto& in = inputs.at(0);
    m.input.name = in.at("name").get<std::string>();
    m.input.datatype = in.at("datatype").get<std::string>();
    for (const auto& d : in.at("shape")) m.input.shape.push_back(d.get<int64_t>() < 0 ? 1 : d.get<int64_t>());
    if (j.contains("outputs"))
      for (const auto& o : j["outputs"]) m.outputs.push_back(o.at("name").get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    throw RunError(std::string("model metadata is not what KServe v2 describes: ") + e.what());
  }
  return m;
}

InferRequest build_request(const TensorSpec& input, const std::vector<std::string>& outputs, bool json,
                           uint64_t seed) {
  if (input.datatype != "UINT8" && input.datatype != "FP32")
    throw InputError("datatype " + input.datatype + " is not supported (UINT8 or FP32)");
  // Deterministic content: the same seed sends the same bytes.
  std::mt19937_64 rng(seed);
  const int64_t n = input.elements();
  std::vector<uint8_t> u8;
  std::vector<float> f32;
  if (input.datatype == "UINT8") {
    u8.resize(static_cast<size_t>(n));
    for (auto& v : u8) v = static_cast<uint8_t>(rng() >> 56);
  } else {
    f32.resize(static_cast<size_t>(n));
    std::uniform_real_distribution<float> dist(0.0f, 1.0f);
    for (auto& v : f32) v = dist(rng);
  }

  nlohmann::json tensor = {{"name", input.name}, {"shape", input.shape}, {"datatype", input.datatype}};
  nlohmann::json header = {{"inputs", nlohmann::json::array()}};
  nlohmann::json outs = nlohmann::json::array();
  for (const auto& o : outputs) {
    nlohmann::json out = {{"name", o}};
    if (!json) out["parameters"] = {{"binary_data", true}};
    outs.push_back(out);
  }
  if (!outs.empty()) header["outputs"] = outs;
  else if (!json) header["parameters"] = {{"binary_data_output", true}};  // every output binary

  InferRequest r;
  if (json) {
    if (!u8.empty()) tensor["data"] = u8;
    else tensor["data"] = f32;
    header["inputs"].push_back(tensor);
    r.body = header.dump();
    r.content_type = "application/json";
    return r;
  }
  tensor["parameters"] = {{"binary_data_size", input.bytes()}};
  header["inputs"].push_back(tensor);
  r.body = header.dump();
  r.header_length = r.body.size();
  r.content_type = "application/octet-stream";
  const size_t bytes = static_cast<size_t>(input.bytes());
  r.body.resize(r.header_length + bytes);
  // Little-endian on the wire, as is every machine this runs on.
  std::memcpy(r.body.data() + r.header_length, u8.empty() ? static_cast<const void*>(f32.data()) : u8.data(), bytes);
  return r;
}

std::optional<std::string> check_response(const std::string& body, const std::string& header_length) {
  size_t length = body.size();
  if (!header_length.empty()) {
    auto [p, ec] = std::from_chars(header_length.data(), header_length.data() + header_length.size(), length);
    if (ec != std::errc() || p != header_length.data() + header_length.size() || length > body.size())
      return "bad Inference-Header-Content-Length '" + header_length + "' for a body of " +
             std::to_string(body.size()) + " bytes";
  }
  // accept() validates without building the document: cheap at 10,000 req/s.
  if (!nlohmann::json::accept(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(length)))
    return "the response's JSON header does not parse";
  return std::nullopt;
}

std::string error_message(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_string()) return j["error"].get<std::string>();
  std::string s = body.substr(0, 200);
  for (auto& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

}  // namespace gpumix::loadgen
