#include "openai_api.hpp"

#include "config.hpp"

#include "gpumix/prometheus.hpp"

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <ctime>
#include <variant>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

namespace gpumix::llm {

using nlohmann::json;

namespace {

double seconds_between(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// Prometheus bounds in seconds: first token up to 10 s, per token up to 1 s.
const std::vector<double> kTtftBounds = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10};
const std::vector<double> kTpotBounds = {0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1};
const std::vector<double> kE2eBounds = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 60};

// A 4xx answer as OpenAI gives it: the message, its type and the field.
struct RequestError {
  int status;
  std::string message, param, code;
};

std::string error_body(const std::string& message, const std::string& type, const std::string& param,
                       const std::string& code = "") {
  json e = {{"message", message}, {"type", type}, {"param", param.empty() ? json(nullptr) : json(param)}};
  e["code"] = code.empty() ? json(nullptr) : json(code);
  return json{{"error", e}}.dump();
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

struct OpenAiApi::Impl {
  ApiOptions opt;
  Engine& engine;
  const BlockPool& pool;
  metrics::Reporter& rep;
  http::GuardedServer server;
  http::ServingLoop serving{server};
  std::atomic<uint64_t> next_id{0};

  mutable std::mutex mu;  // guards what follows
  ApiCounts counts;
  std::map<int, int64_t> by_status;
  metrics::Histogram ttft{kTtftBounds}, tpot{kTpotBounds}, e2e{kE2eBounds};

  Impl(ApiOptions o, Engine& e, const BlockPool& p, metrics::Reporter& r)
      : opt(std::move(o)), engine(e), pool(p), rep(r), server(opt.limits) {}

  void count(int status) {
    std::lock_guard lock(mu);
    ++by_status[status];
    if (status == 200) ++counts.ok;
    else if (status == 503) ++counts.rejected;
    else if (status >= 500) ++counts.server_errors;
    else ++counts.client_errors;
  }

  void reply_error(httplib::Response& res, const RequestError& e) {
    res.status = e.status;
    const std::string type = e.status == 503 ? "server_overloaded"
                             : e.status >= 500 ? "internal_server_error"
                             : e.status == 404 ? "not_found_error"
                                               : "invalid_request_error";
    res.set_content(error_body(e.message, type, e.param, e.code), "application/json");
    count(e.status);
  }

  // The completion `body` asks for, or the error naming its field.
  std::variant<std::shared_ptr<Completion>, RequestError> parse(const std::string& body, bool& stream,
                                                                bool& token_ids) {
    auto bad = [](std::string field, std::string message) {
      return RequestError{400, field + ": " + message, field, ""};
    };
    json j;
    try {
      j = json::parse(body);
    } catch (const json::parse_error& e) {
      return RequestError{400, std::string("the body is not valid JSON: ") + e.what(), "", ""};
    }
    if (!j.is_object()) return RequestError{400, "the body must be a JSON object", "", ""};
    auto c = std::make_shared<Completion>();
    if (auto m = j.find("model"); m != j.end() && !m->is_null()) {
      if (!m->is_string()) return bad("model", "must be a string");
      if (*m != opt.model)
        return RequestError{404, "model: '" + m->get<std::string>() + "' is not served (this server serves '" +
                                     opt.model + "')",
                            "model", "model_not_found"};
    }
    const auto p = j.find("prompt");
    if (p == j.end()) return bad("prompt", "is required (a string or a list of token ids)");
    if (p->is_string()) {
      c->prompt = encode(p->get<std::string>());
    } else if (p->is_array()) {
      for (const auto& t : *p) {
        if (!t.is_number_integer())
          return bad("prompt", "must be one string or one list of token ids (a list of prompts is not supported)");
        const auto id = t.get<int64_t>();
        if (id < 0 || id >= opt.vocab)
          return bad("prompt", "token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                   std::to_string(opt.vocab) + ")");
        c->prompt.push_back(id);
      }
    } else {
      return bad("prompt", "must be a string or a list of token ids");
    }
    const auto prompt_len = static_cast<int64_t>(c->prompt.size());
    if (prompt_len == 0) return bad("prompt", "is empty");
    if (prompt_len >= opt.max_context)
      return bad("prompt", "has " + std::to_string(prompt_len) + " tokens; the context length is " +
                               std::to_string(opt.max_context) + " (at most " + std::to_string(opt.max_context - 1) +
                               " prompt tokens, to leave room for one output token)");
    if (auto m = j.find("max_tokens"); m != j.end() && !m->is_null()) {
      if (!m->is_number_integer() || m->get<int64_t>() < 1) return bad("max_tokens", "must be an integer >= 1");
      c->max_tokens = m->get<int64_t>();
    }
    if (prompt_len + c->max_tokens > opt.max_context)
      return bad("max_tokens", std::to_string(c->max_tokens) + " with the prompt's " + std::to_string(prompt_len) +
                                   " tokens exceeds the context length " + std::to_string(opt.max_context) +
                                   " (at most " + std::to_string(opt.max_context - prompt_len) + ")");
    if (auto t = j.find("temperature"); t != j.end() && !t->is_null()) {
      if (!t->is_number() || t->get<double>() < 0) return bad("temperature", "must be a number >= 0");
      c->temperature = t->get<double>();
    }
    const uint64_t n = next_id++;
    c->seed = opt.seed + n;
    if (auto s = j.find("seed"); s != j.end() && !s->is_null()) {
      if (!s->is_number_integer()) return bad("seed", "must be an integer");
      c->seed = s->is_number_unsigned() ? s->get<uint64_t>() : static_cast<uint64_t>(s->get<int64_t>());
    }
    auto flag = [&](const char* name, bool& out) -> std::optional<RequestError> {
      if (auto f = j.find(name); f != j.end() && !f->is_null()) {
        if (!f->is_boolean()) return bad(name, "must be true or false");
        out = f->get<bool>();
      }
      return std::nullopt;
    };
    for (auto [name, out] : {std::pair<const char*, bool*>{"ignore_eos", &c->ignore_eos}, {"stream", &stream},
                             {"return_token_ids", &token_ids}})
      if (auto e = flag(name, *out)) return *e;
    return c;
  }

  json chunk(const std::string& id, int64_t created, const json& choice) const {
    return {{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", opt.model},
            {"choices", json::array({choice})}};
  }

  static json usage(const Completion& c, int64_t output_tokens) {
    const auto prompt = static_cast<int64_t>(c.prompt.size());
    return {{"prompt_tokens", prompt}, {"completion_tokens", output_tokens}, {"total_tokens", prompt + output_tokens}};
  }

  void complete(const httplib::Request& req, httplib::Response& res) {
    const auto arrived = Clock::now();
    // Counted until the whole answer is written (a stream outlives this handler).
    auto guard = serving.enter();
    if (serving.draining()) return reply_error(res, {503, "the server is shutting down", "", ""});
    bool stream = false, token_ids = false;
    auto parsed = parse(req.body, stream, token_ids);
    if (auto* e = std::get_if<RequestError>(&parsed)) return reply_error(res, *e);
    auto c = std::get<std::shared_ptr<Completion>>(parsed);
    c->arrived = arrived;
    switch (engine.submit(c)) {
      case Engine::Submit::full:
        return reply_error(res, {503, "too many requests waiting (" + std::to_string(engine.waiting()) +
                                          "; --max-waiting)", "", ""});
      case Engine::Submit::closed:
        return reply_error(res, {503, "the server is shutting down", "", ""});
      case Engine::Submit::queued:
        break;
    }
    const std::string id = "cmpl-" + std::to_string(next_id.load());
    const int64_t created = static_cast<int64_t>(std::time(nullptr));

    if (!stream) {
      c->wait_beyond(SIZE_MAX);  // until finished
      std::lock_guard lock(c->mu);
      if (!c->error.empty()) return reply_error(res, {500, c->error, "", ""});
      std::string text;
      for (auto t : c->output) text += token_text(t);
      json choice = {{"index", 0}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", c->finish_reason}};
      if (token_ids) choice["token_ids"] = c->output;
      auto body = chunk(id, created, choice);
      body["usage"] = usage(*c, static_cast<int64_t>(c->output.size()));
      res.status = 200;
      res.set_content(dump(body), "application/json");
      return count(200);
    }

    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [this, c, id, created, token_ids, guard](
                                                              size_t, httplib::DataSink& sink) {
      size_t sent = 0;
      auto write = [&](const std::string& data) {
        const std::string event = "data: " + data + "\n\n";
        return sink.write(event.data(), event.size());
      };
      for (;;) {
        c->wait_beyond(sent);
        std::vector<int64_t> fresh;
        bool finished;
        std::string reason, error;
        {
          std::lock_guard lock(c->mu);
          fresh.assign(c->output.begin() + static_cast<std::ptrdiff_t>(sent), c->output.end());
          finished = c->finished;
          reason = c->finish_reason;
          error = c->error;
        }
        for (auto t : fresh) {
          json choice = {{"index", 0}, {"text", token_text(t)}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
          if (token_ids) choice["token_ids"] = json::array({t});
          if (!write(dump(chunk(id, created, choice)))) {
            // The client went away: its blocks go back at the engine's next iteration.
            c->cancelled = true;
            engine.wake();
            std::lock_guard lock(mu);
            ++counts.cancelled;
            return false;
          }
          ++sent;
        }
        if (!finished) continue;
        if (!error.empty()) {
          write(error_body(error, "internal_server_error", ""));
          count(500);
        } else {
          auto last = chunk(id, created, {{"index", 0}, {"text", ""}, {"logprobs", nullptr}, {"finish_reason", reason}});
          last["usage"] = usage(*c, static_cast<int64_t>(sent));
          write(dump(last));
          count(200);
        }
        write("[DONE]");
        sink.done();
        return true;
      }
    });
  }

  void finished(const Completion& c) {
    const auto n = static_cast<int64_t>(c.output.size());
    const double e2e_s = seconds_between(c.arrived, c.finished_at);
    const double ttft_s = n > 0 ? seconds_between(c.arrived, c.first_token) : e2e_s;
    const double tpot_s = n > 1 ? seconds_between(c.first_token, c.finished_at) / static_cast<double>(n - 1) : 0;
    {
      std::lock_guard lock(mu);
      ttft.observe(ttft_s);
      if (n > 1) tpot.observe(tpot_s);
      e2e.observe(e2e_s);
      counts.prompt_tokens += static_cast<int64_t>(c.prompt.size());
      counts.output_tokens += n;
    }
    if (opt.report_requests)
      rep.latency(e2e_s * 1e3, {{"ttft_ms", ttft_s * 1e3},
                                {"tpot_ms", tpot_s * 1e3},
                                {"output_tokens", n},
                                {"prompt_tokens", static_cast<int64_t>(c.prompt.size())}});
  }

  std::string prometheus() const {
    std::ostringstream out;
    const std::string labels = "model_name=\"" + opt.model + "\"";
    const auto guard = server.stats();
    std::lock_guard lock(mu);
    auto gauge = [&](const char* name, const char* help, double v) {
      out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " gauge\n"
          << name << '{' << labels << "} " << v << '\n';
    };
    auto counter = [&](const char* name, const char* help, int64_t v) {
      out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " counter\n"
          << name << '{' << labels << "} " << v << '\n';
    };
    gauge("gpumix_llm_requests_running", "Sequences in the running batch.", static_cast<double>(engine.running()));
    gauge("gpumix_llm_requests_waiting", "Requests waiting for admission (KV blocks or a batch slot).",
          static_cast<double>(engine.waiting()));
    gauge("gpumix_llm_kv_cache_usage_ratio", "Share of the KV cache's blocks held by sequences (0..1).", pool.usage());
    gauge("gpumix_llm_kv_cache_blocks_used", "KV cache blocks held by sequences.", static_cast<double>(pool.used()));
    gauge("gpumix_llm_kv_cache_blocks_total", "KV cache blocks sequences may hold.",
          static_cast<double>(pool.capacity()));
    counter("gpumix_llm_prompt_tokens_total", "Prompt tokens of completed requests.", counts.prompt_tokens);
    counter("gpumix_llm_generation_tokens_total", "Tokens generated, those of cancelled requests included.",
            engine.tokens_generated());
    counter("gpumix_llm_requests_cancelled_total", "Streams whose client went away before the end.", counts.cancelled);
    out << "# HELP gpumix_llm_requests_total Completion requests answered, by HTTP status.\n"
        << "# TYPE gpumix_llm_requests_total counter\n";
    auto statuses = by_status;
    if (guard.shed > 0) statuses[503] += guard.shed;
    for (const auto& [status, n] : statuses)
      out << "gpumix_llm_requests_total{" << labels << ",code=\"" << status << "\"} " << n << '\n';
    // Decode-only iterations by batch size (at most --max-batch series): a
    // scrape before and after a phase gives its mean step time.
    const auto steps = engine.decode_step_times();
    out << "# HELP gpumix_llm_decode_steps_total Decode-only iterations, by batch size.\n"
        << "# TYPE gpumix_llm_decode_steps_total counter\n";
    for (const auto& [batch, st] : steps)
      out << "gpumix_llm_decode_steps_total{" << labels << ",batch=\"" << batch << "\"} " << st.steps << '\n';
    out << "# HELP gpumix_llm_decode_step_seconds_total Time of decode-only iterations, by batch size.\n"
        << "# TYPE gpumix_llm_decode_step_seconds_total counter\n";
    for (const auto& [batch, st] : steps)
      out << "gpumix_llm_decode_step_seconds_total{" << labels << ",batch=\"" << batch << "\"} " << st.total_ms / 1e3
          << '\n';
    if (engine.gpu_timed()) {
      out << "# HELP gpumix_llm_decode_step_gpu_seconds_total GPU time of decode-only iterations' forward passes "
             "(CUDA events), by batch size.\n"
          << "# TYPE gpumix_llm_decode_step_gpu_seconds_total counter\n";
      for (const auto& [batch, st] : steps)
        out << "gpumix_llm_decode_step_gpu_seconds_total{" << labels << ",batch=\"" << batch << "\"} "
            << st.gpu_ms / 1e3 << '\n';
    }
    ttft.render(out, "gpumix_llm_time_to_first_token_seconds", "Receipt of a request to its first token.", labels);
    tpot.render(out, "gpumix_llm_time_per_output_token_seconds",
                "Mean time per output token after the first, per request.", labels);
    e2e.render(out, "gpumix_llm_e2e_request_latency_seconds", "Receipt of a request to its last token.", labels);
    return out.str();
  }

  void routes() {
    auto reply_json = [](httplib::Response& res, int status, const std::string& body) {
      res.status = status;
      res.set_content(body, "application/json");
    };
    server.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      res.status = serving.draining() ? 503 : 200;
      res.set_content(serving.draining() ? "draining\n" : "ok\n", "text/plain");
    });
    server.Get("/v1/models", [this, reply_json](const httplib::Request&, httplib::Response& res) {
      reply_json(res, 200,
                 json{{"object", "list"},
                      {"data", json::array({{{"id", opt.model},
                                             {"object", "model"},
                                             {"owned_by", "gpumix"},
                                             {"max_model_len", opt.max_context}}})}}
                     .dump());
    });
    server.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) { complete(req, res); });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(prometheus(), "text/plain; version=0.0.4");
    });
    server.set_priority([](std::string_view method, std::string_view target) {
      const auto path = target.substr(0, target.find('?'));
      return method == "GET" && (path == "/health" || path == "/metrics" || path == "/v1/models");
    });
    server.set_reject_body([](int status, const std::string& message) {
      return std::make_pair(error_body(message, status == 503 ? "server_overloaded" : "invalid_request_error", ""),
                            std::string("application/json"));
    });
    server.set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what += std::string(": ") + e.what();
      } catch (...) {
      }
      reply_error(res, {500, what, "", ""});
    });
  }
};

OpenAiApi::OpenAiApi(ApiOptions options, Engine& engine, const BlockPool& pool, metrics::Reporter& reporter)
    : impl_(std::make_unique<Impl>(std::move(options), engine, pool, reporter)) {
  impl_->routes();
}

OpenAiApi::~OpenAiApi() { stop(); }

void OpenAiApi::finished(const Completion& c) { impl_->finished(c); }

void OpenAiApi::start() { impl_->serving.start(impl_->opt.host, impl_->opt.port); }

std::string OpenAiApi::url() const { return impl_->serving.url(); }

int64_t OpenAiApi::drain(double timeout_s) { return impl_->serving.drain(timeout_s); }

void OpenAiApi::stop() { impl_->serving.stop(); }

ApiCounts OpenAiApi::counts() const {
  const int64_t shed = impl_->server.stats().shed;
  std::lock_guard lock(impl_->mu);
  auto c = impl_->counts;
  c.rejected += shed;
  return c;
}

}  // namespace gpumix::llm
