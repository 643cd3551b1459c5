#include "gpumix/run/runner.hpp"

#include <signal.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <optional>
#include <nlohmann/json.hpp>

#include "gpumix/run/cell_run.hpp"
#include "gpumix/run/orphan_guard.hpp"
#include "gpumix/run/process_launcher.hpp"
#include "gpumix/run/run_environment.hpp"
#include "gpumix/spec/effective_plan.hpp"
#include "gpumix/util/environment.hpp"
#include "gpumix/util/signals.hpp"
#include "gpumix/version.hpp"
#include "gpumix/json_text.hpp"

namespace gpumix::run {

using Clock = std::chrono::steady_clock;

namespace {

std::string timestamp_for_path() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

}  // namespace

Runner::Runner(const spec::Mix& mix, store::Store& store, Launcher& launcher, const OrphanGuard& guard,
               std::shared_ptr<gpu::Nvml> nvml)
    : mix_(mix),
      store_(store),
      launcher_(launcher),
      plan_(make_plan(mix)),
      nvml_(std::move(nvml)),
      run_token_(guard.token()),
      guard_pid_(guard.pid()),
      cgroup_(guard.cgroup()),
      max_events_per_second_(events_per_second_limit()) {}

void Runner::run_only(int index, std::string fleet_id) {
  only_cell_ = cell_at(plan_, index).index;
  fleet_id_ = std::move(fleet_id);
}

RunResult Runner::run() {
  StopSignals signals;
  become_subreaper();
  if (int stale = store_.recover(); stale > 0)
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
  auto environment = describe_environment();
  environment["containment"] = cgroup_.note();
  if (!cgroup_.usable()) spdlog::info("containment: {}", cgroup_.note());
  row.environment_json = json_text(environment);
  auto plan = spec::EffectivePlan::of(mix_, planned_cells(plan_));
  plan.selected_cell = only_cell_;
  plan.fleet_id = fleet_id_;
  row.plan_json = json_text(plan.to_json());

  RunResult result;
  result.run_id = store_.begin_run(row);
  for (auto* o : observers_) o->run_started(result.run_id);
  result.run_dir = mix_.results_dir / "runs" / (std::to_string(result.run_id) + "-" + timestamp_for_path());
  spdlog::info("run {}: mix '{}', {} cells, results in {}", result.run_id, mix_.name, plan_.size(),
               store_.path().string());
  const auto run_start = std::chrono::steady_clock::now();
  CellEnvironment env{mix_, store_, launcher_, observers_, nvml_, run_token_, guard_pid_, result.run_id, plan_.size(),
                      result.run_dir, &cgroup_, max_events_per_second_};
  try {
    std::filesystem::create_directories(result.run_dir);
    for (size_t i = 0;; ++i) {
      if (i == plan_.size()) {
        if (!extension_ || only_cell_ || signals.count() > 0) break;
        auto step = extension_(result.run_id, plan_);
        plan_.insert(plan_.end(), step.cells.begin(), step.cells.end());
        plan.cells = planned_cells(plan_);
        plan.search_json = std::move(step.search_json);
        store_.set_plan(result.run_id, json_text(plan.to_json()));
        env.plan_size = plan_.size();
        if (step.cells.empty()) break;
      }
      const auto& cell = plan_[i];
      if (signals.count() > 0) break;
      if (only_cell_ && cell.index != *only_cell_) continue;
      const auto outcome = CellRun(env, cell).run(signals);
      result.failed_workloads += outcome.failed;
      ++result.cells_run;
      const bool repeat_done = i + 1 == plan_.size() || plan_[i + 1].repeat != cell.repeat;
      if (repeat_done && !only_cell_ && signals.count() == 0 && mix_.auto_repeats.enabled) {
        if (auto stop = auto_repeat_stop(result.run_id, cell.repeat, i + 1 < plan_.size(), run_start)) {
          plan.cells.resize(i + 1);
          plan.repeats_auto->repeats_run = cell.repeat;
          plan.repeats_auto->stopped_because = *stop;
          plan.repeats_auto->elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
          store_.set_plan(result.run_id, json_text(plan.to_json()));
          spdlog::info("repeats: auto: stopping after {} repeat(s): {}", cell.repeat, *stop);
          break;
        }
      }
    }
  } catch (const std::exception& e) {
    for (auto* o : observers_) o->run_ended(result.run_id);
    store_.end_run(result.run_id, store::RunStatus::failed, e.what());
    throw;
  }
  for (auto* o : observers_) o->run_ended(result.run_id);
  result.status = signals.count() > 0 ? store::RunStatus::interrupted : store::RunStatus::completed;
  store_.end_run(result.run_id, result.status,
                 signals.count() > 0 ? "stopped by " + signal_name(signals.last_signal()) : "");
  return result;
}

std::optional<std::string> Runner::auto_repeat_stop(int64_t run_id, int repeats_done, bool more_planned,
                                                    std::chrono::steady_clock::time_point run_start) {
  const auto& ar = mix_.auto_repeats;
  if (!more_planned) return "max_repeats (" + std::to_string(ar.max) + ") reached";
  if (repeat_policy_)
    if (auto verdict = repeat_policy_(run_id, repeats_done); verdict.stop) return verdict.reason;
  if (ar.budget) {
    // Another repeat (its baselines and shared cells) costs about what the
    // repeats so far cost each.
    const auto elapsed = std::chrono::steady_clock::now() - run_start;
    const auto per_repeat = elapsed / repeats_done;
    if (elapsed + per_repeat > *ar.budget)
      return fmt::format("the budget of {} would be exceeded by another repeat (about {} each)", format_duration(*ar.budget),
                         format_duration(std::chrono::duration_cast<Duration>(per_repeat)));
  }
  return std::nullopt;
}

}  // namespace gpumix::run
