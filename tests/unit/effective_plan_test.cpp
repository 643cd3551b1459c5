// The stored plan's contract: what the runner writes is what analysis, the
// reports, merge and export read back, and older or damaged plans read as
// far as they go.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "gpumix/spec/effective_plan.hpp"

namespace gpumix::spec {
namespace {

using namespace std::chrono_literals;

Mix two_workload_mix() {
  Mix m;
  m.name = "m";
  m.modes = {"exclusive", "timeslice"};
  m.repeats = 3;
  m.seed = 42;
  m.cell_duration = 60s;
  m.stop_grace = 5s;
  m.setup_timeout = 300s;
  m.evidence.min_iterations = 50;
  m.auto_repeats.enabled = true;
  m.auto_repeats.max = 6;
  m.auto_repeats.budget = 1800s;
  Workload train;
  train.name = "train";
  train.role = Role::training;
  train.builtin = "resnet-train";
  train.argv = {"/bin/gpumix-resnet-train", "--batch-size", "64"};
  train.stop.kind = StopKind::iterations;
  train.stop.iterations = 500;
  train.warmup.kind = WarmupKind::duration;
  train.warmup.duration = 10s;
  train.gpu_memory = int64_t{8} << 30;
  Workload serve;
  serve.name = "serve";
  serve.role = Role::server;
  serve.slos = {{99, 25ms}};
  serve.launcher = LauncherKind::container;
  serve.container.image = "ghcr.io/x/serve:1";
  m.workloads = {train, serve};
  return m;
}

TEST(EffectivePlan, ReadsBackWhatItWrites) {
  const auto mix = two_workload_mix();
  auto plan = EffectivePlan::of(mix, {{"baseline-train-r1", "exclusive", 1}, {"timeslice-r1", "timeslice", 1}});
  plan.selected_cell = 1;
  plan.fleet_id = "f1";
  plan.repeats_auto->repeats_run = 2;
  plan.repeats_auto->stopped_because = "clear";
  plan.repeats_auto->elapsed_s = 12.5;
  const auto text = plan.to_json().dump();
  const auto back = EffectivePlan::from_json(text);
  EXPECT_EQ(back.to_json().dump(), text);

  EXPECT_TRUE(back.recorded);
  EXPECT_EQ(back.modes, mix.modes);
  EXPECT_EQ(back.repeats, 3);
  EXPECT_EQ(back.seed, 42u);
  EXPECT_DOUBLE_EQ(back.cell_duration_s, 60);
  EXPECT_EQ(back.evidence.min_iterations, 50);
  ASSERT_TRUE(back.repeats_auto);
  EXPECT_EQ(back.repeats_auto->max, 6);
  EXPECT_EQ(back.repeats_auto->budget_s, 1800);
  EXPECT_EQ(back.repeats_auto->repeats_run, 2);
  ASSERT_EQ(back.workloads.size(), 2u);
  const auto& t = back.workloads[0];
  EXPECT_EQ(t.role, Role::training);
  EXPECT_EQ(t.builtin, "resnet-train");
  EXPECT_EQ(t.stop, StopKind::iterations);
  EXPECT_EQ(t.stop_iterations, 500);
  EXPECT_TRUE(t.runs_to_completion());
  EXPECT_EQ(t.warmup, WarmupKind::duration);
  EXPECT_EQ(t.warmup_s, 10);
  EXPECT_EQ(t.gpu_memory_bytes, int64_t{8} << 30);
  EXPECT_EQ(t.seed, workload_seed(42, "train"));
  const auto& s = back.workloads[1];
  EXPECT_FALSE(s.runs_to_completion());
  ASSERT_EQ(s.slos.size(), 1u);
  EXPECT_DOUBLE_EQ(s.slos[0].limit_ms, 25);
  EXPECT_EQ(s.launcher, LauncherKind::container);
  EXPECT_EQ(s.image, "podman ghcr.io/x/serve:1");
  ASSERT_EQ(back.cells.size(), 2u);
  EXPECT_EQ(back.cells[1].label, "timeslice-r1");
  EXPECT_EQ(back.selected_cell, 1);
  EXPECT_EQ(back.fleet_id, "f1");
}

// The JSON's field names are a stored contract: runs written by earlier
// gpumix versions must still read, so a rename is a migration, not an edit.
TEST(EffectivePlan, KeepsTheStoredFieldNames) {
  const auto j = EffectivePlan::of(two_workload_mix(), {{"timeslice-r1", "timeslice", 1}}).to_json();
  for (const char* key : {"modes", "repeats", "seed", "cell_duration_s", "stop_grace_s", "setup_timeout_s", "evidence",
                          "repeats_auto", "workloads", "cells"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_FALSE(j.contains("selected_cell"));
  EXPECT_EQ(j["workloads"][1]["slo"][0]["ms"], 25.0);
  EXPECT_EQ(j["workloads"][0]["stop"], "iterations");
  EXPECT_EQ(j["workloads"][0]["role"], "training");
  EXPECT_EQ(j["evidence"]["min_iterations"], 50);
}

TEST(EffectivePlan, AnOlderPlanReadsAsFarAsItGoes) {
  // As written before evidence, repeats: auto and SLO lists: what is there is
  // read, the rest keeps its default.
  const auto p = EffectivePlan::from_json(
      R"({"modes":["exclusive","mps"],"repeats":2,"cell_duration_s":30,)"
      R"("workloads":[{"name":"a","role":"batch","stop":"completion"},{"name":"b","role":"a-role-from-the-future"}]})");
  EXPECT_TRUE(p.recorded);
  EXPECT_EQ(p.modes, (std::vector<std::string>{"exclusive", "mps"}));
  EXPECT_EQ(p.repeats, 2);
  EXPECT_EQ(p.evidence.min_iterations, EvidenceGates{}.min_iterations);
  EXPECT_FALSE(p.repeats_auto);
  EXPECT_TRUE(p.cells.empty());
  ASSERT_EQ(p.workloads.size(), 2u);
  EXPECT_EQ(p.workloads[0].role, Role::batch);
  EXPECT_TRUE(p.workloads[0].runs_to_completion());
  EXPECT_EQ(p.workloads[1].role, Role::other);
}

TEST(EffectivePlan, FieldsOfAnotherTypeKeepTheirDefaults) {
  const auto p = EffectivePlan::from_json(
      R"({"modes":"exclusive","repeats":"3","seed":-1.5,"evidence":[],"cells":[{"label":7},"x"],)"
      R"("workloads":[{"name":"a","slo":[{"percentile":"99"}]},3],"selected_cell":"2"})");
  EXPECT_TRUE(p.recorded);
  EXPECT_TRUE(p.modes.empty());
  EXPECT_EQ(p.repeats, 0);
  EXPECT_EQ(p.seed, 0u);
  ASSERT_EQ(p.cells.size(), 1u);
  EXPECT_EQ(p.cells[0].label, "");
  ASSERT_EQ(p.workloads.size(), 1u);
  ASSERT_EQ(p.workloads[0].slos.size(), 1u);
  EXPECT_DOUBLE_EQ(p.workloads[0].slos[0].percentile, 99.0);
  EXPECT_FALSE(p.selected_cell);
}

TEST(EffectivePlan, NoPlanOrADamagedOneIsNotRecorded) {
  for (const char* text : {"", "{", "[1,2]", "null", "\"plan\""}) {
    const auto p = EffectivePlan::from_json(text);
    EXPECT_FALSE(p.recorded) << text;
    EXPECT_TRUE(p.workloads.empty()) << text;
  }
}

TEST(EffectivePlan, WithoutSelectionIsWhatAFleetShares) {
  auto a = EffectivePlan::of(two_workload_mix(), {{"timeslice-r1", "timeslice", 1}, {"timeslice-r2", "timeslice", 2}});
  auto b = a;
  a.selected_cell = 0;
  a.fleet_id = "f";
  b.selected_cell = 1;
  b.fleet_id = "f";
  EXPECT_NE(a.to_json(), b.to_json());
  EXPECT_EQ(a.without_selection().to_json(), b.without_selection().to_json());
  EXPECT_FALSE(a.without_selection().to_json().contains("fleet_id"));
}

}  // namespace
}  // namespace gpumix::spec
