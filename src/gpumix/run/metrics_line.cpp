#include "gpumix/run/metrics_line.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace gpumix::run {

Event parse_event_line(std::string_view line, bool cut) {
  Event e;
  e.ev = "malformed";
  if (cut) {
    e.data.reserve(line.size() + kCutMark.size());
    e.data.append(line).append(kCutMark);
    return e;
  }
  e.data = std::string(line);
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("ev") || !j["ev"].is_string()) return e;
  const auto ev = j["ev"].get<std::string>();
  auto n = j.find("n");
  auto ms = j.find("ms");
  // Required fields and their types, per event kind.
  if (ev == "iter" && (n == j.end() || !n->is_number_integer() || n->get<int64_t>() < 0)) return e;
  if (ev == "latency" && (ms == j.end() || !ms->is_number() || ms->get<double>() < 0)) return e;
  if (n != j.end() && n->is_number_integer()) e.n = n->get<int64_t>();
  if (ms != j.end() && ms->is_number()) e.ms = ms->get<double>();
  e.ev = ev;
  if (ev == "latency") {
    const auto duration = [&](const char* key) -> std::optional<double> {
      auto f = j.find(key);
      if (f == j.end() || !f->is_number() || f->get<double>() < 0) return std::nullopt;
      return f->get<double>();
    };
    e.ttft_ms = duration("ttft_ms");
    e.tpot_ms = duration("tpot_ms");
    if (auto t = j.find("output_tokens"); t != j.end() && t->is_number_integer() && t->get<int64_t>() >= 0)
      e.output_tokens = t->get<int64_t>();
  }
  return e;
}

void LineSplitter::feed(std::string_view chunk, const OnLine& line) {
  while (!chunk.empty()) {
    const auto nl = chunk.find('\n');
    const auto piece = chunk.substr(0, nl);
    const size_t room = max_line_ - pending_.size();
    pending_.append(piece.substr(0, room));
    if (piece.size() > room) cut_ = true;
    if (nl == std::string_view::npos) return;
    if (!pending_.empty()) line(pending_, cut_);
    pending_.clear();
    cut_ = false;
    chunk.remove_prefix(nl + 1);
  }
}

void LineSplitter::finish(const OnLine& line) {
  if (!pending_.empty()) line(pending_, cut_);
  pending_.clear();
  cut_ = false;
}

}  // namespace gpumix::run
