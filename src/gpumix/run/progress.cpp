#include "gpumix/run/progress.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>
#include <numeric>

#include "gpumix/store/store.hpp"
#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/units.hpp"

namespace gpumix::run {

namespace {

// How often the terminal's status line is redrawn.
constexpr auto kRedraw = std::chrono::milliseconds(200);

double seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::optional<double> mean(const std::vector<double>& v) {
  if (v.empty()) return std::nullopt;
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

}  // namespace

std::chrono::nanoseconds progress_interval() {
  const char* text = std::getenv(env_vars::kProgressInterval);
  if (!text || !*text) return kDefaultProgressInterval;
  const auto d = parse_duration(text);
  if (!d || *d <= Duration::zero())
    throw InputError(std::string(env_vars::kProgressInterval) + ": expected a duration greater than 0 (e.g. 500ms, 10s), got '" +
                     std::string(text).substr(0, 40) + "'");
  return *d;
}

ProgressObserver::ProgressObserver(const spec::Mix& mix, std::vector<Cell> plan, std::optional<int> only_cell,
                                   std::shared_ptr<terminal::StatusSink> status, std::chrono::nanoseconds interval)
    : mix_(mix),
      plan_(std::move(plan)),
      cells_to_run_(only_cell ? 1 : plan_.size()),
      eta_at_most_(mix.auto_repeats.enabled && !only_cell),
      status_(std::move(status)),
      interval_(interval) {}

ProgressObserver::~ProgressObserver() {
  if (status_) status_->clear();
}

void ProgressObserver::run_started(int64_t) noexcept { last_shown_ = Clock::now(); }

void ProgressObserver::cell_phase(int64_t, const Cell& cell, CellPhase phase) noexcept {
  try {
    const auto now = Clock::now();
    phase_ = phase;
    phase_start_ = now;
    if (phase == CellPhase::setup) {
      // An adaptive plan (gpumix tune) grows as it runs.
      if (static_cast<size_t>(cell.index) >= plan_.size()) {
        plan_.resize(static_cast<size_t>(cell.index) + 1);
        cells_to_run_ = plan_.size();
      }
      cell_ = cell;
      ++cells_started_;
      cell_start_ = now;
      window_open_.reset();
      stopping_since_.reset();
      workloads_.clear();
      by_id_.clear();
      for (size_t wi : cell.workloads) {
        workloads_.push_back({LiveWorkload{mix_.workloads[wi].name}, LiveRate(mix_.evidence.requests_for(99))});
      }
    }
    if (phase == CellPhase::measuring) window_open_ = now;
    if (phase == CellPhase::stopping) stopping_since_ = now;
    update(true);
  } catch (...) {
  }
}

void ProgressObserver::workload_started(int64_t, int64_t workload_id, const std::string& name, pid_t) noexcept {
  for (size_t i = 0; i < workloads_.size(); ++i)
    if (workloads_[i].shown.name == name) {
      workloads_[i].shown.state = LiveWorkload::State::running;
      by_id_[workload_id] = i;
    }
}

void ProgressObserver::workload_events(const std::vector<Event>& events) noexcept {
  try {
    for (const auto& e : events)
      if (auto it = by_id_.find(e.workload_id); it != by_id_.end()) workloads_[it->second].rate.add(e);
  } catch (...) {
  }
}

void ProgressObserver::workload_ended(int64_t, int64_t workload_id) noexcept {
  if (auto it = by_id_.find(workload_id); it != by_id_.end()) workloads_[it->second].shown.state = LiveWorkload::State::ended;
}

void ProgressObserver::heartbeat() noexcept {
  try {
    update(false);
  } catch (...) {
  }
}

void ProgressObserver::cell_ended(int64_t) noexcept {
  try {
    const auto now = Clock::now();
    if (window_open_) warmups_.push_back(seconds(*window_open_ - cell_start_));
    if (stopping_since_) winddowns_.push_back(seconds(now - *stopping_since_));
  } catch (...) {
  }
}

void ProgressObserver::run_ended(int64_t) noexcept {
  if (status_) status_->clear();
}

ProgressState ProgressObserver::state(Clock::time_point now) {
  ProgressState s;
  s.index = cell_->index;
  s.plan_size = plan_.size();
  s.mode = cell_->mode;
  s.repeat = cell_->repeat;
  s.baseline = cell_->baseline;
  s.phase = phase_;
  s.cell_elapsed_s = seconds(now - cell_start_);
  s.phase_elapsed_s = seconds(now - phase_start_);
  s.window_s = to_seconds(mix_.cell_duration);
  if (window_open_) s.window_left_s = std::max(s.window_s - seconds(now - *window_open_), 0.0);
  s.cells_after = cells_to_run_ > cells_started_ ? cells_to_run_ - cells_started_ : 0;
  s.warmup_estimate_s = mean(warmups_);
  s.winddown_estimate_s = mean(winddowns_);
  s.eta_at_most = eta_at_most_;
  const int64_t now_ns = store::now_ns();
  for (auto& w : workloads_) {
    if (w.shown.state == LiveWorkload::State::running) w.shown.figures = w.rate.at(now_ns);
    s.workloads.push_back(w.shown);
  }
  return s;
}

void ProgressObserver::update(bool now_please) {
  if (!cell_) return;
  const auto now = Clock::now();
  if (status_) {
    if (!now_please && now - last_shown_ < kRedraw) return;
    size_t width = terminal::columns(STDERR_FILENO);
    if (width > 1) --width;  // a line that reaches the last column may wrap
    const auto s = state(now);
    status_->show(status_->multiline() ? progress_block(s, width) : std::vector<std::string>{progress_text(s, width)});
  } else {
    // Phase changes are the cells' own log lines; this is the periodic one.
    if (now - last_shown_ < interval_) return;
    spdlog::info("progress: {}", progress_text(state(now)));
  }
  last_shown_ = now;
}

}  // namespace gpumix::run
