// The analysis of time-slice traces (pure): from when each probe process was
// seen running on the GPU, its slices, the gaps between them, the cost of a
// context switch and the share of wall time some process ran.
//
// Input: per process, intervals of GPU time (global-timer nanoseconds, one
// clock for every context) during which its spin kernel's consecutive timer
// reads were close together. Breaks shorter than `min_gap_ns` are hiccups
// (timer jitter, an SM briefly busy with the driver's work), not switches:
// they are merged into the slice around them and counted.
//
// Only the common window counts: from the moment the last process started to
// the moment the first one finished, all of them were competing. Slices cut by
// the window's edges are truncated: they count as running time but not in the
// slice-length statistics.
//
// A switch is a slice of one process starting at or after the end of
// everything that ran before it, the latest of which belonged to another
// process; the idle time in between is that switch's overhead. A slice that
// starts while another process still runs (MPS: contexts run side by side) is
// a concurrent start, not a switch; gaps then mean waiting, not switching.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gpumix::probe {

struct Interval {
  int64_t start_ns = 0;
  int64_t end_ns = 0;
};

// Breaks shorter than this are hiccups. 50 µs: well above the timer's
// granularity and the hiccups seen on an idle H100 (a few µs), well below any
// time slice (milliseconds).
inline constexpr int64_t kDefaultMinGapNs = 50'000;

struct TraceOptions {
  int64_t min_gap_ns = kDefaultMinGapNs;
};

// Percentiles and mean of a set of durations, in microseconds.
struct Spread {
  int64_t count = 0;
  std::optional<double> p10, p50, p90, mean;
};

struct ProcessTrace {
  int64_t slices = 0;           // inside the window, truncated ones too
  int64_t complete_slices = 0;  // not cut by the window's edges
  int64_t hiccups = 0;          // breaks shorter than min_gap_ns, merged away
  double running_us = 0;        // inside the window
  double share = 0;             // running_us ÷ wall_us
  Spread slice_us;
};

struct TraceAnalysis {
  bool valid = false;
  std::string note;  // why not valid, or what to be aware of
  int processes = 0;
  int64_t window_start_ns = 0, window_end_ns = 0;
  double wall_us = 0;
  Spread slice_us;            // complete slices of all processes
  Spread gap_us;              // between consecutive slices of one process
  Spread switch_overhead_us;  // idle time at each switch
  int64_t switches = 0;
  int64_t concurrent_starts = 0;  // slices that began while another process ran
  int64_t idle_resumes = 0;       // a process resuming after idle time with no one else in between
  int64_t hiccups = 0;
  double idle_us = 0;       // wall time no process ran
  double efficiency = 0;    // time some process ran ÷ wall time
  double concurrency = 0;   // Σ running time ÷ wall time (1 under time slicing, up to n under MPS)
  std::vector<ProcessTrace> per_process;
};

// Throws InputError for an interval that ends before it starts.
TraceAnalysis analyze_trace(const std::vector<std::vector<Interval>>& processes, const TraceOptions& options = {});

// The spread of `values_us` (any order); count 0 and no figures when empty.
Spread spread_of(std::vector<double> values_us);

}  // namespace gpumix::probe
