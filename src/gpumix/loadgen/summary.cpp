#include "gpumix/loadgen/summary.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "gpumix/analysis/stats.hpp"

namespace gpumix::loadgen {

int64_t samples_for_percentile(double p) {
  // 1 / (1 - p/100), rounded up; the epsilon keeps 100/0.1 at 1000.
  return static_cast<int64_t>(std::ceil(100.0 / (100.0 - p) - 1e-9));
}

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::none: return "none";
    case Verdict::met: return "met";
    case Verdict::missed: return "missed";
    case Verdict::insufficient: return "insufficient";
  }
  return "none";
}

bool Summary::slo_met() const {
  return std::all_of(slos.begin(), slos.end(), [](const SloResult& r) { return r.met; });
}

Verdict Summary::verdict() const {
  if (slos.empty()) return Verdict::none;
  if (!slo_met()) return Verdict::missed;
  return insufficient ? Verdict::insufficient : Verdict::met;
}

namespace {
double to_ms(Duration d) { return static_cast<double>(d.count()) / 1e6; }

constexpr std::pair<const char*, double> kPercentiles[] = {{"p50", 50}, {"p90", 90}, {"p95", 95}, {"p99", 99},
                                                          {"p99.9", 99.9}};

// Why `s` is too small to count, or nothing.
std::optional<std::string> insufficiency(const Summary& s, const std::vector<Slo>& slos, const Minimum& minimum) {
  std::vector<std::string> why;
  if (s.requests < minimum.requests) why.push_back(fmt::format("{} requests, minimum {}", s.requests, minimum.requests));
  if (s.window_s < to_seconds(minimum.duration))
    why.push_back(fmt::format("measured {:.2f} s, minimum {}", s.window_s, format_duration(minimum.duration)));
  for (const auto& slo : slos) {
    const int64_t needed = samples_for_percentile(slo.percentile);
    if (s.requests < needed && needed > minimum.requests)
      why.push_back(fmt::format("{} needs at least {} requests", slo.text, needed));
  }
  if (why.empty()) return std::nullopt;
  return fmt::format("{}", fmt::join(why, "; "));
}
}  // namespace

Summary summarize(const LoadResult& result, const std::vector<Slo>& slos, double offered_rps, int concurrency,
                  const Minimum& minimum) {
  Summary s;
  s.offered_rps = offered_rps;
  s.concurrency = concurrency;
  s.discarded = result.discarded;
  s.unsent = result.unsent;
  s.drain_expired = result.drain_expired;
  s.stopped = result.stopped;
  std::vector<double> ok_ms;
  ok_ms.reserve(result.records.size());
  for (const auto& r : result.records) {
    ++s.requests;
    if (r.late) ++s.late;
    switch (r.outcome) {
      case Outcome::ok: ok_ms.push_back(to_ms(r.latency)); break;
      case Outcome::timeout: ++s.timeouts; break;
      case Outcome::error: {
        ++s.errors;
        auto& [count, message] = s.failures[r.status];
        if (count++ == 0) message = r.message;
        break;
      }
    }
  }
  s.ok = static_cast<int64_t>(ok_ms.size());
  s.window_s = to_seconds(result.window);
  s.span_s = to_seconds(result.span);
  const double over = std::max(s.window_s, s.span_s);
  s.achieved_rps = over > 0 ? static_cast<double>(s.ok) / over : 0;
  for (const auto& slo : slos) {
    SloResult r{slo};
    const double limit_ms = to_ms(slo.limit);
    const auto within = std::count_if(ok_ms.begin(), ok_ms.end(), [&](double v) { return v <= limit_ms; });
    r.attainment = s.requests > 0 ? static_cast<double>(within) / static_cast<double>(s.requests) : 0;
    r.met = s.requests > 0 && r.attainment >= slo.percentile / 100.0;
    s.slos.push_back(r);
  }
  s.mean = analysis::mean(ok_ms);
  if (!ok_ms.empty()) s.max = *std::max_element(ok_ms.begin(), ok_ms.end());
  for (const auto& [name, p] : kPercentiles)
    if (s.ok > 0 && s.ok < samples_for_percentile(p)) s.thin_percentiles.push_back(name);
  auto p = analysis::percentiles(std::move(ok_ms), {50, 90, 95, 99, 99.9});
  s.p50 = p[0], s.p90 = p[1], s.p95 = p[2], s.p99 = p[3], s.p999 = p[4];
  s.insufficient = insufficiency(s, slos, minimum);
  return s;
}

report::Table summary_table(const std::vector<Summary>& rows, const std::vector<Slo>& slos) {
  report::Table t;
  t.columns = {"offered_rps", "concurrency", "achieved_rps", "requests", "ok", "errors", "timeouts", "late",
               "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99.9_ms", "mean_ms", "max_ms"};
  for (const auto& slo : slos) t.columns.push_back(slo.text + " %");
  if (!slos.empty()) t.columns.push_back("slo");
  t.columns.push_back("insufficient");
  for (const auto& s : rows) {
    std::vector<report::Value> row = {
        s.offered_rps > 0 ? report::Value(s.offered_rps) : report::Value(),
        s.concurrency > 0 ? report::Value(int64_t{s.concurrency}) : report::Value(),
        s.achieved_rps,
        s.requests,
        s.ok,
        s.errors,
        s.timeouts,
        s.late,
        report::opt(s.p50),
        report::opt(s.p90),
        report::opt(s.p95),
        report::opt(s.p99),
        report::opt(s.p999),
        report::opt(s.mean),
        report::opt(s.max)};
    for (const auto& r : s.slos) row.push_back(100.0 * r.attainment);
    if (!slos.empty()) row.push_back(std::string(to_string(s.verdict())));
    row.push_back(s.insufficient ? report::Value(*s.insufficient) : report::Value());
    t.add(std::move(row));
  }
  return t;
}

namespace {
std::string row_label(const Summary& s) {
  return s.offered_rps > 0 ? fmt::format("{:.1f} req/s", s.offered_rps) : fmt::format("{} clients", s.concurrency);
}
}  // namespace

std::vector<std::string> summary_notes(const std::vector<Summary>& rows) {
  auto needs = [](const std::string& p) { return samples_for_percentile(std::stod(p.substr(1))); };
  std::vector<std::string> notes;
  // A sweep's rows share their thin percentiles (p99.9 under 1000 requests):
  // one line per percentile rather than per row.
  std::map<std::string, std::vector<std::string>> thin;
  for (const auto& s : rows) {
    const auto label = row_label(s);
    if (s.insufficient) notes.push_back(fmt::format("{}: insufficient: {}", label, *s.insufficient));
    if (!s.thin_percentiles.empty() && rows.size() == 1) {
      std::vector<std::string> each;
      for (const auto& p : s.thin_percentiles) each.push_back(fmt::format("{} needs {}", p, needs(p)));
      notes.push_back(fmt::format("{}: {} successful requests are too few for a tail percentile ({})", label, s.ok,
                                  fmt::join(each, ", ")));
    }
    for (const auto& p : s.thin_percentiles) thin[p].push_back(fmt::format("{} ({})", label, s.ok));
    if (s.drain_expired)
      notes.push_back(fmt::format("{}: requests still outstanding --timeout after the schedule's end are timeouts ({} "
                                  "never sent)",
                                  label, s.unsent));
    if (s.settle && !s.settle->settled)
      notes.push_back(fmt::format("{}: the server had not settled before this step (probe {} ms, target {} ms)", label,
                                  s.settle->probe_ms ? fmt::format("{:.2f}", *s.settle->probe_ms) : "failed",
                                  s.settle->target_ms ? fmt::format("{:.2f}", *s.settle->target_ms) : "-"));
  }
  if (rows.size() > 1)
    for (const auto& [p, where] : thin)
      notes.push_back(fmt::format("{} needs {} successful requests, fewer at {}", p, needs(p), fmt::join(where, ", ")));
  return notes;
}

report::Table failure_table(const Summary& s) {
  report::Table t;
  t.columns = {"status", "count", "first message"};
  for (const auto& [status, f] : s.failures)
    t.add({status == 0 ? report::Value(std::string("no response")) : report::Value(int64_t{status}), f.first,
           f.second});
  return t;
}

}  // namespace gpumix::loadgen
