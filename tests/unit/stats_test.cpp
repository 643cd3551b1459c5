#include <gtest/gtest.h>

#include "gpumix/analysis/stats.hpp"
#include "gpumix/analysis/summary.hpp"

namespace gpumix::analysis {
namespace {

TEST(Stats, PercentileInterpolatesBetweenRanks) {
  std::vector<double> v = {4, 1, 3, 2};  // sorted 1 2 3 4
  EXPECT_DOUBLE_EQ(*percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(*percentile(v, 100), 4);
  EXPECT_DOUBLE_EQ(*percentile(v, 50), 2.5);
  EXPECT_DOUBLE_EQ(*percentile(v, 25), 1.75);  // rank 0.75
  EXPECT_DOUBLE_EQ(*percentile(v, 99), 3.97);  // rank 2.97
}

TEST(Stats, PercentileOfOneValueAndOfNone) {
  EXPECT_DOUBLE_EQ(*percentile({7}, 99.9), 7);
  EXPECT_FALSE(percentile({}, 50).has_value());
}

TEST(Stats, P999NeedsTheTail) {
  std::vector<double> v(1000, 1.0);
  v[999] = 100;  // one slow request in a thousand
  EXPECT_NEAR(*percentile(v, 99.9), 1.099, 1e-9);  // rank 998.001: 1 + 0.001 x 99
  EXPECT_DOUBLE_EQ(*percentile(v, 99), 1.0);
}

TEST(Stats, MeanStddevFraction) {
  std::vector<double> v = {2, 4, 4, 4, 5, 5, 7, 9};
  EXPECT_DOUBLE_EQ(*mean(v), 5);
  EXPECT_NEAR(*stddev(v), 2.138089935299395, 1e-12);
  EXPECT_FALSE(stddev({1}).has_value());
  EXPECT_FALSE(mean({}).has_value());
  EXPECT_DOUBLE_EQ(*fraction_at_most(v, 4), 0.5);
  EXPECT_FALSE(fraction_at_most({}, 1).has_value());
}

// Hand-made rows: one cell, two workloads.
struct Rows {
  std::vector<store::CellRow> cells;
  std::vector<store::WorkloadRow> workloads;
  std::vector<store::EventRow> events;
};

Rows sample_rows() {
  Rows r;
  store::CellRow c;
  c.id = 1;
  c.label = "timeslice-r1";
  c.mode = "timeslice";
  c.repeat = 1;
  r.cells.push_back(c);
  store::WorkloadRow train;
  train.id = 10;
  train.cell_id = 1;
  train.name = "train";
  train.status = store::WorkloadStatus::ok;
  train.started_ns = 1'000'000'000;
  train.ended_ns = 5'000'000'000;
  train.slo_json = "[]";
  r.workloads.push_back(train);
  store::WorkloadRow server = train;
  server.id = 11;
  server.name = "server";
  server.slo_json = R"([{"percentile":99,"ms":10},{"percentile":50,"ms":2}])";
  r.workloads.push_back(server);
  const int64_t s = 1'000'000'000;
  // Warm-up iteration before ready is excluded; then 3 iterations of 32
  // samples over 2 s after ready at t=2s.
  r.events.push_back({10, 1 * s + 500'000'000, "iter", 32, 100.0, "{}"});
  r.events.push_back({10, 2 * s, "ready", std::nullopt, std::nullopt, "{}"});
  r.events.push_back({10, 3 * s, "iter", 32, 10.0, "{}"});
  r.events.push_back({10, 3 * s + 500'000'000, "iter", 32, 20.0, "{}"});
  r.events.push_back({10, 4 * s, "iter", 32, 30.0, "{}"});
  r.events.push_back({10, 4 * s, "malformed", std::nullopt, std::nullopt, "oops"});
  for (int i = 1; i <= 10; ++i)
    r.events.push_back({11, 2 * s + i, "latency", std::nullopt, static_cast<double>(i), R"({"ev":"latency","ms":1})"});
  r.events.push_back({11, 3 * s, "latency", std::nullopt, 500.0, R"({"ev":"latency","ms":500,"ok":false})"});
  return r;
}

TEST(Summary, SteadyStateThroughputFromReady) {
  auto r = sample_rows();
  auto s = summarize(r.cells, r.workloads, r.events);
  ASSERT_EQ(s.size(), 2u);
  const auto& train = s[0];
  EXPECT_EQ(train.cell, "timeslice-r1");
  EXPECT_EQ(train.iterations, 4);
  EXPECT_EQ(train.samples, 128);
  ASSERT_TRUE(train.throughput);
  EXPECT_DOUBLE_EQ(*train.throughput, 96.0 / 2.0);  // 3 x 32 samples from t=2s to t=4s
  EXPECT_DOUBLE_EQ(*train.step_ms_p50, 25.0);
  EXPECT_DOUBLE_EQ(train.wall_s, 4.0);
  EXPECT_EQ(train.malformed, 1);
  EXPECT_TRUE(train.reported_ready);
  EXPECT_FALSE(train.reported_done);
}

TEST(Summary, WithoutReadyTheFirstIterationStartsTheWindow) {
  auto r = sample_rows();
  r.events.erase(r.events.begin() + 1);  // drop ready
  auto s = summarize(r.cells, r.workloads, r.events);
  // Window from the first iteration (t=1.5s, its samples excluded) to t=4s.
  EXPECT_DOUBLE_EQ(*s[0].throughput, 96.0 / 2.5);
}

TEST(Summary, LatencyPercentilesErrorsAndSlos) {
  auto r = sample_rows();
  auto s = summarize(r.cells, r.workloads, r.events)[1];
  EXPECT_EQ(s.requests, 10);
  EXPECT_EQ(s.request_errors, 1);
  EXPECT_DOUBLE_EQ(*s.latency_p50, 5.5);
  EXPECT_DOUBLE_EQ(*s.latency_p99, 9.91);
  ASSERT_EQ(s.slos.size(), 2u);
  EXPECT_TRUE(s.slos[0].met);  // p99 9.91 <= 10
  EXPECT_DOUBLE_EQ(*s.slos[0].attainment, 1.0);
  EXPECT_FALSE(s.slos[1].met);  // p50 5.5 > 2
  EXPECT_DOUBLE_EQ(*s.slos[1].attainment, 0.2);
  EXPECT_FALSE(s.throughput.has_value());
}

TEST(Summary, WorkloadThatReportedNothingStillHasWallTimeAndStatus) {
  auto r = sample_rows();
  r.events.clear();
  r.workloads[0].status = store::WorkloadStatus::crashed;
  r.workloads[0].signal = 11;
  auto s = summarize(r.cells, r.workloads, r.events)[0];
  EXPECT_EQ(s.status, store::WorkloadStatus::crashed);
  EXPECT_EQ(s.signal, 11);
  EXPECT_DOUBLE_EQ(s.wall_s, 4.0);
  EXPECT_EQ(s.iterations, 0);
  EXPECT_FALSE(s.throughput.has_value());
  EXPECT_FALSE(s.latency_p99.has_value());
}

TEST(Summary, SloWithNoRequestsIsNotMet) {
  auto r = sample_rows();
  r.events.clear();
  auto s = summarize(r.cells, r.workloads, r.events)[1];
  ASSERT_EQ(s.slos.size(), 2u);
  EXPECT_FALSE(s.slos[0].met);
  EXPECT_FALSE(s.slos[0].actual_ms.has_value());
}

}  // namespace
}  // namespace gpumix::analysis
