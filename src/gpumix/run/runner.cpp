#include "gpumix/run/runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <set>
#include <nlohmann/json.hpp>

#include "gpumix/modes/registry.hpp"
#include "gpumix/run/collector.hpp"
#include "gpumix/run/orphan_guard.hpp"
#include "gpumix/run/process_launcher.hpp"
#include "gpumix/util/environment.hpp"
#include "gpumix/util/signals.hpp"
#include "gpumix/version.hpp"

namespace gpumix::run {

using Clock = std::chrono::steady_clock;

bool is_success_status(const std::string& status) { return status == "ok" || status == "stopped" || status == "skipped"; }

uint64_t workload_seed(uint64_t mix_seed, const std::string& workload_name) {
  // FNV-1a over the mix seed's bytes and the name.
  uint64_t h = 1469598103934665603ull;
  auto mix_in = [&](unsigned char b) { h = (h ^ b) * 1099511628211ull; };
  for (int i = 0; i < 8; ++i) mix_in(static_cast<unsigned char>(mix_seed >> (8 * i)));
  for (unsigned char c : workload_name) mix_in(c);
  return h >> 1;  // fits a signed 64-bit integer for every consumer
}

namespace {

std::string signal_name(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

// The last non-empty line of a file, for failure reasons.
std::string last_line(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  if (last.size() > 300) last = last.substr(0, 300) + "...";
  return last;
}

std::string timestamp_for_path() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

nlohmann::json plan_json(const spec::Mix& mix, const std::vector<Cell>& plan) {
  nlohmann::json workloads = nlohmann::json::array();
  for (const auto& w : mix.workloads) {
    nlohmann::json slos = nlohmann::json::array();
    for (const auto& s : w.slos) slos.push_back({{"percentile", s.percentile}, {"ms", to_seconds(s.limit) * 1e3}});
    workloads.push_back({{"name", w.name},
                         {"role", spec::to_string(w.role)},
                         {"builtin", w.builtin ? nlohmann::json(*w.builtin) : nlohmann::json(nullptr)},
                         {"argv", w.argv},
                         {"stop", spec::to_string(w.stop.kind)},
                         {"stop_duration_s", w.stop.duration ? nlohmann::json(to_seconds(*w.stop.duration)) : nlohmann::json(nullptr)},
                         {"stop_iterations", w.stop.iterations},
                         {"start_delay_s", to_seconds(w.start_delay)},
                         {"timeout_s", w.timeout ? nlohmann::json(to_seconds(*w.timeout)) : nlohmann::json(nullptr)},
                         {"slo", slos},
                         {"gpu_memory_bytes", w.gpu_memory ? nlohmann::json(*w.gpu_memory) : nlohmann::json(nullptr)},
                         {"seed", workload_seed(mix.seed, w.name)},
                         {"launcher", spec::to_string(w.launcher)},
                         {"image", w.launcher == spec::LauncherKind::container ? nlohmann::json(w.container.engine + " " + w.container.image)
                                                                              : nlohmann::json(nullptr)}});
  }
  nlohmann::json cells = nlohmann::json::array();
  for (const auto& c : plan) cells.push_back({{"label", c.label}, {"mode", c.mode}, {"repeat", c.repeat}});
  return {{"modes", mix.modes},
          {"repeats", mix.repeats},
          {"seed", mix.seed},
          {"cell_duration_s", to_seconds(mix.cell_duration)},
          {"stop_grace_s", to_seconds(mix.stop_grace)},
          {"setup_timeout_s", to_seconds(mix.setup_timeout)},
          {"workloads", workloads},
          {"cells", cells}};
}

enum class Phase { pending, running, stopping, done };

// Why gpumix asked a workload to stop; decides the recorded status.
enum class StopCause { none, planned, cell_end, timeout, setup_timeout, interrupted };

struct Slot {
  const spec::Workload* spec = nullptr;
  store::WorkloadRow row;
  Phase phase = Phase::pending;
  Clock::time_point start_at;
  Clock::time_point started;
  Clock::time_point stop_sent;
  std::unique_ptr<RunningWorkload> proc;
  bool ready = false;
  std::string ready_url;    // the `url` of its ready event (a server's address)
  std::string ready_model;  // ... and its `model`
  int64_t iterations = 0;
  std::string last_error;  // from an `error` event
  StopCause cause = StopCause::none;
  bool killed = false;
};

}  // namespace

struct Runner::CellOutcome {
  std::string status;
  int failed = 0;
};

Runner::Runner(const spec::Mix& mix, store::Store& store, Launcher& launcher, const OrphanGuard& guard,
               std::shared_ptr<gpu::Nvml> nvml)
    : mix_(mix),
      store_(store),
      launcher_(launcher),
      plan_(make_plan(mix)),
      nvml_(std::move(nvml)),
      run_token_(guard.token()),
      guard_pid_(guard.pid()) {}

void Runner::run_only(int index, std::string fleet_id) {
  only_cell_ = cell_at(plan_, index).index;
  fleet_id_ = std::move(fleet_id);
}

RunResult Runner::run() {
  StopSignals signals;
  become_subreaper();
  if (int stale = store_.mark_stale_runs(); stale > 0)
    spdlog::warn("marked {} earlier run(s) interrupted: their gpumix is gone", stale);

  store::RunRow row;
  row.mix_name = mix_.name;
  row.mix_path = std::filesystem::absolute(mix_.source_path).string();
  row.mix_yaml = mix_.source_text;
  row.mix_sha256 = sha256_hex(mix_.source_text);
  row.started_ns = store::now_ns();
  row.gpumix_version = kVersion;
  row.git_sha = kGitSha;
  row.host = hostname();
  row.gpumix_pid = ::getpid();
  row.environment_json = describe_environment().dump();
  auto plan = plan_json(mix_, plan_);
  if (only_cell_) {
    plan["selected_cell"] = *only_cell_;
    plan["fleet_id"] = fleet_id_;
  }
  row.plan_json = plan.dump();

  RunResult result;
  result.run_id = store_.begin_run(row);
  for (auto* o : observers_) o->run_started(result.run_id);
  result.run_dir = mix_.results_dir / "runs" / (std::to_string(result.run_id) + "-" + timestamp_for_path());
  spdlog::info("run {}: mix '{}', {} cells, results in {}", result.run_id, mix_.name, plan_.size(),
               store_.path().string());
  try {
    std::filesystem::create_directories(result.run_dir);
    for (const auto& cell : plan_) {
      if (signals.count() > 0) break;
      if (only_cell_ && cell.index != *only_cell_) continue;
      auto outcome = run_cell(result.run_id, cell, result.run_dir, signals);
      result.failed_workloads += outcome.failed;
      ++result.cells_run;
    }
  } catch (const std::exception& e) {
    for (auto* o : observers_) o->run_ended(result.run_id);
    store_.end_run(result.run_id, "failed", e.what());
    throw;
  }
  for (auto* o : observers_) o->run_ended(result.run_id);
  result.status = signals.count() > 0 ? "interrupted" : "completed";
  store_.end_run(result.run_id, result.status,
                 signals.count() > 0 ? "stopped by " + signal_name(signals.last_signal()) : "");
  return result;
}

Runner::CellOutcome Runner::run_cell(int64_t run_id, const Cell& cell, const std::filesystem::path& run_dir,
                                     StopSignals& signals) {
  const auto cell_dir = run_dir / (std::to_string(cell.index + 1) + "-" + cell.label);
  std::filesystem::create_directories(cell_dir);

  store::CellRow cell_row;
  cell_row.run_id = run_id;
  cell_row.index = cell.index;
  cell_row.label = cell.label;
  cell_row.mode = cell.mode;
  cell_row.repeat = cell.repeat;
  cell_row.baseline = cell.baseline;
  const int64_t cell_id = store_.begin_cell(cell_row);
  for (auto* o : observers_) o->cell_started(cell_id, cell.label);
  struct CellEndNotice {  // on every way out of this function
    std::vector<RunObserver*>& observers;
    int64_t cell_id;
    ~CellEndNotice() {
      for (auto* o : observers) o->cell_ended(cell_id);
    }
  } cell_end_notice{observers_, cell_id};
  spdlog::info("cell {}/{} {}: {} workload(s), mode {}", cell.index + 1, plan_.size(), cell.label, cell.workloads.size(),
               cell.mode);

  // Every workload gets a row before anything starts, so a cell that fails in
  // setup still shows what it would have run.
  std::vector<Slot> slots;
  for (size_t wi : cell.workloads) {
    Slot s;
    s.spec = &mix_.workloads[wi];
    s.row.cell_id = cell_id;
    s.row.name = s.spec->name;
    s.row.role = spec::to_string(s.spec->role);
    s.row.argv_json = nlohmann::json(s.spec->argv).dump();
    nlohmann::json slos = nlohmann::json::array();
    for (const auto& slo : s.spec->slos) slos.push_back({{"percentile", slo.percentile}, {"ms", to_seconds(slo.limit) * 1e3}});
    s.row.slo_json = slos.dump();
    s.row.stdout_path = (cell_dir / (s.spec->name + ".stdout")).string();
    s.row.stderr_path = (cell_dir / (s.spec->name + ".stderr")).string();
    s.row.id = store_.add_workload(s.row);
    slots.push_back(std::move(s));
  }

  auto finish_slot = [&](Slot& s, const std::string& status, const std::string& reason) {
    if (s.phase == Phase::running || s.phase == Phase::stopping)
      for (auto* o : observers_) o->workload_ended(cell_id, s.row.id);
    s.phase = Phase::done;
    s.row.status = status;
    s.row.reason = reason;
    if (!s.row.ended_ns) s.row.ended_ns = store::now_ns();
    store_.workload_finished(s.row);
    // A skipped cell says why once, not once per workload.
    const auto level = status == "skipped"             ? spdlog::level::debug
                       : is_success_status(status) ? spdlog::level::info
                                                   : spdlog::level::warn;
    spdlog::log(level, "  {}: {}{}{}", s.spec->name, status, reason.empty() ? "" : " - ", reason);
  };

  auto mode = modes::make_mode(cell.mode, mix_, {nvml_, run_token_});
  modes::CellContext ctx{cell.label, cell_dir, {}};
  for (const auto& s : slots) ctx.workloads.push_back(s.spec);

  CellOutcome outcome;
  std::unique_ptr<modes::ModeSession> session;
  try {
    session = std::make_unique<modes::ModeSession>(*mode, ctx);
  } catch (const modes::ModeUnavailable& e) {
    // The mode cannot exist on this machine (no GPU, MIG off, no MPS): skip.
    for (auto& s : slots) finish_slot(s, "skipped", std::string("mode ") + cell.mode + " unavailable: " + e.what());
    store_.end_cell(cell_id, "skipped", e.what());
    spdlog::warn("cell {}: skipped: mode {} is unavailable: {}", cell.label, cell.mode, e.what());
    outcome.status = "skipped";
    return outcome;
  } catch (const std::exception& e) {
    for (auto& s : slots) finish_slot(s, "not_started", std::string("mode setup failed: ") + e.what());
    store_.end_cell(cell_id, "failed", e.what());
    spdlog::error("cell {}: mode {} setup failed: {}", cell.label, cell.mode, e.what());
    outcome.status = "failed";
    outcome.failed = static_cast<int>(slots.size());
    return outcome;
  }

  Collector collector(store_);
  std::map<int64_t, Slot*> by_id;
  for (auto& s : slots) by_id[s.row.id] = &s;

  // Set-up: the workloads that another in this cell starts after (a server
  // its clients wait for) start first; the cell's clock starts once all of
  // them are ready (or have ended). Every other workload then starts and the
  // cell runs cell_duration from there, so a server's loading (a ResNet-50
  // with CUDA graphs takes 15-20 s on an H100) is neither measured nor cut
  // into the cell, and a trainer never runs beside a server that is not yet serving.
  std::set<std::string> prerequisites;
  for (const auto& s : slots)
    if (s.spec->start_after)
      for (const auto& o : slots)
        if (o.spec->name == *s.spec->start_after) prerequisites.insert(o.spec->name);
  auto is_prerequisite = [&](const Slot& s) { return prerequisites.count(s.spec->name) > 0; };

  const auto cell_start = Clock::now();
  constexpr auto kNever = Clock::time_point::max();
  bool window_started = false;
  auto cell_end = kNever;
  auto evidence_at = kNever;
  std::optional<double> setup_s;  // how long the set-up took, kept with the evidence
  bool evidence_taken = false;
  nlohmann::json evidence = nlohmann::json::object();
  bool interrupted = false;
  for (auto& s : slots) s.start_at = is_prerequisite(s) ? cell_start + s.spec->start_delay : kNever;
  auto begin_window = [&](Clock::time_point at) {
    window_started = true;
    cell_end = at + mix_.cell_duration;
    evidence_at = at + mix_.cell_duration / 2;
    for (auto& s : slots)
      if (!is_prerequisite(s)) s.start_at = at + s.spec->start_delay;
    if (!prerequisites.empty()) {
      setup_s = std::chrono::duration<double>(at - cell_start).count();
      spdlog::info("  set-up took {:.1f}s ({} ready); measuring for {}", *setup_s, fmt::join(prerequisites, ", "),
                   format_duration(mix_.cell_duration));
    }
  };
  if (prerequisites.empty()) begin_window(cell_start);

  auto take_evidence = [&] {
    std::vector<modes::RunningProcess> running;
    for (const auto& s : slots)
      if (s.phase == Phase::running) running.push_back({s.spec->name, s.proc->pid()});
    if (running.empty()) return;
    evidence_taken = true;
    try {
      evidence = mode->evidence(running);
      evidence["taken_after_s"] = std::chrono::duration<double>(Clock::now() - cell_start).count();
    } catch (const std::exception& e) {
      evidence = {{"error", e.what()}};
    }
    if (setup_s) evidence["setup_s"] = *setup_s;
    store_.set_evidence(cell_id, evidence.dump());
  };

  auto request_stop = [&](Slot& s, StopCause cause) {
    if (s.phase != Phase::running) return;
    if (!evidence_taken) take_evidence();
    s.cause = cause;
    s.phase = Phase::stopping;
    s.stop_sent = Clock::now();
    s.proc->signal(SIGTERM);
  };

  auto handle_events = [&](const std::vector<Event>& events) {
    for (const auto& e : events) {
      Slot& s = *by_id.at(e.workload_id);
      if (e.ev == "ready") {
        s.ready = true;
        auto j = nlohmann::json::parse(e.data, nullptr, false);
        if (j.is_object() && j.contains("url") && j["url"].is_string()) s.ready_url = j["url"].get<std::string>();
        if (j.is_object() && j.contains("model") && j["model"].is_string()) s.ready_model = j["model"].get<std::string>();
      }
      if (e.ev == "iter") ++s.iterations;
      if (e.ev == "error") {
        auto j = nlohmann::json::parse(e.data, nullptr, false);
        s.last_error = j.is_object() && j.contains("msg") && j["msg"].is_string() ? j["msg"].get<std::string>() : e.data;
      }
      if (s.spec->stop.kind == spec::StopKind::iterations && s.iterations >= s.spec->stop.iterations)
        request_stop(s, StopCause::planned);
    }
  };

  auto start_slot = [&](Slot& s) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
      finish_slot(s, "failed", std::string("cannot create metrics pipe: ") + std::strerror(errno));
      return;
    }
    LaunchRequest req;
    req.name = s.spec->name;
    req.argv = s.spec->argv;
    req.env = s.spec->env;
    for (auto& [k, v] : mode->env_for(*s.spec)) req.env[k] = v;
    req.env["GPUMIX_METRICS_FD"] = std::to_string(pipe_fds[1]);
    req.env["GPUMIX_WORKLOAD"] = s.spec->name;
    req.env["GPUMIX_CELL"] = cell.label;
    req.env["GPUMIX_MODE"] = cell.mode;
    req.env["GPUMIX_SEED"] = std::to_string(workload_seed(mix_.seed, s.spec->name));
    req.env["GPUMIX_RUN_DIR"] = run_dir.string();
    req.env[kRunTokenVariable] = run_token_;
    // A client started after a server learns where it listens.
    if (s.spec->start_after)
      for (const auto& o : slots)
        if (o.spec->name == *s.spec->start_after) {
          if (!o.ready_url.empty()) req.env["GPUMIX_AFTER_URL"] = o.ready_url;
          if (!o.ready_model.empty()) req.env["GPUMIX_AFTER_MODEL"] = o.ready_model;
        }
    req.workdir = s.spec->workdir;
    req.stdout_path = s.row.stdout_path;
    req.stderr_path = s.row.stderr_path;
    req.metrics_fd = pipe_fds[1];
    if (s.spec->launcher == spec::LauncherKind::container) {
      req.container = &s.spec->container;
      req.container_name = "gpumix-" + std::to_string(run_id) + "-" + cell.label + "-" + s.spec->name;
    }
    try {
      s.proc = launcher_.start(req);
    } catch (const std::exception& e) {
      ::close(pipe_fds[0]);
      ::close(pipe_fds[1]);
      finish_slot(s, "failed", e.what());
      return;
    }
    ::close(pipe_fds[1]);
    collector.add(s.row.id, pipe_fds[0]);
    s.phase = Phase::running;
    s.started = Clock::now();
    s.row.pid = s.proc->pid();
    s.row.started_ns = store::now_ns();
    store_.workload_started(s.row.id, s.row.pid, s.row.started_ns);
    for (auto* o : observers_) o->workload_started(cell_id, s.row.id, s.spec->name, s.row.pid);
  };

  // Decides the status of an exited workload from why it stopped.
  auto on_exit = [&](Slot& s, const ExitInfo& exit) {
    handle_events(collector.finish(s.row.id));
    s.row.exit_code = exit.exit_code;
    s.row.signal = exit.signal;
    s.row.peak_rss_kb = exit.peak_rss_kb;
    s.row.ended_ns = store::now_ns();
    const double ran_s = std::chrono::duration<double>(Clock::now() - s.started).count();
    const std::string how = !exit.how.empty() ? exit.how
                            : exit.signal     ? "killed by " + signal_name(*exit.signal)
                                        : "exit status " + std::to_string(exit.exit_code.value_or(-1));
    const std::string grace = format_duration(mix_.stop_grace);
    // Asked to stop, a workload may die of the SIGTERM or exit 0 (or 143, a
    // shell's way of saying SIGTERM); any other status is a failure it reported.
    const bool failed_at_stop = exit.exit_code && *exit.exit_code != 0 && *exit.exit_code != 128 + SIGTERM;
    auto failed_stopping = [&] {
      const std::string detail = !s.last_error.empty() ? s.last_error : last_line(s.row.stderr_path);
      return finish_slot(s, "failed", how + " after SIGTERM" + (detail.empty() ? "" : ": " + detail));
    };
    switch (s.cause) {
      case StopCause::planned:
        if (s.killed) return finish_slot(s, "killed", "ignored SIGTERM; killed after the " + grace + " grace period");
        if (failed_at_stop) return failed_stopping();
        return finish_slot(s, "ok", "");
      case StopCause::cell_end:
        if (s.killed) return finish_slot(s, "killed", "ignored SIGTERM at cell end; killed after " + grace);
        if (failed_at_stop) return failed_stopping();
        if (s.spec->stop.kind == spec::StopKind::completion)
          return finish_slot(s, "stopped", "the cell ended (cell_duration " + format_duration(mix_.cell_duration) +
                                               ") before it completed");
        return finish_slot(s, "ok", "");
      case StopCause::timeout:
        return finish_slot(s, "timeout", "ran past its timeout of " + format_duration(*s.spec->timeout) +
                                             (s.killed ? "; killed after ignoring SIGTERM" : ""));
      case StopCause::setup_timeout:
        return finish_slot(s, "timeout", "did not report ready within setup_timeout " +
                                             format_duration(mix_.setup_timeout) +
                                             (s.killed ? "; killed after ignoring SIGTERM" : ""));
      case StopCause::interrupted:
        return finish_slot(s, "interrupted", "gpumix was interrupted" + std::string(s.killed ? "; killed" : ""));
      case StopCause::none:
        break;
    }
    std::string detail = !s.last_error.empty() ? s.last_error : last_line(s.row.stderr_path);
    if (exit.signal) return finish_slot(s, "crashed", how + (detail.empty() ? "" : ": " + detail));
    if (*exit.exit_code != 0) return finish_slot(s, "failed", how + (detail.empty() ? "" : ": " + detail));
    if (s.spec->stop.kind != spec::StopKind::completion) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.1fs", ran_s);
      std::string expected = s.spec->stop.kind == spec::StopKind::iterations
                                 ? std::to_string(s.spec->stop.iterations) + " iterations (reported " +
                                       std::to_string(s.iterations) + ")"
                                 : s.spec->stop.duration ? "a duration of " + format_duration(*s.spec->stop.duration)
                                                         : "running until the cell ends";
      return finish_slot(s, "early_exit", "exited with status 0 after " + std::string(buf) + ", before its stop condition: " + expected);
    }
    return finish_slot(s, "ok", "");
  };

  for (;;) {
    const auto now = Clock::now();

    // Signals: the first stops gracefully, a second kills at once.
    if (signals.count() > 0) {
      signals.drain();
      if (!interrupted) {
        interrupted = true;
        spdlog::warn("{} received: stopping every workload (again to kill at once)", signal_name(signals.last_signal()));
      }
      for (auto& s : slots) {
        if (s.phase == Phase::pending) finish_slot(s, "not_started", "gpumix was interrupted before it started");
        if (s.phase == Phase::running) request_stop(s, StopCause::interrupted);
        if (s.phase == Phase::stopping && signals.count() > 1 && !s.killed) {
          s.cause = StopCause::interrupted;
          s.killed = true;
          s.proc->signal(SIGKILL);
        }
      }
    }

    // The end of the set-up: every prerequisite ready or ended; one that is
    // not ready within setup_timeout is stopped (its dependents then do not start).
    if (!window_started && !interrupted) {
      const bool settled = std::all_of(slots.begin(), slots.end(), [&](const Slot& s) {
        return !is_prerequisite(s) || s.phase == Phase::done || (s.phase == Phase::running && s.ready);
      });
      if (settled)
        begin_window(now);
      else if (now - cell_start >= mix_.setup_timeout)
        for (auto& s : slots)
          if (is_prerequisite(s) && !s.ready) request_stop(s, StopCause::setup_timeout);
    }

    // Starts.
    for (auto& s : slots) {
      if (s.phase != Phase::pending || now < s.start_at) continue;
      if (now >= cell_end) {
        finish_slot(s, "not_started", "the cell ended before its start condition was met");
        continue;
      }
      if (s.spec->start_after) {
        const Slot* dep = nullptr;
        for (const auto& o : slots)
          if (o.spec->name == *s.spec->start_after) dep = &o;
        if (!dep) {  // not in this cell (baseline): start on time
        } else if (dep->phase == Phase::done && !dep->ready) {
          finish_slot(s, "not_started", "'" + dep->spec->name + "' ended without reporting ready");
          continue;
        } else if (!dep->ready) {
          continue;
        }
      }
      start_slot(s);
    }

    // Stop conditions, timeouts, the cell's end, and the grace period.
    for (auto& s : slots) {
      if (s.phase == Phase::running) {
        if (s.spec->timeout && now - s.started >= *s.spec->timeout)
          request_stop(s, StopCause::timeout);
        else if (s.spec->stop.kind == spec::StopKind::duration && s.spec->stop.duration &&
                 now - s.started >= *s.spec->stop.duration)
          request_stop(s, StopCause::planned);
        else if (now >= cell_end)
          request_stop(s, StopCause::cell_end);
      }
      if (s.phase == Phase::stopping && !s.killed && now - s.stop_sent >= mix_.stop_grace) {
        s.killed = true;
        s.proc->signal(SIGKILL);
      }
    }

    if (!evidence_taken && now >= evidence_at) take_evidence();
    if (!evidence_taken) {
      bool all_up = std::all_of(slots.begin(), slots.end(), [](const Slot& s) { return s.phase == Phase::running && s.ready; });
      if (all_up) take_evidence();
    }

    // Exits.
    for (auto& s : slots) {
      if (s.phase != Phase::running && s.phase != Phase::stopping) continue;
      if (auto exit = s.proc->poll()) on_exit(s, *exit);
    }
    if (std::all_of(slots.begin(), slots.end(), [](const Slot& s) { return s.phase == Phase::done; })) break;

    // Wait for metrics, a signal, or the next deadline (at most 50 ms, which
    // also bounds how late an exit is noticed).
    auto fds = collector.pollfds();
    fds.push_back({signals.fd(), POLLIN, 0});
    int ready = ::poll(fds.data(), fds.size(), 50);
    if (ready > 0) {
      for (const auto& p : fds) {
        if (p.fd == signals.fd() || !(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
        handle_events(collector.on_readable(p.fd));
      }
    }
  }

  // Mode teardown, before sweeping up what it may have started.
  if (auto report = session->finish(); !report.is_null()) {
    evidence["teardown"] = report;
    store_.set_evidence(cell_id, evidence.dump());
  }
  if (auto killed = kill_adopted({guard_pid_}); !killed.empty())
    spdlog::warn("cell {}: killed {} orphaned process(es) left by workloads: {}", cell.label, killed.size(),
                 fmt::join(killed, ", "));

  std::string failures;
  for (const auto& s : slots) {
    if (is_success_status(s.row.status)) continue;
    ++outcome.failed;
    failures += (failures.empty() ? "" : "; ") + s.spec->name + ": " + s.row.status;
  }
  outcome.status = interrupted ? "interrupted" : outcome.failed > 0 ? "degraded" : "ok";
  store_.end_cell(cell_id, outcome.status, failures);
  return outcome;
}

}  // namespace gpumix::run
