// ProbeGroup with real processes of a fake gpumix-probe (fixtures/
// fake_probe.hpp) under time slicing, which needs no GPU: the file barrier,
// the environment and folder each probe gets, outcomes of every kind, the
// timeout and stop, what destroying the group kills; and ProbeOutcome's
// verdicts, errors and evidence.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "fixtures/fake_probe.hpp"
#include "fixtures/processes.hpp"
#include "fixtures/temp_dir.hpp"
#include "gpumix/probe/probe_group.hpp"
#include "gpumix/util/procfs.hpp"

namespace gpumix::probe {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

TEST(ProbeOutcome, OkOnlyWithExitZeroAndAnOkResult) {
  ProbeOutcome o;
  o.name = "spin0";
  o.exit_code = 0;
  o.out = {{"ok", true}, {"rate", 5}, {"intervals", {{1, 2}}}, {"latencies_us", {3.0}}};
  EXPECT_TRUE(o.ok());
  EXPECT_EQ(o.error(), "");
  const auto e = o.evidence();
  EXPECT_EQ(e["name"], "spin0");
  EXPECT_EQ(e["exit_code"], 0);
  EXPECT_TRUE(e["signal"].is_null());
  EXPECT_EQ(e["result"], (json{{"ok", true}, {"rate", 5}}));  // the large arrays left out
  EXPECT_FALSE(e.contains("stderr_tail"));

  o.stderr_tail = "warning";
  EXPECT_FALSE(o.evidence().contains("stderr_tail"));  // only when it failed
  o.out["ok"] = false;
  EXPECT_FALSE(o.ok());
  EXPECT_EQ(o.evidence()["stderr_tail"], "warning");
  o.out = nullptr;  // wrote nothing
  EXPECT_FALSE(o.ok());
  EXPECT_FALSE(o.evidence().contains("result"));
  o.out = {{"ok", true}};
  o.exit_code = 1;
  EXPECT_FALSE(o.ok());
}

TEST(ProbeOutcome, TheErrorSaysWhatTheProbeSaidElseHowItEnded) {
  ProbeOutcome o;
  o.exit_code = 3;
  o.stderr_tail = "cudaErrorNoDevice";
  EXPECT_EQ(o.error(), "exit 3: cudaErrorNoDevice");
  o.stderr_tail.clear();
  EXPECT_EQ(o.error(), "exit 3");
  o.exit_code.reset();
  o.signal = SIGSEGV;
  EXPECT_EQ(o.error(), "killed by signal 11");
  o.timed_out = true;
  EXPECT_EQ(o.error(), "timed out");
  o.out = {{"ok", false}, {"error", "CUDA error: an illegal memory access"}};
  EXPECT_EQ(o.error(), "CUDA error: an illegal memory access");  // the probe's own words win
}

class ProbeGroupTest : public ::testing::Test {
 protected:
  ProbeGroupTest() {
    env_.probe_exe = test::write_fake_probe(dir_.path());
    env_.work_dir = dir_ / "work";
    env_.context.run_token = "token-of-this-run";
  }

  test::TempDir dir_{"probe-group"};
  ProbeEnv env_;
};

TEST_F(ProbeGroupTest, ProbesLineUpAtTheBarrierAndGetTheTokenFolderAndArguments) {
  ProbeGroup g(env_, "timeslice", "timeslice-two", {{"a", "ok", {"--duration-ms", "5"}}, {"b", "ok", {}}});
  EXPECT_EQ(g.dir(), env_.work_dir / "timeslice-two");
  g.start("a");
  g.start("b");
  g.wait_ready(5s);
  EXPECT_TRUE(fs::exists(g.dir() / "a.ready"));
  EXPECT_TRUE(fs::exists(g.dir() / "b.ready"));
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(fs::exists(g.dir() / "a.json")) << "a probe went before the go file";
  g.go();
  const auto outcomes = g.wait_all(5s);
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[0].name, "a");
  EXPECT_EQ(outcomes[1].name, "b");
  for (const auto& o : outcomes) {
    EXPECT_TRUE(o.ok()) << o.name << ": " << o.error();
    EXPECT_EQ(o.out.value("token", ""), "token-of-this-run");
    EXPECT_EQ(o.out.value("cwd", ""), fs::canonical(g.dir()).string());
  }
  EXPECT_EQ(outcomes[0].out["args"], "--duration-ms 5");
  const auto ev = g.evidence();  // time slicing's own proof, taken with nothing running
  EXPECT_TRUE(ev.is_object());
  EXPECT_TRUE(g.finish().is_null());  // time slicing has nothing to tear down
}

TEST_F(ProbeGroupTest, FailuresCrashesAndEndsAreTold) {
  ProbeGroup g(env_, "timeslice", "timeslice-bad",
               {{"failer", "fail", {}, {}, false, false}, {"crasher", "crash", {}, {}, false, false}});
  g.start("failer");
  g.start("crasher");
  const auto failer = g.wait("failer", 5s);
  EXPECT_EQ(failer.exit_code, 1);
  EXPECT_FALSE(failer.ok());
  EXPECT_EQ(failer.error(), "CUDA error: out of memory");
  const auto crasher = g.wait("crasher", 5s);
  EXPECT_EQ(crasher.signal, SIGSEGV);
  EXPECT_TRUE(crasher.out.is_null());
  EXPECT_EQ(crasher.stderr_tail, "crashing\n");
  EXPECT_EQ(crasher.error(), "killed by signal 11");
  EXPECT_THROW(g.wait("nobody", 1s), RunError);
}

// One spec started twice under two file names (the fault case's fresh
// processes); one hangs past its timeout and is killed, one is stopped.
TEST_F(ProbeGroupTest, ATimeoutKillsAndStopTerminates) {
  ProbeGroup g(env_, "timeslice", "timeslice-slow",
               {{"hanger", "hang", {}, {}, false, false}, {"stopper", "term", {}, {}, false, false}});
  g.start("hanger", "hanger0");
  g.start("hanger", "hanger1");
  g.start("stopper");
  ASSERT_TRUE(test::eventually([&] { return fs::exists(g.dir() / "stopper.json.pid"); }, 5s));
  const auto t0 = std::chrono::steady_clock::now();
  const auto hung = g.wait("hanger0", 100ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_TRUE(hung.timed_out);
  EXPECT_EQ(hung.signal, SIGKILL);
  EXPECT_EQ(hung.error(), "timed out");
  const auto stopped = g.stop("stopper");
  EXPECT_TRUE(stopped.ok()) << stopped.error();
  EXPECT_TRUE(stopped.out.value("stopped", false));

  // Destroying the group kills what still runs (hanger1).
  ASSERT_TRUE(test::eventually([&] { return fs::exists(g.dir() / "hanger1.json.pid"); }, 5s));
  const auto left = test::read_pids(g.dir() / "hanger1.json.pid");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_TRUE(process_alive(left[0]));
  g.finish();
  EXPECT_FALSE(process_alive(left[0]));
}

// A probe that exits before it is ready does not hold the others up; one
// that neither gets ready nor exits makes wait_ready give up.
TEST_F(ProbeGroupTest, WaitReadyCountsExitedProbesAndGivesUpAfterItsTimeout) {
  ProbeGroup g(env_, "timeslice", "timeslice-ready", {{"quick", "early", {}}, {"stuck", "stuck", {}}});
  g.start("quick");
  g.wait_ready(5s);
  EXPECT_FALSE(fs::exists(g.dir() / "quick.ready"));
  EXPECT_EQ(g.wait("quick", 1s).exit_code, 4);
  g.start("stuck");
  try {
    g.wait_ready(100ms);
    FAIL() << "wait_ready returned with a probe neither ready nor ended";
  } catch (const RunError& e) {
    EXPECT_NE(std::string(e.what()).find("not ready within 100 ms"), std::string::npos) << e.what();
  }
}

TEST_F(ProbeGroupTest, AModeThatCannotRunHereIsUnavailableAndAnUnknownOneAnInputError) {
  EXPECT_THROW(ProbeGroup(env_, "mig", "mig-x", {{"a", "ok", {}}}), modes::ModeUnavailable);  // no NVML here
  EXPECT_THROW(ProbeGroup(env_, "no-such-mode", "x", {{"a", "ok", {}}}), InputError);
}

}  // namespace
}  // namespace gpumix::probe
