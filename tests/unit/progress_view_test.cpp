// The live progress of `gpumix run` (run/progress_view): live rates against
// the analysis's own figures, remaining times, and the status line's text
// and width.
#include <gtest/gtest.h>

#include <random>

#include "gpumix/analysis/summary.hpp"
#include "gpumix/percentile.hpp"
#include "gpumix/run/progress_view.hpp"

namespace gpumix::run {
namespace {

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kStart = 1'700'000'000 * kSecond;  // Unix ns, as events carry

Event iter(int64_t t_ns, int64_t n) {
  Event e;
  e.t_ns = t_ns;
  e.ev = "iter";
  e.n = n;
  e.data = R"({"ev":"iter","n":)" + std::to_string(n) + "}";
  return e;
}

Event latency(int64_t t_ns, double ms, bool ok = true) {
  Event e;
  e.t_ns = t_ns;
  e.ev = "latency";
  e.ms = ms;
  e.data = std::string(R"({"ev":"latency","ms":)") + std::to_string(ms) + (ok ? "}" : R"(,"ok":false})");
  return e;
}

TEST(LiveRate, SamplesPerSecondIsTheAnalysisThroughputOverTheLastSeconds) {
  // Irregular steps for 12 s; the live rate at t is what the analysis finds for
  // a window of (t − 5 s, t], a step cut at the window's start counted in part.
  std::mt19937 rng(3);
  std::uniform_int_distribution<int64_t> step_ns(5'000'000, 90'000'000);
  std::uniform_int_distribution<int64_t> samples(1, 32);
  LiveRate live;
  std::vector<store::EventRow> rows;
  int64_t t = kStart;
  while (t < kStart + 12 * kSecond) {
    t += step_ns(rng);
    const auto e = iter(t, samples(rng));
    live.add(e);
    rows.push_back({7, e.t_ns, e.ev, e.n, e.ms, e.data});
  }
  const int64_t now = kStart + 11 * kSecond + 123'456'789;
  // The events after `now` have not arrived yet.
  LiveRate until_now;
  std::vector<store::EventRow> arrived;
  for (const auto& r : rows)
    if (r.t_ns <= now) {
      until_now.add(iter(r.t_ns, *r.n));
      arrived.push_back(r);
    }
  const auto figures = until_now.at(now);
  ASSERT_TRUE(figures.samples_per_s);

  store::CellRow cell;
  cell.id = 1;
  cell.window_start_ns = now - 5 * kSecond;
  cell.window_end_ns = now;
  store::WorkloadRow w;
  w.id = 7;
  w.cell_id = 1;
  w.started_ns = kStart;
  w.ready_ns = kStart;
  w.ended_ns = now + kSecond;
  const auto summary = analysis::summarize({cell}, {w}, arrived);
  ASSERT_EQ(summary.size(), 1u);
  ASSERT_TRUE(summary[0].throughput);
  EXPECT_NEAR(*figures.samples_per_s, *summary[0].throughput, 1e-9 * *summary[0].throughput);
  EXPECT_FALSE(figures.requests_per_s);
}

TEST(LiveRate, SteadyStepsGiveTheirRateAndAStallFallsToZero) {
  LiveRate live;
  for (int64_t i = 0; i <= 300; ++i) live.add(iter(kStart + i * 20'000'000, 8));  // 8 samples per 20 ms: 400/s, for 6 s
  EXPECT_NEAR(*live.at(kStart + 6 * kSecond).samples_per_s, 400.0, 1e-6);
  // Within the first seconds: from the first step on, its own samples not counted.
  LiveRate young;
  for (int64_t i = 0; i <= 50; ++i) young.add(iter(kStart + i * 20'000'000, 8));
  EXPECT_NEAR(*young.at(kStart + kSecond).samples_per_s, 400.0, 1e-6);
  // Nothing for 2.5 s: half the span had no step.
  EXPECT_NEAR(*live.at(kStart + 6 * kSecond + 2'500'000'000).samples_per_s, 200.0, 1e-6);
  // Nothing for longer than the span: zero, not the old rate.
  EXPECT_EQ(*live.at(kStart + 20 * kSecond).samples_per_s, 0.0);
}

TEST(LiveRate, NothingToDivideBeforeTheSecondStep) {
  LiveRate live;
  EXPECT_FALSE(live.at(kStart).samples_per_s);
  live.add(iter(kStart, 8));
  EXPECT_FALSE(live.at(kStart + kSecond).samples_per_s);
  live.add(iter(kStart + kSecond, 8));
  EXPECT_NEAR(*live.at(kStart + 2 * kSecond).samples_per_s, 4.0, 1e-9);
}

TEST(LiveRate, RequestsPerSecondAndP99FromSuccessfulRequestsOnly) {
  LiveRate live(100);
  live.add(latency(kStart, 1.0));  // the first: where counting starts
  EXPECT_FALSE(live.at(kStart + kSecond).requests_per_s);
  std::vector<double> ms;
  for (int64_t i = 1; i <= 99; ++i) {
    const double v = 1.0 + i % 17;
    live.add(latency(kStart + i * 10'000'000, v));
    ms.push_back(v);
  }
  live.add(latency(kStart + 995'000'000, 500.0, false));  // failed: neither counted nor in the p99
  auto f = live.at(kStart + kSecond);
  ASSERT_TRUE(f.requests_per_s);
  EXPECT_NEAR(*f.requests_per_s, 99.0, 1e-9);
  EXPECT_FALSE(f.p99_ms) << "99 requests: fewer than a p99 needs";
  live.add(latency(kStart + 999'000'000, 2.0));
  ms.push_back(2.0);
  f = live.at(kStart + kSecond);
  ASSERT_TRUE(f.p99_ms);
  std::sort(ms.begin(), ms.end());
  EXPECT_DOUBLE_EQ(*f.p99_ms, percentile_of_sorted(ms, 99));
  EXPECT_FALSE(f.samples_per_s);
  // Five seconds later with no requests: 0 req/s, no p99.
  f = live.at(kStart + 7 * kSecond);
  EXPECT_EQ(*f.requests_per_s, 0.0);
  EXPECT_FALSE(f.p99_ms);
}

ProgressState measuring() {
  ProgressState s;
  s.index = 4;
  s.plan_size = 6;
  s.mode = "timeslice";
  s.repeat = 2;
  s.phase = CellPhase::measuring;
  s.cell_elapsed_s = 15;
  s.phase_elapsed_s = 12;
  s.window_s = 30;
  s.window_left_s = 18;
  s.cells_after = 1;
  s.warmup_estimate_s = 3;
  s.winddown_estimate_s = 1;
  s.workloads = {{"train", LiveWorkload::State::running, {398.4, std::nullopt, std::nullopt}},
                 {"server", LiveWorkload::State::running, {std::nullopt, 199.0, 4.126}}};
  return s;
}

TEST(ProgressView, RemainingTimesAddWindowsAndTheWarmUpsSeenSoFar) {
  auto s = measuring();
  EXPECT_DOUBLE_EQ(cell_remaining(s).seconds, 18 + 1);
  EXPECT_FALSE(cell_remaining(s).at_least);
  EXPECT_DOUBLE_EQ(run_remaining(s).seconds, 19 + (3 + 30 + 1));
  // No cell warmed up yet: the windows alone, at least.
  s.phase = CellPhase::warmup;
  s.warmup_estimate_s.reset();
  s.winddown_estimate_s.reset();
  s.window_left_s.reset();
  s.cells_after = 3;
  EXPECT_DOUBLE_EQ(cell_remaining(s).seconds, 30);
  EXPECT_TRUE(cell_remaining(s).at_least);
  EXPECT_DOUBLE_EQ(run_remaining(s).seconds, 4 * 30);
  EXPECT_TRUE(run_remaining(s).at_least);
  // A warm-up past its estimate has nothing left of it, not less than nothing.
  s.warmup_estimate_s = 10;
  s.cell_elapsed_s = 14;
  EXPECT_DOUBLE_EQ(cell_remaining(s).seconds, 30);
  EXPECT_FALSE(run_remaining(s).at_least);
  // Stopping: what stopping took so far, less what already passed.
  s.phase = CellPhase::stopping;
  s.winddown_estimate_s = 2;
  s.phase_elapsed_s = 0.5;
  EXPECT_DOUBLE_EQ(cell_remaining(s).seconds, 1.5);
  EXPECT_DOUBLE_EQ(run_remaining(s).seconds, 1.5 + 3 * (10 + 30 + 2));
}

TEST(ProgressView, TheLineNamesCellPhaseTimesAndRates) {
  const auto text = progress_text(measuring());
  EXPECT_EQ(text,
            "cell 4 (5/6) timeslice r2: measuring 12s/30s, ~19s left; run ETA ~53s | "
            "train 398 samples/s, server 199 req/s p99 4.13ms");
  auto s = measuring();
  s.phase = CellPhase::warmup;
  s.phase_elapsed_s = 2;
  s.cell_elapsed_s = 2.2;
  s.baseline = true;
  s.mode = "exclusive";
  s.warmup_estimate_s.reset();
  s.workloads[0].state = LiveWorkload::State::pending;
  s.workloads[1].figures = {};
  EXPECT_EQ(progress_text(s), "cell 4 (5/6) exclusive baseline r2: warm-up 2s, >31s left; run ETA >1m02s | train waiting, server -");
  EXPECT_EQ(phase_name(CellPhase::setup), "setting up");
  EXPECT_EQ(phase_name(CellPhase::stopping), "stopping");
  s.eta_at_most = true;
  EXPECT_NE(progress_text(s).find("run ETA >1m02s (max)"), std::string::npos);
}

TEST(ProgressView, TheLineFitsTheTerminalDroppingWorkloadsFirst) {
  auto s = measuring();
  for (int i = 0; i < 12; ++i)
    s.workloads.push_back({"worker-" + std::to_string(i), LiveWorkload::State::running, {1234.5, std::nullopt, std::nullopt}});
  const auto full = progress_text(s);
  EXPECT_NE(full.find("worker-11 1.23k samples/s"), std::string::npos) << full;
  for (size_t width = 1; width <= full.size() + 5; ++width) {
    const auto text = progress_text(s, width);
    EXPECT_LE(text.size(), width) << text;
    if (width >= full.size()) {
      EXPECT_EQ(text, full);
    }
  }
  const auto eighty = progress_text(s, 80);
  EXPECT_EQ(eighty, "cell 4 (5/6) timeslice r2: measuring 12s/30s, ~19s left; run ETA ~53s | +14 more");
  const auto wide = progress_text(s, 160);
  EXPECT_NE(wide.find("train 398 samples/s, server 199 req/s p99 4.13ms, "), std::string::npos) << wide;
  EXPECT_NE(wide.find(" more"), std::string::npos) << wide;
  EXPECT_EQ(progress_text(s, 20), "cell 4 (5/6) time...");
  // Names in UTF-8 are cut between characters, counted as one column each.
  s.workloads = {{"träin-é", LiveWorkload::State::running, {}}};
  const auto utf8 = progress_text(s, 200);
  EXPECT_NE(utf8.find("| träin-é -"), std::string::npos);
}

TEST(ProgressView, TheBlockPutsTheWorkloadsOnTheirOwnLine) {
  auto s = measuring();
  EXPECT_EQ(progress_block(s, 80), (std::vector<std::string>{
                                        "cell 4 (5/6) timeslice r2: measuring 12s/30s, ~19s left; run ETA ~53s",
                                        "  train 398 samples/s, server 199 req/s p99 4.13ms",
                                    }));
  for (int i = 0; i < 12; ++i)
    s.workloads.push_back({"worker-" + std::to_string(i), LiveWorkload::State::running, {1234.5, std::nullopt, std::nullopt}});
  for (size_t width = 1; width <= 200; ++width)
    for (const auto& line : progress_block(s, width)) EXPECT_LE(line.size(), width) << line;
  EXPECT_EQ(progress_block(s, 80)[1], "  train 398 samples/s, server 199 req/s p99 4.13ms, +12 more");
  EXPECT_EQ(progress_block(s, 40)[0], "cell 4 (5/6) timeslice r2: measuring ...");
  s.workloads.clear();
  EXPECT_EQ(progress_block(s, 80).size(), 1u);
}

TEST(ProgressView, CompactNumbers) {
  EXPECT_EQ(compact_number(0), "0");
  EXPECT_EQ(compact_number(4.124), "4.12");
  EXPECT_EQ(compact_number(39.84), "39.8");
  EXPECT_EQ(compact_number(398.4), "398");
  EXPECT_EQ(compact_number(999.7), "1.00k");
  EXPECT_EQ(compact_number(12345), "12.3k");
  EXPECT_EQ(compact_number(123456), "123k");
  EXPECT_EQ(compact_number(1.5e6), "1.50M");
  EXPECT_EQ(compact_number(std::nan("")), "-");
}

}  // namespace
}  // namespace gpumix::run
