#include "gpumix/probe/trace.hpp"

#include <algorithm>
#include <limits>
#include <numeric>

#include "gpumix/analysis/stats.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::probe {
namespace {

double us(int64_t ns) { return static_cast<double>(ns) / 1e3; }

struct Slice {
  int64_t start = 0, end = 0;
  int process = 0;
  bool truncated = false;
};

// Sorted, overlaps and hiccups merged.
std::vector<Interval> merge(std::vector<Interval> raw, int64_t min_gap_ns, int64_t& hiccups) {
  std::sort(raw.begin(), raw.end(), [](const Interval& a, const Interval& b) { return a.start_ns < b.start_ns; });
  std::vector<Interval> out;
  for (const auto& i : raw) {
    if (!out.empty() && i.start_ns - out.back().end_ns < min_gap_ns) {
      if (i.start_ns > out.back().end_ns) ++hiccups;
      out.back().end_ns = std::max(out.back().end_ns, i.end_ns);
    } else {
      out.push_back(i);
    }
  }
  return out;
}

}  // namespace

Spread spread_of(std::vector<double> values_us) {
  Spread s;
  s.count = static_cast<int64_t>(values_us.size());
  s.mean = analysis::mean(values_us);
  auto p = analysis::percentiles(std::move(values_us), {10, 50, 90});
  s.p10 = p[0];
  s.p50 = p[1];
  s.p90 = p[2];
  return s;
}

TraceAnalysis analyze_trace(const std::vector<std::vector<Interval>>& processes, const TraceOptions& options) {
  TraceAnalysis a;
  a.processes = static_cast<int>(processes.size());
  if (processes.empty()) {
    a.note = "no process traces";
    return a;
  }
  std::vector<std::vector<Interval>> merged;
  int64_t window_start = std::numeric_limits<int64_t>::min(), window_end = std::numeric_limits<int64_t>::max();
  a.per_process.resize(processes.size());
  for (size_t p = 0; p < processes.size(); ++p) {
    for (const auto& i : processes[p])
      if (i.end_ns < i.start_ns)
        throw InputError("trace of process " + std::to_string(p) + ": interval ends (" + std::to_string(i.end_ns) +
                         ") before it starts (" + std::to_string(i.start_ns) + ")");
    if (processes[p].empty()) {
      a.note = "process " + std::to_string(p) + " recorded no running time";
      return a;
    }
    merged.push_back(merge(processes[p], options.min_gap_ns, a.per_process[p].hiccups));
    a.hiccups += a.per_process[p].hiccups;
    window_start = std::max(window_start, merged.back().front().start_ns);
    window_end = std::min(window_end, merged.back().back().end_ns);
  }
  if (window_end <= window_start) {
    a.note = "the processes never ran at the same time (no common window)";
    return a;
  }
  a.window_start_ns = window_start;
  a.window_end_ns = window_end;
  a.wall_us = us(window_end - window_start);

  // Clip to the window.
  std::vector<Slice> all;
  std::vector<double> slice_lengths, gaps;
  double running_total = 0;
  for (size_t p = 0; p < merged.size(); ++p) {
    auto& pt = a.per_process[p];
    std::vector<double> own_lengths;
    const Slice* prev = nullptr;
    std::vector<Slice> own;
    for (const auto& i : merged[p]) {
      Slice s{std::max(i.start_ns, window_start), std::min(i.end_ns, window_end), static_cast<int>(p), false};
      if (s.end <= s.start) continue;
      s.truncated = i.start_ns <= window_start || i.end_ns >= window_end;
      own.push_back(s);
    }
    for (const auto& s : own) {
      ++pt.slices;
      pt.running_us += us(s.end - s.start);
      if (!s.truncated) {
        ++pt.complete_slices;
        own_lengths.push_back(us(s.end - s.start));
      }
      if (prev) gaps.push_back(us(s.start - prev->end));
      prev = &s;
    }
    pt.share = pt.running_us / a.wall_us;
    running_total += pt.running_us;
    slice_lengths.insert(slice_lengths.end(), own_lengths.begin(), own_lengths.end());
    pt.slice_us = spread_of(std::move(own_lengths));
    all.insert(all.end(), own.begin(), own.end());
  }
  a.slice_us = spread_of(slice_lengths);
  a.gap_us = spread_of(gaps);
  a.concurrency = running_total / a.wall_us;

  // Union, switches and their idle time, in start order.
  std::sort(all.begin(), all.end(), [](const Slice& x, const Slice& y) {
    return x.start != y.start ? x.start < y.start : x.end < y.end;
  });
  std::vector<double> overheads;
  int64_t covered_until = window_start, union_ns = 0;
  int owner = -1;
  for (const auto& s : all) {
    if (owner >= 0 && s.start < covered_until) {
      if (s.process != owner) ++a.concurrent_starts;
    } else if (owner >= 0) {
      if (s.process != owner) {
        ++a.switches;
        overheads.push_back(us(s.start - covered_until));
      } else {
        ++a.idle_resumes;
      }
    }
    const int64_t from = std::max(s.start, covered_until);
    if (s.end > from) union_ns += s.end - from;
    if (s.end > covered_until || owner < 0) {
      covered_until = std::max(covered_until, s.end);
      owner = s.process;
    }
  }
  a.switch_overhead_us = spread_of(std::move(overheads));
  a.efficiency = us(union_ns) / a.wall_us;
  a.idle_us = a.wall_us - us(union_ns);
  a.valid = true;
  if (a.processes > 1 && a.switches == 0 && a.concurrent_starts == 0)
    a.note = "no switch seen in the window: the processes may have run one after another";
  return a;
}

}  // namespace gpumix::probe
