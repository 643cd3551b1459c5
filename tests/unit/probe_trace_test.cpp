// The time-slice trace analysis on synthetic traces with known answers.
#include <gtest/gtest.h>

#include <random>

#include "gpumix/probe/trace.hpp"
#include "gpumix/util/errors.hpp"

using namespace gpumix::probe;

namespace {

constexpr int64_t us = 1000;  // ns

// n processes taking turns: each runs `slice` then the next starts after
// `overhead` of idle; `rounds` full cycles starting at t0.
std::vector<std::vector<Interval>> round_robin(int n, int64_t slice, int64_t overhead, int rounds, int64_t t0 = 1'000'000) {
  std::vector<std::vector<Interval>> p(n);
  int64_t t = t0;
  for (int r = 0; r < rounds; ++r)
    for (int i = 0; i < n; ++i) {
      p[i].push_back({t, t + slice});
      t += slice + overhead;
    }
  return p;
}

}  // namespace

TEST(ProbeTrace, TwoProcessesTakingTurns) {
  // 2 ms slices, 40 µs switch overhead, 20 rounds.
  auto a = analyze_trace(round_robin(2, 2000 * us, 40 * us, 20));
  ASSERT_TRUE(a.valid) << a.note;
  EXPECT_EQ(a.processes, 2);
  // Window: from process 1's first start to process 0's last end.
  EXPECT_NEAR(*a.slice_us.p50, 2000, 1e-6);
  EXPECT_NEAR(*a.slice_us.p10, 2000, 1e-6);
  EXPECT_NEAR(*a.slice_us.p90, 2000, 1e-6);
  // A process waits for the other's slice and two switches.
  EXPECT_NEAR(*a.gap_us.p50, 2080, 1e-6);
  EXPECT_NEAR(*a.switch_overhead_us.p50, 40, 1e-6);
  EXPECT_NEAR(*a.switch_overhead_us.mean, 40, 1e-6);
  // 20 rounds × 2 slices − the first (before the window) − the last one → 38
  // slices in the window, 37 switches between them.
  EXPECT_EQ(a.switches, 37);
  EXPECT_EQ(a.concurrent_starts, 0);
  EXPECT_NEAR(a.efficiency, 1.0 - 37 * 40.0 / a.wall_us, 1e-9);
  EXPECT_NEAR(a.concurrency, a.efficiency, 1e-9);  // one at a time
  EXPECT_NEAR(a.idle_us, 37 * 40.0, 1e-6);
  EXPECT_NEAR(a.per_process[0].share + a.per_process[1].share, a.efficiency, 1e-9);
}

TEST(ProbeTrace, FourProcessesGapIsThreeSlicesAndFourSwitches) {
  auto a = analyze_trace(round_robin(4, 1000 * us, 25 * us, 30));
  ASSERT_TRUE(a.valid);
  EXPECT_NEAR(*a.slice_us.p50, 1000, 1e-6);
  EXPECT_NEAR(*a.gap_us.p50, 3 * 1000 + 4 * 25, 1e-6);
  EXPECT_NEAR(*a.switch_overhead_us.p50, 25, 1e-6);
  EXPECT_NEAR(a.per_process[2].share, 0.25 * a.efficiency, 0.01);
}

TEST(ProbeTrace, JitterAndShortHiccupsAreNotSwitches) {
  auto clean = round_robin(2, 2000 * us, 40 * us, 20);
  std::mt19937 rng(7);
  std::uniform_int_distribution<int64_t> jitter(-2 * us, 2 * us);
  std::vector<std::vector<Interval>> noisy(2);
  int64_t hiccups = 0;
  for (int p = 0; p < 2; ++p)
    for (const auto& i : clean[p]) {
      const int64_t s = i.start_ns + jitter(rng), e = i.end_ns + jitter(rng);
      // Every slice broken twice by hiccups of 3 µs and 20 µs (below the 50 µs threshold).
      const int64_t m1 = s + 500 * us, m2 = s + 1200 * us;
      noisy[p].push_back({s, m1});
      noisy[p].push_back({m1 + 3 * us, m2});
      noisy[p].push_back({m2 + 20 * us, e});
      hiccups += 2;
    }
  auto a = analyze_trace(noisy);
  ASSERT_TRUE(a.valid);
  EXPECT_EQ(a.hiccups, hiccups);
  EXPECT_EQ(a.switches, 37);
  EXPECT_NEAR(*a.slice_us.p50, 2000, 5);
  EXPECT_NEAR(*a.switch_overhead_us.p50, 40, 5);
  // The hiccups are not idle time of the GPU: they are inside slices.
  EXPECT_NEAR(a.idle_us, 37 * 40.0, 37 * 4.0 + 1);
  // With a threshold below the hiccups, they do become slices and switches do not grow.
  auto strict = analyze_trace(noisy, {.min_gap_ns = 2 * us});
  EXPECT_GT(strict.slice_us.count, a.slice_us.count);
  EXPECT_EQ(strict.switches, 37);
  EXPECT_GT(strict.idle_resumes, 0);
}

TEST(ProbeTrace, TruncatedSlicesCountAsRunningButNotInLengths) {
  // Process 0 is mid-slice when process 1 starts; process 1 ends mid-slice.
  std::vector<std::vector<Interval>> p = {
      {{0, 3000 * us}, {4100 * us, 7000 * us}, {8100 * us, 11000 * us}},
      {{3050 * us, 4050 * us}, {7050 * us, 8050 * us}, {11050 * us, 11500 * us}},
  };
  auto a = analyze_trace(p);
  ASSERT_TRUE(a.valid);
  EXPECT_EQ(a.window_start_ns, 3050 * us);
  EXPECT_EQ(a.window_end_ns, 11000 * us);
  // Complete: process 0's middle slice (2900) and process 1's second (1000);
  // process 1's first touches the window start, process 0's last its end.
  EXPECT_EQ(a.slice_us.count, 2);
  EXPECT_EQ(a.per_process[0].slices, 2);
  EXPECT_EQ(a.per_process[0].complete_slices, 1);
  EXPECT_NEAR(*a.per_process[0].slice_us.p50, 2900, 1e-6);
  EXPECT_NEAR(*a.per_process[1].slice_us.p50, 1000, 1e-6);
  // Running time includes the truncated parts: 1000+2900+1000+2900 of 7950.
  EXPECT_NEAR(a.concurrency, 7800.0 / 7950.0, 1e-9);
  EXPECT_EQ(a.switches, 3);
  EXPECT_NEAR(*a.switch_overhead_us.p50, 50, 1e-6);
}

TEST(ProbeTrace, OneProcessHasNoSwitches) {
  std::vector<std::vector<Interval>> p = {{{0, 1000 * us}, {1010 * us, 5000 * us}, {5200 * us, 9000 * us}}};
  auto a = analyze_trace(p);
  ASSERT_TRUE(a.valid);
  EXPECT_EQ(a.switches, 0);
  EXPECT_EQ(a.hiccups, 1);        // the 10 µs break
  EXPECT_EQ(a.idle_resumes, 1);   // the 200 µs break: idle, not a switch
  EXPECT_NEAR(*a.gap_us.p50, 200, 1e-6);
  EXPECT_NEAR(a.efficiency, 8800.0 / 9000.0, 1e-9);
  EXPECT_NEAR(a.concurrency, a.efficiency, 1e-9);
  EXPECT_TRUE(a.note.empty());
}

TEST(ProbeTrace, OverlappingProcessesRunConcurrently) {
  // MPS: both run throughout, with a few short stalls each; the stalls of one
  // are not switches because the other is running.
  std::vector<std::vector<Interval>> p = {
      {{0, 4000 * us}, {4300 * us, 10000 * us}},
      {{100 * us, 6000 * us}, {6500 * us, 10100 * us}},
  };
  auto a = analyze_trace(p);
  ASSERT_TRUE(a.valid);
  EXPECT_EQ(a.switches, 0);
  // Both begin together at the window's start, then 4300 and 6500 begin while the other runs.
  EXPECT_EQ(a.concurrent_starts, 3);
  EXPECT_NEAR(a.efficiency, 1.0, 1e-9);
  EXPECT_NEAR(a.concurrency, (9600.0 + 9400.0) / 9900.0, 1e-9);
  EXPECT_GT(a.concurrency, 1.9);
  EXPECT_EQ(a.switch_overhead_us.count, 0);
  EXPECT_FALSE(a.switch_overhead_us.p50.has_value());
}

TEST(ProbeTrace, DegenerateInput) {
  EXPECT_FALSE(analyze_trace({}).valid);
  auto empty = analyze_trace({{{0, 10}}, {}});
  EXPECT_FALSE(empty.valid);
  EXPECT_NE(empty.note.find("process 1"), std::string::npos);
  auto apart = analyze_trace({{{0, 1000 * us}}, {{2000 * us, 3000 * us}}});
  EXPECT_FALSE(apart.valid);
  EXPECT_NE(apart.note.find("never ran at the same time"), std::string::npos);
  EXPECT_THROW(analyze_trace({{{100, 50}}}), gpumix::InputError);
  // Unsorted input gives the same answer as sorted.
  auto rr = round_robin(2, 1000 * us, 30 * us, 10);
  auto shuffled = rr;
  std::reverse(shuffled[0].begin(), shuffled[0].end());
  EXPECT_EQ(analyze_trace(shuffled).switches, analyze_trace(rr).switches);
}
