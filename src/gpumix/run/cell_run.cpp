#include "gpumix/run/cell_run.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "gpumix/modes/registry.hpp"
#include "gpumix/run/orphan_guard.hpp"
#include "gpumix/run/process_launcher.hpp"
#include "gpumix/run/runner.hpp"
#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/signals.hpp"
#include "gpumix/util/text.hpp"
#include "gpumix/json_text.hpp"

namespace gpumix::run {

using store::WorkloadStatus;

namespace {

// How long a command with no `warmup` may stay silent before it is taken not
// to speak the metrics protocol (and to be ready since its start).
constexpr auto kDetectSilence = std::chrono::seconds(5);

double seconds(CellRun::Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// The wall clock at a steady-clock time point (the store keeps Unix time).
int64_t unix_ns_at(CellRun::Clock::time_point t) {
  return store::now_ns() - std::chrono::duration_cast<std::chrono::nanoseconds>(CellRun::Clock::now() - t).count();
}

}  // namespace

CellRun::CellRun(const CellEnvironment& env, const Cell& cell)
    : env_(env), cell_(cell), cell_dir_(env.run_dir / (std::to_string(cell.index + 1) + "-" + cell.label)) {}

CellRun::~CellRun() = default;

void CellRun::add_rows() {
  std::filesystem::create_directories(cell_dir_);
  store::CellRow row;
  row.run_id = env_.run_id;
  row.index = cell_.index;
  row.label = cell_.label;
  row.mode = cell_.mode;
  row.repeat = cell_.repeat;
  row.baseline = cell_.baseline;
  cell_id_ = env_.store.begin_cell(row);
  for (auto* o : env_.observers) o->cell_started(cell_id_, cell_.label);

  // Every workload gets a row before anything starts, so a cell that fails in
  // setup still shows what it would have run.
  slots_.reserve(cell_.workloads.size());
  for (size_t wi : cell_.workloads) {
    Slot s;
    s.spec = &env_.mix.workloads[wi];
    s.row.cell_id = cell_id_;
    s.row.name = s.spec->name;
    s.row.role = s.spec->role;
    s.row.argv_json = json_text(nlohmann::json(s.spec->argv));
    nlohmann::json slos = nlohmann::json::array();
    for (const auto& slo : s.spec->slos)
      slos.push_back({{"metric", spec::to_string(slo.metric)}, {"percentile", slo.percentile}, {"ms", to_seconds(slo.limit) * 1e3}});
    s.row.slo_json = json_text(slos);
    s.row.stdout_path = (cell_dir_ / (s.spec->name + ".stdout")).string();
    s.row.stderr_path = (cell_dir_ / (s.spec->name + ".stderr")).string();
    s.row.id = env_.store.add_workload(s.row);
    slots_.push_back(std::move(s));
  }
  for (auto& s : slots_) by_id_[s.row.id] = &s;

  // Awaited: starts in the warm-up, so the window waits for it. A workload
  // with a start_delay starts that long into the window, and so does one
  // that starts after it: they are measured from their start to the window's end.
  for (auto& s : slots_) {
    const Slot* cur = &s;
    for (size_t hops = 0; cur && hops <= slots_.size(); ++hops) {
      if (cur->spec->start_delay.count() > 0) {
        s.awaited = false;
        break;
      }
      cur = cur->spec->start_after ? slot_named(*cur->spec->start_after) : nullptr;
    }
  }
}

CellRun::Slot* CellRun::slot_named(const std::string& name) {
  for (auto& s : slots_)
    if (s.spec->name == name) return &s;
  return nullptr;
}

void CellRun::log_finish(const Slot& s) const {
  const auto status = s.row.status;
  // A skipped cell says why once, not once per workload.
  const auto level = status == WorkloadStatus::skipped ? spdlog::level::debug
                     : store::is_success(status)       ? spdlog::level::info
                                                       : spdlog::level::warn;
  spdlog::log(level, "  {}: {}{}{}", s.spec->name, store::to_string(status), s.row.reason.empty() ? "" : " - ", s.row.reason);
}

void CellRun::finish(Slot& s, WorkloadStatus status, const std::string& reason) {
  if (s.phase == Phase::running || s.phase == Phase::stopping)
    for (auto* o : env_.observers) o->workload_ended(cell_id_, s.row.id);
  s.phase = Phase::done;
  s.row.status = status;
  s.row.reason = reason;
  if (!s.row.ended_ns) s.row.ended_ns = store::now_ns();
  env_.store.workload_finished(s.row);
  log_finish(s);
}

void CellRun::take_evidence() {
  std::vector<modes::RunningProcess> running;
  for (const auto& s : slots_)
    if (s.phase == Phase::running) running.push_back({s.spec->name, s.proc->pid()});
  if (running.empty()) return;
  evidence_taken_ = true;
  // The mode's proof, beside what the cell recorded itself (warmup_s, late_ready).
  const auto own = evidence_;
  try {
    evidence_ = mode_->evidence(running);
    evidence_["taken_after_s"] = seconds(Clock::now() - cell_start_);
  } catch (const std::exception& e) {
    evidence_ = {{"error", e.what()}};
  }
  for (auto it = own.begin(); it != own.end(); ++it) evidence_[it.key()] = it.value();
  env_.store.set_evidence(cell_id_, json_text(evidence_));
}

void CellRun::enter(CellPhase phase) {
  if (phase_ && *phase_ >= phase) return;
  phase_ = phase;
  for (auto* o : env_.observers) o->cell_phase(cell_id_, cell_, phase);
}

void CellRun::request_stop(Slot& s, StopCause cause) {
  if (s.phase != Phase::running) return;
  if (!evidence_taken_ && window_open_) take_evidence();
  s.cause = cause;
  s.phase = Phase::stopping;
  s.stop_sent = Clock::now();
  s.proc->signal(SIGTERM);
}

void CellRun::mark_ready(Slot& s, Clock::time_point at) {
  if (s.ready_at) return;
  s.ready_at = at;
  s.row.ready_ns = at == s.started ? s.row.started_ns : unix_ns_at(at);
  env_.store.workload_ready(s.row.id, s.row.ready_ns);
}

void CellRun::handle(const std::vector<Event>& events) {
  if (!events.empty())
    for (auto* o : env_.observers) o->workload_events(events);
  for (const auto& e : events) {
    Slot& s = *by_id_.at(e.workload_id);
    s.spoke = true;
    const auto now = Clock::now();
    if (e.ev == "ready" && !s.reported_ready) {
      s.reported_ready = true;
      auto j = nlohmann::json::parse(e.data, nullptr, false);
      if (j.is_object() && j.contains("url") && j["url"].is_string()) s.ready_url = j["url"].get<std::string>();
      if (j.is_object() && j.contains("model") && j["model"].is_string()) s.ready_model = j["model"].get<std::string>();
      if (s.spec->warmup.kind == spec::WarmupKind::ready || s.spec->warmup.kind == spec::WarmupKind::detect) {
        if (!s.ready_at) {
          mark_ready(s, now);
        } else if (window_open_ && s.spec->warmup.kind == spec::WarmupKind::detect) {
          // Taken for a workload that does not report ready, it did after
          // all: its window held part of its warm-up. Kept for the analysis.
          evidence_["late_ready"][s.spec->name] = seconds(now - *window_open_);
          spdlog::warn("  {}: reported ready {:.1f}s after the window opened; set `warmup: ready` so the window waits for it",
                       s.spec->name, seconds(now - *window_open_));
          if (evidence_taken_) env_.store.set_evidence(cell_id_, json_text(evidence_));
        }
      }
    }
    if (e.ev == "iter" && window_open_) ++s.window_iterations;
    if (e.ev == "error") {
      auto j = nlohmann::json::parse(e.data, nullptr, false);
      s.last_error = j.is_object() && j.contains("msg") && j["msg"].is_string() ? j["msg"].get<std::string>() : e.data;
    }
    if (s.spec->stop.kind == spec::StopKind::iterations && s.window_iterations >= s.spec->stop.iterations)
      request_stop(s, StopCause::planned);
  }
}

void CellRun::start(Slot& s) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    finish(s, WorkloadStatus::failed, std::string("cannot create metrics pipe: ") + std::strerror(errno));
    return;
  }
  LaunchRequest req;
  req.name = s.spec->name;
  req.argv = s.spec->argv;
  req.env = s.spec->env;
  for (auto& [k, v] : mode_->env_for(*s.spec)) req.env[k] = v;
  req.env[env_vars::kMetricsFd] = std::to_string(pipe_fds[1]);
  req.env[env_vars::kWorkload] = s.spec->name;
  req.env[env_vars::kCell] = cell_.label;
  req.env[env_vars::kMode] = cell_.mode;
  req.env[env_vars::kSeed] = std::to_string(spec::workload_seed(env_.mix.seed, s.spec->name));
  req.env[env_vars::kRunDir] = env_.run_dir.string();
  req.env[env_vars::kRunToken] = env_.run_token;
  // A client started after a server learns where it listens.
  if (s.spec->start_after)
    if (const Slot* dep = slot_named(*s.spec->start_after)) {
      if (!dep->ready_url.empty()) req.env[env_vars::kAfterUrl] = dep->ready_url;
      if (!dep->ready_model.empty()) req.env[env_vars::kAfterModel] = dep->ready_model;
    }
  req.workdir = s.spec->workdir;
  req.stdout_path = s.row.stdout_path;
  req.stderr_path = s.row.stderr_path;
  req.metrics_fd = pipe_fds[1];
  req.cgroup = cgroup_;
  if (s.spec->launcher == spec::LauncherKind::container) {
    req.container = &s.spec->container;
    req.container_needs = mode_->container_needs();
    req.container_name = "gpumix-" + std::to_string(env_.run_id) + "-" + cell_.label + "-" + s.spec->name;
  }
  try {
    s.proc = env_.launcher.start(req);
  } catch (const std::exception& e) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    finish(s, WorkloadStatus::failed, e.what());
    return;
  }
  ::close(pipe_fds[1]);
  collector_->add(s.row.id, pipe_fds[0]);
  s.phase = Phase::running;
  s.started = Clock::now();
  s.row.pid = s.proc->pid();
  s.row.started_ns = store::now_ns();
  env_.store.workload_started(s.row.id, s.row.pid, s.row.started_ns);
  spdlog::debug("  {}: started, pid {}: {}", s.spec->name, s.row.pid, join(s.spec->argv, " "));
  for (auto* o : env_.observers) o->workload_started(cell_id_, s.row.id, s.spec->name, s.row.pid);
  if (s.spec->warmup.kind == spec::WarmupKind::none) mark_ready(s, s.started);
}

void CellRun::on_exit(Slot& s, const ExitInfo& exit) {
  handle(collector_->finish(s.row.id));
  s.row.exit_code = exit.exit_code;
  s.row.signal = exit.signal;
  s.row.peak_rss_kb = exit.peak_rss_kb;
  s.row.ended_ns = store::now_ns();

  ExitFacts f;
  f.cause = s.cause;
  f.killed = s.killed;
  f.exit_code = exit.exit_code;
  f.signal = exit.signal;
  f.stop_kind = s.spec->stop.kind;
  f.how = !exit.how.empty() ? exit.how
          : exit.signal     ? "killed by " + signal_name(*exit.signal)
                            : "exit status " + std::to_string(exit.exit_code.value_or(-1));
  f.detail = !s.last_error.empty() ? s.last_error : last_output_line(s.row.stderr_path);
  f.stop_grace = format_duration(env_.mix.stop_grace);
  f.ran_s = seconds(Clock::now() - s.started);
  f.timeout = s.spec->timeout ? format_duration(*s.spec->timeout) : "";
  f.setup_timeout = format_duration(env_.mix.setup_timeout);
  f.window = format_duration(env_.mix.cell_duration);
  if (s.spoke && !s.reported_ready && s.spec->warmup.kind != spec::WarmupKind::duration)
    f.not_ready_hint = "it reported events but never `ready`: report it after the warm-up, or declare `warmup: none` or a duration";
  f.expected = s.spec->stop.kind == spec::StopKind::iterations
                   ? std::to_string(s.spec->stop.iterations) + " iterations in the window (reported " +
                         std::to_string(s.window_iterations) + ")"
               : s.spec->stop.duration ? "a duration of " + format_duration(*s.spec->stop.duration)
                                       : "running until the window closes";
  auto d = decide_status(f);
  if (const int64_t dropped = collector_->dropped(s.row.id); dropped > 0) {
    // Its events past the collector's rate were counted, not stored (each
    // second's count is a `dropped` event); said where the status is.
    d.reason += fmt::format("{}{} metrics events not stored: more than {} events/s", d.reason.empty() ? "" : "; ", dropped,
                            env_.max_events_per_second);
    evidence_["dropped_events"][s.spec->name] = dropped;
    if (evidence_taken_) env_.store.set_evidence(cell_id_, json_text(evidence_));
  }
  finish(s, d.status, d.reason);
}

void CellRun::on_signals(StopSignals& signals) {
  if (signals.count() == 0) return;
  signals.drain();
  if (!interrupted_) {
    interrupted_ = true;
    spdlog::warn("{} received: stopping every workload (again to kill at once)", signal_name(signals.last_signal()));
    enter(CellPhase::stopping);
  }
  for (auto& s : slots_) {
    if (s.phase == Phase::pending) finish(s, WorkloadStatus::not_started, "gpumix was interrupted before it started");
    if (s.phase == Phase::running) request_stop(s, StopCause::interrupted);
    if (s.phase == Phase::stopping && signals.count() > 1 && !s.killed) {
      s.cause = StopCause::interrupted;
      s.killed = true;
      s.proc->signal(SIGKILL);
    }
  }
}

// The warm-up ends when every awaited workload is ready (or has ended); past
// setup_timeout, those not ready are `not_ready` and the rest are stopped.
void CellRun::advance_warmup(Clock::time_point now) {
  if (window_open_ || interrupted_ || warmup_failed_) return;
  for (auto& s : slots_)
    if (s.phase == Phase::running && !s.ready_at && s.spec->warmup.kind == spec::WarmupKind::duration &&
        now - s.started >= s.spec->warmup.duration)
      mark_ready(s, s.started + s.spec->warmup.duration);
  auto settled = [&](const Slot& s) {
    if (!s.awaited || s.phase == Phase::done || s.ready_at) return true;
    // A command that has said nothing for kDetectSilence is taken not to
    // speak the protocol: it is ready at its start.
    return s.phase == Phase::running && s.spec->warmup.kind == spec::WarmupKind::detect && !s.spoke &&
           now - s.started >= kDetectSilence;
  };
  if (std::all_of(slots_.begin(), slots_.end(), settled)) {
    open_window(now);
    return;
  }
  if (now - cell_start_ < env_.mix.setup_timeout) return;
  warmup_failed_ = true;
  std::vector<std::string> late;
  for (const auto& s : slots_)
    if (s.phase == Phase::running && !settled(s)) late.push_back(s.spec->name);
  spdlog::warn("  warm-up: {} not ready within setup_timeout {}: the cell measures nothing", fmt::join(late, ", "),
               format_duration(env_.mix.setup_timeout));
  enter(CellPhase::stopping);
  for (auto& s : slots_) {
    if (s.phase == Phase::pending)
      finish(s, WorkloadStatus::not_started, "the cell's warm-up failed before it could start (not ready: " +
                                                 join(late, ", ") + ")");
    else
      request_stop(s, settled(s) ? StopCause::warmup_failed : StopCause::not_ready);
  }
}

void CellRun::open_window(Clock::time_point now) {
  window_open_ = now;
  window_close_ = now + env_.mix.cell_duration;
  window_start_ns_ = unix_ns_at(now);
  // A silent command's warm-up ended when it started.
  for (auto& s : slots_)
    if (s.phase == Phase::running && !s.ready_at) mark_ready(s, s.started);
  // Recorded now, so a crash of gpumix mid-window still leaves the start.
  env_.store.set_window(cell_id_, window_start_ns_, 0);
  evidence_["warmup_s"] = seconds(now - cell_start_);
  std::vector<std::string> ready;
  for (const auto& s : slots_)
    if (s.ready_at && s.awaited) ready.push_back(fmt::format("{} {:.1f}s", s.spec->name, seconds(*s.ready_at - cell_start_)));
  spdlog::info("  warm-up {:.1f}s{}{}; measuring for {}", seconds(now - cell_start_), ready.empty() ? "" : " (ready: ",
               ready.empty() ? "" : fmt::format("{})", fmt::join(ready, ", ")), format_duration(env_.mix.cell_duration));
  enter(CellPhase::measuring);
}

// An awaited workload starts at once, or once the workload it starts after is
// ready; any other starts start_delay into the window (and not before that one).
void CellRun::start_due(Clock::time_point now) {
  for (auto& s : slots_) {
    if (s.phase != Phase::pending || interrupted_ || warmup_failed_) continue;
    if (now >= window_close_) {
      finish(s, WorkloadStatus::not_started, "the window closed before its start condition was met");
      continue;
    }
    if (const Slot* dep = s.spec->start_after ? slot_named(*s.spec->start_after) : nullptr) {
      // Absent: a baseline cell without it; start on time.
      if (dep->phase == Phase::done && !dep->ready_at) {
        finish(s, WorkloadStatus::not_started, "'" + dep->spec->name + "' ended before it was ready");
        continue;
      }
      if (!dep->ready_at) continue;
    }
    if (!s.awaited && (!window_open_ || now < *window_open_ + s.spec->start_delay)) continue;
    start(s);
  }
}

// Stop conditions, timeouts, the window's end and the grace period.
void CellRun::enforce_limits(Clock::time_point now) {
  if (now >= window_close_ && phase_ == CellPhase::measuring) {
    spdlog::info("  window closed after {}: stopping", format_duration(env_.mix.cell_duration));
    enter(CellPhase::stopping);
  }
  for (auto& s : slots_) {
    if (s.phase == Phase::running) {
      // A stop.duration counts in the window (from its start, when later).
      if (s.spec->timeout && now - s.started >= *s.spec->timeout)
        request_stop(s, StopCause::timeout);
      else if (s.spec->stop.kind == spec::StopKind::duration && s.spec->stop.duration && window_open_ &&
               now - std::max(s.started, *window_open_) >= *s.spec->stop.duration)
        request_stop(s, StopCause::planned);
      else if (now >= window_close_)
        request_stop(s, StopCause::window_end);
    }
    if (s.phase == Phase::stopping && !s.killed && now - s.stop_sent >= env_.mix.stop_grace) {
      s.killed = true;
      s.proc->signal(SIGKILL);
    }
  }
  if (window_open_ && !evidence_taken_) {
    const bool all_up = std::all_of(slots_.begin(), slots_.end(), [](const Slot& s) {
      return s.phase == Phase::running || !s.awaited;
    });
    if (all_up || now >= *window_open_ + env_.mix.cell_duration / 2) take_evidence();
  }
}

void CellRun::reap() {
  for (auto& s : slots_) {
    if (s.phase != Phase::running && s.phase != Phase::stopping) continue;
    if (auto exit = s.proc->poll()) on_exit(s, *exit);
  }
}

bool CellRun::all_done() const {
  return std::all_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.phase == Phase::done; });
}

// Metrics, a signal, or the next deadline (at most 50 ms, which also bounds
// how late an exit or a ready is noticed).
void CellRun::wait_for_input(StopSignals& signals) {
  auto fds = collector_->pollfds();
  fds.push_back({signals.fd(), POLLIN, 0});
  if (::poll(fds.data(), fds.size(), 50) <= 0) return;
  for (const auto& p : fds) {
    if (p.fd == signals.fd() || !(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
    handle(collector_->on_readable(p.fd));
  }
}

CellOutcome CellRun::run(StopSignals& signals) {
  add_rows();
  struct CellEndNotice {  // on every way out of this function
    CellRun& run;
    ~CellEndNotice() {
      for (auto* o : run.env_.observers) o->cell_ended(run.cell_id_);
    }
  } cell_end_notice{*this};
  // Its index as --cell-index takes it, then its place in the plan.
  spdlog::info("cell {} ({}/{}) {}: {} workload(s), mode {}", cell_.index, cell_.index + 1, env_.plan_size, cell_.label,
               cell_.workloads.size(), cell_.mode);
  enter(CellPhase::setup);

  mode_ = modes::make_mode(cell_.mode, env_.mix, {env_.nvml, env_.run_token});
  modes::CellContext ctx{cell_.label, cell_dir_, {}};
  for (const auto& s : slots_) ctx.workloads.push_back(s.spec);
  CellOutcome outcome;
  try {
    session_ = std::make_unique<modes::ModeSession>(*mode_, ctx);
  } catch (const modes::ModeUnavailable& e) {
    // The mode cannot exist on this machine (no GPU, MIG off, no MPS): skip.
    for (auto& s : slots_) finish(s, WorkloadStatus::skipped, std::string("mode ") + cell_.mode + " unavailable: " + e.what());
    env_.store.end_cell(cell_id_, store::CellStatus::skipped, e.what());
    spdlog::warn("cell {}: skipped: mode {} is unavailable: {}", cell_.label, cell_.mode, e.what());
    outcome.status = store::CellStatus::skipped;
    return outcome;
  } catch (const std::exception& e) {
    for (auto& s : slots_) finish(s, WorkloadStatus::not_started, std::string("mode setup failed: ") + e.what());
    env_.store.end_cell(cell_id_, store::CellStatus::failed, e.what());
    spdlog::error("cell {}: mode {} setup failed: {}", cell_.label, cell_.mode, e.what());
    outcome.status = store::CellStatus::failed;
    outcome.failed = static_cast<int>(slots_.size());
    return outcome;
  }

  if (env_.cgroup && env_.cgroup->usable()) {
    std::string why;
    if (auto dir = env_.cgroup->make_child("cell-" + std::to_string(cell_.index + 1), &why)) {
      cgroup_ = *dir;
    } else {
      spdlog::warn("cell {}: no cgroup ({}): its workloads are found by the run token only", cell_.label, why);
      evidence_["containment"] = "no cgroup: " + why;
    }
  }
  collector_ = std::make_unique<Collector>(env_.store, env_.max_events_per_second);
  cell_start_ = Clock::now();
  enter(CellPhase::warmup);
  for (;;) {
    on_signals(signals);
    const auto now = Clock::now();
    start_due(now);
    advance_warmup(now);
    start_due(now);  // what the window's opening released
    enforce_limits(now);
    reap();
    if (all_done()) break;
    for (auto* o : env_.observers) o->heartbeat();
    wait_for_input(signals);
  }
  return finish_cell();
}

CellOutcome CellRun::finish_cell() {
  // The window closed at its planned end, or earlier when every workload ended.
  if (window_open_) {
    const auto closed = std::min(window_close_, Clock::now());
    env_.store.set_window(cell_id_, window_start_ns_, unix_ns_at(closed));
  }
  // Mode teardown, before sweeping up what it may have started.
  if (auto report = session_->finish(); !report.is_null()) evidence_["teardown"] = report;
  env_.store.set_evidence(cell_id_, json_text(evidence_));
  // Everything its workloads started, wherever it went (setsid, a double
  // fork, a cleared environment), is in the cell's cgroup.
  if (!cgroup_.empty())
    if (int n = kill_cgroup(cgroup_); n > 0)
      spdlog::warn("cell {}: killed {} process(es) its workloads left in its cgroup", cell_.label, n);
  if (auto killed = kill_adopted({env_.guard_pid}); !killed.empty())
    spdlog::warn("cell {}: killed {} orphaned process(es) left by workloads: {}", cell_.label, killed.size(),
                 fmt::join(killed, ", "));

  CellOutcome outcome;
  std::vector<std::string> failed;
  for (const auto& s : slots_) {
    if (store::is_success(s.row.status)) continue;
    ++outcome.failed;
    failed.push_back(s.spec->name + ": " + store::to_string(s.row.status));
  }
  std::string failures = join(failed, "; ");
  if (warmup_failed_) failures = "warm-up failed (" + failures + ")";
  outcome.status = interrupted_     ? store::CellStatus::interrupted
                   : warmup_failed_ ? store::CellStatus::failed
                   : outcome.failed ? store::CellStatus::degraded
                                    : store::CellStatus::ok;
  env_.store.end_cell(cell_id_, outcome.status, failures);
  return outcome;
}

}  // namespace gpumix::run
