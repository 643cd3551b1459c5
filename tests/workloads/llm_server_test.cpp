// gpumix-llm-server on the CPU, on loopback (tiny preset, fp32): streamed and
// whole answers agree, batched greedy decoding gives the tokens of one request
// at a time, decoding agrees with a fresh prefill, a request joins a running batch, a full KV cache queues requests
// and --max-waiting refuses beyond, a client that goes away frees its blocks,
// every bad request is a 400 naming its field, a safetensors file the test
// writes decides the output, a bad file is refused naming the tensor, and
// `gpumix loadgen --api openai` measures TTFT and TPOT against it.
#include <httplib.h>
#include <nlohmann/json.hpp>
#include "process.hpp"
#include "server_events.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

using nlohmann::json;
using wltest::Child;
using wltest::TempDir;
using wltest::events;
using wltest::with;

namespace {

const std::string kServer = GPUMIX_LLM_SERVER_EXE;
const std::string kBinDir = GPUMIX_BIN_DIR;
const std::vector<std::string> kTiny{"--device", "cpu", "--preset", "tiny", "--port", "0", "--warmup-requests", "1"};

struct Server {
  TempDir dir;
  std::unique_ptr<Child> child;
  std::string url;

  explicit Server(const std::vector<std::string>& extra = {}) {
    child = std::make_unique<Child>(kServer, with(kTiny, extra), dir);
    if (!child->wait_for_metrics("\"ready\"", 120)) throw std::runtime_error("server not ready: " + child->err());
    for (const auto& e : events(dir.file("metrics.jsonl")))
      if (e.value("ev", "") == "ready") url = e.value("url", "");
  }
  ~Server() {
    child->signal(SIGTERM);
    child->wait(30);
  }
  httplib::Client client() const {
    httplib::Client c(url);
    c.set_read_timeout(60, 0);
    return c;
  }
  // A gauge of /metrics.
  double metric(const std::string& name) const {
    auto c = client();
    auto r = c.Get("/metrics");
    if (!r) return -1;
    const auto at = r->body.find("\n" + name + "{");
    if (at == std::string::npos) return -1;
    return std::stod(r->body.substr(r->body.find("} ", at) + 2));
  }
  // Waits up to 20 s for a gauge to reach `value`.
  bool wait_metric(const std::string& name, double value) const {
    for (int i = 0; i < 2000; ++i) {
      if (metric(name) == value) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
};

json request(const json& prompt, int max_tokens, bool stream, double temperature = 0, int seed = 0) {
  return {{"model", "llm-tiny"}, {"prompt", prompt},       {"max_tokens", max_tokens}, {"temperature", temperature},
          {"seed", seed},        {"ignore_eos", true},     {"stream", stream},         {"return_token_ids", true}};
}

struct Answer {
  int status = 0;
  std::string text, finish_reason;
  std::vector<int64_t> ids;
  json usage;
  bool done = false;  // [DONE] seen (streams)
};

Answer complete(const Server& s, const json& body) {
  auto c = s.client();
  auto r = c.Post("/v1/completions", body.dump(), "application/json");
  Answer a;
  if (!r) return a;
  a.status = r->status;
  if (r->status != 200) return a;
  auto j = json::parse(r->body);
  a.text = j["choices"][0]["text"];
  a.finish_reason = j["choices"][0]["finish_reason"];
  a.ids = j["choices"][0]["token_ids"].get<std::vector<int64_t>>();
  a.usage = j["usage"];
  return a;
}

// Reads a stream event by event; `on_token(count)` may return false to hang up.
Answer stream(const Server& s, const json& body, const std::function<bool(size_t)>& on_token = nullptr) {
  auto c = s.client();
  Answer a;
  std::string buffer;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.set_header("Content-Type", "application/json");
  req.body = body.dump();
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buffer.append(data, n);
    for (size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
      const std::string event = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
      const std::string data_text = event.substr(6);
      EXPECT_FALSE(a.done) << "an event after [DONE]";
      if (data_text == "[DONE]") {
        a.done = true;
        continue;
      }
      auto j = json::parse(data_text);
      const auto& choice = j["choices"][0];
      a.text += choice["text"].get<std::string>();
      if (choice.contains("token_ids"))
        for (auto t : choice["token_ids"]) a.ids.push_back(t);
      if (!choice["finish_reason"].is_null()) {
        a.finish_reason = choice["finish_reason"];
        a.usage = j["usage"];
      } else if (on_token && !on_token(a.ids.size())) {
        return false;
      }
    }
    return true;
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  if (c.send(req, res, error) || error == httplib::Error::Canceled) a.status = res.status;
  return a;
}

class LlmServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new Server({"--max-context", "2048", "--prefill-chunk", "16"}); }
  static void TearDownTestSuite() { delete server_; }
  static Server* server_;
};
Server* LlmServer::server_ = nullptr;

TEST_F(LlmServer, StreamingOutputEqualsTheWholeAnswer) {
  const auto whole = complete(*server_, request("Hello, gpumix! A prompt longer than one chunk.", 20, false));
  ASSERT_EQ(whole.status, 200);
  EXPECT_EQ(whole.ids.size(), 20u);
  EXPECT_EQ(whole.finish_reason, "length");
  EXPECT_EQ(whole.usage, (json{{"prompt_tokens", 46}, {"completion_tokens", 20}, {"total_tokens", 66}}));
  const auto streamed = stream(*server_, request("Hello, gpumix! A prompt longer than one chunk.", 20, true));
  ASSERT_EQ(streamed.status, 200);
  EXPECT_TRUE(streamed.done);
  EXPECT_EQ(streamed.ids, whole.ids);
  EXPECT_EQ(streamed.text, whole.text);
  EXPECT_EQ(streamed.finish_reason, "length");
  EXPECT_EQ(streamed.usage, whole.usage);
  // Seeded sampling: the same seed gives the same tokens, streamed or not; another seed others.
  const auto a = complete(*server_, request({5, 6, 7}, 30, false, 1.0, 11));
  const auto b = stream(*server_, request({5, 6, 7}, 30, true, 1.0, 11));
  const auto c = complete(*server_, request({5, 6, 7}, 30, false, 1.0, 12));
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_NE(a.ids, c.ids);
  auto models = server_->client().Get("/v1/models");
  ASSERT_EQ(models->status, 200);
  EXPECT_EQ(json::parse(models->body)["data"][0]["id"], "llm-tiny");
  EXPECT_EQ(server_->client().Get("/health")->status, 200);
}

TEST_F(LlmServer, BatchedGreedyOutputsEqualOneRequestAtATime) {
  std::vector<json> prompts;
  for (int i = 0; i < 6; ++i) {
    std::vector<int> p;
    for (int k = 0; k < 3 + 9 * i; ++k) p.push_back(3 + (k * 7 + i * 13) % 500);  // 3..48 tokens
    prompts.push_back(p);
  }
  std::vector<std::vector<int64_t>> alone;
  for (const auto& p : prompts) {
    const auto a = complete(*server_, request(p, 24, false));
    ASSERT_EQ(a.status, 200);
    alone.push_back(a.ids);
  }
  std::vector<std::future<Answer>> together;
  for (const auto& p : prompts)
    together.push_back(std::async(std::launch::async, [&, p] { return stream(*server_, request(p, 24, true)); }));
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(together[i].get().ids, alone[i]) << "prompt " << i;
  EXPECT_NE(alone[0], alone[1]);
}

// Decode (batched matrix products over the paged cache) and prefill (SDPA
// over a fresh prompt, in chunks of 16) are two paths through attention:
// every token decoded from the cache is the token a prefill of the same
// context picks next.
TEST_F(LlmServer, DecodedTokensEqualAFreshPrefillOfTheSameContext) {
  std::vector<int64_t> context;
  for (int k = 0; k < 21; ++k) context.push_back(3 + (k * 11) % 400);
  const auto decoded = complete(*server_, request(context, 12, false));
  ASSERT_EQ(decoded.status, 200);
  ASSERT_EQ(decoded.ids.size(), 12u);
  for (size_t i = 0; i < decoded.ids.size(); ++i) {
    const auto next = complete(*server_, request(context, 1, false));
    ASSERT_EQ(next.status, 200);
    ASSERT_EQ(next.ids.size(), 1u);
    EXPECT_EQ(next.ids[0], decoded.ids[i]) << "token " << i << " after a context of " << context.size();
    context.push_back(decoded.ids[i]);
  }
}

// A long stream runs; a short request sent meanwhile is admitted into the
// running batch and finishes while the long one is still generating.
TEST_F(LlmServer, ARequestJoinsTheRunningBatch) {
  std::promise<void> started;
  std::atomic<bool> hang_up{false};
  std::atomic<size_t> long_tokens{0};
  auto long_one = std::async(std::launch::async, [&] {
    bool first = true;
    return stream(*server_, request({10}, 2000, true), [&](size_t n) {
      long_tokens = n;
      if (first) started.set_value();
      first = false;
      return !hang_up.load();
    });
  });
  started.get_future().wait();
  const auto short_one = complete(*server_, request({20, 21, 22}, 3, false));
  ASSERT_EQ(short_one.status, 200);
  EXPECT_EQ(short_one.ids.size(), 3u);
  EXPECT_LT(long_tokens.load(), 2000u) << "the short request waited for the long one";
  hang_up = true;
  long_one.get();
  // Its blocks go back once the server notices.
  EXPECT_TRUE(server_->wait_metric("gpumix_llm_kv_cache_usage_ratio", 0));
  EXPECT_TRUE(server_->wait_metric("gpumix_llm_requests_running", 0));
}

TEST_F(LlmServer, ADisconnectMidStreamFreesItsBlocks) {
  const double generated_before = server_->metric("gpumix_llm_generation_tokens_total");
  auto a = stream(*server_, request({30, 31}, 1500, true), [](size_t n) { return n < 5; });
  EXPECT_TRUE(a.finish_reason.empty());
  EXPECT_FALSE(a.done);
  EXPECT_TRUE(server_->wait_metric("gpumix_llm_kv_cache_usage_ratio", 0));
  EXPECT_TRUE(server_->wait_metric("gpumix_llm_kv_cache_blocks_used", 0));
  EXPECT_GE(server_->metric("gpumix_llm_requests_cancelled_total"), 1);
  // Cancelled, not run to its end: far fewer than its 1500 tokens were generated.
  EXPECT_LT(server_->metric("gpumix_llm_generation_tokens_total") - generated_before, 1000);
  for (const auto& e : events(server_->dir.file("metrics.jsonl")))
    if (e.value("ev", "") == "latency") {
      EXPECT_NE(e["output_tokens"], 1500) << "a cancelled stream was reported";
    }
}

TEST_F(LlmServer, BadRequestsAre400NamingTheField) {
  struct Case {
    std::string body, param, says;
    int status = 400;
  };
  const std::string long_prompt(2048, 'x');
  const std::vector<Case> cases = {
      {"{\"prompt\": [1, 2", "", "not valid JSON"},
      {"[1, 2]", "", "JSON object"},
      {R"({"max_tokens": 5})", "prompt", "prompt: is required"},
      {json{{"prompt", long_prompt}}.dump(), "prompt", "the context length is 2048"},
      {R"({"prompt": [1, 512]})", "prompt", "outside the vocabulary"},
      {R"({"prompt": [[1, 2]]})", "prompt", "a list of prompts is not supported"},
      {R"({"prompt": "hi", "max_tokens": 2047})", "max_tokens", "exceeds the context length 2048"},
      {R"({"prompt": "hi", "max_tokens": 0})", "max_tokens", "integer >= 1"},
      {R"({"prompt": "hi", "temperature": -1})", "temperature", ">= 0"},
      {R"({"prompt": "hi", "stream": "yes"})", "stream", "true or false"},
      {R"({"prompt": "hi", "seed": "x"})", "seed", "integer"},
      {R"({"prompt": "hi", "model": "gpt-4"})", "model", "'gpt-4' is not served", 404},
  };
  auto c = server_->client();
  for (const auto& k : cases) {
    auto r = c.Post("/v1/completions", k.body, "application/json");
    ASSERT_TRUE(r) << k.body;
    EXPECT_EQ(r->status, k.status) << k.body;
    auto j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r->body;
    const auto& e = j["error"];
    EXPECT_NE(e["message"].get<std::string>().find(k.says), std::string::npos) << e;
    EXPECT_EQ(e["param"], k.param.empty() ? json(nullptr) : json(k.param)) << e;
    if (k.status == 400) {
      EXPECT_EQ(e["type"], "invalid_request_error") << e;
    }
  }
  EXPECT_EQ(complete(*server_, request("still up", 2, false)).status, 200);
}

// A cache of 129 blocks of 16 tokens (128 usable: one sequence of the 2048-token
// context): a long stream holds all of them, so two short requests wait, a
// third is refused (--max-waiting 2), and the two are served once the long
// one's client hangs up.
TEST(LlmServerCache, AFullCacheQueuesThenServesAndRefusesPastMaxWaiting) {
  // tiny fp32: 2 layers x 2 (K, V) x 2 heads x 16 dims x 4 bytes = 512 bytes a token.
  Server s({"--max-context", "2048", "--kv-cache-memory", std::to_string(129 * 16 * 512), "--max-waiting", "2"});
  std::promise<void> started;
  std::atomic<bool> hang_up{false};
  auto holder = std::async(std::launch::async, [&] {
    bool first = true;
    return stream(s, request({10}, 2040, true), [&](size_t) {
      if (first) started.set_value();
      first = false;
      return !hang_up.load();
    });
  });
  started.get_future().wait();
  EXPECT_EQ(s.metric("gpumix_llm_kv_cache_usage_ratio"), 1);
  auto b = std::async(std::launch::async, [&] { return complete(s, request({40, 41}, 4, false)); });
  auto c = std::async(std::launch::async, [&] { return complete(s, request({50, 51}, 4, false)); });
  ASSERT_TRUE(s.wait_metric("gpumix_llm_requests_waiting", 2));
  auto client = s.client();
  auto refused = client.Post("/v1/completions", request({60}, 4, false).dump(), "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_NE(refused->body.find("--max-waiting"), std::string::npos) << refused->body;
  hang_up = true;
  holder.get();
  const auto rb = b.get(), rc = c.get();
  EXPECT_EQ(rb.status, 200);
  EXPECT_EQ(rb.ids.size(), 4u);
  EXPECT_EQ(rc.status, 200);
  EXPECT_EQ(rc.ids.size(), 4u);
  EXPECT_TRUE(s.wait_metric("gpumix_llm_kv_cache_usage_ratio", 0));
}

// ------------------------------------------------------------- safetensors

struct Tensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

void put_value(std::string& out, float v, const std::string& dtype) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  if (dtype == "F32") {
    out.append(reinterpret_cast<const char*>(&bits), 4);
  } else if (dtype == "BF16") {
    const uint16_t h = static_cast<uint16_t>(bits >> 16);  // exact for the values used (0, 1)
    out.append(reinterpret_cast<const char*>(&h), 2);
  } else {  // F16: 0 and 1 only
    const uint16_t h = v == 0 ? 0 : 0x3C00;
    out.append(reinterpret_cast<const char*>(&h), 2);
  }
}

void write_safetensors(const std::string& path, const std::vector<Tensor>& tensors, int64_t cut = 0) {
  json header = json::object();
  std::string data;
  for (const auto& t : tensors) {
    const size_t begin = data.size();
    for (float v : t.values) put_value(data, v, t.dtype);
    header[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {begin, data.size()}}};
  }
  const std::string h = header.dump();
  const uint64_t n = h.size();
  std::string file(reinterpret_cast<const char*>(&n), 8);
  file += h + data;
  std::ofstream(path, std::ios::binary) << file.substr(0, file.size() - static_cast<size_t>(cut));
}

// A one-layer model whose attention and MLP weights are zero: the output is
// the final norm of the token's embedding through lm_head. Embedding t is the
// unit vector e_t, lm_head row j is e_{j-1}: each token's successor is the next.
std::vector<Tensor> successor_model(int64_t vocab, int64_t d, int64_t ffn) {
  auto zeros = [](const std::string& name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (auto s : shape) n *= s;
    return Tensor{name, "F32", shape, std::vector<float>(static_cast<size_t>(n), 0)};
  };
  Tensor embed{"model.embed_tokens.weight", "BF16", {vocab, d}, std::vector<float>(vocab * d, 0)};
  Tensor head{"lm_head.weight", "F16", {vocab, d}, std::vector<float>(vocab * d, 0)};
  for (int64_t t = 0; t < vocab; ++t) {
    embed.values[t * d + t] = 1;
    head.values[t * d + (t + vocab - 1) % vocab] = 1;
  }
  const int64_t hd = d / 4;
  std::vector<Tensor> w = {embed, head, Tensor{"model.norm.weight", "F32", {d}, std::vector<float>(d, 1)},
                           Tensor{"model.layers.0.input_layernorm.weight", "F32", {d}, std::vector<float>(d, 1)},
                           Tensor{"model.layers.0.post_attention_layernorm.weight", "F32", {d}, std::vector<float>(d, 1)},
                           zeros("model.layers.0.self_attn.q_proj.weight", {4 * hd, d}),
                           zeros("model.layers.0.self_attn.k_proj.weight", {2 * hd, d}),
                           zeros("model.layers.0.self_attn.v_proj.weight", {2 * hd, d}),
                           zeros("model.layers.0.self_attn.o_proj.weight", {d, 4 * hd}),
                           zeros("model.layers.0.mlp.gate_proj.weight", {ffn, d}),
                           zeros("model.layers.0.mlp.up_proj.weight", {ffn, d}),
                           zeros("model.layers.0.mlp.down_proj.weight", {d, ffn})};
  return w;
}

const std::vector<std::string> kSuccessorShape = {"--layers", "1",  "--hidden", "320", "--heads",           "4",
                                                  "--kv-heads", "2", "--ffn", "32",   "--vocab",             "300",
                                                  "--max-context", "64", "--tied-embeddings", "false"};

TEST(LlmServerWeights, ASafetensorsFileDecidesTheOutput) {
  TempDir files;
  const auto path = files.file("successor.safetensors");
  write_safetensors(path, successor_model(300, 320, 32));
  Server s(with(kSuccessorShape, {"--weights", path}));
  // "a" is byte 97; each token's successor follows: b c d e f.
  const auto a = complete(s, request("a", 5, false));
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.text, "bcdef");
  EXPECT_EQ(a.ids, (std::vector<int64_t>{100, 101, 102, 103, 104}));
  // Token 299's successor is 0, then 1, the end-of-sequence token: the
  // completion stops there unless ignore_eos.
  auto stop = request({299}, 5, false);
  stop["ignore_eos"] = false;
  const auto b = complete(s, stop);
  ASSERT_EQ(b.status, 200);
  EXPECT_EQ(b.ids, (std::vector<int64_t>{0}));
  EXPECT_EQ(b.finish_reason, "stop");
  EXPECT_EQ(b.usage["completion_tokens"], 1);
  stop["stream"] = true;
  const auto c = stream(s, stop);
  EXPECT_EQ(c.ids, (std::vector<int64_t>{0}));
  EXPECT_EQ(c.finish_reason, "stop");
  EXPECT_EQ(complete(s, request({299}, 5, false)).ids, (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(LlmServerWeights, ABadFileIsRefusedNamingTheTensor) {
  TempDir files;
  struct Case {
    std::string name;
    std::function<void(std::vector<Tensor>&)> spoil;
    int64_t cut;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"missing", [](auto& w) { w.erase(w.begin() + 1); }, 0, "tensor 'lm_head.weight' is missing"},
      {"shape", [](auto& w) { w[0].shape = {320, 300}; }, 0,
       "tensor 'model.embed_tokens.weight' has shape [320, 300], the model needs [300, 320]"},
      {"truncated", [](auto&) {}, 1000, "do not hold"},
  };
  std::vector<std::unique_ptr<TempDir>> dirs;
  std::vector<std::unique_ptr<Child>> children;
  for (const auto& k : cases) {
    auto w = successor_model(300, 320, 32);
    k.spoil(w);
    const auto path = files.file(k.name + ".safetensors");
    write_safetensors(path, w, k.cut);
    dirs.push_back(std::make_unique<TempDir>());
    children.push_back(
        std::make_unique<Child>(kServer, with(with(kTiny, kSuccessorShape), {"--weights", path}), *dirs.back()));
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& k = cases[i];
    auto& child = *children[i];
    ASSERT_TRUE(child.wait(60)) << k.name;
    EXPECT_EQ(child.exit_code(), 2) << k.name << ": " << child.err();
    EXPECT_NE(child.err().find("--weights: " + files.file(k.name + ".safetensors") + ": "), std::string::npos)
        << child.err();
    EXPECT_NE(child.err().find(k.says), std::string::npos) << k.name << ": " << child.err();
  }
}

// Shapes and sizes that cannot work are refused before anything loads, exit 2.
TEST(LlmServerArguments, ImpossibleShapesAndCacheSizesExit2NamingTheOption) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--kv-cache-memory", "64KiB"}, "--kv-cache-memory 64KiB holds 8 blocks of 16 tokens; one sequence of the "
                                       "context length 256 needs 16"},
      {{"--kv-cache-memory", "lots"}, "--kv-cache-memory: 'lots' is not a size"},
      {{"--heads", "3"}, "--hidden 64 is not a multiple of --heads 3"},
      {{"--graph-batch-sizes", "1,x"}, "--graph-batch-sizes: 'x' is not a positive integer"},
      // A CPU build has no fused kernels; a CUDA build on the CPU says they run on a GPU.
      {{"--kernels", "fused"}, "--kernels fused: "},
  };
  // All at once: each spends its time loading LibTorch.
  std::vector<std::unique_ptr<TempDir>> dirs;
  std::vector<std::unique_ptr<Child>> children;
  for (const auto& [args, says] : cases) {
    dirs.push_back(std::make_unique<TempDir>());
    children.push_back(std::make_unique<Child>(kServer, with(kTiny, args), *dirs.back()));
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    auto& child = *children[i];
    ASSERT_TRUE(child.wait(60)) << cases[i].second;
    EXPECT_EQ(child.exit_code(), 2) << child.err();
    EXPECT_NE(child.err().find(cases[i].second), std::string::npos) << child.err();
  }
}

// ------------------------------------------------------------------ loadgen

TEST_F(LlmServer, LoadgenMeasuresTtftAndTpot) {
  const std::string gpumix = kBinDir + "/gpumix";
  if (!std::filesystem::exists(gpumix)) GTEST_SKIP() << "no gpumix beside the workloads (standalone build)";
  TempDir dir;
  Child lg(gpumix,
           {"loadgen", "--api", "openai", "--url", server_->url, "--concurrency", "4", "--requests", "16", "--warmup",
            "0s", "--prompt-len", "uniform:4-40", "--output-len", "12", "--vocab", "512", "--min-requests", "16",
            "--min-duration", "0s", "--format", "json"},
           dir, false);
  ASSERT_TRUE(lg.wait(120));
  ASSERT_EQ(lg.exit_code(), 0) << lg.err();
  const auto doc = json::parse(lg.out());
  EXPECT_EQ(doc["target"]["model"], "llm-tiny");
  const auto& step = doc["steps"][0];
  EXPECT_EQ(step["ok"], 16) << step.dump();
  const auto& t = step["tokens"];
  EXPECT_EQ(t["output_tokens"], 16 * 12);
  EXPECT_GT(t["ttft_ms"]["p50"].get<double>(), 0.0);
  EXPECT_GT(t["tpot_ms"]["p50"].get<double>(), 0.0);
  EXPECT_LE(t["tpot_ms"]["p50"].get<double>(), t["ttft_ms"]["p99"].get<double>() + 1000);
}

// SIGTERM drains a stream in flight, then `done` carries the decode step times.
TEST(LlmServerStop, SigtermDrainsAndReportsDecodeStepTimes) {
  Server s;
  std::promise<void> started;
  auto a = std::async(std::launch::async, [&] {
    bool first = true;
    return stream(s, request({7}, 200, true), [&](size_t) {
      if (first) started.set_value();
      first = false;
      return true;
    });
  });
  started.get_future().wait();
  // /metrics counts decode-only steps and their time by batch size (the first series: batch 1).
  EXPECT_GT(s.metric("gpumix_llm_decode_steps_total"), 0);
  EXPECT_GT(s.metric("gpumix_llm_decode_step_seconds_total"), 0);
  s.child->signal(SIGTERM);
  const auto r = a.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.ids.size(), 200u);
  EXPECT_TRUE(r.done);
  ASSERT_TRUE(s.child->wait(30));
  EXPECT_EQ(s.child->exit_code(), 0) << s.child->err();
  EXPECT_NE(s.child->err().find("decode step mean ms by batch size (batch:ms): 1:"), std::string::npos)
      << s.child->err();
  bool done = false, latency = false, configured = false;
  for (const auto& e : events(s.dir.file("metrics.jsonl"))) {
    if (e.value("ev", "") == "done") {
      done = true;
      EXPECT_EQ(e["stop_reason"], "signal");
      EXPECT_EQ(e["requests_ok"], 1);
      EXPECT_EQ(e["decode_step_ms_by_batch"].get<std::string>().rfind("1:", 0), 0u) << e;
      // The one-token prompt's prefill alone, then the warm-up's 64-token ones.
      EXPECT_EQ(e["prefill_ms_by_tokens"].get<std::string>().rfind("1:", 0), 0u) << e;
      EXPECT_NE(e["prefill_ms_by_tokens"].get<std::string>().find(",64:"), std::string::npos) << e;
      // Each size's first iteration apart; no GPU time on the CPU.
      EXPECT_EQ(e["prefill_first_ms_by_tokens"].get<std::string>().rfind("1:", 0), 0u) << e;
      EXPECT_FALSE(e.contains("decode_gpu_ms_by_batch")) << e;
    }
    // On the CPU, --kernels auto means torch's operators.
    if (e.value("ev", "") == "info" && e.contains("kernels")) {
      configured = true;
      EXPECT_EQ(e["kernels"], "torch") << e;
      EXPECT_EQ(e["effective_config"], "kernels=torch") << e;
    }
    if (e.value("ev", "") == "latency") {
      latency = true;
      EXPECT_EQ(e["output_tokens"], 200);
      EXPECT_GT(e["ttft_ms"].get<double>(), 0.0);
      EXPECT_GT(e["tpot_ms"].get<double>(), 0.0);
      EXPECT_GE(e["ms"].get<double>(), e["ttft_ms"].get<double>());
    }
  }
  EXPECT_TRUE(done);
  EXPECT_TRUE(latency);
  EXPECT_TRUE(configured) << "no info event with kernels";
}

}  // namespace
