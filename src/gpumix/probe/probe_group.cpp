#include "gpumix/probe/probe_group.hpp"

#include <signal.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "gpumix/run/orphan_guard.hpp"
#include "gpumix/run/process_launcher.hpp"
#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/signals.hpp"

namespace gpumix::probe {

using namespace std::chrono;

struct ProbeGroup::Running {
  std::string file;
  std::filesystem::path ready, out, err;
  bool wants_ready = false;
  std::unique_ptr<run::RunningWorkload> handle;
  std::optional<run::ExitInfo> exit;
};

namespace {

std::string tail_of(const std::filesystem::path& p, size_t n = 600) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string s = ss.str();
  return s.size() > n ? s.substr(s.size() - n) : s;
}

nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream f(p);
  if (!f) return nullptr;
  try {
    return nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception&) {
    return nullptr;
  }
}

}  // namespace

std::string ProbeOutcome::error() const {
  if (out.is_object() && out.contains("error")) return out["error"].get<std::string>();
  if (timed_out) return "timed out";
  if (signal) return "killed by signal " + std::to_string(*signal);
  if (exit_code && *exit_code != 0) return "exit " + std::to_string(*exit_code) + (stderr_tail.empty() ? "" : ": " + stderr_tail);
  return "";
}

nlohmann::json ProbeOutcome::evidence() const {
  nlohmann::json e = {{"name", name}, {"exit_code", exit_code ? nlohmann::json(*exit_code) : nlohmann::json(nullptr)},
                      {"signal", signal ? nlohmann::json(*signal) : nlohmann::json(nullptr)}, {"timed_out", timed_out}};
  if (out.is_object()) {
    nlohmann::json r = out;
    r.erase("intervals");
    r.erase("latencies_us");
    e["result"] = r;
  }
  if (!ok() && !stderr_tail.empty()) e["stderr_tail"] = stderr_tail;
  return e;
}

ProbeGroup::ProbeGroup(const ProbeEnv& env, const std::string& mode, const std::string& label,
                       const std::vector<ProbeSpec>& specs)
    : env_(env), dir_(env.work_dir / label) {
  std::filesystem::create_directories(dir_);
  workloads_.reserve(specs.size());
  for (const auto& s : specs) {
    spec::Workload w;
    w.name = s.name;
    w.mps = s.mps;
    workloads_.push_back(std::move(w));
    specs_[s.name] = s;
  }
  modes::CellContext cell{label, dir_, {}};
  for (const auto& w : workloads_) cell.workloads.push_back(&w);
  mode_ = modes::make_mode(mode, spec::Mix{}, env.context);
  session_ = std::make_unique<modes::ModeSession>(*mode_, cell);
}

ProbeGroup::~ProbeGroup() {
  running_.clear();  // the launcher's handles kill and reap what still runs
  session_.reset();
}

void ProbeGroup::check_signals() const {
  if (env_.signals && env_.signals->count() > 0) throw ProbeInterrupted("interrupted");
}

void ProbeGroup::start(const std::string& name, const std::string& file_name) {
  const auto& s = specs_.at(name);
  auto r = std::make_unique<Running>();
  r->file = file_name.empty() ? name : file_name;
  r->out = dir_ / (r->file + ".json");
  r->ready = dir_ / (r->file + ".ready");
  r->wants_ready = s.ready;
  std::filesystem::remove(r->out);
  std::filesystem::remove(r->ready);
  run::LaunchRequest req;
  req.name = r->file;
  req.argv = {env_.probe_exe.string(), s.role, "--out", r->out.string()};
  if (s.ready) req.argv.insert(req.argv.end(), {"--ready", r->ready.string()});
  if (s.go) req.argv.insert(req.argv.end(), {"--go", (dir_ / "go").string()});
  req.argv.insert(req.argv.end(), s.args.begin(), s.args.end());
  const spec::Workload* w = nullptr;
  for (const auto& x : workloads_)
    if (x.name == name) w = &x;
  req.env = mode_->env_for(*w);
  req.env[env_vars::kRunToken] = env_.context.run_token;
  req.workdir = dir_;
  req.stdout_path = dir_ / (r->file + ".out");
  req.stderr_path = r->err = dir_ / (r->file + ".err");
  run::ProcessLauncher launcher;
  r->handle = launcher.start(req);
  running_.push_back(std::move(r));
}

void ProbeGroup::wait_ready(milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    check_signals();
    bool all = true;
    for (auto& r : running_) {
      if (!r->wants_ready || r->exit || std::filesystem::exists(r->ready)) continue;
      if ((r->exit = r->handle->poll())) continue;
      all = false;
    }
    if (all) return;
    if (steady_clock::now() > deadline)
      throw RunError("probe processes in " + dir_.string() + " not ready within " + std::to_string(timeout.count()) + " ms");
    std::this_thread::sleep_for(milliseconds(2));
  }
}

void ProbeGroup::go() { std::ofstream(dir_ / "go") << "go\n"; }

ProbeOutcome ProbeGroup::wait(const std::string& file, milliseconds timeout) {
  Running* r = nullptr;
  for (auto& x : running_)
    if (x->file == file) r = x.get();
  if (!r) throw RunError("no probe process " + file);
  ProbeOutcome o;
  o.name = file;
  const auto deadline = steady_clock::now() + timeout;
  while (!r->exit && !(r->exit = r->handle->poll())) {
    check_signals();
    if (steady_clock::now() > deadline) {
      o.timed_out = true;
      r->handle->signal(SIGKILL);
      while (!(r->exit = r->handle->poll())) std::this_thread::sleep_for(milliseconds(5));
      break;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  o.exit_code = r->exit->exit_code;
  o.signal = r->exit->signal;
  o.out = read_json(r->out);
  o.stderr_tail = tail_of(r->err);
  return o;
}

std::vector<ProbeOutcome> ProbeGroup::wait_all(milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  std::vector<ProbeOutcome> out;
  for (auto& r : running_)
    out.push_back(wait(r->file, std::max(milliseconds(1), duration_cast<milliseconds>(deadline - steady_clock::now()))));
  return out;
}

ProbeOutcome ProbeGroup::stop(const std::string& file) {
  for (auto& r : running_)
    if (r->file == file && !r->exit) r->handle->signal(SIGTERM);
  return wait(file, seconds(5));
}

nlohmann::json ProbeGroup::evidence() {
  std::vector<modes::RunningProcess> running;
  for (auto& r : running_)
    if (!r->exit) running.push_back({r->file, r->handle->pid()});
  try {
    return mode_->evidence(running);
  } catch (const std::exception& e) {
    return {{"error", e.what()}};
  }
}

nlohmann::json ProbeGroup::finish() {
  running_.clear();
  return session_->finish();
}

}  // namespace gpumix::probe
