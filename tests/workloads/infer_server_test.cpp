// gpumix-infer-server on the CPU, on loopback (ResNet-18, 32×32 images, 10
// classes): every KServe v2 endpoint with JSON and binary tensors, a corpus
// of malformed requests (status code and message, and the server stays up),
// dynamic batching, overload (503 at once, bounded memory), the body limit,
// the HTTP limits (gzip bombs, invalid UTF-8, 10x overload with a slowloris
// at the same time: 503s, health answering, bounded latency and memory), and
// the drain on SIGTERM.
#include <httplib.h>
#include <unistd.h>
#include <zlib.h>
#include <nlohmann/json.hpp>
#include "../unit/fixtures/raw_tcp.hpp"
#include "process.hpp"
#include "server_events.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using nlohmann::json;
using wltest::Child;
using wltest::TempDir;
using wltest::events;
using wltest::with;

namespace {

const std::string kServer = GPUMIX_INFER_SERVER_EXE;
const std::vector<std::string> kTiny{"--device", "cpu", "--model", "resnet18", "--image-size", "32",
                                     "--num-classes", "10", "--port", "0", "--warmup-batches", "1"};
constexpr int kImageBytes = 3 * 32 * 32;

// A running server: started with kTiny + `extra`, its URL from the ready event.
struct Server {
  TempDir dir;
  std::unique_ptr<Child> child;
  std::string url;

  explicit Server(const std::vector<std::string>& extra = {}) {
    child = std::make_unique<Child>(kServer, with(kTiny, extra), dir);
    if (!child->wait_for_metrics("\"ready\"", 120)) throw std::runtime_error("server not ready: " + stderr_text());
    for (const auto& e : events(dir.file("metrics.jsonl")))
      if (e.value("ev", "") == "ready") url = e.value("url", "");
  }
  std::string stderr_text() const { return wltest::slurp(dir.file("stderr.txt")); }
  httplib::Client client() const {
    httplib::Client c(url);
    c.set_read_timeout(30, 0);
    return c;
  }
  bool alive() {
    auto c = client();
    auto r = c.Get("/v2/health/live");
    return r && r->status == 200;
  }
  int64_t rss_kb() const { return gpumix::test::rss_kb(std::to_string(child->pid())); }
};

// The port of the server's URL, for a raw TCP connection.
int port_of(const std::string& url) { return std::stoi(url.substr(url.rfind(':') + 1)); }

std::string image(int batch, uint8_t seed) {
  std::string data(static_cast<size_t>(batch) * kImageBytes, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 31 + seed) & 0xff);
  return data;
}

json json_request(const std::string& pixels, int batch) {
  std::vector<int> values(pixels.begin(), pixels.end());
  for (auto& v : values) v &= 0xff;
  return {{"inputs", {{{"name", "input"}, {"shape", {batch, 3, 32, 32}}, {"datatype", "UINT8"}, {"data", values}}}}};
}

// The binary-extension body: JSON header then the pixels.
std::pair<std::string, httplib::Headers> binary_request(const std::string& pixels, int batch, bool binary_out) {
  json header = {{"inputs",
                  {{{"name", "input"},
                    {"shape", {batch, 3, 32, 32}},
                    {"datatype", "UINT8"},
                    {"parameters", {{"binary_data_size", pixels.size()}}}}}}};
  if (binary_out) header["outputs"] = {{{"name", "output"}, {"parameters", {{"binary_data", true}}}}};
  const std::string h = header.dump();
  return {h + pixels, {{"Inference-Header-Content-Length", std::to_string(h.size())}}};
}

std::vector<float> json_output(const std::string& body) {
  auto j = json::parse(body);
  return j["outputs"][0]["data"].get<std::vector<float>>();
}

std::vector<float> binary_output(const httplib::Result& r) {
  const size_t n = std::stoul(r->get_header_value("Inference-Header-Content-Length"));
  auto header = json::parse(r->body.substr(0, n));
  const size_t bytes = header["outputs"][0]["parameters"]["binary_data_size"].get<size_t>();
  EXPECT_EQ(r->body.size() - n, bytes);
  std::vector<float> out(bytes / sizeof(float));
  std::memcpy(out.data(), r->body.data() + n, bytes);
  return out;
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4 * (1 + std::abs(a[i]))) << "at " << i;
}

class InferServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new Server(); }
  static void TearDownTestSuite() {
    server_->child->signal(SIGTERM);
    server_->child->wait(30);
    delete server_;
  }
  static Server* server_;
};
Server* InferServer::server_ = nullptr;

TEST_F(InferServer, HealthAndMetadataEndpoints) {
  auto c = server_->client();
  EXPECT_EQ(server_->url.rfind("http://127.0.0.1:", 0), 0u) << "binds to loopback by default: " << server_->url;
  EXPECT_EQ(c.Get("/v2/health/live")->status, 200);
  EXPECT_EQ(c.Get("/v2/health/ready")->status, 200);
  auto meta = json::parse(c.Get("/v2")->body);
  EXPECT_EQ(meta["extensions"], json::array({"binary_tensor_data"}));
  for (const std::string path : {"/v2/models/resnet18", "/v2/models/resnet18/versions/1"}) {
    auto r = c.Get(path);
    ASSERT_EQ(r->status, 200) << path;
    auto m = json::parse(r->body);
    EXPECT_EQ(m["name"], "resnet18");
    EXPECT_EQ(m["inputs"][0]["datatype"], "UINT8");
    EXPECT_EQ(m["inputs"][0]["shape"], json::array({-1, 3, 32, 32}));
    EXPECT_EQ(m["outputs"][0]["shape"], json::array({-1, 10}));
  }
  EXPECT_EQ(c.Get("/v2/models/resnet18/ready")->status, 200);
  EXPECT_EQ(c.Get("/v2/models/resnet18/versions/1/ready")->status, 200);
  EXPECT_EQ(c.Get("/v2/models/resnet50")->status, 404);
  EXPECT_EQ(c.Get("/v2/models/resnet50/ready")->status, 404);
  EXPECT_EQ(c.Get("/v2/models/resnet18/versions/2")->status, 404);
  auto metrics = c.Get("/metrics");
  ASSERT_EQ(metrics->status, 200);
  for (const char* name : {"gpumix_infer_requests_total", "gpumix_infer_queue_depth", "gpumix_infer_in_flight",
                           "gpumix_infer_request_duration_seconds_bucket", "gpumix_infer_request_batch_size_bucket"})
    EXPECT_NE(metrics->body.find(name), std::string::npos) << name;
}

TEST_F(InferServer, JsonAndBinaryTensorsGiveTheSameOutputs) {
  auto c = server_->client();
  const auto pixels = image(2, 5);
  auto rj = c.Post("/v2/models/resnet18/infer", json_request(pixels, 2).dump(), "application/json");
  ASSERT_EQ(rj->status, 200) << rj->body;
  auto response = json::parse(rj->body);
  EXPECT_EQ(response["model_name"], "resnet18");
  EXPECT_EQ(response["outputs"][0]["shape"], json::array({2, 10}));
  EXPECT_EQ(response["outputs"][0]["datatype"], "FP32");
  const auto from_json = json_output(rj->body);
  ASSERT_EQ(from_json.size(), 20u);

  auto [body, headers] = binary_request(pixels, 2, /*binary_out=*/true);
  auto rb = c.Post("/v2/models/resnet18/infer", headers, body, "application/octet-stream");
  ASSERT_EQ(rb->status, 200) << rb->body;
  expect_close(binary_output(rb), from_json);

  auto [body2, headers2] = binary_request(pixels, 2, /*binary_out=*/false);
  auto rm = c.Post("/v2/models/resnet18/infer", headers2, body2, "application/octet-stream");
  ASSERT_EQ(rm->status, 200) << rm->body;
  expect_close(json_output(rm->body), from_json);

  // The id is echoed; each image's output depends on that image only.
  json one = json_request(image(1, 5), 1);
  one["id"] = "req-7";
  auto r1 = c.Post("/v2/models/resnet18/versions/1/infer", one.dump(), "application/json");
  ASSERT_EQ(r1->status, 200) << r1->body;
  EXPECT_EQ(json::parse(r1->body)["id"], "req-7");
  expect_close(json_output(r1->body), std::vector<float>(from_json.begin(), from_json.begin() + 10));
}

// The conformance table of docs/inference-protocol.md, row by row over real
// HTTP: every endpoint with its methods, status codes and bodies, JSON
// whatever the Content-Type (curl -d sends a form's), 405 with Allow for a
// known path asked with another method, {"error": ...} for every failure.
struct ProtocolRow {
  const char* name;
  std::string method, path;
  std::string body;  // sent with `content_type` unless empty
  std::string content_type;
  httplib::Headers headers;
  int status;
  json expected;       // the whole JSON body, when not null
  std::string error;   // else: a substring of the {"error": ...} body, when not empty
  std::string allow;   // the Allow header (405)
};

std::vector<ProtocolRow> protocol_rows() {
  const std::string one = json_request(image(1, 6), 1).dump();
  const auto [binary_body, binary_headers] = binary_request(image(1, 6), 1, /*binary_out=*/true);
  const json metadata = {{"name", "resnet18"},
                         {"versions", {"1"}},
                         {"platform", "pytorch_libtorch"},
                         {"inputs", {{{"name", "input"}, {"datatype", "UINT8"}, {"shape", {-1, 3, 32, 32}}}}},
                         {"outputs", {{{"name", "output"}, {"datatype", "FP32"}, {"shape", {-1, 10}}}}},
                         {"parameters", {{"max_batch_size", 8}}}};
  const json server = {{"name", "gpumix-infer-server"}, {"version", "1"}, {"extensions", {"binary_tensor_data"}}};
  const json model_ready = {{"name", "resnet18"}, {"ready", true}};
  const std::string infer = "/v2/models/resnet18/infer";
  return {
      {"live", "GET", "/v2/health/live", "", "", {}, 200, {{"live", true}}},
      {"ready", "GET", "/v2/health/ready", "", "", {}, 200, {{"ready", true}}},
      {"server metadata", "GET", "/v2", "", "", {}, 200, server},
      {"server metadata, slash", "GET", "/v2/", "", "", {}, 200, server},
      {"model metadata", "GET", "/v2/models/resnet18", "", "", {}, 200, metadata},
      {"model version metadata", "GET", "/v2/models/resnet18/versions/1", "", "", {}, 200, metadata},
      {"model ready", "GET", "/v2/models/resnet18/ready", "", "", {}, 200, model_ready},
      {"model version ready", "GET", "/v2/models/resnet18/versions/1/ready", "", "", {}, 200, model_ready},
      {"infer, JSON", "POST", infer, one, "application/json", {}, 200, nullptr},
      {"infer, version", "POST", "/v2/models/resnet18/versions/1/infer", one, "application/json", {}, 200, nullptr},
      {"infer, curl -d (form content type)", "POST", infer, one, "application/x-www-form-urlencoded", {}, 200, nullptr},
      {"infer, text/plain", "POST", infer, one, "text/plain", {}, 200, nullptr},
      {"infer, binary tensors", "POST", infer, binary_body, "application/octet-stream", binary_headers, 200, nullptr},
      {"infer, raw binary", "POST", infer, image(1, 6), "application/octet-stream",
       {{"Inference-Header-Content-Length", "0"}}, 200, nullptr},
      {"infer, bad JSON", "POST", infer, "{\"inputs\": [", "application/x-www-form-urlencoded", {}, 400, nullptr,
       "invalid JSON"},
      {"infer, unknown model", "POST", "/v2/models/resnet50/infer", one, "application/json", {}, 404, nullptr,
       "unknown model 'resnet50'"},
      {"infer, unknown version", "POST", "/v2/models/resnet18/versions/2/infer", one, "application/json", {}, 404,
       nullptr, "has no version '2'"},
      {"metadata, unknown model", "GET", "/v2/models/resnet50", "", "", {}, 404, nullptr, "unknown model 'resnet50'"},
      {"ready, unknown model", "GET", "/v2/models/resnet50/ready", "", "", {}, 404, nullptr, "unknown model"},
      {"GET infer", "GET", infer, "", "", {}, 405, nullptr, "method GET is not allowed", "POST"},
      {"PUT infer", "PUT", infer, one, "application/json", {}, 405, nullptr, "method PUT is not allowed", "POST"},
      {"POST live", "POST", "/v2/health/live", "{}", "application/json", {}, 405, nullptr, "method POST", "GET, HEAD"},
      {"POST ready", "POST", "/v2/health/ready", "", "", {}, 405, nullptr, "method POST", "GET, HEAD"},
      {"POST model ready", "POST", "/v2/models/resnet18/ready", "", "", {}, 405, nullptr, "method POST", "GET, HEAD"},
      {"DELETE model", "DELETE", "/v2/models/resnet18", "", "", {}, 405, nullptr, "method DELETE", "GET, HEAD"},
      {"POST server metadata", "POST", "/v2", "", "", {}, 405, nullptr, "method POST", "GET, HEAD"},
      {"unknown path", "GET", "/v2/nothing", "", "", {}, 404, nullptr, "no such endpoint: GET /v2/nothing"},
      {"unknown model verb", "POST", "/v2/models/resnet18/explain", "{}", "application/json", {}, 404, nullptr,
       "no such endpoint"},
  };
}

TEST_F(InferServer, EveryRowOfTheProtocolTable) {
  auto c = server_->client();
  for (const auto& row : protocol_rows()) {
    httplib::Request req;
    req.method = row.method;
    req.path = row.path;
    req.headers = row.headers;
    req.body = row.body;
    if (!row.content_type.empty()) req.set_header("Content-Type", row.content_type);
    auto r = c.send(req);
    ASSERT_TRUE(r) << row.name << ": " << httplib::to_string(r.error());
    EXPECT_EQ(r->status, row.status) << row.name << ": " << r->body.substr(0, 300);
    EXPECT_EQ(r->get_header_value("Allow"), row.allow) << row.name;
    const bool binary = r->has_header("Inference-Header-Content-Length");
    EXPECT_EQ(r->get_header_value("Content-Type"), binary ? "application/octet-stream" : "application/json") << row.name;
    const std::string header = binary ? r->body.substr(0, std::stoul(r->get_header_value("Inference-Header-Content-Length")))
                                      : r->body;
    const auto j = json::parse(header, nullptr, false);
    ASSERT_TRUE(j.is_object()) << row.name << ": " << r->body.substr(0, 300);
    if (!row.expected.is_null()) EXPECT_EQ(j, row.expected) << row.name;
    if (row.status >= 400) {
      ASSERT_TRUE(j.contains("error") && j["error"].is_string()) << row.name << ": " << j;
      EXPECT_EQ(j.size(), 1u) << row.name << ": " << j;
      EXPECT_NE(j["error"].get<std::string>().find(row.error), std::string::npos) << row.name << ": " << j;
    } else if (row.path.find("/infer") != std::string::npos) {
      EXPECT_EQ(j["model_name"], "resnet18") << row.name;
      EXPECT_EQ(j["outputs"][0]["shape"], json::array({1, 10})) << row.name;
    }
  }
  EXPECT_TRUE(server_->alive());
}

// The same request as JSON under every Content-Type gives the same outputs;
// the raw binary form (one image, no JSON header) gives them too.
TEST_F(InferServer, JsonIsReadWhateverTheContentTypeAndRawBinaryGivesTheSameOutputs) {
  auto c = server_->client();
  const auto pixels = image(1, 8);
  const auto body = json_request(pixels, 1).dump();
  auto reference = c.Post("/v2/models/resnet18/infer", body, "application/json");
  ASSERT_EQ(reference->status, 200) << reference->body;
  const auto expected = json_output(reference->body);
  for (const char* type : {"application/x-www-form-urlencoded", "text/plain", "application/octet-stream",
                           "multipart/form-data; boundary=x"}) {
    auto r = c.Post("/v2/models/resnet18/infer", body, type);
    ASSERT_EQ(r->status, 200) << type << ": " << r->body;
    expect_close(json_output(r->body), expected);
  }
  // Without any Content-Type (a raw socket: every client library adds one).
  gpumix::test::RawConnection raw(port_of(server_->url));
  raw.send("POST /v2/models/resnet18/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body);
  const auto answer = raw.read_all(std::chrono::seconds(30));
  ASSERT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer.substr(0, 300);
  expect_close(json_output(answer.substr(answer.find("\r\n\r\n") + 4)), expected);

  auto rb = c.Post("/v2/models/resnet18/infer", {{"Inference-Header-Content-Length", "0"}}, pixels,
                   "application/octet-stream");
  ASSERT_EQ(rb->status, 200) << rb->body;
  expect_close(binary_output(rb), expected);
}

struct BadRequest {
  const char* name;
  std::string body;
  httplib::Headers headers;
  int status;
  const char* message;
  std::string path = "/v2/models/resnet18/infer";
};

std::vector<BadRequest> bad_requests() {
  const std::string px = image(1, 1);
  auto input = [](json shape, const char* type, json extra) {
    json in = {{"name", "input"}, {"shape", std::move(shape)}, {"datatype", type}};
    in.update(extra);
    return json{{"inputs", {in}}}.dump();
  };
  std::vector<int> ok_data(kImageBytes, 1);
  const json data = {{"data", ok_data}};
  auto binary = [&](const std::string& header, const std::string& tail, std::string length = "") {
    return std::make_pair(header + tail, httplib::Headers{{"Inference-Header-Content-Length",
                                                            length.empty() ? std::to_string(header.size()) : length}});
  };
  const std::string bin_header = input({1, 3, 32, 32}, "UINT8", {{"parameters", {{"binary_data_size", kImageBytes}}}});
  std::vector<BadRequest> v = {
      {"empty body", "", {}, 400, "empty body"},
      {"not JSON", "{inputs: oops", {}, 400, "invalid JSON"},
      {"JSON array", "[1,2,3]", {}, 400, "must be a JSON object"},
      {"no inputs", "{}", {}, 400, "inputs: missing"},
      {"empty inputs", R"({"inputs":[]})", {}, 400, "non-empty array"},
      {"inputs not array", R"({"inputs":{"name":"input"}})", {}, 400, "non-empty array"},
      {"two inputs", R"({"inputs":[{"name":"input"},{"name":"x"}]})", {}, 400, "has one input"},
      {"input not object", R"({"inputs":[42]})", {}, 400, "must be an object"},
      {"unknown input", input({1, 3, 32, 32}, "UINT8", {{"name", "pixels"}}), {}, 400, "has no input 'pixels'"},
      {"wrong datatype", input({1, 3, 32, 32}, "FP32", data), {}, 400, "expects UINT8"},
      {"missing datatype", R"({"inputs":[{"name":"input","shape":[1,3,32,32],"data":[1]}]})", {}, 400,
       "datatype: missing"},
      {"wrong rank", input({3, 32, 32}, "UINT8", data), {}, 400, "does not match the model's [-1,3,32,32]"},
      {"wrong image size", input({1, 3, 64, 64}, "UINT8", data), {}, 400, "does not match"},
      {"zero batch", input({0, 3, 32, 32}, "UINT8", data), {}, 400, "does not match"},
      {"batch over max", input({9, 3, 32, 32}, "UINT8", data), {}, 400, "exceeds the model's maximum batch size 8"},
      {"shape not integers", input({1.5, 3, 32, 32}, "UINT8", data), {}, 400, "must be integers"},
      {"too few values", input({1, 3, 32, 32}, "UINT8", {{"data", {1, 2, 3}}}), {}, 400, "values, shape"},
      {"too many values", input({1, 3, 32, 32}, "UINT8", {{"data", std::vector<int>(kImageBytes + 1, 0)}}), {}, 400,
       "more values than the shape holds"},
      {"UINT8 out of range", input({1, 3, 32, 32}, "UINT8", {{"data", std::vector<int>(kImageBytes, 300)}}), {}, 400,
       "integers 0..255"},
      {"string data", input({1, 3, 32, 32}, "UINT8", {{"data", std::vector<std::string>(kImageBytes, "a")}}), {}, 400,
       "integers 0..255"},
      {"nested deeper than shape", input({1, 3, 32, 32}, "UINT8", {{"data", json::parse("[[[[[[1]]]]]]")}}), {}, 400,
       "nested deeper"},
      {"data and binary", input({1, 3, 32, 32}, "UINT8", {{"data", ok_data}, {"parameters", {{"binary_data_size", 1}}}}),
       {}, 400, "has both data"},
      {"neither data nor binary", input({1, 3, 32, 32}, "UINT8", json::object()), {}, 400, "has neither"},
      {"binary without header", input({1, 3, 32, 32}, "UINT8", {{"parameters", {{"binary_data_size", kImageBytes}}}}),
       {}, 400, "needs the Inference-Header-Content-Length header"},
      {"id not string", R"({"id":5,"inputs":[]})", {}, 400, "id: must be a string"},
      {"unknown output", [&] {
         auto j = json::parse(input({1, 3, 32, 32}, "UINT8", data));
         j["outputs"] = {{{"name", "probs"}}};
         return j.dump();
       }(), {}, 400, "has no output 'probs'"},
      {"unknown model", input({1, 3, 32, 32}, "UINT8", data), {}, 404, "unknown model 'resnet50'",
       "/v2/models/resnet50/infer"},
      {"unknown version", input({1, 3, 32, 32}, "UINT8", data), {}, 404, "has no version '3'",
       "/v2/models/resnet18/versions/3/infer"},
      {"unknown endpoint", "{}", {}, 404, "no such endpoint", "/v2/models/resnet18/explain"},
  };
  auto add_binary = [&](const char* name, std::pair<std::string, httplib::Headers> req, const char* message) {
    v.push_back({name, std::move(req.first), std::move(req.second), 400, message});
  };
  add_binary("truncated binary", binary(bin_header, px.substr(0, 100)), "truncated binary data");
  add_binary("trailing binary", binary(bin_header, px + "xx"), "bytes after the binary tensors");
  add_binary("header length not a number", binary(bin_header, px, "12abc"), "is not a byte count");
  add_binary("header length beyond body", binary(bin_header, px, "999999"), "does not fit");
  add_binary("header length cuts the JSON", binary(bin_header, px, "10"), "invalid JSON");
  add_binary("binary size disagrees with shape",
             binary(input({1, 3, 32, 32}, "UINT8", {{"parameters", {{"binary_data_size", 100}}}}), px.substr(0, 100)),
             "binary_data_size: 100 bytes");
  add_binary("classification output",
             binary(R"({"inputs":[{"name":"input","shape":[1,3,32,32],"datatype":"UINT8","parameters":{"binary_data_size":3072}}],"outputs":[{"name":"output","parameters":{"classification":3}}]})",
                    px),
             "classification extension is not supported");
  return v;
}

TEST_F(InferServer, MalformedRequestsGet4xxWithAMessageAndTheServerStaysUp) {
  auto c = server_->client();
  const auto corpus = bad_requests();
  ASSERT_GE(corpus.size(), 20u);
  for (const auto& bad : corpus) {
    auto r = c.Post(bad.path, bad.headers, bad.body, "application/json");
    ASSERT_TRUE(r) << bad.name << ": no response (" << httplib::to_string(r.error()) << ")";
    EXPECT_EQ(r->status, bad.status) << bad.name << ": " << r->body;
    auto j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << bad.name << ": " << r->body;
    EXPECT_NE(j["error"].get<std::string>().find(bad.message), std::string::npos)
        << bad.name << ": '" << j["error"] << "' lacks '" << bad.message << "'";
  }
  EXPECT_TRUE(server_->alive());
  // And it still answers good requests.
  auto ok = c.Post("/v2/models/resnet18/infer", json_request(image(1, 9), 1).dump(), "application/json");
  EXPECT_EQ(ok->status, 200);
  auto metrics = c.Get("/metrics")->body;
  EXPECT_NE(metrics.find("code=\"400\"}"), std::string::npos);
}

TEST_F(InferServer, InvalidUtf8InThePathOrTheBodyGets4xxWithJsonAndTheServerStaysUp) {
  gpumix::test::RawConnection path(port_of(server_->url));
  path.send("GET /v2/models/\xff\xfe/ready HTTP/1.1\r\nConnection: close\r\n\r\n");
  const auto answer = path.read_all(std::chrono::seconds(10));
  EXPECT_EQ(answer.rfind("HTTP/1.1 404", 0), 0u) << answer;
  auto j = json::parse(answer.substr(answer.find("\r\n\r\n") + 4), nullptr, false);
  ASSERT_TRUE(j.is_object()) << answer;
  EXPECT_NE(j["error"].get<std::string>().find("unknown model"), std::string::npos) << answer;

  gpumix::test::RawConnection route(port_of(server_->url));
  route.send("GET /v2/\xc3\x28 HTTP/1.1\r\nConnection: close\r\n\r\n");
  const auto no_route = route.read_all(std::chrono::seconds(10));
  EXPECT_EQ(no_route.rfind("HTTP/1.1 404", 0), 0u) << no_route;
  EXPECT_NE(no_route.find("no such endpoint"), std::string::npos) << no_route;
  EXPECT_TRUE(server_->alive());

  auto c = server_->client();
  for (const std::string& body : {std::string("{\"id\":\"\xff\",\"inputs\":[]}"), std::string("\xff\xfe\xfd")}) {
    auto r = c.Post("/v2/models/resnet18/infer", body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << r->body;
    EXPECT_NE(r->body.find("invalid JSON"), std::string::npos) << r->body;
  }
  EXPECT_TRUE(server_->alive());
}

TEST(InferServerLimits, AGzipBombGets413AndMemoryStaysBounded) {
  Server server({"--max-body-mb", "8"});
  // 256 MiB of zeros in about 250 KB of gzip: under the limit as sent, far over it inflated.
  z_stream z{};
  ASSERT_EQ(deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string bomb;
  const std::string zeros(1 << 20, '\0');
  std::vector<char> buf(1 << 16);
  for (int mb = 0; mb < 256; ++mb) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
    z.avail_in = static_cast<uInt>(zeros.size());
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf.data());
      z.avail_out = static_cast<uInt>(buf.size());
      deflate(&z, mb == 255 ? Z_FINISH : Z_NO_FLUSH);
      bomb.append(buf.data(), buf.size() - z.avail_out);
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
  ASSERT_LT(bomb.size(), size_t{8} << 20);
  const int64_t before = server.rss_kb();
  auto c = server.client();
  for (int i = 0; i < 3; ++i) {
    auto r = c.Post("/v2/models/resnet18/infer", {{"Content-Encoding", "gzip"}}, bomb, "application/json");
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->status, 413);
    EXPECT_NE(r->body.find("once decoded"), std::string::npos) << r->body;
  }
  const int64_t growth = server.rss_kb() - before;
  EXPECT_LT(growth, 64 * 1024) << "RSS grew by " << growth << " KiB (unguarded: by the 256 MiB inflated)";
  EXPECT_TRUE(server.alive());
}

// Whatever its Content-Type (curl -d sends a form's), a body over the limit is
// 413 with the protocol's error object.
TEST(InferServerLimits, OversizedBodyGets413WithAJsonError) {
  Server server({"--max-body-mb", "1"});
  auto c = server.client();
  for (const char* type : {"application/json", "application/x-www-form-urlencoded"}) {
    auto r = c.Post("/v2/models/resnet18/infer", std::string(2 << 20, ' '), type);
    ASSERT_TRUE(r) << type;
    EXPECT_EQ(r->status, 413) << type;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << type;
    const auto j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << r->body;
    EXPECT_NE(j["error"].get<std::string>().find("request body too large"), std::string::npos) << r->body;
  }
  EXPECT_TRUE(server.alive());
}

// Sends `n` requests at once; returns their statuses.
std::vector<int> burst(const Server& server, int n, int batch = 1) {
  std::vector<int> statuses(n, 0);
  std::vector<std::thread> threads;
  const auto body = json_request(image(batch, 3), batch).dump();
  for (int i = 0; i < n; ++i)
    threads.emplace_back([&, i] {
      auto c = server.client();
      auto r = c.Post("/v2/models/resnet18/infer", body, "application/json");
      statuses[i] = r ? r->status : -100 - static_cast<int>(r.error());
    });
  for (auto& t : threads) t.join();
  return statuses;
}

TEST(InferServerBatching, ConcurrentRequestsShareBatches) {
  Server server({"--max-queue-delay", "200ms", "--max-batch", "8"});
  auto statuses = burst(server, 8);
  for (int s : statuses) EXPECT_EQ(s, 200);
  server.child->signal(SIGTERM);
  ASSERT_TRUE(server.child->wait(30));
  EXPECT_EQ(server.child->exit_code(), 0) << server.stderr_text();
  int64_t largest = 0, requests = 0;
  for (const auto& e : events(server.dir.file("metrics.jsonl"))) {
    if (e.value("ev", "") != "latency") continue;
    ++requests;
    EXPECT_GE(e["ms"].get<double>(), e["queue_ms"].get<double>());
    largest = std::max(largest, e["batch"].get<int64_t>());
  }
  EXPECT_EQ(requests, 8);
  EXPECT_GT(largest, 1) << "8 requests within the 200 ms queue delay should have been batched";
}

TEST(InferServerLimits, OverloadGets503AtOnceAndMemoryStaysBounded) {
  // One image per batch, two waiting at most, 64 HTTP threads: bursts of 48.
  Server server({"--max-batch", "1", "--max-queue", "2", "--http-threads", "64",
                 "--report-requests", "false"});
  int64_t rss_after_first = 0;
  int ok = 0, rejected = 0;
  for (int round = 0; round < 5; ++round) {
    for (int s : burst(server, 48)) {
      if (s == 200) ++ok;
      else if (s == 503) ++rejected;
      else ADD_FAILURE() << "status " << s;
    }
    if (round == 0) rss_after_first = server.rss_kb();
  }
  EXPECT_GT(rejected, 0);
  EXPECT_GT(ok, 0);
  const int64_t growth = server.rss_kb() - rss_after_first;
  EXPECT_LT(growth, 64 * 1024) << "RSS grew by " << growth << " KiB over four more overload rounds";
  auto metrics = server.client().Get("/metrics")->body;
  EXPECT_NE(metrics.find("code=\"503\"} " + std::to_string(rejected)), std::string::npos) << metrics;
  EXPECT_TRUE(server.alive());
}

// 10x overload: the server's capacity measured first, then 10 times that
// offered by 64 paced clients (open loop while answers are quick, as 503s
// are), and 200 slowloris connections at the same time, for 10 s. Before, the server never answered
// 503, its p50 reached 27 s and health stopped answering.
TEST(InferServerLimits, TenfoldOverloadAndSlowlorisGet503sWhileHealthAnswersAndLatencyStaysBounded) {
  Server server({"--http-threads", "8", "--http-backlog", "16", "--http-max-wait", "500ms", "--report-requests",
                 "false"});
  const auto body = json_request(image(1, 4), 1).dump();
  {  // warm up
    auto c = server.client();
    ASSERT_EQ(c.Post("/v2/models/resnet18/infer", body, "application/json")->status, 200);
  }
  const int64_t rss_before = server.rss_kb();

  std::vector<std::unique_ptr<gpumix::test::RawConnection>> slow;
  for (int i = 0; i < 200; ++i) {
    slow.push_back(std::make_unique<gpumix::test::RawConnection>(port_of(server.url)));
    slow.back()->drip("POST /v2/models/resnet18/infer HTTP/1.1\r\nX-a: ");
  }
  // The server's capacity here (8 closed-loop clients for 2 s), then 10 times that, paced (open loop).
  auto closed_loop_rate = [&] {
    std::atomic<int64_t> n{0};
    std::vector<std::thread> ts;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (int t = 0; t < 8; ++t)
      ts.emplace_back([&] {
        auto c = server.client();
        while (std::chrono::steady_clock::now() < until)
          n += c.Post("/v2/models/resnet18/infer", body, "application/json")->status == 200;
      });
    for (auto& t : ts) t.join();
    return static_cast<double>(n) / 2;
  };
  const double capacity = std::max(1.0, closed_loop_rate());
  constexpr int kClients = 64;
  const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(kClients / (10 * capacity)));

  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<double> ok_ms;
  std::atomic<int64_t> ok{0}, shed{0}, other{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t)
    clients.emplace_back([&, t] {
      auto c = server.client();
      auto next = std::chrono::steady_clock::now() + interval * t / kClients;
      while (!stop) {
        std::this_thread::sleep_until(next);
        next += interval;
        const auto start = std::chrono::steady_clock::now();
        auto r = c.Post("/v2/models/resnet18/infer", body, "application/json");
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        if (r && r->status == 200) {
          ++ok;
          std::lock_guard lock(mu);
          ok_ms.push_back(ms);
        } else if (r && r->status == 503) {
          ++shed;
          EXPECT_EQ(r->get_header_value("Retry-After"), "1");
          EXPECT_NE(r->body.find("\"error\""), std::string::npos) << r->body;
        } else {
          ++other;
        }
      }
    });
  int checks = 0, healthy = 0;
  double slowest_health_s = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < end) {
    for (auto& s : slow) s->drip("b");
    const auto start = std::chrono::steady_clock::now();
    ++checks;
    healthy += server.alive();
    slowest_health_s =
        std::max(slowest_health_s, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  stop = true;
  for (auto& t : clients) t.join();

  EXPECT_GT(ok, 0);
  EXPECT_GT(shed, 0);
  EXPECT_EQ(other, 0);
  EXPECT_EQ(healthy, checks);
  // Generous bounds for a loaded 2-core CI machine; before: p50 27 s, health blocked.
  EXPECT_LT(slowest_health_s, 5.0);
  std::sort(ok_ms.begin(), ok_ms.end());
  const double p50 = ok_ms.empty() ? 0 : ok_ms[ok_ms.size() / 2];
  EXPECT_LT(p50, 3000.0) << "p50 of answered requests";
  const int64_t growth = server.rss_kb() - rss_before;
  EXPECT_LT(growth, 200 * 1024) << "RSS grew by " << growth << " KiB";
  std::cout << "[ overload  ] capacity " << capacity << " req/s, offered " << (ok + shed) / 10.0 << " req/s; 200: " << ok
            << ", 503: " << shed << ", p50 " << p50 << " ms, slowest health "
            << slowest_health_s << " s, RSS growth " << growth << " KiB" << std::endl;
  auto metrics = server.client().Get("/metrics")->body;
  EXPECT_NE(metrics.find("code=\"503\"}"), std::string::npos);
}

// While it drains, the server says it is not ready ({"ready": false}, 503),
// as a Kubernetes readiness probe needs, and still answers what it holds.
TEST(InferServerLifecycle, SigtermDrainsRequestsInFlightAndReportsNotReady) {
  // The request waits 2 s for a fuller batch: the drain lasts that long.
  Server server({"--max-queue-delay", "2s", "--max-batch", "8"});
  std::atomic<int> status{0};
  std::thread client([&] {
    auto c = server.client();
    auto r = c.Post("/v2/models/resnet18/infer", json_request(image(1, 2), 1).dump(), "application/json");
    status = r ? r->status : -1;
  });
  auto in_flight = [&] {
    auto r = server.client().Get("/metrics");
    return r && r->body.find("gpumix_infer_in_flight{model=\"resnet18\"} 1") != std::string::npos;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!in_flight()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the request never arrived";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  server.child->signal(SIGTERM);
  httplib::Response ready, model_ready;  // the last answers
  for (int i = 0; i < 200 && status == 0 && ready.status != 503; ++i) {  // the drain starts within ~20 ms
    auto c = server.client();
    if (auto r = c.Get("/v2/health/ready")) ready = *r;
    if (auto r = c.Get("/v2/models/resnet18/ready")) model_ready = *r;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  client.join();
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(json::parse(ready.body, nullptr, false), json({{"ready", false}})) << ready.body;
  EXPECT_EQ(model_ready.status, 503);
  EXPECT_EQ(json::parse(model_ready.body, nullptr, false), json({{"name", "resnet18"}, {"ready", false}}))
      << model_ready.body;
  EXPECT_EQ(status, 200) << "a request in flight at SIGTERM is answered";
  ASSERT_TRUE(server.child->wait(30));
  EXPECT_EQ(server.child->exit_code(), 0) << server.stderr_text();
  auto evs = events(server.dir.file("metrics.jsonl"));
  ASSERT_FALSE(evs.empty());
  EXPECT_EQ(evs.back()["ev"], "done");
  EXPECT_EQ(evs.back()["requests_ok"], 1);
  EXPECT_EQ(evs.back()["stop_reason"], "signal");
}

TEST(InferServerLifecycle, SigtermWhilePreparingEndsAtOnceWithoutServing) {
  // Endless warm-up: the SIGTERM arrives before the server is ready (as when a
  // cell or gpumix is interrupted while a GPU server loads).
  TempDir dir;
  auto args = kTiny;
  args.back() = "1000000";  // --warmup-batches
  Child child(kServer, args, dir);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (wltest::slurp(dir.file("stderr.txt")).find("warm-up batch 1 done") == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << wltest::slurp(dir.file("stderr.txt"));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  child.signal(SIGTERM);
  ASSERT_TRUE(child.wait(10)) << "the server must stop within one warm-up batch";
  EXPECT_EQ(child.exit_code(), 0);
  EXPECT_NE(wltest::slurp(dir.file("stderr.txt")).find("stopped before serving"), std::string::npos);
  auto evs = events(dir.file("metrics.jsonl"));
  ASSERT_FALSE(evs.empty());
  EXPECT_EQ(evs.back()["ev"], "done");
  EXPECT_EQ(evs.back()["stop_reason"], "signal before ready");
  for (const auto& e : evs) EXPECT_NE(e.value("ev", ""), "ready");
}

TEST(InferServerLifecycle, BadArgumentsExitWith2NamingTheArgument) {
  TempDir dir;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--port", "70000"}, "--port 70000"},
      {{"--host", "192.0.2.77"}, "--host"},
      {{"--graph-batch-sizes", "1,x"}, "--graph-batch-sizes"},
      {{"--max-batch", "0"}, "--max-batch"},
      // Times take a unit; counts say what they count (docs/cli.md).
      {{"--duration", "30"}, "--duration: '30' has no unit"},
      {{"--max-queue-delay-ms", "1"}, "--max-queue-delay-ms was renamed --max-queue-delay"},
      {{"--warmup", "1"}, "--warmup was renamed --warmup-batches (it counts batches"}};
  for (const auto& [args, message] : cases) {
    Child child(kServer, with(kTiny, args), dir);
    ASSERT_TRUE(child.wait(120));
    const auto err = wltest::slurp(dir.file("stderr.txt"));
    EXPECT_EQ(child.exit_code(), 2) << args[0] << " " << args[1] << ": " << err;
    EXPECT_NE(err.find(message), std::string::npos) << "'" << message << "' not in: " << err;
  }
}

}  // namespace
