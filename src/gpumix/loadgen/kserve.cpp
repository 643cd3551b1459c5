#include "gpumix/loadgen/kserve.hpp"

#include <httplib.h>
#include <poll.h>

#include <charconv>
#include <cstring>
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

kserve::ModelMetadata fetch_model_metadata(const Endpoint& endpoint, const std::string& model) {
  httplib::Client client(endpoint.host, endpoint.port);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(10));
  const std::string path = endpoint.prefix + "/v2/models/" + model;
  auto res = client.Get(path);
  if (!res) throw RunError("GET " + endpoint.url() + path + ": " + httplib::to_string(res.error()));
  if (res->status != 200)
    throw RunError("GET " + endpoint.url() + path + ": HTTP " + std::to_string(res->status) + ": " +
                   kserve::error_message(res->body));
  try {
    return kserve::parse_model_metadata(res->body);
  } catch (const kserve::ProtocolError& e) {
    throw RunError("GET " + endpoint.url() + path + ": " + e.what());
  }
}

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

std::string random_tensor_data(const kserve::TensorSpec& input, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string data(static_cast<size_t>(input.bytes()), '\0');
  if (input.datatype == kserve::DataType::uint8) {
    for (auto& v : data) v = static_cast<char>(rng() >> 56);
  } else {
    std::uniform_real_distribution<float> dist(0.0f, 1.0f);
    // Little-endian on the wire, as is every machine this runs on.
    for (size_t at = 0; at + sizeof(float) <= data.size(); at += sizeof(float)) {
      const float f = dist(rng);
      std::memcpy(data.data() + at, &f, sizeof f);
    }
  }
  return data;
}

}  // namespace gpumix::loadgen
