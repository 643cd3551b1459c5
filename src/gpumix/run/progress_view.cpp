#include "gpumix/run/progress_view.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "gpumix/percentile.hpp"

namespace gpumix::run {

namespace {

// A successful request: a `latency` event with ms, unless it says "ok": false
// (analysis/summary.cpp counts the same ones).
bool successful_request(const Event& e) {
  if (e.ev != "latency" || !e.ms) return false;
  if (e.data.find("\"ok\"") == std::string::npos) return true;
  const auto j = nlohmann::json::parse(e.data, nullptr, false);
  return !(j.is_object() && j.contains("ok") && j["ok"].is_boolean() && !j["ok"].get<bool>());
}

// Samples counted by time t: each step's samples spread over (previous iter,
// its iter]; the first iter's samples belong to a step of unknown start, so
// they count from its own time on (nothing before it is divided).
double samples_at(const std::deque<std::pair<int64_t, double>>& points, int64_t t) {
  if (t <= points.front().first) return points.front().second;
  auto it = std::lower_bound(points.begin(), points.end(), t, [](const auto& p, int64_t v) { return p.first < v; });
  if (it == points.end()) return points.back().second;
  const auto& [t1, c1] = *it;
  const auto& [t0, c0] = *(it - 1);
  return c0 + (c1 - c0) * static_cast<double>(t - t0) / static_cast<double>(t1 - t0);
}

// Whole seconds: "0s", "59s", "1m02s", "2h05m".
std::string whole_seconds(double s) {
  const auto n = std::llround(std::max(s, 0.0));
  if (n < 60) return fmt::format("{}s", n);
  if (n < 3600) return fmt::format("{}m{:02}s", n / 60, n % 60);
  return fmt::format("{}h{:02}m", n / 3600, n % 3600 / 60);
}

std::string remaining_text(const Remaining& r) { return (r.at_least ? ">" : "~") + whole_seconds(r.seconds); }

// Characters as a terminal counts them, roughly: UTF-8 code points.
size_t text_width(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// The first `width` code points of `s`.
std::string cut_to_width(std::string_view s, size_t width) {
  size_t seen = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (seen++ == width) return std::string(s.substr(0, i));
  }
  return std::string(s);
}

std::string workload_text(const LiveWorkload& w) {
  switch (w.state) {
    case LiveWorkload::State::pending:
      return w.name + " waiting";
    case LiveWorkload::State::ended:
      return w.name + " ended";
    case LiveWorkload::State::running:
      break;
  }
  std::string text = w.name;
  const auto& f = w.figures;
  if (f.samples_per_s) text += " " + compact_number(*f.samples_per_s) + " samples/s";
  if (f.requests_per_s) text += " " + compact_number(*f.requests_per_s) + " req/s";
  if (f.p99_ms) text += " p99 " + compact_number(*f.p99_ms) + "ms";
  if (!f.samples_per_s && !f.requests_per_s) text += " -";
  return text;
}

}  // namespace

void LiveRate::add(const Event& e) {
  if (e.ev == "iter") {
    if (!iters_.empty() && e.t_ns < iters_.back().first) return;  // the clock went back: keep the count monotonic
    samples_total_ += static_cast<double>(std::max<int64_t>(e.n.value_or(0), 0));
    iters_.emplace_back(e.t_ns, samples_total_);
    if (!first_iter_ns_) first_iter_ns_ = e.t_ns;
  } else if (successful_request(e)) {
    requests_.emplace_back(e.t_ns, *e.ms);
    if (!first_request_ns_) first_request_ns_ = e.t_ns;
  }
}

void LiveRate::prune(int64_t now_ns) {
  const int64_t from = now_ns - span_ns_;
  // Keep the last iter at or before the span's start: its step is cut there.
  while (iters_.size() >= 2 && iters_[1].first <= from) iters_.pop_front();
  while (!requests_.empty() && requests_.front().first <= from) requests_.pop_front();
}

LiveFigures LiveRate::at(int64_t now_ns) {
  prune(now_ns);
  LiveFigures f;
  const int64_t from = now_ns - span_ns_;
  if (first_iter_ns_ && !iters_.empty()) {
    // Until the span is full, from the first iter (whose own samples do not count).
    const int64_t start = std::max(from, *first_iter_ns_);
    const bool more_than_first = iters_.size() >= 2 || iters_.front().first != *first_iter_ns_;
    if (now_ns > start && more_than_first)
      f.samples_per_s = (samples_at(iters_, now_ns) - samples_at(iters_, start)) / (static_cast<double>(now_ns - start) / 1e9);
  }
  if (first_request_ns_) {
    const int64_t start = std::max(from, *first_request_ns_);
    std::vector<double> ms;
    for (const auto& [t, v] : requests_)
      if (t > start && t <= now_ns) ms.push_back(v);
    // Absent while the only request is the first (nothing to divide yet).
    if (now_ns > start && (!ms.empty() || start > *first_request_ns_))
      f.requests_per_s = static_cast<double>(ms.size()) / (static_cast<double>(now_ns - start) / 1e9);
    if (!ms.empty() && static_cast<int64_t>(ms.size()) >= p99_requests_) {
      std::sort(ms.begin(), ms.end());
      f.p99_ms = percentile_of_sorted(ms, 99);
    }
  }
  return f;
}

Remaining cell_remaining(const ProgressState& s) {
  // Stopping and teardown take what they took so far, else nothing.
  const double down = s.winddown_estimate_s.value_or(0);
  switch (s.phase) {
    case CellPhase::setup:
    case CellPhase::warmup:
      if (s.warmup_estimate_s) return {std::max(*s.warmup_estimate_s - s.cell_elapsed_s, 0.0) + s.window_s + down, false};
      return {s.window_s + down, true};
    case CellPhase::measuring:
      return {s.window_left_s.value_or(s.window_s) + down, false};
    case CellPhase::stopping:
      return {std::max(down - s.phase_elapsed_s, 0.0), false};
  }
  return {};
}

Remaining run_remaining(const ProgressState& s) {
  auto r = cell_remaining(s);
  const double per_cell = s.warmup_estimate_s.value_or(0) + s.window_s + s.winddown_estimate_s.value_or(0);
  r.seconds += static_cast<double>(s.cells_after) * per_cell;
  r.at_least = r.at_least || (s.cells_after > 0 && !s.warmup_estimate_s);
  return r;
}

std::string_view phase_name(CellPhase phase) {
  switch (phase) {
    case CellPhase::setup: return "setting up";
    case CellPhase::warmup: return "warm-up";
    case CellPhase::measuring: return "measuring";
    case CellPhase::stopping: return "stopping";
  }
  return "?";
}

std::string compact_number(double v) {
  if (!std::isfinite(v)) return "-";
  if (v == 0) return "0";
  const double a = std::fabs(v);
  if (a < 9.995) return fmt::format("{:.2f}", v);
  if (a < 99.95) return fmt::format("{:.1f}", v);
  if (a < 999.5) return fmt::format("{:.0f}", v);
  if (a < 9'995) return fmt::format("{:.2f}k", v / 1e3);
  if (a < 99'950) return fmt::format("{:.1f}k", v / 1e3);
  if (a < 999'500) return fmt::format("{:.0f}k", v / 1e3);
  if (a < 9.995e6) return fmt::format("{:.2f}M", v / 1e6);
  if (a < 99.95e6) return fmt::format("{:.1f}M", v / 1e6);
  return fmt::format("{:.0f}M", v / 1e6);
}

namespace {

std::string head_text(const ProgressState& s) {
  std::string head = fmt::format("cell {} ({}/{}) {}{} r{}: {} ", s.index, s.index + 1, s.plan_size, s.mode,
                                 s.baseline ? " baseline" : "", s.repeat, phase_name(s.phase));
  if (s.phase == CellPhase::measuring)
    head += whole_seconds(s.window_s - s.window_left_s.value_or(s.window_s)) + "/" + whole_seconds(s.window_s);
  else
    head += whole_seconds(s.phase_elapsed_s);
  head += ", " + remaining_text(cell_remaining(s)) + " left; run ETA " + remaining_text(run_remaining(s));
  if (s.eta_at_most) head += " (max)";
  return head;
}

// `text` cut to `width` (0: as it is), "..." marking the cut.
std::string fit(const std::string& text, size_t width) {
  if (width == 0 || text_width(text) <= width) return text;
  return width > 3 ? cut_to_width(text, width - 3) + "..." : cut_to_width(text, width);
}

// `prefix` and as many workloads as fit in `width`, then how many did not;
// nullopt when not even that fits.
std::optional<std::string> with_workloads(const std::string& prefix, const std::vector<LiveWorkload>& workloads, size_t width) {
  const auto fits = [&](const std::string& t) { return width == 0 || text_width(t) <= width; };
  std::string text = prefix;
  for (size_t i = 0; i < workloads.size(); ++i) {
    const std::string sep = i == 0 ? "" : ", ";
    const size_t after = workloads.size() - i - 1;
    const std::string with = text + sep + workload_text(workloads[i]);
    if (fits(with + (after > 0 ? fmt::format(", +{} more", after) : ""))) {
      text = with;
      continue;
    }
    const std::string more = text + sep + fmt::format("+{} more", workloads.size() - i);
    if (!fits(more)) return std::nullopt;
    return more;
  }
  return text;
}

}  // namespace

std::string progress_text(const ProgressState& s, size_t width) {
  const std::string head = head_text(s);
  if (width > 0 && text_width(head) > width) return fit(head, width);
  if (s.workloads.empty()) return head;
  return with_workloads(head + " | ", s.workloads, width).value_or(head);
}

std::vector<std::string> progress_block(const ProgressState& s, size_t width) {
  std::vector<std::string> lines{fit(head_text(s), width)};
  if (!s.workloads.empty())
    lines.push_back(with_workloads("  ", s.workloads, width).value_or(fit(fmt::format("  +{} more", s.workloads.size()), width)));
  return lines;
}

}  // namespace gpumix::run
