#include "gpumix/run/container_launcher.hpp"

#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "gpumix/run/orphan_guard.hpp"
#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/environment.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/procfs.hpp"
#include "gpumix/util/signals.hpp"
#include "gpumix/util/subprocess.hpp"
#include "gpumix/util/text.hpp"

namespace gpumix::run {
namespace {

using namespace std::chrono_literals;

// Engine commands other than `run` are short; a loaded machine can still
// make podman take seconds.
constexpr auto kEngineTimeout = 60s;

// Inside the container the workload's fd 3 is the container's stdout (the
// metrics channel, GPUMIX_METRICS_FD=3) and its stdout goes to stderr.
constexpr const char* kWrapper = "exec 3>&1 1>&2; exec \"$@\"";

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

CapturedRun engine_command(const std::string& engine, std::vector<std::string> args) {
  args.insert(args.begin(), engine);
  return run_and_capture(args, kEngineTimeout);
}

std::string first_line(const std::string& text) {
  auto line = text.substr(0, text.find('\n'));
  return line.size() > 300 ? line.substr(0, 300) + "..." : line;
}

class Container final : public RunningWorkload {
 public:
  Container(std::unique_ptr<RunningWorkload> client, std::string engine, std::string name)
      : client_(std::move(client)), engine_(std::move(engine)), name_(std::move(name)) {}

  ~Container() override {
    if (done_) return;
    // Stopped before its end was seen (gpumix is unwinding): kill and remove.
    engine_command(engine_, {"kill", name_});
    client_.reset();
    remove();
  }

  pid_t pid() const override { return top_pid_ ? top_pid_ : client_->pid(); }

  std::optional<ExitInfo> poll() override {
    if (done_) return exit_;
    auto client_exit = client_->poll();
    if (!client_exit) {
      find_top_process();
      return std::nullopt;
    }
    exit_ = container_exit(*client_exit);
    remove();
    done_ = true;
    return exit_;
  }

  void signal(int sig) override {
    if (done_) return;
    // SIGKILL cannot be forwarded by the client: the engine delivers it.
    if (sig == SIGKILL) engine_command(engine_, {"kill", "--signal", "KILL", name_});
    client_->signal(sig);
  }

 private:
  // The container's top process as this host sees it (its init), found by
  // the GPUMIX_CONTAINER variable only the container's processes carry: the
  // modes' evidence looks for the workload among its descendants.
  void find_top_process() {
    if (top_pid_ || std::chrono::steady_clock::now() < next_search_) return;
    next_search_ = std::chrono::steady_clock::now() + 500ms;
    const std::string entry = std::string(env_vars::kContainer) + "=" + name_;
    std::set<pid_t> inside;
    for (pid_t p : all_pids())
      if (environment_has(p, entry)) inside.insert(p);
    for (pid_t p : inside) {
      auto parent = parent_pid(p);
      if (parent && !inside.count(*parent)) {
        top_pid_ = p;
        return;
      }
    }
  }

  struct State {
    std::string status;
    int exit_code = 0;
    bool oom_killed = false;
  };
  std::optional<State> inspect() {
    auto r = engine_command(engine_, {"inspect", "--format", "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}", name_});
    auto w = words(r.out);
    if (r.exit_code != 0 || w.size() != 3) return std::nullopt;
    State s;
    s.status = w[0];
    s.exit_code = std::atoi(w[1].c_str());
    s.oom_killed = w[2] == "true";
    return s;
  }

  ExitInfo container_exit(const ExitInfo& client_exit) {
    ExitInfo e;
    auto state = inspect();
    if (state && state->status == "running") {
      // The client went away (killed before it could forward a signal).
      engine_command(engine_, {"kill", name_});
      state = inspect();
    }
    if (!state || state->status == "created") {
      // No container ran: the engine could not create or start it.
      e.exit_code = client_exit.exit_code;
      e.signal = client_exit.signal;
      e.how = client_exit.signal ? engine_ + " was killed by " + signal_name(*client_exit.signal) + " before the container ran"
                                 : engine_ + " could not run the container (exit status " +
                                       std::to_string(client_exit.exit_code.value_or(-1)) + ")";
      return e;
    }
    const int code = state->exit_code;
    if (state->oom_killed) {
      e.signal = SIGKILL;
      e.how = "out of memory: killed by the kernel's OOM killer (" + engine_ + " reports State.OOMKilled, exit status " +
              std::to_string(code) + ")";
    } else if (code > 128 && code <= 128 + 64) {
      // --init reports a workload killed by signal N as 128 + N.
      e.signal = code - 128;
      e.how = "killed by " + signal_name(code - 128) + " in the container (exit status " + std::to_string(code) +
              (code - 128 == SIGKILL ? "; an OOM kill looks the same where the engine does not report it" : "") + ")";
    } else {
      e.exit_code = code;
    }
    return e;
  }

  void remove() {
    auto r = engine_command(engine_, {"rm", "-f", name_});
    if (r.exit_code != 0 && r.err.find("no such container") == std::string::npos &&
        r.err.find("No such container") == std::string::npos)
      spdlog::warn("{} rm -f {}: {}", engine_, name_, first_line(r.err));
  }

  std::unique_ptr<RunningWorkload> client_;
  std::string engine_;
  std::string name_;
  pid_t top_pid_ = 0;
  std::chrono::steady_clock::time_point next_search_{};
  bool done_ = false;
  ExitInfo exit_;
};

}  // namespace

std::vector<std::string> container_run_argv(const LaunchRequest& req) {
  const spec::ContainerOptions& c = *req.container;
  const auto token = req.env.find(env_vars::kRunToken);
  if (token == req.env.end()) throw RunError(req.name + ": no " + env_vars::kRunToken + " for the container's label");
  std::vector<std::string> a = {c.engine, "run", "--name", req.container_name,
                                "--label", std::string(kRunTokenLabel) + "=" + token->second,
                                "--label", std::string(kHostLabel) + "=" + hostname(),
                                // An init forwards signals to the workload and reaps its children.
                                "--init", "--entrypoint", "/bin/sh"};
  auto env = [&](const std::string& name, const std::string& value) {
    a.push_back("--env");
    a.push_back(name + "=" + value);
  };
  for (const auto& [name, value] : req.env)
    if (name != env_vars::kMetricsFd) env(name, value);
  env(env_vars::kMetricsFd, "3");
  env(env_vars::kContainer, req.container_name);
  if (c.workdir) {
    a.push_back("--workdir");
    a.push_back(*c.workdir);
  }
  if (!c.gpus.empty()) {
    if (c.engine == "docker") {
      // docker reads the value as CSV: a list needs quotes around it.
      a.push_back("--gpus");
      a.push_back(c.gpus == std::vector<std::string>{"all"} ? "all" : "\"device=" + join(c.gpus, ",") + "\"");
    } else {
      // podman: CDI devices from `nvidia-ctk cdi generate`.
      for (const auto& g : c.gpus) {
        a.push_back("--device");
        a.push_back("nvidia.com/gpu=" + g);
      }
    }
  }
  for (const auto& v : req.container_needs.volumes) {
    a.push_back("--volume");
    a.push_back(v);
  }
  if (req.container_needs.host_ipc) a.push_back("--ipc=host");
  for (const auto& v : c.volumes) {
    a.push_back("--volume");
    a.push_back(v);
  }
  a.insert(a.end(), c.run_args.begin(), c.run_args.end());
  a.push_back(c.image);
  a.push_back("-c");
  a.push_back(kWrapper);
  a.push_back("gpumix-workload");  // $0 of the wrapper
  a.insert(a.end(), req.argv.begin(), req.argv.end());
  return a;
}

std::unique_ptr<RunningWorkload> ContainerLauncher::start(const LaunchRequest& req) {
  if (!req.container) throw RunError(req.name + ": not a container workload");
  if (req.argv.empty()) throw RunError(req.name + ": nothing to run (empty command)");
  // The engine client is an ordinary workload process (own process group,
  // killed with gpumix) whose stdout is the metrics pipe: /dev/fd/N opens
  // the same pipe again.
  LaunchRequest client;
  client.name = req.name;
  client.argv = container_run_argv(req);
  client.env = {{env_vars::kRunToken, req.env.at(env_vars::kRunToken)}};
  client.workdir = req.workdir;
  client.stdout_path = "/dev/fd/" + std::to_string(req.metrics_fd);
  client.stderr_path = req.stderr_path;
  // The workload's stdout goes to its stderr (see kWrapper); the file still
  // exists, empty, where every workload's is.
  std::ofstream(req.stdout_path, std::ios::trunc);
  ProcessLauncher processes;
  try {
    return std::make_unique<Container>(processes.start(client), req.container->engine, req.container_name);
  } catch (const RunError& e) {
    if (find_program(req.container->engine).empty())
      throw RunError(req.name + ": container engine '" + req.container->engine + "' is not installed (not in PATH)");
    throw;
  }
}

std::vector<std::string> container_engines(const spec::Mix& mix) {
  std::vector<std::string> engines;
  for (const auto& w : mix.workloads)
    if (w.launcher == spec::LauncherKind::container &&
        std::find(engines.begin(), engines.end(), w.container.engine) == engines.end())
      engines.push_back(w.container.engine);
  return engines;
}

namespace {

std::vector<std::string> labelled_containers(const std::string& engine, const std::string& filter) {
  auto r = engine_command(engine, {"ps", "-a", "-q", "--filter", "label=" + filter});
  return r.exit_code == 0 ? words(r.out) : std::vector<std::string>{};
}

int remove_ids(const std::string& engine, const std::vector<std::string>& ids) {
  if (ids.empty()) return 0;
  std::vector<std::string> args = {"rm", "-f"};
  args.insert(args.end(), ids.begin(), ids.end());
  auto r = engine_command(engine, args);
  if (r.exit_code != 0) spdlog::warn("{} rm -f: {}", engine, first_line(r.err));
  return static_cast<int>(ids.size());
}

}  // namespace

int remove_containers_by_token(const std::string& engine, const std::string& token) {
  return remove_ids(engine, labelled_containers(engine, std::string(kRunTokenLabel) + "=" + token));
}

int remove_stale_containers(const std::string& engine) {
  if (find_program(engine).empty()) return 0;
  auto ids = labelled_containers(engine, kRunTokenLabel);
  if (ids.empty()) return 0;
  std::vector<std::string> args = {"inspect", "--format",
                                   std::string("{{.Id}} {{index .Config.Labels \"") + kRunTokenLabel +
                                       "\"}} {{index .Config.Labels \"" + kHostLabel + "\"}}"};
  args.insert(args.end(), ids.begin(), ids.end());
  auto r = engine_command(engine, args);
  std::vector<std::string> stale;
  std::istringstream lines(r.out);
  const std::string host = hostname();
  for (std::string line; std::getline(lines, line);) {
    auto w = words(line);
    if (w.size() != 3 || w[2] != host) continue;
    // The token starts with the pid of the gpumix that made it.
    const pid_t pid = static_cast<pid_t>(std::atol(w[1].c_str()));
    if (pid > 0 && !process_alive(pid)) stale.push_back(w[0]);
  }
  return remove_ids(engine, stale);
}

}  // namespace gpumix::run
