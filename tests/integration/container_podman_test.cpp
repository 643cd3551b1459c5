// The container launcher with real podman: `gpumix run` on mixes whose
// workloads run in containers of an image holding the test workload
// (tests/containers/podman_sandbox.sh builds it from a debootstrapped Debian,
// with a private podman configuration and storage, cached between runs).
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <sstream>

#include "gpumix/util/subprocess.hpp"
#include "harness.hpp"
#include "results.hpp"

namespace gpumix::test {
namespace {

using namespace std::chrono_literals;

std::string g_image;        // the test image, once the sandbox is ready
std::string g_setup_error;  // why it is not

class Containers : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* path = std::getenv("PATH");
    if (find_executable("podman", path ? path : "", ".").empty()) {
      g_setup_error = "podman is not installed (scripts/setup.sh --test installs it)";
      return;
    }
    auto r = run_and_capture({GPUMIX_PODMAN_SANDBOX, kTestload}, 15min);
    if (r.exit_code != 0) {
      g_setup_error = "podman_sandbox.sh failed (exit " + std::to_string(r.exit_code) + "):\n" + r.err;
      return;
    }
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      auto eq = line.find('=');
      if (eq == std::string::npos) continue;
      ::setenv(line.substr(0, eq).c_str(), line.substr(eq + 1).c_str(), 1);
      if (line.substr(0, eq) == "GPUMIX_TEST_IMAGE") g_image = line.substr(eq + 1);
    }
    if (g_image.empty()) g_setup_error = "podman_sandbox.sh printed no image:\n" + r.out + r.err;
  }

  void SetUp() override {
    if (g_setup_error.find("not installed") != std::string::npos) GTEST_SKIP() << g_setup_error;
    ASSERT_TRUE(g_setup_error.empty()) << g_setup_error;
  }

  // Every container gpumix made (labelled with a run token) that still exists.
  static std::string gpumix_containers() {
    auto r = run_and_capture({"podman", "ps", "-a", "--filter", "label=gpumix.run-token", "--format", "{{.Names}}"}, 60s);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  // The mix text with IMAGE replaced by the test image.
  static std::string with_image(std::string text) {
    for (auto at = text.find("IMAGE"); at != std::string::npos; at = text.find("IMAGE", at + g_image.size()))
      text.replace(at, 5, g_image);
    return text;
  }
};

TEST_F(Containers, RunAMixInContainersAndStoreItsResults) {
  ScratchDir dir;
  // Two container workloads and one process on the host, side by side.
  dir.write("mix.yaml", with_image(R"(name: boxed
cell_duration: 3s
stop_grace: 2s
modes: [exclusive, timeslice]
container:
  engine: podman
  image: IMAGE
  gpus: none
workloads:
  - name: train
    command: [gpumix-testload, --iters, "0", --interval-ms, "20", --samples, "8", --ready-after, "3"]
    role: training
  - name: server
    command: [gpumix-testload, --iters, "0", --interval-ms, "5", --latency-ms, "4"]
    role: server
  - name: host
    launcher: process
    command: [TESTLOAD, --iters, "0", --interval-ms, "20"]
)"));
  auto r = gpumix({"run", "mix.yaml"}, dir.path(), 180s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  auto d = latest_run(dir / "results");
  EXPECT_EQ(d.run.status, store::RunStatus::completed);
  ASSERT_EQ(d.cells.size(), 4u);
  for (const auto& c : d.cells) EXPECT_EQ(c.status, store::CellStatus::ok) << c.label;
  for (const char* name : {"train", "server"}) {
    const auto& s = d.summary("timeslice-r1", name);
    EXPECT_EQ(s.status, store::WorkloadStatus::ok) << name;
    // Events came over the container's stdout; `done` proves the SIGTERM at
    // the cell's end reached the workload inside and it ended cleanly.
    EXPECT_TRUE(s.reported_ready) << name;
    EXPECT_TRUE(s.reported_done) << name;
    const auto& w = d.workload("timeslice-r1", name);
    EXPECT_EQ(w.exit_code, 0) << name;
    EXPECT_GT(w.pid, 0) << name;
  }
  const auto& train = d.summary("timeslice-r1", "train");
  ASSERT_TRUE(train.throughput);
  EXPECT_GT(*train.throughput, 150);  // 8 samples per ~20 ms step
  EXPECT_LT(*train.throughput, 410);
  EXPECT_TRUE(d.summary("timeslice-r1", "server").latency_p99);
  EXPECT_EQ(d.summary("timeslice-r1", "host").status, store::WorkloadStatus::ok);
  EXPECT_NE(d.run.plan_json.find("\"launcher\":\"container\""), std::string::npos) << d.run.plan_json;
  EXPECT_EQ(gpumix_containers(), "") << "every container is removed";
}

TEST_F(Containers, CrashFailureOomAndMissingImageAreRecorded) {
  ScratchDir dir;
  dir.write("mix.yaml", with_image(R"(name: broken
cell_duration: 20s
stop_grace: 1s
modes: [timeslice]
container: {image: IMAGE, gpus: none}
workloads:
  - name: crash
    command: [gpumix-testload, --iters, "0", --crash-after, "3"]
  - name: fail
    command: [gpumix-testload, --iters, "0", --fail-after, "2", --error-msg, "boom in a box"]
  - name: oom
    command: [/bin/sh, -c, "x=aaaaaaaa; while :; do x=$x$x; done"]
    container: {run_args: [--memory=32m, --memory-swap=32m]}
  - name: noimage
    command: [gpumix-testload]
    container: {image: "localhost/gpumix-no-such-image:1"}
)"));
  auto r = gpumix({"run", "mix.yaml"}, dir.path(), 180s);
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto d = latest_run(dir / "results");
  const auto& crash = d.workload("timeslice-r1", "crash");
  EXPECT_EQ(crash.status, store::WorkloadStatus::crashed);
  EXPECT_EQ(crash.signal, SIGSEGV);
  EXPECT_NE(crash.reason.find("killed by SIGSEGV in the container (exit status 139)"), std::string::npos) << crash.reason;

  const auto& fail = d.workload("timeslice-r1", "fail");
  EXPECT_EQ(fail.status, store::WorkloadStatus::failed);
  EXPECT_EQ(fail.exit_code, 3);
  EXPECT_NE(fail.reason.find("boom in a box"), std::string::npos) << fail.reason;

  // podman 4.3 does not set State.OOMKilled on cgroup v1 (fixed in podman
  // 5); either way the kernel's SIGKILL is recorded as a crash.
  const auto& oom = d.workload("timeslice-r1", "oom");
  EXPECT_EQ(oom.status, store::WorkloadStatus::crashed);
  EXPECT_EQ(oom.signal, SIGKILL);
  EXPECT_TRUE(oom.reason.find("out of memory") != std::string::npos ||
              oom.reason.find("killed by SIGKILL in the container (exit status 137") != std::string::npos)
      << oom.reason;

  const auto& noimage = d.workload("timeslice-r1", "noimage");
  EXPECT_EQ(noimage.status, store::WorkloadStatus::failed);
  EXPECT_EQ(noimage.exit_code, 125);
  EXPECT_NE(noimage.reason.find("podman could not run the container (exit status 125)"), std::string::npos)
      << noimage.reason;
  EXPECT_NE(noimage.reason.find("gpumix-no-such-image"), std::string::npos) << "the engine's own error: " << noimage.reason;
  EXPECT_EQ(gpumix_containers(), "");
}

const char* kLongMix = R"(name: long
cell_duration: 60s
stop_grace: 2s
modes: [timeslice]
container: {image: IMAGE, gpus: none}
workloads:
  - name: a
    command: [gpumix-testload, --iters, "0", --interval-ms, "20"]
  - name: stubborn
    command: [gpumix-testload, --iters, "0", --interval-ms, "20", --ignore-sigterm]
)";

bool two_running() {
  auto r = run_and_capture({"podman", "ps", "--filter", "label=gpumix.run-token", "--format", "{{.Names}}"}, 60s);
  return std::count(r.out.begin(), r.out.end(), '\n') == 2;
}

TEST_F(Containers, CtrlCStopsAndRemovesEveryContainer) {
  ScratchDir dir;
  dir.write("mix.yaml", with_image(kLongMix));
  Background run({"run", "mix.yaml"}, dir.path());
  // Both reported ready, so the stubborn one already ignores SIGTERM (a
  // running container may not yet have got that far on a loaded machine).
  ASSERT_TRUE(eventually([&] { return run.output().find("measuring for") != std::string::npos; }, 60s))
      << run.output();
  ASSERT_TRUE(two_running());
  run.signal(SIGINT);
  auto code = run.wait(60s);
  ASSERT_TRUE(code) << run.output();
  EXPECT_EQ(*code, 130) << run.output();
  EXPECT_EQ(gpumix_containers(), "");
  auto d = latest_run(dir / "results");
  EXPECT_EQ(d.run.status, store::RunStatus::interrupted);
  EXPECT_EQ(d.workload("timeslice-r1", "a").status, store::WorkloadStatus::interrupted);
  EXPECT_EQ(d.workload("timeslice-r1", "stubborn").status, store::WorkloadStatus::interrupted);
  EXPECT_NE(d.workload("timeslice-r1", "stubborn").reason.find("killed"), std::string::npos)
      << "ignored the forwarded SIGTERM and was killed after stop_grace";
}

TEST_F(Containers, KilledGpumixLeavesNoContainer) {
  ScratchDir dir;
  dir.write("mix.yaml", with_image(kLongMix));
  Background run({"run", "mix.yaml"}, dir.path());
  ASSERT_TRUE(eventually(two_running, 60s)) << run.output();
  run.signal(SIGKILL);
  ASSERT_TRUE(run.wait(10s));
  // The orphan guard removes the run's containers.
  EXPECT_TRUE(eventually([] { return gpumix_containers().empty(); }, 60s)) << gpumix_containers();
}

}  // namespace
}  // namespace gpumix::test
