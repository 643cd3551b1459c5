// The two probe experiments end to end with a fake gpumix-probe (fixtures/
// fake_probe.hpp) whose figures are known: what each stores per mode and
// count (the slowdown and throughput arithmetic, failures named in the
// note, the isolation verdicts and their figures), and a mode that cannot
// run here stored as skipped. Time slicing needs no GPU; MIG without NVML
// is unavailable.
#include <gtest/gtest.h>

#include "fixtures/fake_probe.hpp"
#include "fixtures/temp_dir.hpp"
#include "gpumix/probe/experiments.hpp"
#include "gpumix/probe/probe_store.hpp"

namespace gpumix::probe {
namespace {

using nlohmann::json;

std::vector<std::string> g_progress;
void remember(const std::string& line) { g_progress.push_back(line); }

class ProbeExperiments : public ::testing::Test {
 protected:
  ProbeExperiments() : store_(dir_ / "results") {
    env_.probe_exe = test::write_fake_probe(dir_.path());
    env_.work_dir = dir_ / "work";
    env_.context.run_token = "token";
    g_progress.clear();
  }
  int64_t session(const std::string& kind) { return store_.begin_session({0, kind, "", "", 0, 0, "h", "GPU", "GPU-1", "580", "{}"}); }

  test::TempDir dir_{"probe-experiments"};
  ProbeEnv env_;
  ProbeStore store_;
};

TEST_F(ProbeExperiments, TimesliceStoresATraceRowPerCountAndTheSlowdownArithmetic) {
  TimesliceOptions o;
  o.modes = {"timeslice", "mig"};
  o.counts = {1, 2};
  o.repeats = 1;
  o.duration_ms = 30;
  const auto sid = session("timeslice");
  run_timeslice_probe(env_, o, store_, sid, remember);

  const auto rows = store_.timeslice(sid);
  ASSERT_EQ(rows.size(), 3u);  // timeslice N=1, N=2; mig once, then no further count
  EXPECT_EQ(rows[0].mode, "timeslice");
  EXPECT_EQ(rows[0].processes, 1);
  EXPECT_EQ(rows[1].processes, 2);
  EXPECT_EQ(json::parse(rows[1].evidence_json)["processes"].size(), 2u);
  // The fake's spin1 fails: the row is not valid and its note names it.
  EXPECT_FALSE(rows[1].valid);
  EXPECT_EQ(rows[1].note, "spin1: CUDA error: launch timeout");
  EXPECT_EQ(rows[0].note.find("CUDA error"), std::string::npos) << rows[0].note;  // spin0 alone did not fail
  EXPECT_EQ(rows[2].mode, "mig");
  EXPECT_FALSE(rows[2].valid);
  EXPECT_EQ(rows[2].note.rfind("mode unavailable: MIG needs an NVIDIA GPU", 0), 0u) << rows[2].note;

  // The loop alone runs 1200/s; N copies 1200/N - 100 each.
  const auto slow = store_.slowdown(sid);
  ASSERT_EQ(slow.size(), 2u);  // next to 1 and to 2 others, time slicing only
  EXPECT_EQ(slow[0].others, 1);
  EXPECT_EQ(slow[0].rate_alone, 1200.0);
  EXPECT_EQ(slow[0].rate_shared, 500.0);
  EXPECT_NEAR(*slow[0].slowdown, 2.4, 1e-12);          // 1200 / 500; a fair share would be 2
  EXPECT_NEAR(*slow[0].throughput, 1000.0 / 1200, 1e-12);  // 2 x 500 / 1200: a sixth lost to switching
  EXPECT_EQ(slow[1].others, 2);
  EXPECT_NEAR(*slow[1].slowdown, 4.0, 1e-12);
  EXPECT_NEAR(*slow[1].throughput, 0.75, 1e-12);
  EXPECT_EQ(json::parse(slow[1].evidence_json)["shared"].size(), 3u);

  ASSERT_EQ(g_progress.size(), 5u);  // 2 counts, 2 slowdowns, then mig's skip
  EXPECT_EQ(g_progress[4].rfind("mig: skipped: ", 0), 0u) << g_progress[4];
  EXPECT_EQ(g_progress[3], "timeslice r1 loop next to 2 other(s): slowdown 4.00 (fair share 3), throughput 0.750");
}

TEST_F(ProbeExperiments, IsolationStoresEveryCaseWithItsVerdictAndFigure) {
  IsolationOptions o;
  o.modes = {"timeslice", "mig"};
  o.duration_ms = 30;
  o.recovery_timeout_ms = 5000;
  const auto sid = session("isolation");
  run_isolation_probe(env_, o, store_, sid, remember);

  const auto rows = store_.isolation(sid);
  ASSERT_EQ(rows.size(), 5u) << "memory, mps-memory-limit, fault, performance for timeslice; mig skipped";
  const auto& memory = rows[0];
  EXPECT_EQ(memory.case_name, "memory");
  EXPECT_EQ(memory.isolated, true);
  EXPECT_EQ(memory.outcome, "hog took 72.0 GiB; the other: 1.0 GiB ok, 16.0 GiB ok");  // 80 GiB assumed without NVML

  EXPECT_EQ(rows[1].case_name, "mps-memory-limit");
  EXPECT_FALSE(rows[1].isolated);
  EXPECT_NE(rows[1].outcome.find("not applicable"), std::string::npos);

  const auto& fault = rows[2];
  EXPECT_EQ(fault.case_name, "fault");
  EXPECT_EQ(fault.isolated, true);  // both workers survived
  ASSERT_TRUE(fault.value);
  EXPECT_NEAR(*fault.value, 0.25, 1e-9);  // t_ok - t_fault
  EXPECT_EQ(fault.unit, "s to recovery");
  EXPECT_EQ(fault.outcome,
            "faulter: an illegal memory access; worker0 survived (42 kernels); worker1 survived (42 kernels); "
            "a new process ran 0.250 s after the fault (1 attempt(s))");

  const auto& perf = rows[3];
  EXPECT_EQ(perf.case_name, "performance");
  EXPECT_EQ(perf.variant, "saturating neighbour");  // no per-process SM limit under time slicing
  ASSERT_TRUE(perf.value);
  EXPECT_NEAR(*perf.value, 3.0, 1e-12);  // p99 300 µs beside the neighbour, 100 µs alone
  EXPECT_EQ(perf.isolated, false);       // above kIsolatedP99Ratio
  EXPECT_NE(perf.outcome.find("p99 100.0 µs alone, 300.0 µs with the neighbour (×3.00); neighbour 1000 kernels/s"),
            std::string::npos)
      << perf.outcome;

  EXPECT_EQ(rows[4].mode, "mig");
  EXPECT_EQ(rows[4].case_name, "all");
  EXPECT_EQ(rows[4].outcome.rfind("skipped: mode unavailable: MIG needs", 0), 0u) << rows[4].outcome;
}

}  // namespace
}  // namespace gpumix::probe
