// The HTTP side of gpumix-llm-server, the convention LLM servers speak
// (vLLM, SGLang, TGI, llama.cpp): POST /v1/completions (a JSON answer, or
// server-sent events with stream), GET /v1/models, /health and the
// Prometheus /metrics page, over the guarded cpp-httplib server the
// infer-server uses (gpumix/guarded_http.hpp). Requests go to the Engine;
// a streaming client that goes away cancels its completion.
#pragma once

#include "completion.hpp"
#include "engine.hpp"

#include "gpumix/guarded_http.hpp"
#include "gpumix/metrics.hpp"

#include <memory>
#include <string>

namespace gpumix::llm {

struct ApiOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  // 0: any free port
  http::GuardLimits limits;
  std::string model = "tiny";  // the name /v1/models lists
  int64_t max_context = 256, vocab = 512;
  uint64_t seed = 0;           // requests without a seed draw from seed + their number
  bool report_requests = true;  // one latency event per completion
};

struct ApiCounts {
  int64_t ok = 0, client_errors = 0, rejected = 0, server_errors = 0, cancelled = 0;
  int64_t prompt_tokens = 0, output_tokens = 0;
};

class OpenAiApi {
 public:
  OpenAiApi(ApiOptions options, Engine& engine, const BlockPool& pool, metrics::Reporter& reporter);
  ~OpenAiApi();
  OpenAiApi(const OpenAiApi&) = delete;
  OpenAiApi& operator=(const OpenAiApi&) = delete;

  // The engine calls this when a completion ends well.
  void finished(const Completion& c);

  // Binds (std::runtime_error when it cannot) and serves on a thread.
  void start();
  std::string url() const;
  // Refuses new completions (503); waits up to `timeout_s` for those in
  // flight. Returns how many were still in flight.
  int64_t drain(double timeout_s);
  void stop();
  ApiCounts counts() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gpumix::llm
