// What `gpumix run` shows while it runs (run/progress.hpp draws it): each
// workload's live rates, the cell's and the run's remaining time, and the
// text of the status line. Pure: state in, text out.
//
// Live rates follow the analysis's definitions (analysis/summary.hpp) over the
// last few seconds instead of the window: samples/s counts each `iter` step's
// samples spread evenly over the step, req/s the successful `latency` events,
// p99 the shared percentile (gpumix/percentile.hpp) once there are as many
// requests as the analysis's evidence gate asks for. They are indicative: the
// figures that count are the window's, in the table at the end.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gpumix/run/metrics_line.hpp"
#include "gpumix/run/observer.hpp"

namespace gpumix::run {

// How far back the live rates look.
inline constexpr std::chrono::seconds kLiveSpan{5};

struct LiveFigures {
  std::optional<double> samples_per_s;   // from `iter` events
  std::optional<double> requests_per_s;  // from `latency` events
  std::optional<double> p99_ms;
};

// One workload's events of the last kLiveSpan (Unix ns, as events carry).
class LiveRate {
 public:
  // `p99_requests`: requests a p99 needs (spec::EvidenceGates::requests_for(99)).
  explicit LiveRate(int64_t p99_requests = 100, std::chrono::nanoseconds span = kLiveSpan)
      : p99_requests_(p99_requests), span_ns_(span.count()) {}
  void add(const Event& e);
  // The figures over (now − span, now]; absent until there is something to
  // divide: two `iter` events, or a `latency` event after the first.
  LiveFigures at(int64_t now_ns);

 private:
  void prune(int64_t now_ns);

  int64_t p99_requests_;
  int64_t span_ns_;
  // (t, samples since the first iter) of each iter: the piecewise-linear count
  // of the analysis (summary.cpp, Progress). One older than the span is kept
  // to cut its step at the span's start.
  std::deque<std::pair<int64_t, double>> iters_;
  double samples_total_ = 0;
  std::optional<int64_t> first_iter_ns_, first_request_ns_;
  std::deque<std::pair<int64_t, double>> requests_;  // (t, ms) of successful requests
};

struct LiveWorkload {
  enum class State { pending, running, ended };
  std::string name;
  State state = State::pending;
  LiveFigures figures;
};

// A point of the run, as the status line shows it.
struct ProgressState {
  // The cell: its index as --cell-index takes it, of plan_size.
  int index = 0;
  size_t plan_size = 0;
  std::string mode;
  int repeat = 1;
  bool baseline = false;
  CellPhase phase = CellPhase::setup;
  double cell_elapsed_s = 0;
  double phase_elapsed_s = 0;
  double window_s = 0;                  // the mix's cell_duration
  std::optional<double> window_left_s;  // while measuring
  // The run: cells still to run after this one, and what cells took so far
  // (means; absent before any cell got that far).
  size_t cells_after = 0;
  std::optional<double> warmup_estimate_s;    // cell start → window open (setup and warm-up)
  std::optional<double> winddown_estimate_s;  // window end → cell end (stopping, teardown)
  bool eta_at_most = false;                   // repeats: auto may stop before the plan's end
  std::vector<LiveWorkload> workloads;
};

// A remaining time; `at_least` when a part of it is not known yet (no cell
// has warmed up so far).
struct Remaining {
  double seconds = 0;
  bool at_least = false;
};
Remaining cell_remaining(const ProgressState& s);
Remaining run_remaining(const ProgressState& s);

std::string_view phase_name(CellPhase phase);
// "398", "39.8", "4.12", "12.3k", "1.23M".
std::string compact_number(double v);

// The status line, at most `width` characters (0: no limit): cell, phase,
// times, the run's ETA, then the workloads, as many as fit ("+2 more").
std::string progress_text(const ProgressState& s, size_t width = 0);
// The same as a block of lines for a terminal that can redraw several: the
// cell's line, then the workloads' (indented), each at most `width`.
std::vector<std::string> progress_block(const ProgressState& s, size_t width);

}  // namespace gpumix::run
