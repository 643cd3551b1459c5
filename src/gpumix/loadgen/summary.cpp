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

// What `slo` limits, of a successful request (a one-token completion's TPOT is 0).
Duration slo_value(const Slo& slo, const Record& r) {
  switch (slo.metric) {
    case SloMetric::ttft: return r.ttft.value_or(r.latency);
    case SloMetric::tpot: return r.tpot.value_or(Duration{});
    case SloMetric::e2e: break;
  }
  return r.latency;
}

// TTFT and TPOT over the successful requests, inter-token gaps over their
// tokens, output tokens, and goodput: the requests meeting every objective's
// limit (vLLM benchmark_serving's --goodput), per second over `over`.
TokenStats token_stats(const LoadResult& result, const std::vector<Slo>& slos, double over) {
  TokenStats t;
  std::vector<double> ttft, tpot, itl;
  for (const auto& r : result.records) {
    if (r.outcome != Outcome::ok) continue;
    if (r.ttft) ttft.push_back(to_ms(*r.ttft));
    if (r.tpot) tpot.push_back(to_ms(*r.tpot));
    for (auto gap : r.itl) itl.push_back(to_ms(gap));
    t.output_tokens += r.output_tokens;
    if (!slos.empty() &&
        std::all_of(slos.begin(), slos.end(), [&](const Slo& s) { return slo_value(s, r) <= s.limit; }))
      ++t.good;
  }
  t.ttft_mean = analysis::mean(ttft);
  t.tpot_mean = analysis::mean(tpot);
  auto a = analysis::percentiles(std::move(ttft), {50, 90, 99});
  t.ttft_p50 = a[0], t.ttft_p90 = a[1], t.ttft_p99 = a[2];
  auto b = analysis::percentiles(std::move(tpot), {50, 90, 99});
  t.tpot_p50 = b[0], t.tpot_p90 = b[1], t.tpot_p99 = b[2];
  auto c = analysis::percentiles(std::move(itl), {50, 99});
  t.itl_p50 = c[0], t.itl_p99 = c[1];
  t.output_tps = over > 0 ? static_cast<double>(t.output_tokens) / over : 0;
  if (!slos.empty()) t.goodput_rps = over > 0 ? static_cast<double>(t.good) / over : 0;
  return t;
}

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
  std::vector<int64_t> within(slos.size(), 0);  // successful requests within each objective's limit
  for (const auto& r : result.records) {
    ++s.requests;
    if (r.late) ++s.late;
    switch (r.outcome) {
      case Outcome::ok:
        ok_ms.push_back(to_ms(r.latency));
        for (size_t i = 0; i < slos.size(); ++i) within[i] += slo_value(slos[i], r) <= slos[i].limit;
        break;
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
  for (size_t i = 0; i < slos.size(); ++i) {
    SloResult r{slos[i]};
    r.attainment = s.requests > 0 ? static_cast<double>(within[i]) / static_cast<double>(s.requests) : 0;
    r.met = s.requests > 0 && r.attainment >= slos[i].percentile / 100.0;
    s.slos.push_back(r);
  }
  if (result.streamed) s.tokens = token_stats(result, slos, over);
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
  // Streamed completions: tokens instead of the request latency's full tail.
  const bool streamed = !rows.empty() && rows.front().tokens;
  t.columns = {"offered_rps", "concurrency", "achieved_rps", "requests", "ok", "errors", "timeouts", "late"};
  const std::vector<std::string> latency = {"p50_ms", "p90_ms", "p95_ms", "p99_ms", "p99.9_ms", "mean_ms", "max_ms"};
  const std::vector<std::string> tokens = {"ttft_p50_ms", "ttft_p90_ms", "ttft_p99_ms", "tpot_p50_ms", "tpot_p90_ms",
                                           "tpot_p99_ms", "itl_p50_ms",  "itl_p99_ms",  "e2e_p50_ms",  "e2e_p99_ms",
                                           "output_tok/s", "goodput_rps"};
  for (const auto& c : streamed ? tokens : latency) t.columns.push_back(c);
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
        s.late};
    if (streamed) {
      const TokenStats none;
      const TokenStats& k = s.tokens ? *s.tokens : none;
      for (const auto* v : {&k.ttft_p50, &k.ttft_p90, &k.ttft_p99, &k.tpot_p50, &k.tpot_p90, &k.tpot_p99, &k.itl_p50,
                            &k.itl_p99, &s.p50, &s.p99})
        row.push_back(report::opt(*v));
      row.push_back(k.output_tps);
      row.push_back(report::opt(k.goodput_rps));
    } else {
      for (const auto* v : {&s.p50, &s.p90, &s.p95, &s.p99, &s.p999, &s.mean, &s.max}) row.push_back(report::opt(*v));
    }
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
