#include "gpumix/loadgen/openai.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <httplib.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "gpumix/util/errors.hpp"

namespace gpumix::loadgen::openai {

using json = nlohmann::json;

Completions::Request Completions::make(uint64_t n) const {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(n),
                    static_cast<uint32_t>(n >> 32)};
  std::mt19937_64 rng(seq);
  Request r;
  r.prompt_tokens = prompt.draw(rng, n);
  r.max_tokens = output.draw(rng, n);
  std::uniform_int_distribution<int64_t> token(0, vocab - 1);
  std::string ids;
  ids.reserve(static_cast<size_t>(r.prompt_tokens) * 6);
  for (int64_t i = 0; i < r.prompt_tokens; ++i) {
    if (i > 0) ids += ',';
    ids += std::to_string(token(rng));
  }
  // Written by hand around the ids: a JSON array of thousands of numbers
  // through nlohmann would allocate a node each, on the sending thread.
  r.body = R"({"model":)" + json(model).dump() + R"(,"prompt":[)" + ids + R"(],"max_tokens":)" +
           std::to_string(r.max_tokens) + R"(,"temperature":0,"seed":)" + std::to_string(seed + n) +
           R"(,"ignore_eos":true,"stream":true})";
  return r;
}

std::vector<std::string> SseParser::feed(std::string_view bytes) {
  std::vector<std::string> events;
  for (char c : bytes) {
    if (c != '\n') {
      line_ += c;
      continue;
    }
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_.empty()) {  // the blank line that ends an event
      if (has_data_) events.push_back(std::move(data_));
      data_.clear();
      has_data_ = false;
    } else if (line_.rfind("data:", 0) == 0) {
      std::string_view v(line_);
      v.remove_prefix(5);
      if (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      if (has_data_) data_ += '\n';
      data_ += v;
      has_data_ = true;
    }  // else a comment or another field (event:, id:, retry:)
    line_.clear();
  }
  return events;
}

bool StreamReader::feed(std::string_view bytes, Clock::time_point now) {
  if (error_) return false;
  for (const auto& data : parser_.feed(bytes)) {
    event(data, now);
    if (error_) return false;
  }
  return true;
}

void StreamReader::event(const std::string& data, Clock::time_point now) {
  if (data == "[DONE]") {
    done_ = true;
    return;
  }
  if (done_) {
    error_ = "an event after data: [DONE]";
    return;
  }
  const auto j = json::parse(data, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    error_ = "malformed event (not a JSON object): " + data.substr(0, 80);
    return;
  }
  if (j.contains("error")) {
    error_ = "the server reported an error mid-stream: " + error_message(data);
    return;
  }
  const auto choices = j.find("choices");
  if (choices == j.end() || !choices->is_array()) {
    // A last chunk may carry only usage (stream_options.include_usage).
    if (auto u = j.find("usage"); u != j.end() && u->is_object() && (*u)["completion_tokens"].is_number_integer())
      usage_tokens_ = (*u)["completion_tokens"].get<int64_t>();
    else error_ = "an event without choices: " + data.substr(0, 80);
    return;
  }
  int64_t n = 0;
  for (const auto& c : *choices) {
    if (!c.is_object()) {
      error_ = "a choice that is not an object: " + data.substr(0, 80);
      return;
    }
    if (auto ids = c.find("token_ids"); ids != c.end() && ids->is_array()) n += static_cast<int64_t>(ids->size());
    else if (auto t = c.find("text"); t != c.end() && t->is_string() && !t->get_ref<const std::string&>().empty()) ++n;
  }
  if (auto u = j.find("usage"); u != j.end() && u->is_object() && (*u)["completion_tokens"].is_number_integer())
    usage_tokens_ = (*u)["completion_tokens"].get<int64_t>();
  if (n == 0) return;  // a role or finish_reason chunk
  if (last_) gaps_.push_back(now - *last_);
  else first_ = now;
  last_ = now;
  tokens_ += n;
}

void StreamReader::finish() {
  if (error_) return;
  if (parser_.mid_event()) error_ = "the stream ended inside an event";
  else if (!done_) error_ = "the stream ended without data: [DONE]";
  else if (!first_) error_ = "the stream carried no tokens";
}

std::vector<std::string> parse_model_ids(const std::string& body) {
  const auto j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("data") || !j["data"].is_array())
    throw std::runtime_error("not a model list (expected {\"data\": [{\"id\": ...}]}): " + body.substr(0, 200));
  std::vector<std::string> ids;
  for (const auto& m : j["data"])
    if (m.is_object() && m.contains("id") && m["id"].is_string()) ids.push_back(m["id"].get<std::string>());
  if (ids.empty()) throw std::runtime_error("the model list is empty");
  return ids;
}

std::string served_model(const Endpoint& endpoint, const std::string& wanted) {
  httplib::Client client(endpoint.host, endpoint.port);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(10));
  const std::string path = endpoint.prefix + "/v1/models";
  auto res = client.Get(path);
  if (!res) throw RunError("GET " + endpoint.url() + path + ": " + httplib::to_string(res.error()));
  if (res->status != 200)
    throw RunError("GET " + endpoint.url() + path + ": HTTP " + std::to_string(res->status) + ": " +
                   error_message(res->body));
  std::vector<std::string> ids;
  try {
    ids = parse_model_ids(res->body);
  } catch (const std::runtime_error& e) {
    throw RunError("GET " + endpoint.url() + path + ": " + e.what());
  }
  if (wanted.empty()) return ids.front();
  if (std::find(ids.begin(), ids.end(), wanted) == ids.end())
    throw RunError(fmt::format("model '{}' is not served (GET /v1/models lists: {})", wanted, fmt::join(ids, ", ")));
  return wanted;
}

std::string error_message(const std::string& body) {
  const auto j = json::parse(body, nullptr, false);
  if (j.is_object()) {
    for (const char* key : {"error", "message", "detail"}) {
      const auto it = j.find(key);
      if (it == j.end()) continue;
      if (it->is_string()) return it->get<std::string>();
      if (it->is_object() && it->contains("message") && (*it)["message"].is_string())
        return (*it)["message"].get<std::string>();
    }
  }
  return body.substr(0, 200);
}

}  // namespace gpumix::loadgen::openai
