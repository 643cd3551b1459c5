#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "gpumix/modes/mig.hpp"
#include "gpumix/modes/mps.hpp"
#include "gpumix/modes/mps_control.hpp"
#include "gpumix/modes/preflight.hpp"
#include "gpumix/modes/registry.hpp"
#include "gpumix/util/procfs.hpp"
#include "gpumix/util/subprocess.hpp"

namespace gpumix::modes {
namespace {

using namespace std::chrono_literals;

bool eventually_dead(pid_t pid) {
  for (int i = 0; i < 150 && process_alive(pid); ++i) std::this_thread::sleep_for(20ms);
  return !process_alive(pid);
}

TEST(MpsParse, PidListFromControlOutput) {
  EXPECT_EQ(parse_pid_list("1234\n5678\n"), (std::vector<pid_t>{1234, 5678}));
  EXPECT_EQ(parse_pid_list("  42  "), std::vector<pid_t>{42});
  EXPECT_TRUE(parse_pid_list("").empty());
  // Messages are not pids.
  EXPECT_TRUE(parse_pid_list("Cannot find MPS control daemon process\n").empty());
}

TEST(MpsParse, PinnedMemoryLimitInMiBRoundedUp) {
  EXPECT_EQ(pinned_memory_limit_value(8LL << 30), "0=8192M");
  EXPECT_EQ(pinned_memory_limit_value((1LL << 20) + 1), "0=2M");
  EXPECT_EQ(pinned_memory_limit_value(512LL << 20, 1), "1=512M");
}

TEST(MpsSplit, PercentagesFollowWeightsAndNeverExceed100) {
  EXPECT_EQ(split_percentages({1, 1}), (std::vector<int>{50, 50}));
  EXPECT_EQ(split_percentages({3, 1}), (std::vector<int>{75, 25}));
  EXPECT_EQ(split_percentages({1, 1, 1}), (std::vector<int>{33, 33, 33}));
  auto tiny = split_percentages({1000, 1});
  EXPECT_EQ(tiny[1], 1);  // at least 1%
}

std::vector<MigSlot> h100_slots() {
  return {{"MIG-aaa", "3g.40gb", 40LL << 30}, {"MIG-bbb", "2g.20gb", 20LL << 30}, {"MIG-ccc", "1g.10gb", 10LL << 30},
          {"MIG-ddd", "1g.10gb", 10LL << 30}};
}

TEST(MigAssign, ByMemoryNeedBestFitLargestFirst) {
  auto a = assign_mig({{"small", {}, 5LL << 30}, {"big", {}, 30LL << 30}, {"mid", {}, 15LL << 30}}, h100_slots());
  EXPECT_EQ(a["big"], "MIG-aaa");
  EXPECT_EQ(a["mid"], "MIG-bbb");
  EXPECT_EQ(a["small"], "MIG-ccc");
}

TEST(MigAssign, NamedByUuidIndexOrProfile) {
  auto a = assign_mig({{"x", "MIG-ddd", {}}, {"y", "0", {}}, {"z", "1g.10gb", {}}}, h100_slots());
  EXPECT_EQ(a["x"], "MIG-ddd");
  EXPECT_EQ(a["y"], "MIG-aaa");
  EXPECT_EQ(a["z"], "MIG-ccc");  // the first free 1g.10gb (ddd is taken)
}

TEST(MigAssign, ImpossibleRequestsSayWhy) {
  auto expect_error = [](const std::vector<MigRequest>& r, const std::string& part) {
    try {
      assign_mig(r, h100_slots());
      ADD_FAILURE() << "expected an error containing " << part;
    } catch (const RunError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_error({{"huge", {}, 50LL << 30}}, "no free MIG instance for workload 'huge' (needs 50.0 GiB)");
  expect_error({{"x", "MIG-zzz", {}}}, "asks for MIG instance 'MIG-zzz'");
  expect_error({{"x", "7", {}}}, "asks for MIG instance '7'");
  expect_error({{"x", "2", 20LL << 30}}, "has 10.0 GiB");
  expect_error({{"a", "1", {}}, {"b", "1", {}}}, "already given");
  expect_error({{"a", {}, {}}, {"b", {}, {}}, {"c", {}, {}}, {"d", {}, {}}, {"e", {}, {}}}, "no free MIG instance for workload");
}

TEST(Preflight, MemoryNeedsMustFit) {
  spec::Workload a, b;
  a.name = "a";
  a.gpu_memory = 50LL << 30;
  b.name = "b";
  b.gpu_memory = 40LL << 30;
  EXPECT_EQ(check_memory_fits({&a}, 80LL << 30), "");
  auto problem = check_memory_fits({&a, &b}, 80LL << 30);
  EXPECT_NE(problem.find("a 50.0 GiB + b 40.0 GiB = 90.0 GiB"), std::string::npos) << problem;
  EXPECT_NE(problem.find("80.0 GiB"), std::string::npos);
}

// A mode whose setup fails halfway: the session must still tear it down.
class HalfSetupMode final : public Mode {
 public:
  explicit HalfSetupMode(int& teardowns) : teardowns_(teardowns) {}
  std::string name() const override { return "half"; }
  void setup(const CellContext&) override { throw RunError("setup broke after starting something"); }
  std::map<std::string, std::string> env_for(const spec::Workload&) const override { return {}; }
  nlohmann::json evidence(const std::vector<RunningProcess>&) override { return {}; }
  nlohmann::json teardown() noexcept override {
    ++teardowns_;
    return "torn down";
  }

 private:
  int& teardowns_;
};

TEST(ModeSession, TeardownRunsOnceOnEveryPath) {
  int teardowns = 0;
  HalfSetupMode failing(teardowns);
  EXPECT_THROW(ModeSession(failing, CellContext{}), RunError);
  EXPECT_EQ(teardowns, 1);

  spec::Mix mix;
  auto ts = make_mode("timeslice", mix, {});
  {
    ModeSession s(*ts, CellContext{});
    EXPECT_TRUE(s.finish().is_null());
    s.finish();  // idempotent
  }
}

TEST(Modes, GpuModesAreUnavailableWithoutAGpuAndSaySo) {
  spec::Mix mix;
  CellContext cell{"mps-r1", std::filesystem::temp_directory_path(), {}};
  for (const char* name : {"mps", "mps-split", "mig"}) {
    auto mode = make_mode(name, mix, {});
    try {
      ModeSession s(*mode, cell);
      ADD_FAILURE() << name << " set up without a GPU";
    } catch (const ModeUnavailable& e) {
      EXPECT_FALSE(std::string(e.what()).empty());
    }
  }
  EXPECT_THROW(make_mode("warp", mix, {}), InputError);
}

// The MPS daemon lifecycle against a stand-in control program (tests/data/fake-mps).
class MpsDaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_path_ = std::getenv("PATH");
    setenv("PATH", (std::string(GPUMIX_TEST_DATA) + "/fake-mps:" + old_path_).c_str(), 1);
    char tmpl[] = "/tmp/gpumix-mps-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override {
    setenv("PATH", old_path_.c_str(), 1);
    std::filesystem::remove_all(dir_);
  }
  std::string old_path_;
  std::filesystem::path dir_;
};

TEST_F(MpsDaemonTest, StartsAnswersAndStops) {
  MpsDaemon d(dir_ / "pipe", dir_ / "log", "token-1");
  d.start();
  auto pid = d.daemon_pid();
  ASSERT_TRUE(pid);
  EXPECT_TRUE(process_alive(*pid));
  EXPECT_TRUE(environment_has(*pid, "GPUMIX_RUN_TOKEN=token-1"));
  std::ofstream(dir_ / "pipe" / "servers") << "111\n222\n";
  std::ofstream(dir_ / "pipe" / "clients") << "333\n";
  EXPECT_EQ(d.servers(), (std::vector<pid_t>{111, 222}));
  EXPECT_EQ(d.clients(111), std::vector<pid_t>{333});
  std::filesystem::remove(dir_ / "pipe" / "servers");  // no real servers to wait for
  auto report = d.stop();
  EXPECT_NE(report.find("quit"), std::string::npos) << report;
  EXPECT_TRUE(eventually_dead(*pid));
  EXPECT_EQ(d.stop(), "");  // idempotent
}

TEST_F(MpsDaemonTest, DaemonIgnoringQuitIsKilled) {
  MpsDaemon d(dir_ / "pipe", dir_ / "log", "t");
  d.start();
  auto pid = *d.daemon_pid();
  std::ofstream(dir_ / "pipe" / "ignore-quit") << "";
  auto report = d.stop(300ms);
  EXPECT_NE(report.find("killed"), std::string::npos) << report;
  EXPECT_TRUE(eventually_dead(pid));
}

TEST_F(MpsDaemonTest, RefusesASecondDaemonInTheSamePipeFolder) {
  MpsDaemon first(dir_ / "pipe", dir_ / "log", "t");
  first.start();
  MpsDaemon second(dir_ / "pipe", dir_ / "log", "t");
  try {
    second.start();
    FAIL() << "a second daemon started in the same pipe folder";
  } catch (const RunError& e) {
    EXPECT_NE(std::string(e.what()).find("already runs"), std::string::npos) << e.what();
  }
}

TEST_F(MpsDaemonTest, StaleDaemonOfAKilledRunIsStoppedThroughItsPidFile) {
  auto pipe = dir_ / "runs" / "3-x" / "2-mps-r1" / "mps-pipe";
  // A daemon started as gpumix starts it, then forgotten, as by a killed gpumix.
  std::filesystem::create_directories(pipe);
  auto r = run_and_capture({"nvidia-cuda-mps-control", "-d"}, 10s,
                           {{{"CUDA_MPS_PIPE_DIRECTORY", pipe.string()},
                             {"CUDA_MPS_LOG_DIRECTORY", (pipe.parent_path() / "mps-log").string()}},
                            ""});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::this_thread::sleep_for(100ms);
  std::ifstream pid_file(pipe / kMpsPidFile);
  pid_t pid = 0;
  pid_file >> pid;
  ASSERT_TRUE(process_alive(pid));
  EXPECT_EQ(stop_stale_mps_daemons(dir_ / "runs"), 1);
  EXPECT_TRUE(eventually_dead(pid));
  EXPECT_EQ(stop_stale_mps_daemons(dir_ / "runs"), 0);
}

TEST_F(MpsDaemonTest, MissingControlProgramMakesTheModeUnavailable) {
  setenv("PATH", "/nonexistent", 1);
  EXPECT_THROW(MpsDaemon(dir_ / "pipe", dir_ / "log", "t"), ModeUnavailable);
}

// A fleet pod's cell folder (/results/<job>-fleet/<uid>/cell-N/runs/...) is
// longer than MPS's sockets allow: the daemon gets a short private folder,
// named in the cell folder so a stale daemon is still found, and removed.
TEST_F(MpsDaemonTest, AnOverlongPipeFolderMovesToAShortPrivateOne) {
  const auto cell = dir_ / "runs" / "1-x" / std::string(100, 'c');
  std::filesystem::path moved;
  {
    MpsDaemon d(cell / "mps-pipe", cell / "mps-log", "t");
    moved = d.pipe_dir();
    EXPECT_LE(moved.string().size(), kMaxMpsPipeDirLength);
    EXPECT_EQ(moved.string().rfind("/tmp/gpumix-mps-", 0), 0u) << moved;
    d.start();
    ASSERT_TRUE(d.daemon_pid());
    std::string named;
    std::getline(std::ifstream(cell / kMpsPipePathFile), named);
    EXPECT_EQ(named, moved.string());
    EXPECT_TRUE(std::filesystem::is_directory(cell / "mps-log"));
    d.stop();
  }
  EXPECT_FALSE(std::filesystem::exists(moved)) << "removed with its daemon";

  // A daemon started in such a folder, then forgotten, as by a killed gpumix:
  // the stale sweep follows the file.
  char tmpl[] = "/tmp/gpumix-mps-XXXXXX";
  moved = ::mkdtemp(tmpl);
  std::ofstream(cell / kMpsPipePathFile) << moved.string() << "\n";
  auto r = run_and_capture({"nvidia-cuda-mps-control", "-d"}, 10s,
                           {{{"CUDA_MPS_PIPE_DIRECTORY", moved.string()}, {"CUDA_MPS_LOG_DIRECTORY", (cell / "mps-log").string()}}, ""});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::this_thread::sleep_for(100ms);
  pid_t pid = 0;
  std::ifstream(moved / kMpsPidFile) >> pid;
  ASSERT_TRUE(process_alive(pid));
  EXPECT_EQ(stop_stale_mps_daemons(dir_ / "runs"), 1);
  EXPECT_TRUE(eventually_dead(pid));
  std::filesystem::remove_all(moved);
}

}  // namespace
}  // namespace gpumix::modes
