// NP, STP, ANTT, fairness, Jain, p99 inflation, energy per work, activity,
// confidence intervals, noise flags and the recommendation, on hand-made runs
// whose figures are computed by hand in the comments.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <tuple>

#include "gpumix/analysis/interference.hpp"
#include "gpumix/analysis/recommend.hpp"
#include "gpumix/analysis/stats.hpp"
#include "run_builder.hpp"

namespace gpumix::analysis {
namespace {

using test::RunBuilder;

bool contains(const std::vector<std::string>& lines, const std::string& text) {
  for (const auto& l : lines)
    if (l.find(text) != std::string::npos) return true;
  return false;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

const WorkloadCell& in_cell(const Analysis& a, const std::string& cell, const std::string& workload) {
  for (const auto& w : a.cell(cell)->workloads)
    if (w.summary.name == workload) return w;
  throw std::runtime_error("no " + workload + " in " + cell);
}

// ---- statistics --------------------------------------------------------------

TEST(StudentT, QuantilesMatchTables) {
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.7062047, 1e-6);
  EXPECT_NEAR(student_t_quantile(0.975, 2), 4.30265273, 1e-7);
  EXPECT_NEAR(student_t_quantile(0.975, 4), 2.77644511, 1e-7);
  EXPECT_NEAR(student_t_quantile(0.975, 9), 2.26215716, 1e-7);
  EXPECT_NEAR(student_t_quantile(0.975, 30), 2.04227246, 1e-7);
  EXPECT_NEAR(student_t_quantile(0.95, 10), 1.81246112, 1e-7);
  EXPECT_NEAR(student_t_quantile(0.025, 4), -2.77644511, 1e-7);
  EXPECT_NEAR(student_t_quantile(0.975, 1e6), 1.95996, 1e-4);  // the normal's
  EXPECT_DOUBLE_EQ(student_t_cdf(0, 3), 0.5);
  EXPECT_NEAR(student_t_cdf(2.77644511, 4), 0.975, 1e-9);
  EXPECT_NEAR(student_t_cdf(1.0, 1), 0.75, 1e-12);  // Cauchy: 1/2 + atan(1)/pi
  EXPECT_TRUE(std::isnan(student_t_quantile(1.0, 3)));
  EXPECT_TRUE(std::isnan(student_t_quantile(0.5, 0)));
}

TEST(Estimate, MeanAndStudentInterval) {
  // mean 3, s = 1.5811388, half width = t(0.975, 4) x s / sqrt(5) = 2.7764451 x 0.7071068 = 1.9632432
  auto e = estimate({1, 2, 3, 4, 5});
  EXPECT_EQ(e.n(), 5u);
  EXPECT_DOUBLE_EQ(*e.mean, 3);
  EXPECT_NEAR(*e.stddev, 1.5811388, 1e-7);
  EXPECT_NEAR(*e.ci_low, 3 - 1.9632432, 1e-6);
  EXPECT_NEAR(*e.ci_high, 3 + 1.9632432, 1e-6);
  EXPECT_NEAR(*e.margin(), 1.9632432, 1e-6);
}

TEST(Estimate, OneRepeatHasNoIntervalNoneHasNothingInfinityStays) {
  auto one = estimate({2.5});
  EXPECT_DOUBLE_EQ(*one.mean, 2.5);
  EXPECT_FALSE(one.stddev);
  EXPECT_FALSE(one.ci_low);
  EXPECT_FALSE(one.margin());
  EXPECT_FALSE(estimate({}).mean);
  auto inf = estimate({1, std::numeric_limits<double>::infinity()});
  EXPECT_TRUE(std::isinf(*inf.mean));
  EXPECT_FALSE(inf.ci_low);
}

TEST(Difference, WelchIntervalSaysWithinNoiseOrDistinct) {
  // Both spreads 0.1 (var 0.01), n 3: se = sqrt(0.02/3) = 0.0816497, Welch dof = 4,
  // half = 2.7764451 x 0.0816497 = 0.2266966 around delta 1.
  auto d = difference({1.0, 1.1, 0.9}, {2.0, 2.1, 1.9});
  EXPECT_DOUBLE_EQ(*d.delta, 1.0);
  EXPECT_NEAR(*d.dof, 4.0, 1e-9);
  EXPECT_NEAR(*d.ci_low, 1 - 0.2266966, 1e-6);
  EXPECT_NEAR(*d.ci_high, 1 + 0.2266966, 1e-6);
  EXPECT_EQ(d.verdict, Noise::distinct);

  auto close = difference({1, 2, 3}, {1.5, 2.5, 3.5});
  EXPECT_DOUBLE_EQ(*close.delta, 0.5);
  EXPECT_EQ(close.verdict, Noise::within_noise);

  auto single = difference({1.0}, {2.0, 2.1});
  EXPECT_DOUBLE_EQ(*single.delta, 1.05);
  EXPECT_EQ(single.verdict, Noise::unknown);
  EXPECT_FALSE(single.ci_low);

  EXPECT_EQ(difference({1, 1}, {1, 1}).verdict, Noise::within_noise);  // no spread, no difference
  EXPECT_EQ(difference({1, 1}, {2, 2}).verdict, Noise::distinct);      // no spread, a difference
  EXPECT_EQ(to_string(Noise::within_noise), "within noise");
}

TEST(Summary, LatencyMeanCdfStepP95AndDeviceMemory) {
  RunBuilder b({"timeslice"}, 1, {"w"});
  const auto c = b.cell("timeslice-r1", "timeslice", 1);
  const auto w = b.workload(c, "w");
  b.latencies(w, {4, 1, 3, 2, 2});
  b.throughput(w, 100);
  auto& info = b.input().events.emplace_back();
  info.workload_id = w;
  info.t_ns = b.input().cells[0].started_ns;
  info.ev = "info";
  info.data = R"({"ev":"info","peak_device_mem_bytes":1048576})";
  auto s = summarize(b.input().cells, b.input().workloads, b.input().events).at(0);
  EXPECT_DOUBLE_EQ(*s.latency_mean, 2.4);
  // sorted 1 2 2 3 4: each distinct value with the share at or below it
  ASSERT_EQ(s.latency_cdf.size(), 4u);
  EXPECT_EQ(s.latency_cdf[0], std::make_pair(1.0, 0.2));
  EXPECT_EQ(s.latency_cdf[1], std::make_pair(2.0, 0.6));
  EXPECT_EQ(s.latency_cdf[3], std::make_pair(4.0, 1.0));
  EXPECT_NEAR(*s.step_ms_p95, 100, 1e-6);  // every step 10 samples / 100 per s = 100 ms
  EXPECT_EQ(s.peak_device_mem_bytes, 1048576);
}

TEST(Summary, LargeCdfIsCompactAndEndsAtTheMaximum) {
  std::vector<double> v;
  for (int i = 1; i <= 10000; ++i) v.push_back(i);
  auto cdf = empirical_cdf(v);
  EXPECT_LT(cdf.size(), 250u);
  EXPECT_EQ(cdf.back(), std::make_pair(10000.0, 1.0));
  EXPECT_EQ(cdf.front(), std::make_pair(50.0, 0.005));  // the smallest value with share >= 0.5 %
  for (size_t i = 1; i < cdf.size(); ++i) {
    EXPECT_GT(cdf[i].first, cdf[i - 1].first);
    EXPECT_GT(cdf[i].second, cdf[i - 1].second);
  }
  bool p99 = false;
  for (const auto& [ms, share] : cdf) p99 = p99 || (ms == 9900 && std::abs(share - 0.99) < 1e-12);
  EXPECT_TRUE(p99);
}

// ---- the main hand-made run (test::train_server_run) ---------------------------
//
// train reports throughput; server reports only latencies, with an SLO p99 <= 10 ms.
//   alone:          train 100/s            server 2 ms every request (mean 2, p99 2)
//   timeslice-r1:   train  50/s (NP 0.5)   server 4 ms (NP 2/4 = 0.5, p99 4: inflation 2)
//   timeslice-r2:   train  60/s (NP 0.6)   server 5 ms (NP 0.4)
//   mps-r1, r2:     train  80/s, 90/s      server 98 x 2 ms + 2 x 50 ms: mean 2.96 (NP 0.6757), p99 50: SLO broken
//   mig:            skipped (MIG disabled)
// timeslice STP 1.0 and 1.0; ANTT (2+2)/2 = 2 and (1/0.6 + 1/0.4)/2 = 2.0833;
// fairness 1 and 0.4/0.6; Jain 1 and 1/(2 x (0.36 + 0.16)) = 0.961538.
RunBuilder main_run() {
  auto b = test::train_server_run({.mig_reason = "mode mig unavailable: MIG is disabled on GPU 0"});
  // Telemetry of timeslice-r1: energy counter 1000 -> 2200 mJ, utilization 20, 40, 90 %.
  const int64_t ts1 = 3;
  b.gpu_sample(ts1, 0, 20, 1000);
  b.gpu_sample(ts1, 1, 40, 1500);
  b.gpu_sample(ts1, 2, 90, 2200);
  b.gpm_sample(ts1, 0.5, 10, 5, 30);
  b.gpm_sample(ts1, 1.5, 30, 15, 50);
  return b;
}

TEST(Interference, NormalizedProgressFromThroughputAndFromLatency) {
  auto a = main_run().analyze();
  const auto& train = in_cell(a, "timeslice-r1", "train");
  EXPECT_EQ(train.np_basis, "throughput");
  EXPECT_NEAR(*train.np, 0.5, 1e-6);
  const auto& server = in_cell(a, "timeslice-r1", "server");
  EXPECT_EQ(server.np_basis, "latency");  // it reports no samples: mean latency alone / shared
  EXPECT_NEAR(*server.np, 0.5, 1e-12);
  EXPECT_NEAR(*server.p99_inflation, 2.0, 1e-12);
  EXPECT_NEAR(*in_cell(a, "mps-r1", "server").np, 2.0 / 2.96, 1e-12);
  EXPECT_FALSE(in_cell(a, "baseline-train", "train").np);  // NP is for shared cells
}

// A notebook's pace is its think time: its cell rate hardly moves when the GPU
// is shared, its latency does. Latency-critical roles are measured by latency.
TEST(Interference, LatencyCriticalRolesAreMeasuredByLatencyEvenWithThroughput) {
  RunBuilder b({"exclusive", "timeslice"}, 1, {"notebook", "batch"});
  auto c = b.cell("baseline-notebook", "exclusive", 0);
  auto w = b.workload(c, "notebook");
  b.set_role(w, spec::Role::interactive);
  b.throughput(w, 2.0);
  b.latencies(w, std::vector<double>(20, 2.0));
  c = b.cell("baseline-batch", "exclusive", 0);
  auto batch = b.workload(c, "batch");
  b.set_role(batch, spec::Role::batch);
  b.throughput(batch, 100);
  b.latencies(batch, std::vector<double>(20, 1.0));
  c = b.cell("timeslice-r1", "timeslice", 1);
  w = b.workload(c, "notebook");
  b.set_role(w, spec::Role::interactive);
  b.throughput(w, 1.9);  // nearly the same pace...
  b.latencies(w, std::vector<double>(20, 8.0));  // ...but four times slower cells
  batch = b.workload(c, "batch");
  b.set_role(batch, spec::Role::batch);
  b.throughput(batch, 50);
  b.latencies(batch, std::vector<double>(20, 4.0));
  auto a = b.analyze();
  const auto& nb = in_cell(a, "timeslice-r1", "notebook");
  EXPECT_EQ(nb.np_basis, "latency");
  EXPECT_NEAR(*nb.np, 0.25, 1e-12);
  const auto& bt = in_cell(a, "timeslice-r1", "batch");
  EXPECT_EQ(bt.np_basis, "throughput");  // a batch job is measured by its work done
  EXPECT_NEAR(*bt.np, 0.5, 1e-6);
}

// Each repeat's NP is measured against that repeat's baseline: a launch that
// ran slow alone must not make every NP of the run look better.
//   repeat 1: train alone 100/s, shared 50/s (NP 0.5); repeat 2: alone 80/s, shared 44/s (NP 0.55)
//   repeat 3: the baseline failed: no NP in repeat 3 (not the other repeats' baselines)
TEST(Interference, EachRepeatIsMeasuredAgainstItsOwnBaseline) {
  RunBuilder b({"exclusive", "timeslice"}, 3, {"train"});
  const double alone[] = {100, 80}, shared[] = {50, 44, 60};
  for (int r = 1; r <= 3; ++r) {
    const std::string rr = "-r" + std::to_string(r);
    auto c = b.cell("baseline-train" + rr, "exclusive", r, r == 3 ? "failed" : "ok");
    if (r < 3) b.throughput(b.workload(c, "train"), alone[r - 1]);
    else b.workload(c, "train", "crashed");
    c = b.cell("timeslice" + rr, "timeslice", r);
    b.throughput(b.workload(c, "train"), shared[r - 1]);
  }
  auto a = b.analyze();
  EXPECT_NEAR(*in_cell(a, "timeslice-r1", "train").np, 0.5, 1e-6);
  EXPECT_NEAR(*in_cell(a, "timeslice-r2", "train").np, 0.55, 1e-6);
  const auto& r3 = in_cell(a, "timeslice-r3", "train");
  EXPECT_FALSE(r3.np);
  EXPECT_NE(r3.np_missing.find("baseline-train-r3"), std::string::npos) << r3.np_missing;
  EXPECT_FALSE(r3.np_gated);  // the baseline's problem, not this mode's
  const auto* ts = a.mode("timeslice")->workload("train");
  EXPECT_EQ(ts->np.n(), 2u);
  EXPECT_NEAR(*ts->np.mean, 0.525, 1e-6);
  EXPECT_NEAR(*ts->alone_throughput, 90, 1e-6);  // the baselines' mean
  EXPECT_EQ(a.mode("exclusive")->workload("train")->throughput.n(), 2u);
}

// Two modes are paired by repeat only when both have a figure in the same
// repeats; otherwise Welch over what each has.
TEST(Interference, ComparisonsPairByRepeatNumberNotPosition) {
  auto run = [](bool gaps) {
    RunBuilder b({"exclusive", "timeslice", "mps"}, 3, {"train"});
    auto c = b.cell("baseline-train", "exclusive", 0);
    b.throughput(b.workload(c, "train"), 100);
    const double ts[] = {50, 60, 70}, mps[] = {55, 66, 77};
    for (int r = 1; r <= 3; ++r) {
      const std::string rr = "-r" + std::to_string(r);
      c = b.cell("timeslice" + rr, "timeslice", r);
      if (gaps && r == 3) b.workload(c, "train", "interrupted");
      else b.throughput(b.workload(c, "train"), ts[r - 1]);
      c = b.cell("mps" + rr, "mps", r);
      if (gaps && r == 1) b.workload(c, "train", "interrupted");
      else b.throughput(b.workload(c, "train"), mps[r - 1]);
    }
    return b.analyze();
  };
  auto paired = run(false);
  ASSERT_FALSE(paired.comparisons.empty());
  // Differences 0.05, 0.06, 0.07: paired, a tight interval around 0.06 that excludes 0.
  EXPECT_NEAR(*paired.comparisons[0].difference.delta, 0.06, 1e-6);
  EXPECT_EQ(paired.comparisons[0].difference.verdict, Noise::distinct);
  auto unpaired = run(true);
  // timeslice has repeats 1 and 2, mps 2 and 3: as many figures, but pairing
  // them by position would pair different repeats (and call the difference
  // distinct). Welch between {0.5, 0.6} and {0.66, 0.77}.
  EXPECT_NEAR(*unpaired.comparisons[0].difference.delta, 0.715 - 0.55, 1e-6);
  EXPECT_EQ(unpaired.comparisons[0].difference.verdict, Noise::within_noise);
}

TEST(Interference, StpAnttFairnessJainPerCell) {
  auto a = main_run().analyze();
  const auto* r1 = a.cell("timeslice-r1");
  EXPECT_NEAR(*r1->stp, 1.0, 1e-6);
  EXPECT_NEAR(*r1->antt, 2.0, 1e-6);
  EXPECT_NEAR(*r1->fairness, 1.0, 1e-6);
  EXPECT_NEAR(*r1->jain, 1.0, 1e-6);
  EXPECT_EQ(r1->with_np, 2);
  const auto* r2 = a.cell("timeslice-r2");
  EXPECT_NEAR(*r2->stp, 1.0, 1e-6);
  EXPECT_NEAR(*r2->antt, (1 / 0.6 + 1 / 0.4) / 2, 1e-6);
  EXPECT_NEAR(*r2->fairness, 0.4 / 0.6, 1e-6);
  EXPECT_NEAR(*r2->jain, 1 / 1.04, 1e-6);
  EXPECT_FALSE(a.cell("baseline-train")->stp);
}

TEST(Interference, ModeEstimatesOverRepeats) {
  auto a = main_run().analyze();
  const auto* ts = a.mode("timeslice");
  ASSERT_NE(ts, nullptr);
  EXPECT_EQ(ts->stp.n(), 2u);
  EXPECT_NEAR(*ts->stp.mean, 1.0, 1e-6);
  // ANTT 2 and 2.08333: mean 2.041667, s = 0.0589256, half = 12.7062 x s / sqrt(2) = 0.529420
  EXPECT_NEAR(*ts->antt.mean, 2.0416667, 1e-6);
  EXPECT_NEAR(*ts->antt.margin(), 0.529420, 1e-5);
  const auto* train = ts->workload("train");
  EXPECT_NEAR(*train->np.mean, 0.55, 1e-6);
  EXPECT_NEAR(*train->throughput.mean, 55, 1e-4);
  const auto* mps = a.mode("mps");
  EXPECT_NEAR(*mps->stp.mean, 0.85 + 2.0 / 2.96, 1e-6);
  ASSERT_EQ(mps->slos().size(), 1u);
  const auto& slo = *mps->slos()[0];
  EXPECT_FALSE(slo.met);
  EXPECT_EQ(slo.broken, 2);
  EXPECT_EQ(slo.repeats, 2);
  EXPECT_DOUBLE_EQ(*slo.worst_ms, 50);
  EXPECT_NEAR(*slo.excess(), 4.0, 1e-12);
  EXPECT_NEAR(*slo.worst_attainment, 0.98, 1e-12);
  EXPECT_TRUE(ts->slos()[0]->met);
  EXPECT_TRUE(a.mode("mig")->skipped());
  EXPECT_EQ(a.mode("mig")->skip_reason, "MIG is disabled on GPU 0");
  EXPECT_EQ(a.modes.front().mode, "exclusive");
}

TEST(Interference, EnergyPerSampleAndActivityFromTelemetry) {
  auto a = main_run().analyze();
  const auto* c = a.cell("timeslice-r1");
  EXPECT_TRUE(a.has_telemetry);
  EXPECT_TRUE(a.has_energy);
  EXPECT_TRUE(a.has_gpm);
  EXPECT_NEAR(*c->energy_j, 1.2, 1e-12);  // (2200 - 1000) mJ
  EXPECT_EQ(c->energy_source, "energy counter");
  EXPECT_NEAR(*c->mean_power_w, 0.6, 1e-12);  // 1.2 J over 2 s
  EXPECT_EQ(c->samples_processed, 100);       // train's 10 steps of 10; server reports none
  EXPECT_NEAR(*c->energy_per_sample_j, 0.012, 1e-12);
  EXPECT_NEAR(*c->activity_of("gpu_util").mean, 50, 1e-12);
  EXPECT_NEAR(*c->activity_of("gpu_util").p95, 85, 1e-12);  // rank 1.9 between 40 and 90
  EXPECT_NEAR(*c->activity_of("gpm_sm").mean, 20, 1e-12);
  EXPECT_NEAR(*c->activity_of("gpm_dram").p95, 49, 1e-12);
  EXPECT_FALSE(a.cell("timeslice-r2")->energy_j);  // no samples there
  EXPECT_NEAR(*a.mode("timeslice")->energy_per_sample_j.mean, 0.012, 1e-12);
}

TEST(Interference, EnergyFallsBackToIntegratedPower) {
  RunBuilder b({"timeslice"}, 1, {"w"});
  const auto c = b.cell("timeslice-r1", "timeslice", 1);
  b.throughput(b.workload(c, "w"), 100);
  for (auto& g : {std::pair{0.0, 100.0}, std::pair{1.0, 300.0}, std::pair{3.0, 300.0}}) {
    b.gpu_sample(c, g.first, 50, 0, g.second);
    b.input().telemetry.gpus.back().values[telemetry::metric(telemetry::Scope::gpu, "energy_mj")].reset();
  }
  auto a = b.analyze();
  // trapezoids: 1 s x 200 W + 2 s x 300 W = 800 J over 3 s
  EXPECT_NEAR(*a.cells[0].energy_j, 800, 1e-9);
  EXPECT_EQ(a.cells[0].energy_source, "power samples");
  EXPECT_NEAR(*a.cells[0].mean_power_w, 800.0 / 3, 1e-9);
}

// Two workloads and another tenant's process, time-sliced over 4 ticks:
// shares are NVML's per-process SM percent, the rest is idle, and the energy
// splits the same way and adds up.
TEST(Attribution, TimeSlicedSharesAndEnergyAddUp) {
  RunBuilder b({"timeslice"}, 1, {"train", "server"});
  const auto c = b.cell("timeslice-r1", "timeslice", 1);
  const auto train = b.workload(c, "train"), server = b.workload(c, "server");
  for (int i = 0; i < 4; ++i) {
    b.gpu_sample(c, i * 0.5, 90, 1000 + i * 400);  // 1.2 J over the ticks
    b.process_sample(c, i * 0.5, 11, train, i < 2 ? 20 : 40, 2e9);  // mean 30
    b.process_sample(c, i * 0.5, 12, server, 50, i == 3 ? 3e9 : 1e9);
    if (i == 0) b.process_sample(c, i * 0.5, 13, server, std::nullopt, 5e8);  // a child without SM figures: memory only
    b.process_sample(c, i * 0.5, 99, 0, 8, 1e9);  // someone else's
  }
  auto a = b.analyze();
  const auto& at = a.cells[0].attribution;
  ASSERT_TRUE(at.sm_attributed) << at.basis;
  EXPECT_FALSE(at.overlapping);
  EXPECT_EQ(at.ticks, 4);
  ASSERT_EQ(at.workloads.size(), 2u);
  EXPECT_NEAR(*at.workloads[0].sm_share, 0.30, 1e-12);
  EXPECT_NEAR(*at.workloads[1].sm_share, 0.50, 1e-12);
  EXPECT_NEAR(*at.other_share, 0.08, 1e-12);
  EXPECT_NEAR(*at.idle_share, 0.12, 1e-12);
  const double energy = *a.cells[0].energy_j;
  EXPECT_NEAR(energy, 1.2, 1e-12);
  EXPECT_NEAR(*at.workloads[0].energy_j, 0.36, 1e-12);
  EXPECT_NEAR(*at.workloads[0].energy_j + *at.workloads[1].energy_j + *at.other_energy_j + *at.idle_energy_j, energy, 1e-12);
  EXPECT_DOUBLE_EQ(*at.workloads[0].memory_peak_bytes, 2e9);
  EXPECT_DOUBLE_EQ(*at.workloads[1].memory_mean_bytes, (1.5e9 + 1e9 + 1e9 + 3e9) / 4);  // its child counts at tick 0
  EXPECT_DOUBLE_EQ(*at.workloads[1].memory_peak_bytes, 3e9);
  EXPECT_NE(at.basis.find("One context runs at a time"), std::string::npos) << at.basis;
}

// Under MPS the clients' figures overlap: 70% + 60% is scaled to the GPU's
// 91% busy time, and idle is what is left of it.
TEST(Attribution, OverlappingMpsClientsAreScaledToTheBusyTime) {
  RunBuilder b({"mps"}, 1, {"a", "b"});
  const auto c = b.cell("mps-r1", "mps", 1);
  const auto wa = b.workload(c, "a"), wb = b.workload(c, "b");
  for (int i = 0; i < 3; ++i) {
    b.gpu_sample(c, i * 0.5, 91, 1000 + i * 500);
    b.process_sample(c, i * 0.5, 21, wa, 70, std::nullopt);
    b.process_sample(c, i * 0.5, 22, wb, 60, std::nullopt);
  }
  auto a = b.analyze();
  const auto& at = a.cells[0].attribution;
  ASSERT_TRUE(at.sm_attributed);
  EXPECT_TRUE(at.overlapping);
  EXPECT_NEAR(*at.scale, 0.91 / 1.3, 1e-12);
  EXPECT_NEAR(*at.workloads[0].sm_share, 0.70 * 0.91 / 1.3, 1e-12);
  EXPECT_NEAR(*at.workloads[0].sm_share + *at.workloads[1].sm_share, 0.91, 1e-12);
  EXPECT_NEAR(*at.idle_share, 0.09, 1e-12);
  EXPECT_DOUBLE_EQ(*at.workloads[0].sm_util_mean, 70);
  EXPECT_FALSE(at.workloads[0].memory_peak_bytes) << "NVML gave no memory figure";
  EXPECT_NE(at.basis.find("MPS"), std::string::npos) << at.basis;
}

// The driver on the H200 books MPS clients' kernels to the MPS server: no
// split then, and the report says why.
TEST(Attribution, MpsTimeBookedToTheServerIsNotSplit) {
  RunBuilder b({"mps"}, 1, {"a", "b"});
  const auto c = b.cell("mps-r1", "mps", 1);
  const auto wa = b.workload(c, "a"), wb = b.workload(c, "b");
  for (int i = 0; i < 3; ++i) {
    b.gpu_sample(c, i * 0.5, 99, 1000 + i * 500);
    b.process_sample(c, i * 0.5, 21, wa, 0, 1e9);
    b.process_sample(c, i * 0.5, 22, wb, 0, 2e9);
    b.process_sample(c, i * 0.5, 7, 0, 99, 3e7);  // nvidia-cuda-mps-server
  }
  auto a = b.analyze();
  const auto& at = a.cells[0].attribution;
  EXPECT_FALSE(at.sm_attributed);
  EXPECT_FALSE(at.workloads[0].sm_share);
  EXPECT_FALSE(at.idle_share);
  EXPECT_DOUBLE_EQ(*at.workloads[1].memory_peak_bytes, 2e9);
  EXPECT_NE(at.basis.find("under the MPS server's process (99% here)"), std::string::npos) << at.basis;
}

// With MIG on there is no per-process SM figure: memory only, and the report
// says why.
TEST(Attribution, MigSplitsNoTimeOrEnergyButShowsMemory) {
  RunBuilder b({"mig"}, 1, {"big", "small"});
  const auto c = b.cell("mig-r1", "mig", 1);
  const auto big = b.workload(c, "big"), small = b.workload(c, "small");
  for (int i = 0; i < 3; ++i) {
    b.gpu_sample(c, i * 0.5, 0, 1000 + i * 500);
    b.process_sample(c, i * 0.5, 31, big, std::nullopt, 4e9, 1);
    b.process_sample(c, i * 0.5, 32, small, std::nullopt, 1e9, 9);
  }
  auto a = b.analyze();
  const auto& at = a.cells[0].attribution;
  EXPECT_FALSE(at.sm_attributed);
  EXPECT_FALSE(at.idle_share);
  ASSERT_EQ(at.workloads.size(), 2u);
  EXPECT_FALSE(at.workloads[0].sm_share);
  EXPECT_FALSE(at.workloads[0].energy_j);
  EXPECT_DOUBLE_EQ(*at.workloads[0].memory_peak_bytes, 4e9);
  EXPECT_NE(at.basis.find("MIG"), std::string::npos) << at.basis;
}

TEST(Interference, ActivitySeriesIsRelativeToTheCellAndDownsampled) {
  RunBuilder b({"timeslice"}, 1, {"w"});
  const auto c = b.cell("timeslice-r1", "timeslice", 1);
  b.workload(c, "w");
  for (int i = 0; i < 1000; ++i) b.gpu_sample(c, i * 0.01, i % 2 ? 100 : 0, i);
  auto a = b.analyze();
  auto series = activity_series(b.input(), a.cells[0], 100);
  ASSERT_EQ(series.size(), 100u);
  EXPECT_EQ(series[0].series, "GPU utilization");
  EXPECT_NEAR(series[0].percent, 50, 10);  // buckets average the alternating 0 and 100
  EXPECT_LT(series[0].t_s, 0.1);
  EXPECT_GT(series.back().t_s, 9.8);
  EXPECT_EQ(activity_series(b.input(), a.cells[0], 5000).size(), 1000u);  // few enough: as they are
}

TEST(Interference, ZeroThroughputWorkloadHasNpZeroAndInfiniteAntt) {
  RunBuilder b({"exclusive", "timeslice"}, 1, {"train", "starved"});
  auto c = b.cell("baseline-train", "exclusive", 0);
  b.throughput(b.workload(c, "train"), 100);
  c = b.cell("baseline-starved", "exclusive", 0);
  b.throughput(b.workload(c, "starved"), 40);
  c = b.cell("timeslice-r1", "timeslice", 1);
  b.throughput(b.workload(c, "train"), 90);
  b.workload(c, "starved");  // ran the whole cell, reported nothing
  auto a = b.analyze();
  const auto& starved = in_cell(a, "timeslice-r1", "starved");
  ASSERT_TRUE(starved.np);
  EXPECT_DOUBLE_EQ(*starved.np, 0.0);
  const auto* cell = a.cell("timeslice-r1");
  EXPECT_NEAR(*cell->stp, 0.9, 1e-6);
  EXPECT_TRUE(std::isinf(*cell->antt));
  EXPECT_DOUBLE_EQ(*cell->fairness, 0.0);
  EXPECT_NEAR(*cell->jain, 0.5, 1e-9);  // 0.81 / (2 x 0.81)
  EXPECT_TRUE(std::isinf(*a.mode("timeslice")->antt.mean));
  // A mode under which a workload made no progress is never recommended.
  auto rec = recommend(a);
  EXPECT_FALSE(rec.mode);
  EXPECT_TRUE(a.cell("timeslice-r1")->workloads[1].no_progress);
  EXPECT_TRUE(contains(rec.verdicts[0].reasons, "starved made no progress in timeslice-r1")) << joined(rec.verdicts[0].reasons);
}

TEST(Interference, MissingBaselineIsSaidAndLeavesNpOut) {
  // exclusive is planned, but the run was interrupted before baseline-server-r1.
  RunBuilder b({"exclusive", "timeslice"}, 1, {"train", "server"});
  b.plan_cell("baseline-train-r1", "exclusive");
  b.plan_cell("baseline-server-r1", "exclusive");
  b.plan_cell("timeslice-r1", "timeslice");
  b.input().run.status = store::RunStatus::interrupted;
  b.input().run.error = "stopped by SIGINT";
  auto c = b.cell("baseline-train-r1", "exclusive", 1);
  b.throughput(b.workload(c, "train"), 100);
  c = b.cell("timeslice-r1", "timeslice", 1, "interrupted");
  b.throughput(b.workload(c, "train", "interrupted"), 70);
  b.throughput(b.workload(c, "server", "interrupted"), 10);
  auto a = b.analyze();
  EXPECT_NEAR(*in_cell(a, "timeslice-r1", "train").np, 0.7, 1e-6);
  const auto& server = in_cell(a, "timeslice-r1", "server");
  EXPECT_FALSE(server.np);
  EXPECT_EQ(server.np_missing, "its baseline of repeat 1 was not run");
  EXPECT_EQ(server.no_np, NoNp::no_baseline);
  EXPECT_NEAR(*a.cell("timeslice-r1")->stp, 0.7, 1e-6);
  EXPECT_EQ(a.cell("timeslice-r1")->with_np, 1);
  ASSERT_TRUE(a.gap(GapCode::run_interrupted));
  EXPECT_TRUE(a.gap(GapCode::no_np));
  EXPECT_TRUE(contains(a.missing_texts(), "The run was interrupted (stopped by SIGINT): 2 of 3 planned cells ran; not run: baseline-server-r1"))
      << joined(a.missing_texts());
  EXPECT_TRUE(contains(a.missing_texts(), "No NP for server: its baseline of repeat 1 was not run")) << joined(a.missing_texts());
  EXPECT_TRUE(contains(a.missing_texts(), "No GPU telemetry")) << joined(a.missing_texts());
  auto rec = recommend(a);
  EXPECT_EQ(rec.mode, "timeslice");
  EXPECT_TRUE(contains(rec.notes, "STP leaves out server")) << joined(rec.notes);
}

TEST(Interference, NoExclusiveModeMeansNoBaselineAtAll) {
  RunBuilder b({"timeslice", "mps"}, 1, {"train"});
  b.throughput(b.workload(b.cell("timeslice-r1", "timeslice", 1), "train"), 70);
  b.throughput(b.workload(b.cell("mps-r1", "mps", 1), "train"), 80);
  auto a = b.analyze();
  EXPECT_FALSE(a.has_baseline);
  EXPECT_FALSE(a.cell("timeslice-r1")->stp);
  EXPECT_EQ(in_cell(a, "mps-r1", "train").np_missing, "no baseline: exclusive is not among the run's modes");
  EXPECT_TRUE(contains(a.missing_texts(), "No exclusive baseline")) << joined(a.missing_texts());
  EXPECT_TRUE(a.gap(GapCode::no_baseline_mode));
  auto rec = recommend(a);
  EXPECT_FALSE(rec.mode);  // two modes, no STP to rank them by
  EXPECT_EQ(rec.no_mode, NoMode::unranked);
  EXPECT_NE(rec.headline.find("cannot be ranked"), std::string::npos) << rec.headline;
}

TEST(Interference, SingleRepeatHasNoIntervalAndCannotTellNoise) {
  RunBuilder b({"exclusive", "timeslice", "mps"}, 1, {"train"});
  b.throughput(b.workload(b.cell("baseline-train", "exclusive", 0), "train"), 100);
  b.throughput(b.workload(b.cell("timeslice-r1", "timeslice", 1), "train"), 70);
  b.throughput(b.workload(b.cell("mps-r1", "mps", 1), "train"), 80);
  auto a = b.analyze();
  const auto* mps = a.mode("mps");
  EXPECT_NEAR(*mps->stp.mean, 0.8, 1e-6);
  EXPECT_FALSE(mps->stp.ci_low);
  ASSERT_FALSE(a.comparisons.empty());
  EXPECT_EQ(a.comparisons[0].metric, "STP");
  EXPECT_EQ(a.comparisons[0].difference.verdict, Noise::unknown);
  EXPECT_NEAR(*a.comparisons[0].difference.delta, 0.1, 1e-6);  // mps - timeslice
  EXPECT_TRUE(contains(a.missing_texts(), "One repeat per mode")) << joined(a.missing_texts());
  EXPECT_TRUE(a.gap(GapCode::one_repeat));
  auto rec = recommend(a);
  EXPECT_EQ(rec.mode, "mps");
  EXPECT_TRUE(contains(rec.notes, "cannot be told from one repeat")) << joined(rec.notes);
}

TEST(Interference, FailedWorkloadIsListedAndDisqualifiesItsMode) {
  RunBuilder b({"exclusive", "timeslice", "mps"}, 1, {"train"});
  b.throughput(b.workload(b.cell("baseline-train", "exclusive", 0), "train"), 100);
  b.throughput(b.workload(b.cell("timeslice-r1", "timeslice", 1), "train"), 70);
  const auto c = b.cell("mps-r1", "mps", 1, "degraded");
  b.throughput(b.workload(c, "train", "crashed", "[]", "killed by SIGSEGV"), 95);
  auto a = b.analyze();
  EXPECT_TRUE(in_cell(a, "mps-r1", "train").failed);
  EXPECT_TRUE(contains(a.missing_texts(), "Workload train crashed in mps-r1: killed by SIGSEGV")) << joined(a.missing_texts());
  auto rec = recommend(a);
  EXPECT_EQ(rec.mode, "timeslice");  // mps had the higher STP, but a workload crashed under it
  const auto& mps = rec.verdicts.back();
  EXPECT_EQ(mps.mode, "mps");
  EXPECT_EQ(mps.state, VerdictState::rejected);
  EXPECT_TRUE(contains(mps.reasons, "crashed in mps-r1"));
}

// A workload that resolved a setting at run time differently than alone (an
// automatic mode, a fallback) is not compared with its baseline: its NP would
// mix that change with the sharing, so the mode cannot be ranked on it.
TEST(Interference, ASettingChosenDifferentlyThanAloneLeavesNoNpAndDisqualifiesTheMode) {
  RunBuilder b({"exclusive", "timeslice", "mps"}, 1, {"train"});
  auto effective = [&](int64_t workload, const std::string& config) {
    auto& info = b.input().events.emplace_back();
    info.workload_id = workload;
    info.t_ns = b.input().cells.back().started_ns;
    info.ev = "info";
    info.data = R"({"ev":"info","effective_config":")" + config + R"("})";
  };
  const auto base = b.workload(b.cell("baseline-train", "exclusive", 0), "train");
  b.throughput(base, 100);
  effective(base, "kernels=fused,graphs=on");
  const auto ts = b.workload(b.cell("timeslice-r1", "timeslice", 1), "train");
  b.throughput(ts, 70);
  effective(ts, "kernels=fused,graphs=on");
  const auto mps = b.workload(b.cell("mps-r1", "mps", 1), "train");
  b.throughput(mps, 90);
  effective(mps, "kernels=torch,graphs=on");
  auto a = b.analyze();
  EXPECT_NEAR(*in_cell(a, "timeslice-r1", "train").np, 0.7, 1e-6);
  const auto& m = in_cell(a, "mps-r1", "train");
  EXPECT_FALSE(m.np);
  EXPECT_EQ(m.no_np, NoNp::configuration_differs);
  EXPECT_EQ(m.np_missing, "it ran with kernels torch (fused in baseline-train), so this cell does not compare with its "
                          "baseline; set it in the mix's args");
  auto rec = recommend(a);
  EXPECT_EQ(rec.mode, "timeslice");  // mps had the higher throughput, with other kernels
  const auto& verdict = rec.verdicts.back();
  EXPECT_EQ(verdict.mode, "mps");
  EXPECT_EQ(verdict.state, VerdictState::rejected);
  EXPECT_TRUE(contains(verdict.reasons, "kernels torch (fused in baseline-train)")) << joined(verdict.reasons);
}

// A load generator has no NP by design (its server is counted): it is said
// per workload, as a code, and is not listed as missing.
TEST(Interference, AClientHasNoNpByDesignAndIsNotListedAsMissing) {
  RunBuilder b({"exclusive", "timeslice"}, 1, {"server", "clients"});
  for (const auto& [cell, repeat, ms] : {std::tuple{"baseline-server", 0, 2.0}, std::tuple{"timeslice-r1", 1, 4.0}}) {
    const auto c = b.cell(cell, repeat ? "timeslice" : "exclusive", repeat);
    const auto server = b.workload(c, "server");
    b.set_role(server, spec::Role::server);
    b.latencies(server, std::vector<double>(200, ms));
    if (repeat) {
      const auto clients = b.workload(c, "clients");
      b.set_role(clients, spec::Role::client);
      b.latencies(clients, std::vector<double>(200, ms + 0.5));
    }
  }
  const auto a = b.analyze();
  const auto& clients = in_cell(a, "timeslice-r1", "clients");
  EXPECT_FALSE(clients.np);
  EXPECT_EQ(clients.no_np, NoNp::client);
  EXPECT_NEAR(*in_cell(a, "timeslice-r1", "server").np, 0.5, 1e-12);
  for (const auto& g : a.missing) EXPECT_NE(g.code, GapCode::no_np) << g.text;
}

// ---- LLM serving: token SLOs and NP by TPOT (run_builder.hpp, llm_server_run) -----

const SloVerdict& verdict(const Analysis& a, const std::string& mode, const std::string& label) {
  for (const auto* v : a.mode(mode)->slos())
    if (v->label() == label) return *v;
  throw std::runtime_error("no SLO " + label + " in " + mode);
}

// Decode is paced by the GPU, the request rate by arrivals: an LLM server's
// NP is its mean TPOT alone ÷ shared, not its throughput or its end-to-end
// latency (0.25 here, which TTFT's queueing would dominate).
TEST(Interference, AnLlmServerIsMeasuredByTimePerOutputToken) {
  const auto a = test::llm_server_run().analyze();
  const auto& ts = in_cell(a, "timeslice-r1", "llm");
  EXPECT_EQ(ts.np_basis, "tpot");
  EXPECT_NEAR(*ts.np, 10.0 / 20, 1e-12);
  EXPECT_NEAR(*in_cell(a, "mps-r1", "llm").np, 10.0 / 75, 1e-12);
  EXPECT_EQ(a.mode("timeslice")->workload("llm")->np_basis, "tpot");
  // Without tokens, a server stays measured by latency.
  EXPECT_EQ(in_cell(a, "timeslice-r1", "api").np_basis, "latency");
  EXPECT_NEAR(*in_cell(a, "timeslice-r1", "api").np, 100.0 / 600, 1e-12);

  const auto& s = ts.summary;
  EXPECT_EQ(s.ttft_requests, 200);
  EXPECT_EQ(s.tpot_requests, 200);
  EXPECT_DOUBLE_EQ(*s.ttft_p99, 600);
  EXPECT_DOUBLE_EQ(*s.tpot_p50, 20);
  EXPECT_DOUBLE_EQ(*s.latency_p99, 800);
  ASSERT_EQ(s.ttft_cdf.size(), 1u);
  EXPECT_EQ(s.ttft_cdf[0], std::make_pair(600.0, 1.0));
  const auto* llm = a.mode("mps")->workload("llm");
  EXPECT_EQ(llm->token_requests, 200);
  EXPECT_DOUBLE_EQ(*llm->tpot_p90_ms.mean, 75);
  EXPECT_DOUBLE_EQ(*llm->ttft_p50_ms.mean, 200);
  EXPECT_EQ(a.mode("mps")->workload("api")->token_requests, 0);
}

// Token SLOs are judged over the window's samples like latency ones, and a
// token SLO on a workload that streams no tokens is not measured.
TEST(Interference, TokenSlosAreMetMissedOrUnmeasured) {
  const auto a = test::llm_server_run().analyze();
  const auto& ttft = verdict(a, "timeslice", "llm ttft_p99 <= 500 ms");
  EXPECT_EQ(ttft.metric, spec::SloMetric::ttft);
  EXPECT_FALSE(ttft.met);
  EXPECT_EQ(ttft.broken, 1);
  EXPECT_DOUBLE_EQ(*ttft.worst_ms, 600);
  EXPECT_DOUBLE_EQ(*ttft.worst_attainment, 0);
  EXPECT_NEAR(*ttft.excess(), 0.2, 1e-12);
  EXPECT_TRUE(verdict(a, "timeslice", "llm tpot_p99 <= 50 ms").met);
  EXPECT_TRUE(verdict(a, "timeslice", "llm p99 <= 20000 ms").met);
  const auto& tpot = verdict(a, "mps", "llm tpot_p99 <= 50 ms");
  EXPECT_FALSE(tpot.met);
  EXPECT_DOUBLE_EQ(*tpot.worst_ms, 75);
  EXPECT_NEAR(*tpot.excess(), 0.5, 1e-12);
  EXPECT_TRUE(verdict(a, "mps", "llm ttft_p99 <= 500 ms").met);
  EXPECT_TRUE(verdict(a, "exclusive", "llm tpot_p99 <= 50 ms").met);
  const auto& api = verdict(a, "mps", "api ttft_p99 <= 500 ms");
  EXPECT_FALSE(api.met);
  EXPECT_EQ(api.unmeasured, 1);
  EXPECT_FALSE(api.worst_ms);
  // Neither shared mode meets every SLO, so none is recommended for them.
  const auto r = recommend(a);
  EXPECT_FALSE(r.slos_met);
}

// ---- the recommendation ----------------------------------------------------------

TEST(Recommend, HighestStpAmongModesMeetingEverySloWithReasons) {
  auto a = main_run().analyze();
  auto r = recommend(a);
  ASSERT_TRUE(r.mode);
  EXPECT_EQ(*r.mode, "timeslice");  // mps has the higher STP but breaks server's p99
  EXPECT_EQ(r.no_mode, NoMode::none);
  EXPECT_TRUE(r.slos_met);
  EXPECT_NE(r.headline.find("Use timeslice"), std::string::npos) << r.headline;
  EXPECT_NE(r.headline.find("STP 1.00"), std::string::npos) << r.headline;
  ASSERT_EQ(r.verdicts.size(), 3u);
  EXPECT_EQ(r.verdicts[0].mode, "timeslice");
  EXPECT_EQ(r.verdicts[0].state, VerdictState::recommended);
  EXPECT_TRUE(contains(r.verdicts[0].reasons, "server p99 5.0 ms <= 10 ms"));  // the worst repeat (r2)
  const auto* mps = &r.verdicts[1];
  EXPECT_EQ(mps->mode, "mps");
  EXPECT_EQ(mps->state, VerdictState::rejected);
  ASSERT_EQ(mps->reasons.size(), 1u);
  EXPECT_EQ(mps->reasons[0], "server p99 50.0 ms > 10 ms (+400%) in mps-r1, 2 of 2 repeats");
  EXPECT_NEAR(mps->worst_excess, 4.0, 1e-12);
  EXPECT_EQ(r.verdicts[2].mode, "mig");
  EXPECT_EQ(r.verdicts[2].state, VerdictState::skipped);
  EXPECT_EQ(r.verdicts[2].reasons[0], "skipped: MIG is disabled on GPU 0");
}

// A run whose environment says it had no GPU: the same verdicts, no mode, no
// advice that would read as one, and the reason first among what is missing.
TEST(Recommend, CellsThatRanOnTheCpuGetNoRecommendation) {
  auto b = main_run();
  b.input().run.environment_json =
      R"({"host":"ci","nvml":{"available":false,"reason":"NVML is not available: cannot load libnvidia-ml.so.1"}})";
  auto a = b.analyze();
  ASSERT_TRUE(a.cpu_only);
  EXPECT_EQ(*a.cpu_only, "NVML is not available: cannot load libnvidia-ml.so.1");
  ASSERT_FALSE(a.missing.empty());
  EXPECT_EQ(a.missing[0].code, GapCode::cpu_only);
  EXPECT_EQ(a.missing[0].text.rfind("The cells ran on the CPU, without an NVIDIA GPU (NVML is not available", 0), 0u) << a.missing[0].text;
  EXPECT_NE(a.missing[0].text.find("the sharing modes were not exercised on a GPU"), std::string::npos) << a.missing[0].text;
  auto r = recommend(a);
  EXPECT_FALSE(r.mode);
  EXPECT_EQ(r.no_mode, NoMode::cpu_only);
  EXPECT_EQ(to_string(r.no_mode), "cpu_only");
  EXPECT_FALSE(r.closest);
  EXPECT_EQ(r.headline,
            "No recommendation: the cells ran on the CPU, so the sharing modes were not exercised on a GPU and their "
            "figures say nothing about sharing one. Run the mix on a GPU machine.");
  EXPECT_TRUE(r.notes.empty()) << joined(r.notes);
  ASSERT_EQ(r.verdicts.size(), 3u);
  EXPECT_EQ(r.verdicts[0].mode, "timeslice");
  EXPECT_EQ(r.verdicts[0].state, VerdictState::eligible);  // what it would have been, not a recommendation
  // repeats: auto decides as it would on a GPU.
  const auto on_gpu = main_run().analyze();
  const auto gpu_decision = decide_repeats(on_gpu, recommend(on_gpu), 0.05), cpu_decision = decide_repeats(a, r, 0.05);
  EXPECT_EQ(cpu_decision.stop, gpu_decision.stop);
  EXPECT_EQ(cpu_decision.reason, gpu_decision.reason);
  // An environment without the fact (older runs) is not taken for a CPU run.
  b.input().run.environment_json = R"({"host":"old"})";
  EXPECT_FALSE(b.analyze().cpu_only);
  b.input().run.environment_json = R"({"nvml":{"available":true,"devices":[]}})";
  EXPECT_EQ(b.analyze().cpu_only, "NVML lists no GPU");

  // Where no mode meets the SLOs: no closest mode, no advice to run alone.
  RunBuilder missed({"exclusive", "timeslice"}, 1, {"server"});
  missed.input().run.environment_json = R"({"nvml":{"available":false,"reason":"no driver"}})";
  const auto slo = RunBuilder::slo(99, 10);
  missed.latencies(missed.workload(missed.cell("baseline-server", "exclusive", 0), "server", "ok", slo), std::vector<double>(50, 2.0));
  missed.latencies(missed.workload(missed.cell("timeslice-r1", "timeslice", 1), "server", "ok", slo), std::vector<double>(50, 20.0));
  r = recommend(missed.analyze());
  EXPECT_FALSE(r.closest);
  EXPECT_EQ(r.no_mode, NoMode::cpu_only);
  EXPECT_TRUE(r.notes.empty()) << joined(r.notes);
  ASSERT_EQ(r.verdicts.size(), 1u);
  EXPECT_EQ(r.verdicts[0].state, VerdictState::rejected);
}

TEST(Recommend, NoModeMeetsTheSlosNamesTheClosest) {
  // server p99 <= 10 ms: timeslice 20 ms (+100%), mps 12 ms (+20%); alone 2 ms.
  RunBuilder b({"exclusive", "timeslice", "mps"}, 1, {"server"});
  const auto slo = RunBuilder::slo(99, 10);
  b.latencies(b.workload(b.cell("baseline-server", "exclusive", 0), "server", "ok", slo), std::vector<double>(50, 2.0));
  b.latencies(b.workload(b.cell("timeslice-r1", "timeslice", 1), "server", "ok", slo), std::vector<double>(50, 20.0));
  b.latencies(b.workload(b.cell("mps-r1", "mps", 1), "server", "ok", slo), std::vector<double>(50, 12.0));
  auto r = recommend(b.analyze());
  EXPECT_FALSE(r.mode);
  EXPECT_EQ(r.no_mode, NoMode::none_qualifies);
  EXPECT_FALSE(r.slos_met);
  EXPECT_EQ(r.closest, "mps");
  EXPECT_EQ(r.headline.rfind("No mode meets the SLOs. Closest: mps (server p99 12.0 ms > 10 ms (+20%) in mps-r1", 0), 0u)
      << r.headline;
  EXPECT_TRUE(contains(r.notes, "Alone (exclusive baseline) every SLO is met")) << joined(r.notes);
  ASSERT_EQ(r.verdicts.size(), 2u);
  for (const auto& v : r.verdicts) EXPECT_EQ(v.state, VerdictState::rejected);
}

TEST(Recommend, StpWithinNoiseOfTheRunnerUpIsSaid) {
  // One workload, so STP = NP: timeslice 0.50 0.60 0.55 (mean 0.55), mps-split 0.52 0.58 0.62 (mean 0.5733).
  RunBuilder b({"exclusive", "timeslice", "mps-split"}, 3, {"train"});
  b.throughput(b.workload(b.cell("baseline-train", "exclusive", 0), "train"), 100);
  const double ts[] = {50, 60, 55}, split[] = {52, 58, 62};
  for (int r = 1; r <= 3; ++r) {
    b.throughput(b.workload(b.cell("timeslice-r" + std::to_string(r), "timeslice", r), "train"), ts[r - 1]);
    b.throughput(b.workload(b.cell("mps-split-r" + std::to_string(r), "mps-split", r), "train"), split[r - 1]);
  }
  auto a = b.analyze();
  ASSERT_EQ(a.comparisons.size(), 2u);
  EXPECT_EQ(a.comparisons[0].difference.verdict, Noise::within_noise);
  EXPECT_FALSE(contains(a.missing_texts(), "One repeat"));
  EXPECT_TRUE(a.mode("timeslice")->stp.ci_low.has_value());
  // Within noise: neither is named; both are, with what would decide.
  auto r = recommend(a);
  EXPECT_FALSE(r.mode);
  EXPECT_EQ(r.no_mode, NoMode::undecided);
  EXPECT_EQ(r.undecided, (std::vector<std::string>{"mps-split", "timeslice"}));
  EXPECT_NE(r.headline.find("No significant difference between mps-split (STP 0.57 ± 0.13) and timeslice (STP 0.55 ± 0.12)"),
            std::string::npos)
      << r.headline;
  EXPECT_NE(r.settle.find("repeats in all (now 3)"), std::string::npos) << r.settle;
}

TEST(Recommend, NothingToRecommendWithoutASharedMode) {
  RunBuilder only_baseline({"exclusive"}, 1, {"train"});
  only_baseline.throughput(only_baseline.workload(only_baseline.cell("baseline-train", "exclusive", 0), "train"), 100);
  EXPECT_NE(recommend(only_baseline.analyze()).headline.find("no shared mode"), std::string::npos);
  EXPECT_EQ(recommend(only_baseline.analyze()).no_mode, NoMode::no_shared_mode);

  RunBuilder all_skipped({"exclusive", "mps"}, 1, {"train"});
  all_skipped.throughput(all_skipped.workload(all_skipped.cell("baseline-train", "exclusive", 0), "train"), 100);
  const auto c = all_skipped.cell("mps-r1", "mps", 1, "skipped", "no MPS control program");
  all_skipped.workload(c, "train", "skipped");
  auto r = recommend(all_skipped.analyze());
  EXPECT_FALSE(r.mode);
  EXPECT_NE(r.headline.find("no shared mode was measured"), std::string::npos) << r.headline;
  EXPECT_EQ(r.no_mode, NoMode::none_measured);
  ASSERT_EQ(r.verdicts.size(), 1u);
  EXPECT_EQ(r.verdicts[0].reasons[0], "skipped: no MPS control program");
}

TEST(Recommend, UnmeasuredSloRejectsTheMode) {
  // The server ran under timeslice but answered no request: its SLO cannot be met.
  RunBuilder b({"exclusive", "timeslice"}, 1, {"server"});
  const auto slo = RunBuilder::slo(99, 10);
  b.latencies(b.workload(b.cell("baseline-server", "exclusive", 0), "server", "ok", slo), std::vector<double>(10, 2.0));
  b.workload(b.cell("timeslice-r1", "timeslice", 1), "server", "ok", slo);
  auto a = b.analyze();
  EXPECT_DOUBLE_EQ(*in_cell(a, "timeslice-r1", "server").np, 0.0);
  auto r = recommend(a);
  EXPECT_FALSE(r.mode);
  EXPECT_EQ(r.closest, "timeslice");
  EXPECT_TRUE(std::isinf(r.verdicts[0].worst_excess));
  EXPECT_TRUE(contains(r.verdicts[0].reasons, "server p99 <= 10 ms unchecked: no requests in 1 of 1 repeat(s)"))
      << joined(r.verdicts[0].reasons);
}

}  // namespace
}  // namespace gpumix::analysis
