// A small OpenAI-compatible streaming server for the load generator's LLM
// tests, on loopback in the test's own process: it checks each completion
// request as the load generator must send it, and streams max_tokens tokens
// as server-sent events after a first-token delay and a per-token delay that
// the test chooses per request (from its sequence number and the requests in
// flight), so that the TTFT and TPOT the load generator must measure are
// known. Other plans: an HTTP error, a stall, a malformed or truncated
// stream, events split across TCP writes at awkward places.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace gpumix::testing {

struct StreamPlan {
  std::chrono::microseconds ttft{0};       // before the first token
  std::chrono::microseconds per_token{0};  // between tokens
  int status = 200;                        // else an error body at once
  bool stall = false;                      // never send the first token (until the server stops)
  bool malformed = false;                  // a broken JSON event after the second token
  bool truncated = false;                  // close after the second token, without [DONE]
  bool split = false;                      // each event in pieces (inside "data:", the JSON, the \r\n\r\n)
};

class OpenAiTestServer {
 public:
  // `plan(n, in_flight)`: how to answer the n-th completion (from 0) with
  // `in_flight` completions being served, itself included. Model "tiny",
  // vocabulary `vocab`. One thread per keep-alive connection: the pool must
  // hold every connection the load generator opens (256 by default).
  explicit OpenAiTestServer(std::function<StreamPlan(uint64_t, int)> plan, int threads = 300, int64_t vocab = 32000)
      : plan_(std::move(plan)), vocab_(vocab) {
    server_.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
    server_.set_keep_alive_max_count(1000000);
    server_.set_tcp_nodelay(true);
    server_.set_keep_alive_timeout(30);
    server_.Get("/health", [](const httplib::Request&, httplib::Response& res) { res.status = 200; });
    server_.Get("/v1/models", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"object":"list","data":[{"id":"tiny","object":"model","owned_by":"test"}]})",
                      "application/json");
    });
    server_.Post("/v1/completions",
                 [this](const httplib::Request& req, httplib::Response& res) { complete(req, res); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("test server: cannot bind");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~OpenAiTestServer() { stop(); }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      closing_ = true;
    }
    wake_.notify_all();
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  // A completion streamed to its end, as the server timed it from the request's arrival (ms): to its first
  // token, the mean gap between its tokens (0 for one token), to its last.
  struct Served {
    double ttft_ms = 0, tpot_ms = 0, total_ms = 0;
    int64_t tokens = 0;
  };
  // Called on the serving thread after each completed stream; set before the first request.
  void on_served(std::function<void(const Served&)> f) { on_served_ = std::move(f); }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  uint64_t requests() const { return count_; }
  int64_t bad_requests() const { return bad_; }
  int max_in_flight() const { return max_in_flight_; }
  // (prompt tokens, max_tokens) of every well-formed request, in arrival order.
  std::vector<std::pair<int64_t, int64_t>> lengths() const {
    std::lock_guard lock(mutex_);
    return lengths_;
  }

 private:
  void complete(const httplib::Request& req, httplib::Response& res) {
    const auto arrived = std::chrono::steady_clock::now();
    const uint64_t n = count_++;
    const auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (auto problem = check(body)) {
      ++bad_;
      res.status = 400;
      res.set_content(nlohmann::json{{"error", {{"message", *problem}}}}.dump(), "application/json");
      return;
    }
    const int64_t max_tokens = body["max_tokens"];
    {
      std::lock_guard lock(mutex_);
      lengths_.emplace_back(static_cast<int64_t>(body["prompt"].size()), max_tokens);
    }
    const int now = ++in_flight_;
    for (int m = max_in_flight_; now > m && !max_in_flight_.compare_exchange_weak(m, now);) {
    }
    const StreamPlan plan = plan_(n, now);
    if (plan.status != 200) {
      --in_flight_;
      res.status = plan.status;
      res.set_content(R"({"error":{"message":"test server says )" + std::to_string(plan.status) + R"("}})",
                      "application/json");
      return;
    }
    res.set_chunked_content_provider("text/event-stream", [this, plan, max_tokens, n, arrived](size_t, httplib::DataSink& sink) {
      stream(plan, max_tokens, n, arrived, sink);
      --in_flight_;
      return true;
    });
  }

  // Sleeps `d`; false when the server is closing.
  bool pause(std::chrono::microseconds d) {
    std::unique_lock lock(mutex_);
    return !wake_.wait_for(lock, d, [this] { return closing_; });
  }

  bool write(httplib::DataSink& sink, const std::string& event, bool split) {
    if (!split) return sink.write(event.data(), event.size());
    // Cut inside "data:", inside the JSON, and between the two line ends.
    const size_t cuts[] = {2, 7, event.size() / 2, event.size() - 2, event.size()};
    size_t at = 0;
    for (size_t cut : cuts) {
      if (cut <= at || cut > event.size()) continue;
      if (!sink.write(event.data() + at, cut - at)) return false;
      at = cut;
      if (at < event.size()) std::this_thread::sleep_for(std::chrono::microseconds(300));  // separate reads
    }
    return true;
  }

  void stream(const StreamPlan& plan, int64_t max_tokens, uint64_t n, std::chrono::steady_clock::time_point arrived,
              httplib::DataSink& sink) {
    const auto ms_since = [&arrived] {
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - arrived).count();
    };
    Served served;
    const std::string end = plan.split ? "\r\n\r\n" : "\n\n";
    const std::string id = "cmpl-" + std::to_string(n);
    if (plan.stall) {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return closing_; });
      sink.done();
      return;
    }
    if (!pause(plan.ttft)) return sink.done();
    for (int64_t i = 0; i < max_tokens; ++i) {
      if (i > 0 && !pause(plan.per_token)) return sink.done();
      if (i == 2 && plan.malformed) {
        write(sink, "data: {\"id\":\"" + id + "\",\"choices\":[{\"text\":\"x\"" + end, plan.split);
        write(sink, "data: [DONE]" + end, plan.split);
        return sink.done();
      }
      if (i == 2 && plan.truncated) return sink.done();
      const std::string finish = i + 1 == max_tokens ? R"("length")" : "null";
      const std::string event = "data: {\"id\":\"" + id + R"(","object":"text_completion","model":"tiny",)" +
                                R"("choices":[{"index":0,"text":" t)" + std::to_string(i) +
                                R"(","logprobs":null,"finish_reason":)" + finish + "}]}" + end;
      if (!write(sink, event, plan.split)) return;
      if (i == 0) served.ttft_ms = ms_since();
    }
    write(sink, "data: [DONE]" + end, plan.split);
    sink.done();
    served.total_ms = ms_since();
    served.tokens = max_tokens;
    if (max_tokens > 1) served.tpot_ms = (served.total_ms - served.ttft_ms) / static_cast<double>(max_tokens - 1);
    if (on_served_) on_served_(served);
  }

  // The request as `gpumix loadgen --api openai` must send it.
  std::optional<std::string> check(const nlohmann::json& j) const {
    if (j.is_discarded() || !j.is_object()) return "body is not a JSON object";
    if (j.value("model", "") != "tiny") return "model must be tiny";
    if (!j["prompt"].is_array() || j["prompt"].empty()) return "prompt must be a non-empty array of token ids";
    for (const auto& t : j["prompt"])
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= vocab_) return "prompt: bad token id";
    if (!j["max_tokens"].is_number_integer() || j["max_tokens"].get<int64_t>() < 1) return "max_tokens";
    if (j["temperature"] != 0 || !j["seed"].is_number_integer() || j["ignore_eos"] != true || j["stream"] != true)
      return "temperature 0, seed, ignore_eos and stream expected";
    return std::nullopt;
  }

  std::function<StreamPlan(uint64_t, int)> plan_;
  std::function<void(const Served&)> on_served_;
  int64_t vocab_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<uint64_t> count_{0};
  std::atomic<int64_t> bad_{0};
  std::atomic<int> in_flight_{0}, max_in_flight_{0};
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool closing_ = false;
  std::vector<std::pair<int64_t, int64_t>> lengths_;
};

}  // namespace gpumix::testing
