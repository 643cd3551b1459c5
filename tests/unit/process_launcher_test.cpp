// The process launcher with real child processes: environment, working
// folder, stdin/stdout/stderr, exit codes and signals, stopping a workload
// that ignores SIGTERM, the group it leaves behind, start failures, and
// adopting (then killing) the daemons a workload leaves.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "fixtures/processes.hpp"
#include "fixtures/temp_dir.hpp"
#include "gpumix/run/process_launcher.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/procfs.hpp"

namespace gpumix::run {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using test::eventually;
using test::read_pids;

const std::string kTestload = GPUMIX_TESTLOAD;

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ProcessLauncherTest : public ::testing::Test {
 protected:
  LaunchRequest request(const std::string& name, std::vector<std::string> argv) const {
    LaunchRequest r;
    r.name = name;
    r.argv = std::move(argv);
    r.workdir = dir_.path();
    r.stdout_path = dir_ / (name + ".out");
    r.stderr_path = dir_ / (name + ".err");
    return r;
  }

  // Polls until the workload has exited (at most 5 s).
  static std::optional<ExitInfo> wait_exit(RunningWorkload& w) {
    std::optional<ExitInfo> e;
    eventually([&] { return (e = w.poll()).has_value(); }, 5s);
    return e;
  }

  ProcessLauncher launcher_;
  test::TempDir dir_{"launcher"};
};

TEST_F(ProcessLauncherTest, RunsInItsFolderWithTheEnvironmentAndFilesItWasGiven) {
  fs::create_directories(dir_ / "work");
  ::setenv("GPUMIX_TEST_INHERITED", "from gpumix", 1);
  ::setenv("GPUMIX_TEST_OVERRIDDEN", "from gpumix", 1);
  auto req = request("env", {"sh", "-c",  // found through PATH
                             "echo \"$GPUMIX_TEST_INHERITED|$GPUMIX_TEST_OVERRIDDEN|$GPUMIX_TEST_ADDED\"; pwd; "
                             "if read -r line; then echo stdin-had-data; else echo stdin-empty; fi; "
                             "echo to-stderr >&2; exit 7"});
  req.workdir = dir_ / "work";
  req.env = {{"GPUMIX_TEST_OVERRIDDEN", "from the mix"}, {"GPUMIX_TEST_ADDED", "a b  c"}};
  auto w = launcher_.start(req);
  ::unsetenv("GPUMIX_TEST_INHERITED");
  ::unsetenv("GPUMIX_TEST_OVERRIDDEN");
  EXPECT_GT(w->pid(), 0);
  const auto e = wait_exit(*w);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->exit_code, 7);
  EXPECT_FALSE(e->signal);
  EXPECT_GT(e->peak_rss_kb, 0);
  EXPECT_EQ(read_file(req.stdout_path),
            "from gpumix|from the mix|a b  c\n" + fs::canonical(dir_ / "work").string() + "\nstdin-empty\n");
  EXPECT_EQ(read_file(req.stderr_path), "to-stderr\n");
  EXPECT_EQ(w->poll()->exit_code, 7);  // the exit is kept once reaped
}

TEST_F(ProcessLauncherTest, OutputFilesAreReplacedNotAppended) {
  std::ofstream(dir_ / "again.out") << "an earlier attempt's output, longer than this one's\n";
  auto req = request("again", {"sh", "-c", "echo new"});
  auto w = launcher_.start(req);
  ASSERT_TRUE(wait_exit(*w));
  EXPECT_EQ(read_file(req.stdout_path), "new\n");
}

TEST_F(ProcessLauncherTest, ASignalThatEndedItIsReportedWithoutAnExitCode) {
  auto w = launcher_.start(request("crash", {"sh", "-c", "kill -USR1 $$"}));
  const auto e = wait_exit(*w);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->signal, SIGUSR1);
  EXPECT_FALSE(e->exit_code);
}

// A workload that ignores SIGTERM, with a child in its group and one that
// left it: SIGTERM changes nothing, SIGKILL to the group ends the workload
// and its group's child; the escaped child is what the orphan guard and
// kill_adopted are for.
TEST_F(ProcessLauncherTest, SigtermIgnoredThenSigkillEndsTheWholeGroup) {
  auto req = request("stubborn", {kTestload, "--iters", "0", "--ignore-sigterm", "--spawn-child", "--spawn-daemon",
                                  "--pid-file", (dir_ / "stubborn.pids").string()});
  auto w = launcher_.start(req);
  ASSERT_TRUE(eventually([&] { return read_pids(dir_ / "stubborn.pids").size() == 3; }, 5s)) << read_file(req.stderr_path);
  const auto pids = read_pids(dir_ / "stubborn.pids");  // itself, its group's child, the escaped one
  EXPECT_EQ(pids[0], w->pid());
  EXPECT_EQ(::getpgid(pids[0]), w->pid());  // a process group of its own
  EXPECT_EQ(::getpgid(pids[1]), w->pid());

  w->signal(SIGTERM);
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(w->poll()) << "a workload ignoring SIGTERM stopped";
  w->signal(SIGKILL);
  const auto e = wait_exit(*w);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->signal, SIGKILL);
  EXPECT_TRUE(eventually([&] { return !process_alive(pids[1]); }, 2s)) << "its group's child lives on";
  EXPECT_TRUE(process_alive(pids[2]));  // left the group: not the launcher's to stop
  for (pid_t p : {pids[1], pids[2]})
    if (process_alive(p)) ::kill(p, SIGKILL);
}

// The leader exits normally but leaves a child in its group: the exit is
// reported and the child is stopped with it.
TEST_F(ProcessLauncherTest, WhatAnExitedWorkloadLeftInItsGroupIsKilled) {
  auto w = launcher_.start(request("leaver", {"sh", "-c", "sleep 30 & echo $! > leaver.pid; exit 0"}));
  const auto e = wait_exit(*w);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->exit_code, 0);
  const auto left = read_pids(dir_ / "leaver.pid");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_TRUE(eventually([&] { return !process_alive(left[0]); }, 2s)) << "sleep " << left[0] << " lives on";
  if (process_alive(left[0])) ::kill(left[0], SIGKILL);  // leave nothing behind when it failed
}

TEST_F(ProcessLauncherTest, DestroyingTheHandleKillsAndReapsTheWorkload) {
  pid_t pid;
  {
    auto w = launcher_.start(request("sleeper", {"sleep", "30"}));
    pid = w->pid();
    EXPECT_TRUE(process_alive(pid));
  }
  EXPECT_EQ(::kill(pid, 0), -1) << "not reaped";
  EXPECT_EQ(errno, ESRCH);
}

TEST_F(ProcessLauncherTest, WhatCannotStartIsARunErrorNamingTheWorkloadAndWhy) {
  auto start_error = [&](const LaunchRequest& r) -> std::string {
    try {
      launcher_.start(r);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "(started)";
  };
  EXPECT_NE(start_error(request("empty", {})).find("empty: nothing to run"), std::string::npos);
  EXPECT_NE(start_error(request("missing", {"gpumix-no-such-program"})).find("program 'gpumix-no-such-program' not found"),
            std::string::npos);
  std::ofstream(dir_ / "not-executable") << "#!/bin/sh\n";
  EXPECT_NE(start_error(request("noexec", {"./not-executable"})).find("noexec: program './not-executable' not found"),
            std::string::npos);

  // Fails in the child, after the fork: told through the exec pipe, with errno's text.
  fs::create_directories(dir_ / "bin");
  std::ofstream(dir_ / "bin" / "prog") << "#!/bin/sh\nexit 0\n";
  fs::permissions(dir_ / "bin" / "prog", fs::perms::owner_all);
  auto r = request("nowhere", {(dir_ / "bin" / "prog").string()});
  r.workdir = dir_ / "no-such-folder";
  const auto msg = start_error(r);
  EXPECT_NE(msg.find("nowhere: cannot start " + (dir_ / "bin" / "prog").string() + ": No such file or directory"),
            std::string::npos)
      << msg;

  r = request("unwritable", {"true"});
  r.stdout_path = dir_ / "no-such-folder" / "out";
  EXPECT_THROW(launcher_.start(r), SystemError);
}

// gpumix as a subreaper adopts what a workload daemonized; kill_adopted
// names and kills it, sparing `keep`. In a child process: being a subreaper
// lasts for the process's life and must not leak into the other tests.
TEST_F(ProcessLauncherTest, KillAdoptedKillsWhatWasReparentedButWhatItKeeps) {
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(report[0]);
    become_subreaper();
    ProcessLauncher launcher;
    auto req = request("daemonizer", {kTestload, "--iters", "1", "--spawn-daemon", "--pid-file",
                                      (dir_ / "daemonizer.pids").string()});
    auto w = launcher.start(req);
    while (!w->poll()) ::usleep(5000);  // it exits; its daemon (another session) is re-parented to us
    const auto pids = read_pids(dir_ / "daemonizer.pids");
    const pid_t daemon = pids.size() == 2 ? pids[1] : -1;
    const pid_t kept = ::fork();  // a child of our own, to keep
    if (kept == 0) {
      for (;;) ::pause();
    }
    const bool adopted = daemon > 0 && parent_pid(daemon) == ::getpid();
    const auto killed = kill_adopted({kept});
    std::string out = std::to_string(adopted) + "\n" + std::to_string(daemon) + "\n" +
                      std::to_string(process_alive(kept)) + "\n" + std::to_string(killed.size()) + "\n";
    for (const auto& k : killed) out += k + "\n";
    ::kill(kept, SIGKILL);
    ::waitpid(kept, nullptr, 0);
    (void)!::write(report[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(report[1]);
  std::string text;
  char buf[256];
  ssize_t n;
  while ((n = ::read(report[0], buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
  ::close(report[0]);
  int st = 0;
  ::waitpid(child, &st, 0);
  std::istringstream in(text);
  int adopted = 0, kept_alive = 0;
  size_t count = 0;
  pid_t daemon = 0;
  in >> adopted >> daemon >> kept_alive >> count;
  in.ignore();
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(adopted, 1) << text;
  EXPECT_EQ(kept_alive, 1) << "kill_adopted killed a child it was told to keep";
  EXPECT_EQ(count, 1u) << text;
  EXPECT_EQ(first, std::to_string(daemon) + " (gpumix-testload)") << text;  // its comm (15 characters at most)
  EXPECT_TRUE(eventually([&] { return !process_alive(daemon); }, 2s));
}

}  // namespace
}  // namespace gpumix::run
