// gpumix tune's parts without a run: configured modes' names, the plan they
// get, the search over a modelled GPU, the answer, its record and the
// emitted mix.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "gpumix/run/plan.hpp"
#include "gpumix/spec/mode_variant.hpp"
#include "gpumix/spec/parse.hpp"
#include "gpumix/spec/sharing_mode.hpp"
#include "gpumix/tune/answer.hpp"
#include "run_builder.hpp"
#include "gpumix/tune/emit_mix.hpp"
#include "gpumix/tune/fleet_plan.hpp"
#include "gpumix/tune/record.hpp"
#include "gpumix/tune/search.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix {
namespace {

const char* kMix = R"(name: tune-unit
workloads:
  - name: server
    role: server
    command: [/bin/true]
    slo: {p99: 14ms}
  - name: train
    role: training
    command: [/bin/true]
    mps: {pinned_memory_limit: 8GiB}
)";

spec::Mix mix() { return spec::parse_mix(kMix, "/tmp/tune-unit.yaml"); }

TEST(ModeVariant, ReadsAndWritesTheCanonicalLabel) {
  std::string why;
  const auto v = spec::parse_mode_variant("mps[train=30,server=100,train.priority=1,train.pinned=8GiB]", &why);
  ASSERT_TRUE(v) << why;
  EXPECT_EQ(v->base, "mps");
  EXPECT_EQ(v->mps.at("train").sm_percent, 30);
  EXPECT_EQ(v->mps.at("train").priority, 1);
  EXPECT_EQ(v->mps.at("train").pinned_memory_limit, int64_t{8} << 30);
  EXPECT_EQ(spec::variant_label(*v), "mps[server=100,train=30,train.priority=1,train.pinned=8192M]");
  EXPECT_EQ(*spec::parse_mode_variant(spec::variant_label(*v), nullptr), *v);
  EXPECT_FALSE(spec::parse_mode_variant("mps", nullptr)->configured());
  EXPECT_EQ(spec::find_sharing_mode("mps[a=1]")->name, "mps");
}

TEST(ModeVariant, RefusesWhatMpsCannotTakeAndSaysWhy) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"timeslice[a=10]", "takes no settings"},    {"mps[a=0]", "from 1 to 100"},
      {"mps[a=101]", "from 1 to 100"},             {"mps[a=50", "end with ']'"},
      {"mps[]", "empty brackets"},                 {"mps[a.priority=2]", "0 (normal) or 1"},
      {"mps[a.weight=2]", "unknown setting"},      {"mps[a=10,a=20]", "twice"},
      {"mps[a.pinned=lots]", "pinned memory limit"}, {"nope[a=1]", "unknown mode"}};
  for (const auto& [label, expected] : bad) {
    std::string why;
    EXPECT_FALSE(spec::parse_mode_variant(label, &why)) << label;
    EXPECT_NE(why.find(expected), std::string::npos) << label << ": " << why;
  }
}

TEST(ModeVariant, AMixMayListConfiguredModesOfItsOwnWorkloads) {
  const std::string text = std::string(kMix) + "modes: [exclusive, mps, 'mps[train=30]', 'mps[train=30,train.priority=1]']\n";
  const auto m = spec::parse_mix(text, "/tmp/m.yaml");
  const auto plan = run::make_plan(m);
  std::vector<std::string> labels;
  for (const auto& c : plan) labels.push_back(c.label);
  EXPECT_EQ(labels, (std::vector<std::string>{"baseline-server-r1", "baseline-train-r1", "mps-r1", "mps-c1-r1", "mps-c2-r1"}));
  try {
    spec::parse_mix(std::string(kMix) + "modes: [exclusive, 'mps[trian=30]']\n", "/tmp/m.yaml");
    FAIL() << "a configured mode naming no workload was accepted";
  } catch (const spec::SpecError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("m.yaml:11"), std::string::npos) << what;
    EXPECT_NE(what.find("no workload named 'trian'"), std::string::npos) << what;
  }
}

// The GPU model of the testload's --share-dir (tests/testloads/testload.cpp):
// server latency ∝ share^-0.2 with p99 ≤ 14 ms at 10 ms alone, train's rate ∝ share.
struct Model {
  static std::pair<double, double> shares(double ds, double dt, int train_priority) {
    if (train_priority == 1) {
      const double s = std::min(1.0, ds / 100);
      return {s, std::min(std::max(0.05, 1 - s), dt / 100)};
    }
    const double total = ds + dt, gets = std::min(1.0, total / 100);
    return {gets * ds / total, gets * dt / total};
  }
  static tune::Outcome outcome(const tune::Space& space, const tune::Point& p) {
    const auto v = tune::variant_of(space, p);
    auto get = [&](const std::string& w, auto field, int dflt) {
      auto it = v.mps.find(w);
      return it != v.mps.end() && (it->second.*field) ? *(it->second.*field) : dflt;
    };
    const auto [s, t] = shares(get("server", &spec::MpsOptions::sm_percent, 100), get("train", &spec::MpsOptions::sm_percent, 100),
                               get("train", &spec::MpsOptions::priority, 0));
    tune::Outcome o;
    o.measured = true;
    o.objective = std::pow(s, 0.2) + t;
    o.slo_excess["server"] = 10 / std::pow(s, 0.2) / 14 - 1;
    return o;
  }
};

TEST(PatternSearch, FindsTheModelsOptimumInAFractionOfTheGrid) {
  tune::SpaceOptions so;
  so.sm_step = 10;
  const auto space = tune::make_space(mix(), so);
  ASSERT_EQ(space.knobs.size(), 3u);  // server's and train's SMs, train's priority (server has an SLO)
  EXPECT_EQ(space.slo_workloads, std::vector<std::string>{"server"});
  // The grid's best, by brute force.
  double optimum = 0;
  size_t grid = 0;
  for (int a = 0; a < 10; ++a)
    for (int b = 0; b < 10; ++b)
      for (int c = 0; c < 2; ++c, ++grid) {
        const auto o = Model::outcome(space, {a, b, c});
        if (o.feasible()) optimum = std::max(optimum, o.objective);
      }
  tune::PatternSearch search(space, tune::unlimited_point(space));
  search.record(search.incumbent(), Model::outcome(space, search.incumbent()));
  int measured = 1;
  while (auto p = search.next()) {
    search.record(*p, Model::outcome(space, *p));
    ++measured;
  }
  EXPECT_TRUE(search.converged());
  const auto best = Model::outcome(space, search.incumbent());
  EXPECT_TRUE(best.feasible());
  EXPECT_GE(best.objective, 0.97 * optimum) << tune::label_of(space, search.incumbent());
  EXPECT_LT(measured, static_cast<int>(grid) / 4) << "measured " << measured << " of " << grid;
  // Unlimited MPS (the start) is beaten.
  EXPECT_GT(best.objective, Model::outcome(space, tune::unlimited_point(space)).objective * 1.05);
  // Every pruned point would have missed the SLO in the model too.
  for (const auto& t : search.trials())
    if (t.status == tune::Trial::Status::pruned) {
      EXPECT_FALSE(Model::outcome(space, t.point).feasible()) << t.label << ": " << t.reason;
      EXPECT_NE(t.reason.find("missed its SLO"), std::string::npos) << t.reason;
    }
  if (HasFailure())
    for (const auto& t : search.trials())
      std::cerr << t.label << " " << tune::to_string(t.status) << " " << t.outcome.objective << " " << t.outcome.worst_excess() << " "
                << t.reason << "\n";
}

// MPS without limits missed the server's SLO by 50 %: fewer SMs for the
// server with as many for train cannot meet it, and is never measured.
TEST(PatternSearch, PrunesWhatCannotMeetAnSloAMeasuredPointMissed) {
  tune::SpaceOptions so;
  so.priorities = false;
  const auto space = tune::make_space(mix(), so);
  tune::PatternSearch search(space, tune::unlimited_point(space));
  search.record(search.incumbent(), {true, "", 1.2, {{"server", 0.5}}});
  const auto first = search.next();
  ASSERT_TRUE(first);
  EXPECT_EQ(tune::label_of(space, *first), "mps[train=70]");  // kinder to the server: measured
  ASSERT_EQ(search.trials().size(), 3u);
  EXPECT_EQ(search.trials()[1].label, "mps[server=70]");
  EXPECT_EQ(search.trials()[1].status, tune::Trial::Status::pruned);
  EXPECT_EQ(search.trials()[1].reason, "gives server no more of the GPU than mps, which missed its SLO by 50%");
  // Within the noise margin a miss prunes nothing.
  tune::PatternSearch close(space, tune::unlimited_point(space));
  close.record(close.incumbent(), {true, "", 1.2, {{"server", 0.03}}});
  EXPECT_EQ(tune::label_of(space, *close.next()), "mps[server=70]");
}

TEST(PatternSearch, FeasibleBeatsInfeasibleAndGainsMustExceedTheNoise) {
  tune::Outcome fast_but_late{true, "", 2.0, {{"s", 0.2}}}, slow_ok{true, "", 1.0, {{"s", -0.1}}}, unmeasured;
  EXPECT_TRUE(tune::better(slow_ok, fast_but_late, 0.01));
  EXPECT_FALSE(tune::better(fast_but_late, slow_ok, 0.01));
  EXPECT_FALSE(tune::better(unmeasured, slow_ok, 0.01));
  EXPECT_TRUE(tune::better(slow_ok, unmeasured, 0.01));
  tune::Outcome a_bit_more = slow_ok;
  a_bit_more.objective = 1.005;
  EXPECT_FALSE(tune::better(a_bit_more, slow_ok, 0.01));
  a_bit_more.objective = 1.02;
  EXPECT_TRUE(tune::better(a_bit_more, slow_ok, 0.01));
  tune::Outcome less_late = fast_but_late;
  less_late.slo_excess["s"] = 0.05;
  EXPECT_TRUE(tune::better(less_late, fast_but_late, 0.01));
}

TEST(TuneSpace, ListsStepsAndRefusesBadInput) {
  tune::SpaceOptions so;
  so.sm_values["train"] = {50, 10, 25, 10};
  so.priorities = false;
  const auto space = tune::make_space(mix(), so);
  ASSERT_EQ(space.knobs.size(), 2u);
  EXPECT_EQ(space.knobs[1].values, (std::vector<int>{10, 25, 50}));
  EXPECT_EQ(tune::label_of(space, tune::unlimited_point(space)), "mps[train=50]");  // its highest value
  EXPECT_EQ(tune::describe(space, {9, 0}), "server 100%, train 10%");
  so.sm_values = {{"nobody", {10}}};
  EXPECT_THROW(tune::make_space(mix(), so), InputError);
  so.sm_values = {{"train", {0}}};
  EXPECT_THROW(tune::make_space(mix(), so), InputError);
  so.sm_values = {};
  so.sm_step = 0;
  EXPECT_THROW(tune::make_space(mix(), so), InputError);
  EXPECT_THROW(tune::parse_objective("fast", mix()), InputError);
  EXPECT_THROW(tune::parse_objective("throughput:nobody", mix()), InputError);
  EXPECT_EQ(tune::parse_objective("throughput:train", mix()).text(), "throughput:train");
}

analysis::ModeAnalysis mode(const std::string& name, double stp, double p99_ms, double limit_ms = 14) {
  analysis::ModeAnalysis m;
  m.mode = name;
  m.cells_planned = m.cells_run = 1;
  m.stp = analysis::estimate({stp});
  analysis::WorkloadMode w;
  w.workload = "server";
  w.role = spec::Role::server;
  w.np = analysis::estimate({stp / 2});
  analysis::SloVerdict v;
  v.workload = "server";
  v.percentile = 99;
  v.limit_ms = limit_ms;
  v.worst_ms = p99_ms;
  v.repeats = 1;
  v.broken = p99_ms > limit_ms;
  v.met = !v.broken;
  w.slos.push_back(v);
  m.workloads.push_back(w);
  return m;
}

TEST(TuneAnswer, TheBestMeetsEverySloTheFrontAndTheControlsReasons) {
  analysis::Analysis a;
  a.modes = {mode("timeslice", 1.30, 16), mode("mps", 1.35, 15), mode("mps[train=30]", 1.45, 13),
             mode("mps[train=60]", 1.50, 14.5), mode("mps[train=20]", 1.40, 11)};
  tune::TuneRecord r;
  r.controls = {"timeslice", "mps"};
  r.trials = {{"mps", "", "measured", ""},
              {"mps[train=30]", "train 30%", "measured", ""},
              {"mps[train=60]", "train 60%", "measured", ""},
              {"mps[train=20]", "train 20%", "measured", ""},
              {"mps[train=40]", "train 40%", "pruned", "gives server no more …"}};
  const auto ans = tune::answer(a, r);
  ASSERT_TRUE(ans.best);
  EXPECT_EQ(*ans.best, "mps[train=30]");
  EXPECT_NE(ans.verdict.find("no control meets them"), std::string::npos) << ans.verdict;
  ASSERT_EQ(ans.rows.size(), 6u);  // the controls, then the search's order (the start, already a control, once)
  EXPECT_EQ(ans.rows[0].mode, "timeslice");
  EXPECT_EQ(ans.rows[5].status, "pruned");
  // The front: the most STP (train=60, late), and more headroom for less STP.
  std::vector<std::string> front;
  for (const auto& row : ans.rows)
    if (row.on_front) front.push_back(row.mode);
  EXPECT_EQ(front, (std::vector<std::string>{"mps[train=30]", "mps[train=60]", "mps[train=20]"}));
  EXPECT_NEAR(*ans.row("mps[train=20]")->headroom, 1 - 11.0 / 14, 1e-12);
  ASSERT_EQ(ans.control_notes.size(), 2u);
  EXPECT_NE(ans.control_notes[0].find("missed server p99 <= 14 ms"), std::string::npos) << ans.control_notes[0];
}

// Tuning judges a configuration by the analysis's SLO verdicts, token ones
// included: a missed TPOT or TTFT objective counts as a missed latency one.
TEST(TuneAnswer, TokenSlosCountInAnOutcome) {
  const auto a = test::llm_server_run().analyze();
  const auto mps = tune::outcome_of(a, "mps", tune::Objective{}, {});
  ASSERT_TRUE(mps.measured) << mps.why_not;
  EXPECT_NEAR(mps.slo_excess.at("llm"), 0.5, 1e-12);  // tpot_p99: 75 ms against 50
  EXPECT_NEAR(tune::outcome_of(a, "timeslice", tune::Objective{}, {}).slo_excess.at("llm"), 0.2, 1e-12);  // ttft_p99: 600 against 500
}

// min-np: the slowest workload's NP decides, not the sum.
TEST(TuneAnswer, MinNpPicksTheFairestThatMeetsEverySlo) {
  auto with_nps = [](const std::string& name, double server_np, double train_np, double p99) {
    auto m = mode(name, server_np + train_np, p99);
    m.workloads[0].np = analysis::estimate({server_np});
    analysis::WorkloadMode t;
    t.workload = "train";
    t.role = spec::Role::training;
    t.np = analysis::estimate({train_np});
    m.workloads.push_back(t);
    return m;
  };
  analysis::Analysis a;
  a.modes = {with_nps("timeslice", 0.9, 0.3, 12), with_nps("mps", 0.6, 0.6, 13), with_nps("mps[train=30]", 0.95, 0.5, 10),
             with_nps("mps[train=90]", 0.55, 0.9, 13.9)};
  tune::TuneRecord r;
  r.objective = tune::parse_objective("min-np", mix());
  r.controls = {"timeslice", "mps"};
  r.trials = {{"mps[train=30]", "", "measured", ""}, {"mps[train=90]", "", "measured", ""}};
  const auto ans = tune::answer(a, r);
  ASSERT_TRUE(ans.best);
  EXPECT_EQ(*ans.best, "mps");  // min 0.6, where STP would pick timeslice's or train=90's
  EXPECT_DOUBLE_EQ(*ans.row("mps[train=90]")->objective, 0.55);
  EXPECT_NE(ans.verdict.find("min-np"), std::string::npos) << ans.verdict;
}

TEST(TuneRecord, RoundTripsThroughJson) {
  tune::SpaceOptions so;
  const auto space = tune::make_space(mix(), so);
  tune::TuneRecord r;
  r.objective = tune::parse_objective("min-np", mix());
  r.budget_s = 1800;
  r.knobs = space.knobs;
  r.controls = {"timeslice", "mps"};
  r.slo_owners = {{"load", "server"}};
  r.trials = {{"mps[train=70]", "server 100%, train 70%", "measured", ""}};
  r.confirmed = {"mps[train=70]"};
  r.stopped_because = "converged";
  r.elapsed_s = 12.5;
  const auto back = tune::TuneRecord::from_json_text(r.to_json_text());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->to_json_text(), r.to_json_text());
  EXPECT_EQ(back->objective.kind, tune::Objective::Kind::min_np);
  EXPECT_EQ(back->knobs.size(), 3u);
  EXPECT_FALSE(tune::TuneRecord::from_json_text(R"({"kind": "other"})"));
  EXPECT_FALSE(tune::TuneRecord::from_json_text("not json"));
}

TEST(EmitMix, TheWinnerAsAMixThatValidatesAndCarriesItsSettings) {
  const auto dir = std::filesystem::temp_directory_path() / ("gpumix-emit-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "sub");
  const auto source = dir / "mix.yaml";
  std::ofstream(source) << kMix << "results_dir: out\n";
  const auto m = spec::load_mix(source);
  const auto text = tune::emit_mix(m, "mps[server=90,train=30,train.priority=1]", "tuned\nby a test");
  EXPECT_EQ(text.rfind("# tuned\n# by a test\n", 0), 0u) << text;
  const auto emitted = dir / "sub" / "tuned.yaml";
  std::ofstream(emitted) << text;
  const auto back = spec::load_mix(emitted);
  EXPECT_EQ(back.modes, (std::vector<std::string>{"exclusive", "mps"}));
  EXPECT_EQ(back.find("server")->mps.sm_percent, 90);
  EXPECT_EQ(back.find("train")->mps.sm_percent, 30);
  EXPECT_EQ(back.find("train")->mps.priority, 1);
  EXPECT_EQ(back.find("train")->mps.pinned_memory_limit, int64_t{8} << 30);  // the mix's own, kept
  EXPECT_EQ(back.results_dir, dir / "out");                                 // still where the source meant
  EXPECT_THROW(tune::emit_mix(m, "mps[", ""), InputError);
  std::filesystem::remove_all(dir);
}

TEST(CandidatePlan, TheWholeGridWhenItFitsElseOneSettingAtATime) {
  tune::SpaceOptions so;
  so.sm_values = {{"server", {50, 100}}, {"train", {20, 60, 100}}};
  const auto small = tune::make_space(mix(), so);  // 2 x 3 x priority 2 = 12 points, one of them a control
  const auto grid = tune::candidate_plan(small, 11);
  EXPECT_EQ(grid.shape, "the whole grid");
  EXPECT_EQ(grid.controls, (std::vector<std::string>{"timeslice", "mps"}));
  EXPECT_EQ(grid.candidates.size(), 11u);
  EXPECT_EQ(std::count(grid.candidates.begin(), grid.candidates.end(), "mps"), 0) << "a control is not a candidate too";
  EXPECT_EQ(grid.modes().front(), "exclusive");
  EXPECT_EQ(grid.modes().size(), 14u);

  // Fewer allowed: every point one setting away from MPS without limits
  // (server 50; train 60, 20; train's priority 1).
  const auto poll = tune::candidate_plan(small, 10);
  EXPECT_EQ(poll.shape, "one setting at a time from MPS without limits");
  EXPECT_EQ(poll.candidates,
            (std::vector<std::string>{"mps[server=50]", "mps[train=60]", "mps[train=20]", "mps[train.priority=1]"}));
  try {
    tune::candidate_plan(small, 3);
    ADD_FAILURE() << "4 candidates do not fit in 3";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--max-candidates 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--sm-step"), std::string::npos) << e.what();
  }
  // A space too large to enumerate is never built: 10 workloads x 100 values.
  std::string big = "name: big\nworkloads:\n";
  for (int i = 0; i < 10; ++i) big += "  - {name: w" + std::to_string(i) + ", command: [/bin/true]}\n";
  tune::SpaceOptions fine;
  fine.sm_step = 1;
  fine.priorities = false;
  EXPECT_EQ(tune::candidate_plan(tune::make_space(spec::parse_mix(big, "/tmp/big.yaml"), fine), 1000).candidates.size(), 990u);
}

TEST(CandidatePlan, TheRecordOfAMeasuredPlanListsItsConfiguredModes) {
  tune::SpaceOptions so;
  so.sm_values = {{"train", {20, 100}}};
  const auto space = tune::make_space(mix(), so);
  const auto record = tune::plan_record(mix(), space, tune::parse_objective("stp", mix()),
                                        {"exclusive", "timeslice", "mps", "mps[train=20]", "mps[train=30]", "mps-split"});
  EXPECT_EQ(record.controls, (std::vector<std::string>{"timeslice", "mps"}));
  ASSERT_EQ(record.trials.size(), 2u) << "neither the baseline, the controls nor another mode (mps-split)";
  EXPECT_EQ(record.trials[0].mode, "mps[train=20]");
  EXPECT_EQ(record.trials[0].settings, "server 100%, train 20%");
  EXPECT_EQ(record.trials[0].status, "measured");
  EXPECT_EQ(record.trials[1].settings, "mps[train=30]") << "outside the space: its name says what it is";
}

TEST(EmitMix, TheCandidatesAsOneMixThatValidates) {
  const auto dir = std::filesystem::temp_directory_path() / ("gpumix-emitc-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "sub");
  const auto source = dir / "mix.yaml";
  std::ofstream(source) << kMix << "results_dir: out\n";
  const auto m = spec::load_mix(source);
  const std::vector<std::string> modes = {"exclusive", "timeslice", "mps", "mps[server=50,train.priority=1]"};
  const auto emitted = dir / "sub" / "candidates.yaml";
  std::ofstream(emitted) << tune::emit_modes(m, modes, "candidates");
  const auto back = spec::load_mix(emitted);
  EXPECT_EQ(back.modes, modes);
  EXPECT_FALSE(back.find("server")->mps.sm_percent) << "the settings stay in the modes' names";
  EXPECT_EQ(back.results_dir, dir / "out");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gpumix
