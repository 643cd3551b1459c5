// The run's cgroup with real processes: a workload that escapes everything a
// process can escape (its process group, its parent, its environment) is
// still in its cell's cgroup and dies with it; the cgroups of a gpumix that is
// gone are found and killed by the next one. Skipped, saying why, only where
// this machine lets gpumix make no cgroup.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "fixtures/processes.hpp"
#include "fixtures/temp_dir.hpp"
#include "gpumix/run/cgroup.hpp"
#include "gpumix/run/process_launcher.hpp"
#include "gpumix/util/procfs.hpp"

namespace gpumix::run {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using test::eventually;
using test::read_pids;

const std::string kTestload = GPUMIX_TESTLOAD;

// A pid that is certainly not running: a child that exited and was reaped.
pid_t gone_pid() {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int st;
  ::waitpid(pid, &st, 0);
  return pid;
}

class CgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    run_ = RunCgroup::make(std::to_string(::getpid()) + "-cgrouptest");
    if (!run_.usable()) GTEST_SKIP() << "this machine lets gpumix make no cgroup: " << run_.note();
  }
  void TearDown() override {
    if (run_.usable()) kill_cgroup(run_.path());
  }

  // The escapee's pid, once it has written it (at most 10 s: a fork and an
  // exec on a loaded machine take milliseconds).
  pid_t start_escaping_workload(const fs::path& cgroup, std::unique_ptr<RunningWorkload>& handle) {
    LaunchRequest req;
    req.name = "escaper";
    req.argv = {kTestload, "--iters", "0", "--escape-pid-file", (dir_ / "escapee.pid").string()};
    req.env = {{"GPUMIX_RUN_TOKEN", "cgroup-test"}};
    req.workdir = dir_.path();
    req.stdout_path = dir_ / "out";
    req.stderr_path = dir_ / "err";
    req.cgroup = cgroup;
    handle = launcher_.start(req);
    std::vector<pid_t> pids;
    EXPECT_TRUE(eventually([&] { return !(pids = read_pids(dir_ / "escapee.pid")).empty(); }, 10s));
    return pids.empty() ? -1 : pids[0];
  }

  RunCgroup run_;
  ProcessLauncher launcher_;
  test::TempDir dir_{"cgroup"};
};

TEST_F(CgroupTest, AWorkloadThatLeftItsGroupParentAndEnvironmentStillDiesWithItsCell) {
  std::string why;
  const auto cell = run_.make_child("cell-1", &why);
  ASSERT_TRUE(cell) << why;
  std::unique_ptr<RunningWorkload> workload;
  const pid_t escapee = start_escaping_workload(*cell, workload);
  ASSERT_GT(escapee, 0);
  ASSERT_TRUE(process_alive(escapee));
  // Nothing the other mechanisms could find it by: another session, and no environment.
  EXPECT_NE(::getsid(escapee), ::getsid(workload->pid()));
  std::ifstream environ("/proc/" + std::to_string(escapee) + "/environ");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(environ), {}), "");
  EXPECT_EQ(process_cgroup(std::to_string(escapee)), *cell);

  // Killing the workload's process group leaves it running...
  workload.reset();
  std::this_thread::sleep_for(200ms);
  ASSERT_TRUE(process_alive(escapee)) << "the escapee was in the workload's process group after all";
  // ...its cell's cgroup does not (SIGKILL is asynchronous: 10 s is ample).
  EXPECT_GE(kill_cgroup(*cell), 1);
  EXPECT_TRUE(eventually([&] { return !process_alive(escapee); }, 10s));
  EXPECT_FALSE(fs::exists(*cell));
}

TEST_F(CgroupTest, TheCgroupsOfAGpumixThatIsGoneAreKilledByTheNext) {
  // As a SIGKILLed gpumix whose guard was killed too leaves it: a
  // gpumix-<pid>-<random> cgroup beside ours, its pid gone, a process in it.
  const auto own = process_cgroup("self");
  ASSERT_TRUE(own);
  const fs::path stale = *own / ("gpumix-" + std::to_string(gone_pid()) + "-cgrouptest");
  ASSERT_TRUE(fs::create_directory(stale));
  std::unique_ptr<RunningWorkload> workload;
  const pid_t escapee = start_escaping_workload(stale, workload);
  ASSERT_GT(escapee, 0);
  workload.reset();

  // (Under ctest -j another test's gpumix may find it first: either way it is killed.)
  kill_stale_cgroups();
  EXPECT_TRUE(eventually([&] { return !process_alive(escapee); }, 10s));
  EXPECT_FALSE(fs::exists(stale));
  // Ours, whose gpumix (this test) is alive, is left alone.
  EXPECT_TRUE(fs::exists(run_.path()));
}

TEST_F(CgroupTest, TheRunsCgroupIsInGpumixsOwnAndSaysSo) {
  EXPECT_EQ(run_.path().parent_path(), process_cgroup("self"));
  EXPECT_EQ(run_.path().filename(), "gpumix-" + std::to_string(::getpid()) + "-cgrouptest");
  EXPECT_NE(run_.note().find("cgroup v2 " + run_.path().string()), std::string::npos) << run_.note();
  ASSERT_TRUE(cgroup2_mount());
  EXPECT_EQ(run_.path().string().rfind(cgroup2_mount()->string(), 0), 0u);
}

}  // namespace
}  // namespace gpumix::run
