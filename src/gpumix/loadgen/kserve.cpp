#include "gpumix/loadgen/kserve.hpp"

#include <httplib.h>
#include <poll.h>

#include <charconv>
#include <cstring>
#include <random>
#include <cctype>

#include "gpumix/util/errors.hpp"

namespace gpumix::loadgen {

std::string Endpoint::url() const { return "http://" + host + ":" + std::to_string(port) + prefix; }

Endpoint parse_url(const std::string& text) {
  // scheme://host[:port][/prefix], host a name or an [IPv6] literal. Scanned
  // by hand: a URL comes from a server's `ready` event too, of any length.
  const auto bad = [&](const std::string& why) {
    return InputError("--url: '" + text.substr(0, 200) + (text.size() > 200 ? "...'" : "'") + why);
  };
  const auto sep = text.find("://");
  const std::string scheme = sep == std::string::npos ? "" : text.substr(0, sep);
  const bool scheme_ok = !scheme.empty() && std::isalpha(static_cast<unsigned char>(scheme[0])) &&
                         scheme.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-") ==
                             std::string::npos;
  if (!scheme_ok) throw bad(" is not a URL (expected http://host[:port][/prefix])");
  if (scheme != "http") throw bad(": only http:// is supported, got " + scheme.substr(0, 20) + "://");
  Endpoint e;
  std::string rest = text.substr(sep + 3);
  const auto path_at = rest.find('/');
  std::string authority = rest.substr(0, path_at);
  e.prefix = path_at == std::string::npos ? "" : rest.substr(path_at);
  std::string port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos || authority.find_first_not_of("0123456789abcdefABCDEF:.", 1) != close || close == 1)
      throw bad(" is not a URL (expected http://host[:port][/prefix])");
    e.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw bad(" is not a URL (expected http://host[:port][/prefix])");
      port = authority.substr(close + 2);
      if (port.empty()) throw bad(": port must be 1..65535, got ''");
    }
  } else {
    const auto colon = authority.find(':');
    e.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) throw bad(" is not a URL (expected http://host[:port][/prefix])");
    }
    if (e.host.empty() || e.host.find_first_of("[]") != std::string::npos)
      throw bad(" is not a URL (expected http://host[:port][/prefix])");
  }
  if (!port.empty()) {
    int v = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || p != port.data() + port.size() || v < 1 || v > 65535)
      throw bad(": port must be 1..65535, got " + port.substr(0, 20));
    e.port = v;
  }
  while (!e.prefix.empty() && e.prefix.back() == '/') e.prefix.pop_back();
  return e;
}

bool wait_ready(const Endpoint& endpoint, const std::string& ready_path, Duration timeout, int stop_fd) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  httplib::Client client(endpoint.host, endpoint.port);
  client.set_connection_timeout(std::chrono::seconds(1));
  client.set_read_timeout(std::chrono::seconds(2));
  const std::string path = endpoint.prefix + ready_path;
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
