// The inference server's torch-free core: the KServe v2 request parser and
// response encoder, and the dynamic batcher's queue (also run under ASan).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <cstring>
#include <deque>
#include <thread>

#include "batch_queue.hpp"
#include "gpumix/kserve.hpp"

namespace gpumix::serving {
namespace {

using kserve::DataType;
using kserve::ProtocolError;

kserve::ModelSpec tiny_model() {
  kserve::ModelSpec m;
  m.name = "resnet18";
  m.input = {"input", DataType::uint8, {-1, 3, 2, 2}};
  m.output = {"output", DataType::fp32, {-1, 4}};
  m.max_batch = 4;
  return m;
}

std::string binary_header(int batch, size_t bytes) {
  return nlohmann::json{{"inputs",
                         {{{"name", "input"},
                           {"shape", {batch, 3, 2, 2}},
                           {"datatype", "UINT8"},
                           {"parameters", {{"binary_data_size", bytes}}}}}}}
      .dump();
}

int status_of(std::string_view body, std::optional<std::string_view> header_length = std::nullopt) {
  try {
    kserve::parse_infer_request(body, header_length, tiny_model());
    return 200;
  } catch (const ProtocolError& e) {
    return e.status();
  }
}

TEST(KServe, ParsesJsonDataFlatOrNested) {
  const auto model = tiny_model();
  std::vector<int> flat(24);
  for (int i = 0; i < 24; ++i) flat[i] = i * 10;
  nlohmann::json req = {{"id", "a"}, {"inputs", {{{"name", "input"}, {"shape", {2, 3, 2, 2}}, {"datatype", "UINT8"}, {"data", flat}}}}};
  auto r = kserve::parse_infer_request(req.dump(), std::nullopt, model);
  EXPECT_EQ(r.id, "a");
  EXPECT_EQ(r.batch, 2);
  ASSERT_EQ(r.data.size(), 24u);
  EXPECT_EQ(static_cast<uint8_t>(r.data[23]), 230);
  EXPECT_FALSE(r.binary_output);
  // The same values nested by the shape.
  nlohmann::json nested = nlohmann::json::array();
  for (int b = 0; b < 2; ++b) {
    nlohmann::json img = nlohmann::json::array();
    for (int c = 0; c < 3; ++c) img.push_back({{flat[b * 12 + c * 4], flat[b * 12 + c * 4 + 1]}, {flat[b * 12 + c * 4 + 2], flat[b * 12 + c * 4 + 3]}});
    nested.push_back(img);
  }
  req["inputs"][0]["data"] = nested;
  auto n = kserve::parse_infer_request(req.dump(), std::nullopt, model);
  EXPECT_EQ(std::string(n.data), std::string(r.data));
}

TEST(KServe, ParsesBinaryDataAsAViewIntoTheBody) {
  const std::string pixels(12, '\x07');
  const auto header = binary_header(1, 12);
  const std::string body = header + pixels;
  auto r = kserve::parse_infer_request(body, std::to_string(header.size()), tiny_model());
  EXPECT_EQ(r.batch, 1);
  EXPECT_EQ(r.data.data(), body.data() + header.size());
  EXPECT_EQ(r.data.size(), 12u);
}

// Triton's raw binary request: Inference-Header-Content-Length 0, the body is
// one batch item of the only input, the output comes back binary.
TEST(KServe, ParsesARawBinaryRequestAsOneBatchItem) {
  const std::string pixels(12, '\x05');
  auto r = kserve::parse_infer_request(pixels, "0", tiny_model());
  EXPECT_EQ(r.batch, 1);
  EXPECT_EQ(r.data.data(), pixels.data());
  EXPECT_TRUE(r.binary_output);
  try {
    kserve::parse_infer_request(pixels + pixels, "0", tiny_model());
    FAIL();
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.status(), 400);
    EXPECT_STREQ(e.what(),
                 "raw binary request (Inference-Header-Content-Length: 0): 24 bytes, but one [1,3,2,2] UINT8 input "
                 "is 12 bytes");
  }
}

TEST(KServe, HealthAndMetadataBodiesAreTheProtocols) {
  EXPECT_EQ(nlohmann::json::parse(kserve::live_body(true)), nlohmann::json({{"live", true}}));
  EXPECT_EQ(nlohmann::json::parse(kserve::ready_body(false)), nlohmann::json({{"ready", false}}));
  EXPECT_EQ(nlohmann::json::parse(kserve::model_ready_body(tiny_model(), true)),
            nlohmann::json({{"name", "resnet18"}, {"ready", true}}));
  const auto meta = nlohmann::json::parse(kserve::server_metadata("s", "1"));
  EXPECT_EQ(meta, nlohmann::json({{"name", "s"}, {"version", "1"}, {"extensions", {"binary_tensor_data"}}}));
}

TEST(KServe, RejectsWhatDoesNotFitWithStatusAndPlace) {
  const std::string pixels(12, '\x01');
  const auto header = binary_header(1, 12);
  EXPECT_EQ(status_of(""), 400);
  EXPECT_EQ(status_of("{"), 400);
  EXPECT_EQ(status_of("7e777777"), 400);  // a number beyond a double: out_of_range, not parse_error (found by the fuzzer)
  EXPECT_EQ(status_of(R"({"inputs":[{"name":"input","shape":[1e999],"datatype":"UINT8","data":[]}]})"), 400);
  EXPECT_EQ(status_of(header + pixels.substr(0, 5), std::to_string(header.size())), 400);
  EXPECT_EQ(status_of(header + pixels + "!", std::to_string(header.size())), 400);
  EXPECT_EQ(status_of(header + pixels, "-1"), 400);
  EXPECT_EQ(status_of(header + pixels, ""), 400);
  EXPECT_EQ(status_of(header + pixels, "0"), 400);
  EXPECT_EQ(status_of(header + pixels, std::to_string(header.size() + 100)), 400);
  EXPECT_EQ(status_of(binary_header(5, 60) + std::string(60, 'x'), std::to_string(binary_header(5, 60).size())), 400);
  try {
    kserve::parse_infer_request(R"({"inputs":[{"name":"input","shape":[1,3,2,2],"datatype":"UINT8","data":[1,2]}]})",
                                std::nullopt, tiny_model());
    FAIL();
  } catch (const ProtocolError& e) {
    EXPECT_STREQ(e.what(), "inputs[0].data: 2 values, shape [1,3,2,2] needs 12");
  }
  // Deep nesting is refused by depth, not by recursion.
  std::string deep = R"({"inputs":[{"name":"input","shape":[1,3,2,2],"datatype":"UINT8","data":)";
  deep += std::string(5000, '[') + std::string(5000, ']') + "}]}";
  EXPECT_EQ(status_of(deep), 400);
}

TEST(KServe, EncodesJsonAndBinaryResponses) {
  const auto model = tiny_model();
  kserve::InferRequest req;
  req.batch = 1;
  req.id = "r1";
  const float out[4] = {1.5f, -2, 0, 3};
  auto j = kserve::encode_infer_response(model, req, out, 4);
  EXPECT_FALSE(j.header_length);
  auto parsed = nlohmann::json::parse(j.body);
  EXPECT_EQ(parsed["id"], "r1");
  EXPECT_EQ(parsed["outputs"][0]["shape"], nlohmann::json::array({1, 4}));
  EXPECT_EQ(parsed["outputs"][0]["data"][0], 1.5);
  req.binary_output = true;
  auto b = kserve::encode_infer_response(model, req, out, 4);
  ASSERT_TRUE(b.header_length);
  EXPECT_EQ(b.body.size(), *b.header_length + 16);
  EXPECT_EQ(nlohmann::json::parse(b.body.substr(0, *b.header_length))["outputs"][0]["parameters"]["binary_data_size"], 16);
  float back[4];
  std::memcpy(back, b.body.data() + *b.header_length, 16);
  EXPECT_EQ(back[1], -2.0f);
}

// Jobs hold a mutex: made in place.
struct Jobs {
  std::deque<Job> all;
  Job* make(int64_t images) {
    Job& j = all.emplace_back();
    j.images = images;
    j.arrived = Clock::now();
    return &j;
  }
};

// The client side (the load generator's) against the server side: one codec,
// so what one encodes the other reads.
TEST(KServe, TheClientsRequestsAreWhatTheServerParses) {
  const auto model = tiny_model();
  const kserve::TensorSpec input{"input", DataType::uint8, {2, 3, 2, 2}};
  std::string data(24, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  for (bool binary : {true, false}) {
    const auto m = kserve::encode_infer_request(input, data, {"output"}, binary);
    EXPECT_EQ(m.content_type, binary ? "application/octet-stream" : "application/json");
    EXPECT_EQ(m.header_length.has_value(), binary);
    const std::string length = m.header_length ? std::to_string(*m.header_length) : "";
    const auto r = kserve::parse_infer_request(
        m.body, m.header_length ? std::optional<std::string_view>(length) : std::nullopt, model);
    EXPECT_EQ(r.batch, 2);
    EXPECT_EQ(std::string(r.data), data) << binary;
    EXPECT_EQ(r.binary_output, binary);
  }
  // No output named: every output binary.
  const auto all = kserve::encode_infer_request(input, data, {}, true);
  EXPECT_EQ(nlohmann::json::parse(all.body.substr(0, *all.header_length))["parameters"]["binary_data_output"], true);
}

TEST(KServe, TheClientReadsTheServersMetadataAndResponses) {
  const auto model = tiny_model();
  const auto meta = kserve::parse_model_metadata(kserve::model_metadata(model));
  EXPECT_EQ(meta.input.name, "input");
  EXPECT_EQ(meta.input.datatype, DataType::uint8);
  EXPECT_EQ(meta.input.shape, (std::vector<int64_t>{1, 3, 2, 2}));  // the variable batch as 1
  EXPECT_EQ(meta.input.bytes(), 12);
  EXPECT_EQ(meta.outputs, (std::vector<std::string>{"output"}));

  kserve::InferRequest req;
  req.batch = 1;
  const float out[4] = {1, 2, 3, 4};
  for (bool binary : {true, false}) {
    req.binary_output = binary;
    const auto r = kserve::encode_infer_response(model, req, out, 4);
    const std::string length = r.header_length ? std::to_string(*r.header_length) : "";
    EXPECT_EQ(kserve::check_infer_response(r.body, r.header_length ? std::optional<std::string_view>(length) : std::nullopt),
              std::nullopt);
  }
  EXPECT_EQ(kserve::error_message(kserve::error_body("queue full")), "queue full");
}

TEST(KServe, TheClientSaysWhatIsWrongWithAnAnswer) {
  EXPECT_EQ(kserve::check_infer_response(std::string(R"({"outputs":[]})") + "\x01\x02", "14"), std::nullopt);
  EXPECT_NE(kserve::check_infer_response(R"({"outputs":)", std::nullopt), std::nullopt);
  EXPECT_NE(kserve::check_infer_response(R"({"outputs":[]})", "99"), std::nullopt);
  EXPECT_NE(kserve::check_infer_response(R"({"outputs":[]})", "x"), std::nullopt);
  EXPECT_EQ(kserve::error_message("plain\ntext"), "plain text");
  for (const char* bad : {"not json", R"({"name":"r","inputs":[]})", R"({"inputs":[{"name":"in","datatype":"INT64","shape":[1]}]})",
                          R"({"inputs":[{"name":"in","datatype":"FP32","shape":[]}]})",
                          R"({"inputs":[{"name":"in","datatype":"FP32","shape":[-2, 3]}]})",
                          R"({"inputs":[{"name":"in","datatype":"UINT8","shape":[65536, 65536]}]})",
                          R"({"inputs":[{"name":"in","datatype":"UINT8","shape":[9223372036854775807, 4]}]})"}) {
    try {
      kserve::parse_model_metadata(bad);
      ADD_FAILURE() << bad;
    } catch (const ProtocolError& e) {
      EXPECT_EQ(e.status(), 502) << bad;
      EXPECT_NE(std::string(e.what()).find("model metadata"), std::string::npos) << e.what();
    }
  }
  const auto fp32 = kserve::parse_model_metadata(
      R"({"name":"r","inputs":[{"name":"in","datatype":"FP32","shape":[-1,3,224,224]}],"outputs":[{"name":"o"},{"name":"p"}]})");
  EXPECT_EQ(fp32.input.bytes(), 3 * 224 * 224 * 4);
  EXPECT_EQ(fp32.outputs, (std::vector<std::string>{"o", "p"}));
}

TEST(BatchQueue, TakesWhatIsQueuedUpToMaxBatchInArrivalOrder) {
  BatchQueue q({/*max_batch=*/4, /*max_queue=*/10, std::chrono::microseconds(0)});
  Jobs jobs;
  Job *a = jobs.make(1), *b = jobs.make(2), *c = jobs.make(2);
  ASSERT_EQ(q.push(a), BatchQueue::Push::queued);
  ASSERT_EQ(q.push(b), BatchQueue::Push::queued);
  ASSERT_EQ(q.push(c), BatchQueue::Push::queued);
  auto first = q.next_batch();
  ASSERT_EQ(first.size(), 2u);  // 1 + 2 images; c would make 5 > 4
  EXPECT_EQ(first[0], a);
  EXPECT_EQ(a->batch_images, 3);
  auto second = q.next_batch();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0], c);
  EXPECT_EQ(q.depth(), 0u);
}

TEST(BatchQueue, AFullQueueRefusesAtOnceAndAClosedOneDrains) {
  BatchQueue q({4, /*max_queue=*/2, std::chrono::microseconds(0)});
  Jobs jobs;
  Job *a = jobs.make(1), *b = jobs.make(1), *c = jobs.make(1);
  EXPECT_EQ(q.push(a), BatchQueue::Push::queued);
  EXPECT_EQ(q.push(b), BatchQueue::Push::queued);
  EXPECT_EQ(q.push(c), BatchQueue::Push::full);
  q.close();
  EXPECT_EQ(q.push(c), BatchQueue::Push::closed);
  EXPECT_EQ(q.next_batch().size(), 2u);
  EXPECT_TRUE(q.next_batch().empty());
}

TEST(BatchQueue, WaitsUpToTheDelayForAFullerBatch) {
  BatchQueue q({4, 10, std::chrono::milliseconds(300)});
  Jobs jobs;
  Job *a = jobs.make(1), *b = jobs.make(3), *c = jobs.make(1);
  q.push(a);
  std::thread late([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    b->arrived = Clock::now();
    q.push(b);
  });
  const auto t0 = Clock::now();
  auto batch = q.next_batch();
  late.join();
  EXPECT_EQ(batch.size(), 2u) << "the second job arrived within the delay";
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(250)) << "a full batch does not wait out the delay";
  // Alone, a job waits the whole delay and then goes.
  c->arrived = Clock::now();
  q.push(c);
  const auto t1 = Clock::now();
  EXPECT_EQ(q.next_batch().size(), 1u);
  EXPECT_GE(Clock::now() - t1, std::chrono::milliseconds(250));
}

TEST(BatchQueue, JobWaitReturnsOnceCompleted) {
  Job j;
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    j.wait();
    returned = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(returned);
  j.complete();
  waiter.join();
  EXPECT_TRUE(returned);
}

}  // namespace
}  // namespace gpumix::serving
