#include "gpumix/run/process_launcher.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "gpumix/util/errors.hpp"
#include "gpumix/util/procfs.hpp"
#include "gpumix/util/subprocess.hpp"

namespace gpumix::run {
namespace {

class Process final : public RunningWorkload {
 public:
  explicit Process(pid_t pid) : pid_(pid) {}
  ~Process() override {
    if (reaped_) return;
    ::kill(-pid_, SIGKILL);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }

  pid_t pid() const override { return pid_; }

  std::optional<ExitInfo> poll() override {
    if (reaped_) return exit_;
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0)
      return std::nullopt;
    // The leader has exited but is not reaped yet, so its process group id
    // cannot have been reused: stop whatever it left behind in its group.
    ::kill(-pid_, SIGKILL);
    int status = 0;
    rusage ru{};
    while (::wait4(pid_, &status, 0, &ru) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    ExitInfo e;
    if (WIFEXITED(status)) e.exit_code = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
    e.peak_rss_kb = ru.ru_maxrss;
    exit_ = e;
    return exit_;
  }

  void signal(int sig) override {
    if (!reaped_) ::kill(-pid_, sig);
  }

 private:
  pid_t pid_;
  bool reaped_ = false;
  ExitInfo exit_;
};

// What failed in the child before exec, reported to the parent with errno.
constexpr int kExec = 1;
constexpr int kJoinCgroup = 2;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::unique_ptr<RunningWorkload> ProcessLauncher::start(const LaunchRequest& req) {
  if (req.argv.empty()) throw RunError(req.name + ": nothing to run (empty command)");

  // Everything the child needs is prepared before fork: after it, the child
  // may only make async-signal-safe calls.
  std::vector<std::string> env_strings = merged_environment(req.env);
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = req.argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  const std::string program = find_program(req.argv[0], req.env, req.workdir.string());
  if (program.empty()) throw RunError(req.name + ": program '" + req.argv[0] + "' not found");

  Fd out, err, devnull, exec_err_r, exec_err_w;
  out.fd = ::open(req.stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out.fd < 0) throw SystemError(req.name + ": open " + req.stdout_path.string(), errno);
  err.fd = ::open(req.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (err.fd < 0) throw SystemError(req.name + ": open " + req.stderr_path.string(), errno);
  devnull.fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  // The child moves itself into its cgroup before it execs, so nothing it
  // starts can be outside it (a move by the parent after fork would race).
  Fd cgroup_procs;
  if (!req.cgroup.empty()) {
    cgroup_procs.fd = ::open((req.cgroup / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
    if (cgroup_procs.fd < 0) throw SystemError(req.name + ": open " + (req.cgroup / "cgroup.procs").string(), errno);
  }
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw SystemError("pipe", errno);
  exec_err_r.fd = p[0];
  exec_err_w.fd = p[1];
  const pid_t parent = ::getpid();
  const int metrics_fd = req.metrics_fd;

  pid_t pid = ::fork();
  if (pid < 0) throw SystemError(req.name + ": fork", errno);
  if (pid == 0) {
    auto fail = [&](int stage, int e) {
      const int report[2] = {stage, e};
      (void)!::write(exec_err_w.fd, report, sizeof report);
      ::_exit(127);
    };
    ::setpgid(0, 0);
    // If gpumix dies, so does the workload.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (cgroup_procs.fd >= 0 && ::write(cgroup_procs.fd, "0", 1) != 1) fail(kJoinCgroup, errno);
    if (::dup2(devnull.fd, STDIN_FILENO) < 0 || ::dup2(out.fd, STDOUT_FILENO) < 0 || ::dup2(err.fd, STDERR_FILENO) < 0)
      fail(kExec, errno);
    if (metrics_fd >= 0 && ::fcntl(metrics_fd, F_SETFD, 0) != 0) fail(kExec, errno);
    if (::chdir(req.workdir.c_str()) != 0) fail(kExec, errno);
    ::execve(program.c_str(), argv.data(), envp.data());
    fail(kExec, errno);
  }
  // Also from the parent, so the group exists before we signal it.
  ::setpgid(pid, pid);
  auto handle = std::make_unique<Process>(pid);
  ::close(exec_err_w.fd);
  exec_err_w.fd = -1;
  int report[2] = {0, 0};
  ssize_t n;
  while ((n = ::read(exec_err_r.fd, report, sizeof report)) < 0 && errno == EINTR) {
  }
  if (n == sizeof report) {
    handle->poll();
    if (report[0] == kJoinCgroup)
      throw RunError(req.name + ": cannot join its cgroup " + req.cgroup.string() + ": " + std::strerror(report[1]));
    throw RunError(req.name + ": cannot start " + program + ": " + std::strerror(report[1]));
  }
  return handle;
}

void become_subreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }

namespace {

// One sweep: the current children of gpumix that are not in `keep`.
std::vector<pid_t> adopted_children(const std::vector<pid_t>& keep) {
  const pid_t self = ::getpid();
  std::vector<pid_t> adopted;
  for (pid_t pid : all_pids())
    if (parent_pid(pid) == self && std::find(keep.begin(), keep.end(), pid) == keep.end()) adopted.push_back(pid);
  return adopted;
}

}  // namespace

std::vector<std::string> kill_adopted(const std::vector<pid_t>& keep) {
  std::vector<std::string> killed;
  // Killing an orphan re-parents its own children to gpumix: sweep again.
  for (int sweep = 0; sweep < 16; ++sweep) {
    auto adopted = adopted_children(keep);
    if (adopted.empty()) break;
    for (pid_t pid : adopted) {
      // An adopted process that already exited (an MPS server after quit)
      // only needs reaping; a live one is killed and named.
      if (process_alive(pid)) {
        std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
        std::string name;
        std::getline(comm, name);
        ::kill(pid, SIGKILL);
        killed.push_back(std::to_string(pid) + " (" + name + ")");
      }
      int status;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }
  return killed;
}

}  // namespace gpumix::run
