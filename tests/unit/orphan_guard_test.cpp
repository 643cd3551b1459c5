// The orphan guard with real processes: kill_by_token kills exactly the
// processes carrying the run's token, and the guard (a forked process) does
// it when its owner dies, even by SIGKILL, and ignores the signals that stop
// gpumix. The whole of `gpumix run` killed is in integration/robustness_test.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "fixtures/processes.hpp"
#include "gpumix/run/orphan_guard.hpp"
#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/procfs.hpp"

namespace gpumix::run {
namespace {

using namespace std::chrono_literals;
using test::eventually;

// A token no other process on the machine carries.
std::string fresh_token() {
  std::random_device rd;
  return "test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()) + std::to_string(rd());
}

// Forks `sleep 30` with only `env` as its environment, in a session of its
// own when `leave_group`; returns once it has exec'd (its /proc environ is
// then the new one). Async-signal-safe calls only after the fork.
pid_t start_sleeper(const std::vector<std::string>& env, bool leave_group = false) {
  std::vector<std::string> env_copy = env;
  std::vector<char*> envp;
  for (auto& e : env_copy) envp.push_back(e.data());
  envp.push_back(nullptr);
  char sleep_path[] = "/bin/sleep", thirty[] = "30";
  char* argv[] = {sleep_path, thirty, nullptr};
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (leave_group) ::setsid();
    ::execve(sleep_path, argv, envp.data());
    ::_exit(127);
  }
  ::close(p[1]);
  char c;
  while (::read(p[0], &c, 1) < 0 && errno == EINTR) {
  }  // end of file: the exec closed the write end
  ::close(p[0]);
  return pid;
}

std::string token_entry(const std::string& token) { return std::string(env_vars::kRunToken) + "=" + token; }

// How our child ended: the signal that killed it, 0 when it exited.
int reap(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  reap(pid);
}

// The signals the process ignores, as /proc/<pid>/status says (SigIgn).
uint64_t ignored_signals(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("SigIgn:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  return 0;
}
uint64_t bit(int sig) { return uint64_t{1} << (sig - 1); }

TEST(KillByToken, KillsExactlyTheProcessesCarryingTheToken) {
  const auto token = fresh_token();
  const pid_t in_group = start_sleeper({token_entry(token)});
  const pid_t left_group = start_sleeper({"A=1", token_entry(token), "B=2"}, true);
  const pid_t other_token = start_sleeper({token_entry(token + "0")});  // a prefix is not the token
  const pid_t no_token = start_sleeper({"PATH=/bin"});
  ASSERT_GT(in_group, 0);
  ASSERT_GT(no_token, 0);

  EXPECT_EQ(kill_by_token(env_vars::kRunToken, token), 2);
  EXPECT_EQ(reap(in_group), SIGKILL);
  EXPECT_EQ(reap(left_group), SIGKILL);
  EXPECT_TRUE(process_alive(other_token));
  EXPECT_TRUE(process_alive(no_token));
  EXPECT_EQ(kill_by_token(env_vars::kRunToken, token), 0);  // nothing carries it any more
  EXPECT_EQ(kill_by_token("GPUMIX_OTHER_VARIABLE", token + "0"), 0);  // the variable's name counts too
  EXPECT_TRUE(process_alive(other_token));
  kill_and_reap(other_token);
  kill_and_reap(no_token);
}

TEST(OrphanGuard, IsAProcessGroupOfItsOwnDeafToGpumixsSignalsAndEndsWithItsOwner) {
  std::optional<OrphanGuard> guard(std::in_place);
  const pid_t g = guard->pid();
  ASSERT_GT(g, 0);
  EXPECT_EQ(guard->token().rfind(std::to_string(::getpid()) + "-", 0), 0u) << guard->token();
  EXPECT_NE(OrphanGuard().token(), guard->token());  // each guard a token of its own

  // Ctrl-C at the terminal goes to gpumix's process group, not to the guard's.
  const uint64_t deaf = bit(SIGINT) | bit(SIGTERM) | bit(SIGHUP) | bit(SIGPIPE);
  ASSERT_TRUE(eventually([&] { return (ignored_signals(g) & deaf) == deaf; }, 2s)) << std::hex << ignored_signals(g);
  EXPECT_EQ(::getpgid(g), g);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::kill(g, sig);
  std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(process_alive(g));

  const pid_t workload = start_sleeper({token_entry(guard->token())});
  const pid_t bystander = start_sleeper({"PATH=/bin"});
  EXPECT_TRUE(process_alive(workload));
  guard.reset();  // gpumix ends: the guard kills what carries the token, exits and is reaped
  EXPECT_EQ(reap(workload), SIGKILL);
  EXPECT_EQ(::kill(g, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  EXPECT_TRUE(process_alive(bystander));
  kill_and_reap(bystander);
}

// gpumix killed with SIGKILL: no destructor runs; the guard sees its pipe
// close and kills the run's processes, also one that left every process
// group and was re-parented.
TEST(OrphanGuard, KillsTheRunsProcessesWhenItsOwnerIsKilled) {
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  const pid_t owner = ::fork();
  ASSERT_GE(owner, 0);
  if (owner == 0) {  // the owner, as gpumix would be: a guard, then a workload
    ::close(report[0]);
    OrphanGuard guard;
    const pid_t workload = start_sleeper({token_entry(guard.token())}, true);
    const pid_t bystander = start_sleeper({"PATH=/bin"}, true);
    const std::string pids =
        std::to_string(guard.pid()) + " " + std::to_string(workload) + " " + std::to_string(bystander) + "\n";
    (void)!::write(report[1], pids.data(), pids.size());
    for (;;) ::pause();
  }
  ::close(report[1]);
  std::string text;
  char buf[128];
  ssize_t n;
  while ((n = ::read(report[0], buf, sizeof buf)) > 0) {
    text.append(buf, static_cast<size_t>(n));
    if (text.find('\n') != std::string::npos) break;
  }
  ::close(report[0]);
  std::istringstream in(text);
  pid_t guard = 0, workload = 0, bystander = 0;
  in >> guard >> workload >> bystander;
  ASSERT_GT(bystander, 0) << "the owner reported '" << text << "'";
  EXPECT_TRUE(process_alive(guard));
  EXPECT_TRUE(process_alive(workload));

  ::kill(owner, SIGKILL);
  EXPECT_EQ(reap(owner), SIGKILL);
  EXPECT_TRUE(eventually([&] { return !process_alive(workload); }, 2s)) << "the run's process " << workload << " was left running";
  EXPECT_TRUE(eventually([&] { return !process_alive(guard); }, 2s)) << "the guard " << guard << " did not exit";
  EXPECT_TRUE(process_alive(bystander)) << "a process without the token was killed";
  // Not our children: whoever adopted them reaps them.
  for (pid_t p : {bystander, workload})
    if (process_alive(p)) ::kill(p, SIGKILL);
}

}  // namespace
}  // namespace gpumix::run
