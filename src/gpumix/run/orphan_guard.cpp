#include "gpumix/run/orphan_guard.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <random>

#include "gpumix/run/container_launcher.hpp"
#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/procfs.hpp"

namespace gpumix::run {

int kill_by_token(const std::string& variable, const std::string& token) {
  const std::string needle = variable + "=" + token;
  const pid_t self = ::getpid();
  int killed = 0;
  // Killing a process can re-parent its children; a few sweeps catch them.
  for (int sweep = 0; sweep < 8; ++sweep) {
    int found = 0;
    for (pid_t pid : all_pids())
      if (pid != self && environment_has(pid, needle) && ::kill(pid, SIGKILL) == 0) ++found;
    killed += found;
    if (found == 0) break;
    ::usleep(20000);
  }
  return killed;
}

OrphanGuard::OrphanGuard(std::vector<std::string> container_engines) {
  std::random_device rd;
  token_ = std::to_string(::getpid()) + "-" + std::to_string(rd()) + std::to_string(rd());
  cgroup_ = RunCgroup::make(token_);
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) throw SystemError("pipe", errno);
  pid_ = ::fork();
  if (pid_ < 0) {
    int e = errno;
    if (cgroup_.usable()) kill_cgroup(cgroup_.path());
    ::close(p[0]);
    ::close(p[1]);
    throw SystemError("fork", e);
  }
  if (pid_ == 0) {
    // The guard: out of gpumix's process group (Ctrl-C at the terminal must
    // not reach it), deaf to the signals that stop gpumix.
    ::setpgid(0, 0);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::signal(sig, SIG_IGN);
    ::close(p[1]);
    char buf[16];
    while (::read(p[0], buf, sizeof buf) != 0) {
      if (errno != EINTR) break;
    }
    if (cgroup_.usable()) kill_cgroup(cgroup_.path());
    kill_by_token(env_vars::kRunToken, token_);
    for (const auto& engine : container_engines) {
      try {
        remove_containers_by_token(engine, token_);
      } catch (const std::exception&) {  // nothing to report to: gpumix is gone
      }
    }
    ::_exit(0);
  }
  ::close(p[0]);
  pipe_w_ = p[1];
}

OrphanGuard::~OrphanGuard() {
  if (pipe_w_ >= 0) ::close(pipe_w_);
  if (pid_ > 0) {
    int st;
    while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
  }
}

}  // namespace gpumix::run
