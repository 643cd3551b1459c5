#include <gtest/gtest.h>

#include "gpumix/run/plan.hpp"
#include "gpumix/spec/mix.hpp"
#include "gpumix/store/status.hpp"

namespace gpumix::run {
namespace {

spec::Mix mix_with(std::vector<std::string> modes, int repeats, int workloads) {
  spec::Mix m;
  m.modes = std::move(modes);
  m.repeats = repeats;
  for (int i = 0; i < workloads; ++i) {
    spec::Workload w;
    w.name = "w" + std::to_string(i);
    m.workloads.push_back(w);
  }
  return m;
}

TEST(Plan, EachRepeatIsItsBaselinesThenTheSharedModes) {
  auto plan = make_plan(mix_with({"exclusive", "timeslice", "mps"}, 2, 3));
  std::vector<std::string> labels;
  for (const auto& c : plan) labels.push_back(c.label);
  EXPECT_EQ(labels, (std::vector<std::string>{"baseline-w0-r1", "baseline-w1-r1", "baseline-w2-r1", "timeslice-r1", "mps-r1",
                                              "baseline-w0-r2", "baseline-w1-r2", "baseline-w2-r2", "timeslice-r2",
                                              "mps-r2"}));
  for (size_t i = 0; i < plan.size(); ++i) EXPECT_EQ(plan[i].index, static_cast<int>(i));
  EXPECT_TRUE(plan[1].baseline);
  EXPECT_EQ(plan[1].mode, "exclusive");
  EXPECT_EQ(plan[1].workloads, std::vector<size_t>{1});
  EXPECT_EQ(plan[1].repeat, 1);
  EXPECT_TRUE(plan[6].baseline);
  EXPECT_EQ(plan[6].repeat, 2);
  EXPECT_FALSE(plan[8].baseline);
  EXPECT_EQ(plan[8].repeat, 2);
  EXPECT_EQ(plan[8].workloads, (std::vector<size_t>{0, 1, 2}));
}

TEST(Plan, AClientsBaselineHoldsItsServerWhichGetsNoCellOfItsOwn) {
  auto m = mix_with({"exclusive", "mps"}, 1, 4);
  m.workloads[1].role = spec::Role::server;   // w1: server
  m.workloads[2].start_after = "w1";          // w2: its client
  m.workloads[2].role = spec::Role::client;
  m.workloads[3].start_after = "w0";          // w3 starts after a non-server: alone as before
  auto plan = make_plan(m);
  std::vector<std::string> labels;
  for (const auto& c : plan) labels.push_back(c.label);
  EXPECT_EQ(labels, (std::vector<std::string>{"baseline-w0-r1", "baseline-w2-r1", "baseline-w3-r1", "mps-r1"}));
  EXPECT_EQ(plan[1].workloads, (std::vector<size_t>{1, 2}));
  EXPECT_EQ(plan[2].workloads, std::vector<size_t>{3});
}

TEST(Plan, NoExclusiveMeansNoBaselines) {
  auto plan = make_plan(mix_with({"timeslice"}, 3, 2));
  ASSERT_EQ(plan.size(), 3u);
  for (const auto& c : plan) EXPECT_FALSE(c.baseline);
}

TEST(Plan, ExclusiveOnlyIsTheBaselinesOfEveryRepeat) {
  auto plan = make_plan(mix_with({"exclusive"}, 3, 2));
  ASSERT_EQ(plan.size(), 6u);
  EXPECT_EQ(plan[0].label, "baseline-w0-r1");
  EXPECT_EQ(plan[5].label, "baseline-w1-r3");
}

TEST(Plan, WorkloadSeedIsStableAndDiffersByName) {
  EXPECT_EQ(spec::workload_seed(42, "train"), spec::workload_seed(42, "train"));
  EXPECT_NE(spec::workload_seed(42, "train"), spec::workload_seed(42, "serve"));
  EXPECT_NE(spec::workload_seed(42, "train"), spec::workload_seed(43, "train"));
  // Fits in a signed 64-bit integer (environment variables, torch seeds).
  EXPECT_LE(spec::workload_seed(~0ull, "x"), static_cast<uint64_t>(INT64_MAX));
}

TEST(Plan, SuccessAndFailureStatuses) {
  using store::WorkloadStatus;
  for (auto s : {WorkloadStatus::ok, WorkloadStatus::stopped, WorkloadStatus::skipped}) {
    EXPECT_TRUE(store::is_success(s)) << store::to_string(s);
    EXPECT_FALSE(store::is_failure(s)) << store::to_string(s);
  }
  for (auto s : {WorkloadStatus::failed, WorkloadStatus::crashed, WorkloadStatus::timeout, WorkloadStatus::not_ready,
                 WorkloadStatus::early_exit, WorkloadStatus::killed}) {
    EXPECT_FALSE(store::is_success(s)) << store::to_string(s);
    EXPECT_TRUE(store::is_failure(s)) << store::to_string(s);
  }
  // Cut short by gpumix, not the workload's fault: neither.
  for (auto s : {WorkloadStatus::interrupted, WorkloadStatus::not_started, WorkloadStatus::running, WorkloadStatus::pending}) {
    EXPECT_FALSE(store::is_success(s)) << store::to_string(s);
    EXPECT_FALSE(store::is_failure(s)) << store::to_string(s);
  }
  // Every name reads back as its status, and only known names do.
  for (int i = 0; i <= static_cast<int>(WorkloadStatus::skipped); ++i) {
    const auto st = static_cast<WorkloadStatus>(i);
    EXPECT_EQ(store::workload_status_from_string(store::to_string(st)), st);
  }
  for (int i = 0; i <= static_cast<int>(store::CellStatus::skipped); ++i) {
    const auto st = static_cast<store::CellStatus>(i);
    EXPECT_EQ(store::cell_status_from_string(store::to_string(st)), st);
  }
  for (int i = 0; i <= static_cast<int>(store::RunStatus::interrupted); ++i) {
    const auto st = static_cast<store::RunStatus>(i);
    EXPECT_EQ(store::run_status_from_string(store::to_string(st)), st);
  }
  EXPECT_FALSE(store::workload_status_from_string("from-a-newer-gpumix"));
  EXPECT_FALSE(store::cell_status_from_string("OK"));
  EXPECT_FALSE(store::run_status_from_string(""));
}

}  // namespace
}  // namespace gpumix::run
