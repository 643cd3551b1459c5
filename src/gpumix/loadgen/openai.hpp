// The load generator's side of an OpenAI-compatible LLM server (vLLM, SGLang,
// TGI, llama.cpp's server): the streamed completion requests it sends, the
// server-sent events it reads back incrementally and timestamps, the model
// list and error bodies.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumix/loadgen/kserve.hpp"
#include "gpumix/loadgen/lengths.hpp"
#include "gpumix/util/units.hpp"

namespace gpumix::loadgen::openai {

// The streamed completions a load sends: request number n has a prompt of
// prompt.draw() token ids, uniform in [0, vocab), and asks for exactly
// output.draw() tokens (ignore_eos), greedy. The same seed and n give the
// same request.
struct Completions {
  std::string model;
  Lengths prompt, output;
  int64_t vocab = 32000;
  uint64_t seed = 0;

  struct Request {
    std::string body;  // POST /v1/completions
    int64_t prompt_tokens = 0, max_tokens = 0;
  };
  Request make(uint64_t n) const;
};

// An unfinished server-sent events stream, fed bytes as they arrive in any
// pieces: each event's `data` (its data lines joined by \n) in order. Lines
// end with \n or \r\n; comments (":...") and other fields are skipped.
class SseParser {
 public:
  // Appends `bytes`; returns the data of the events they complete.
  std::vector<std::string> feed(std::string_view bytes);
  bool mid_event() const { return !line_.empty() || has_data_; }  // bytes of an unfinished event

 private:
  std::string line_, data_;
  bool has_data_ = false;
};

using Clock = std::chrono::steady_clock;

// One streamed completion as it arrives: when each chunk carrying tokens
// came, how many tokens, whether [DONE] ended it, or why the stream is broken.
class StreamReader {
 public:
  // Feeds bytes that arrived at `now`; false once the stream is broken.
  bool feed(std::string_view bytes, Clock::time_point now);
  // The body ended: a stream without [DONE], or with no token, is broken.
  void finish();

  const std::optional<std::string>& error() const { return error_; }
  std::optional<Clock::time_point> first() const { return first_; }
  std::optional<Clock::time_point> last() const { return last_; }
  // Tokens: usage.completion_tokens when the server sent it, else those counted in chunks.
  int64_t tokens() const { return usage_tokens_.value_or(tokens_); }
  const std::vector<Duration>& gaps() const { return gaps_; }  // between chunks carrying tokens

 private:
  void event(const std::string& data, Clock::time_point now);
  SseParser parser_;
  std::optional<std::string> error_;
  std::optional<Clock::time_point> first_, last_;
  int64_t tokens_ = 0;
  std::optional<int64_t> usage_tokens_;
  std::vector<Duration> gaps_;
  bool done_ = false;
};

// The model ids of GET /v1/models ({"data": [{"id": ...}, ...]}); throws
// std::runtime_error saying what the body lacks.
std::vector<std::string> parse_model_ids(const std::string& body);

// The model to load: `wanted` when GET /v1/models lists it (throws RunError
// naming the ones it lists otherwise), the first one listed when `wanted` is
// empty; RunError when the list cannot be had.
std::string served_model(const Endpoint& endpoint, const std::string& wanted);

// The message of an error body ({"error": {"message": ...}}, {"error": "..."},
// {"message": ...} or {"detail": ...}), else its first 200 bytes.
std::string error_message(const std::string& body);

}  // namespace gpumix::loadgen::openai
