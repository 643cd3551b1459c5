// The measured window, evidence gates, steadiness, completion jobs, the
// recommendation's refusals and `repeats: auto`'s decision (issue 12), on
// hand-made runs with exactly known figures.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <tuple>

#include "gpumix/analysis/recommend.hpp"
#include "gpumix/run/exit_status.hpp"
#include "fixtures/temp_dir.hpp"
#include "run_builder.hpp"

namespace gpumix::analysis {
namespace {

using test::kSecond;
using test::RunBuilder;

const WorkloadCell& in_cell(const Analysis& a, const std::string& cell, const std::string& name) {
  const auto* c = a.cell(cell);
  EXPECT_NE(c, nullptr) << cell;
  for (const auto& w : c->workloads)
    if (w.summary.name == name) return w;
  throw std::out_of_range(cell + "/" + name);
}

bool any_contains(const std::vector<std::string>& v, const std::string& part) {
  for (const auto& s : v)
    if (s.find(part) != std::string::npos) return true;
  return false;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += s + " | ";
  return out;
}

// One trainer alone and under two modes, every cell with a 5 s warm-up and a
// 10 s window; rates per cell given (samples/s in the window).
RunBuilder two_modes(double alone, const std::vector<double>& ts, const std::vector<double>& mps) {
  RunBuilder b({"exclusive", "timeslice", "mps"}, static_cast<int>(ts.size()), {"train"});
  auto add = [&](const std::string& label, const std::string& mode, int repeat, double rate) {
    const auto c = b.cell(label, mode, repeat);
    const auto w = b.workload(c, "train");
    b.window(c, 5, 10);
    b.steps(w, rate / 5, 5, rate);  // warm-up steps end exactly at the window's start
  };
  add("baseline-train", "exclusive", 0, alone);
  for (size_t r = 0; r < ts.size(); ++r) {
    add("timeslice-r" + std::to_string(r + 1), "timeslice", static_cast<int>(r + 1), ts[r]);
    add("mps-r" + std::to_string(r + 1), "mps", static_cast<int>(r + 1), mps[r]);
  }
  return b;
}

TEST(Window, OnlyTheWindowCountsAndItsEdgesAreCutInProportion) {
  // Warm-up at a fifth of the rate for 5 s, then 100 samples/s: over the
  // window the rate is exactly 100, whatever came before.
  auto a = two_modes(100, {50}, {80}).analyze();
  const auto& base = in_cell(a, "baseline-train", "train").summary;
  EXPECT_TRUE(base.windowed);
  EXPECT_NEAR(*base.window_s, 10.0, 1e-9);
  EXPECT_NEAR(*base.throughput, 100.0, 1e-6);
  EXPECT_EQ(base.iterations, 100);  // 10 s × 100/s ÷ 10 per step, none from the warm-up
  EXPECT_GT(base.iterations_total, base.iterations);
  EXPECT_NEAR(*in_cell(a, "timeslice-r1", "train").np, 0.5, 1e-6);
  EXPECT_NEAR(*in_cell(a, "mps-r1", "train").np, 0.8, 1e-6);
  EXPECT_NEAR(*a.cell("mps-r1")->window_s, 10.0, 1e-9);
  EXPECT_NEAR(*a.cell("mps-r1")->warmup_s, 5.0, 1e-9);
  EXPECT_TRUE(base.throughput_gate.empty());
  EXPECT_TRUE(in_cell(a, "mps-r1", "train").unsteady.empty());
}

TEST(Window, AStepAcrossTheWindowsEdgeCountsByItsShareOfTime) {
  RunBuilder b({"exclusive"}, 1, {"train"});
  const auto c = b.cell("baseline-train", "exclusive", 0);
  const auto w = b.workload(c, "train");
  b.window(c, 5, 10);
  const auto& cell = b.cell_of(c);
  // Steps of 100 samples ending 0.5 s before the window, 0.5 s into it, then each second.
  for (int i = -1; i <= 11; ++i) b.event(w, cell.window_start_ns + i * kSecond + kSecond / 2, "iter", 100, 1000);
  const auto s = b.analyze().cells[0].workloads[0].summary;
  // The step ending at +0.5 s counts half; the one ending at +10.5 s counts half.
  EXPECT_NEAR(*s.throughput, 100.0, 1e-6);
}

TEST(Window, TooFewIterationsGiveInsufficientDataNotAnNp) {
  // 20 samples/s in steps of 10: 20 iterations in a 10 s window (needs 30).
  auto b = two_modes(100, {20}, {80});
  auto a = b.analyze();
  const auto& ts = in_cell(a, "timeslice-r1", "train");
  EXPECT_FALSE(ts.np);
  EXPECT_NE(ts.np_missing.find("insufficient data: 20 iteration(s) in the window, needs 30"), std::string::npos) << ts.np_missing;
  ASSERT_FALSE(a.mode("timeslice")->disqualifications.empty());
  const auto r = recommend(a);
  EXPECT_EQ(r.mode, "mps");
  for (const auto& v : r.verdicts)
    if (v.mode == "timeslice") {
      EXPECT_EQ(v.state, VerdictState::rejected);
      EXPECT_TRUE(any_contains(v.reasons, "insufficient data")) << joined(v.reasons);
    }
}

// Events the collector dropped (a workload sending more than it keeps per
// second) make the window's counts short: the throughput is withheld with
// the reason, never used for an NP (issue 15).
TEST(Window, DroppedEventsInTheWindowWithholdTheThroughputWithTheReason) {
  // two_modes makes cell 2 timeslice-r1, whose trainer is workload 101.
  const auto with_drop_at = [](int64_t offset_ns) {
    auto b = two_modes(100, {50}, {80});
    EXPECT_EQ(b.cell_of(2).label, "timeslice-r1");
    EXPECT_EQ(b.workload_row(101).cell_id, 2);
    b.event(101, b.cell_of(2).window_start_ns + offset_ns, "dropped", 4000);
    return b.analyze();
  };
  const auto a = with_drop_at(2 * kSecond);
  const auto& ts = in_cell(a, "timeslice-r1", "train");
  EXPECT_EQ(ts.summary.dropped_events, 4000);
  EXPECT_FALSE(ts.np);
  EXPECT_NE(ts.np_missing.find("4000 event(s) dropped in the window"), std::string::npos) << ts.np_missing;
  // A drop in the warm-up, before the window, changes nothing.
  EXPECT_NEAR(*in_cell(with_drop_at(-kSecond), "timeslice-r1", "train").np, 0.5, 1e-6);
}

TEST(Window, GatesAreTheMixs) {
  auto b = two_modes(100, {20}, {80});
  b.plan_field("evidence", {{"min_iterations", 20}, {"min_tail_requests", 1}, {"max_drift", 0.1}});
  EXPECT_NEAR(*in_cell(b.analyze(), "timeslice-r1", "train").np, 0.2, 1e-6);
  spec::EvidenceGates g;
  EXPECT_EQ(g.requests_for(99), 100);
  EXPECT_EQ(g.requests_for(99.9), 1000);
  EXPECT_EQ(g.requests_for(95), 20);
  EXPECT_EQ(g.requests_for(50), 2);
}

TEST(Window, NoProgressInTheWindowIsNpZeroAndNeverRecommended) {
  RunBuilder b({"exclusive", "timeslice"}, 1, {"train", "infer"});
  for (const auto& name : {"train", "infer"}) {
    const auto c = b.cell("baseline-" + std::string(name), "exclusive", 0);
    const auto w = b.workload(c, name);
    b.window(c, 5, 10);
    b.steps(w, 25, 5, 100);
  }
  const auto c = b.cell("timeslice-r1", "timeslice", 1);
  const auto train = b.workload(c, "train");
  const auto infer = b.workload(c, "infer");
  b.window(c, 5, 10);
  b.steps(infer, 25, 5, 190);  // infer alone would make STP 1.9
  (void)train;                  // the trainer says nothing at all
  auto a = b.analyze();
  const auto& t = in_cell(a, "timeslice-r1", "train");
  EXPECT_EQ(*t.np, 0.0);
  EXPECT_TRUE(t.no_progress);
  const auto r = recommend(a);
  EXPECT_FALSE(r.mode);
  ASSERT_EQ(r.verdicts.size(), 1u);
  EXPECT_TRUE(any_contains(r.verdicts[0].reasons, "train made no progress in timeslice-r1")) << joined(r.verdicts[0].reasons);
  EXPECT_NE(r.headline.find("No mode"), std::string::npos) << r.headline;
}

TEST(Window, NotReadyIsAFailureThatRejectsItsMode) {
  auto b = two_modes(100, {50}, {80});
  const auto& mps = b.input().workloads.back();
  b.set_status(mps.id, "not_ready");
  const auto r = recommend(b.analyze());
  EXPECT_EQ(r.mode, "timeslice");
  for (const auto& v : r.verdicts) {
    if (v.mode == "mps") {
      EXPECT_TRUE(any_contains(v.reasons, "not_ready")) << joined(v.reasons);
    }
  }
}

TEST(Window, PercentilesNeedEnoughRequestsAndAnUncheckedSloRejects) {
  RunBuilder b({"exclusive", "timeslice"}, 1, {"server"});
  const auto base = b.cell("baseline-server", "exclusive", 0);
  const auto w0 = b.workload(base, "server", "ok", RunBuilder::slo(99, 50));
  b.window(base, 2, 10);
  b.window_latencies(w0, 500, 10, 0.019);
  const auto shared = b.cell("timeslice-r1", "timeslice", 1);
  const auto w1 = b.workload(shared, "server", "ok", RunBuilder::slo(99, 50));
  b.window(shared, 2, 10);
  b.window_latencies(w1, 60, 20, 0.15);  // 60 requests: enough for a mean, not for a p99
  auto a = b.analyze();
  const auto& s = in_cell(a, "timeslice-r1", "server").summary;
  EXPECT_FALSE(s.latency_p99);
  EXPECT_TRUE(s.latency_p95);
  EXPECT_TRUE(any_contains(s.percentile_gates, "p99: 60 request(s) in the window, needs 100")) << joined(s.percentile_gates);
  EXPECT_NEAR(*in_cell(a, "timeslice-r1", "server").np, 0.5, 1e-9);  // NP by mean latency
  EXPECT_TRUE(in_cell(a, "baseline-server", "server").summary.latency_p99);
  const auto r = recommend(a);
  EXPECT_FALSE(r.mode);
  EXPECT_TRUE(any_contains(r.verdicts[0].reasons, "unchecked")) << joined(r.verdicts[0].reasons);
}

TEST(Window, ARateThatDriftsIsFlaggedWithItsFigures) {
  RunBuilder b({"exclusive"}, 1, {"train"});
  const auto c = b.cell("baseline-train", "exclusive", 0);
  const auto w = b.workload(c, "train");
  b.window(c, 5, 10);
  // 100/s through the first half of the window, 150/s after.
  b.steps(w, 20, 5, 100);
  auto& events = b.input().events;
  const int64_t mid = b.cell_of(c).window_start_ns + 5 * kSecond;
  events.erase(std::remove_if(events.begin(), events.end(), [&](const auto& e) { return e.t_ns > mid; }), events.end());
  for (int64_t t = mid; t + kSecond / 15 <= b.cell_of(c).window_end_ns + kSecond / 2;) {
    t += kSecond / 15;
    b.event(w, t, "iter", 10, 66.7);
  }
  auto a = b.analyze();
  const auto& wc = in_cell(a, "baseline-train", "train");
  EXPECT_NEAR(*wc.summary.drift, 0.5, 0.02);
  EXPECT_NE(wc.unsteady.find("rate +50% from the first half of the window to the second"), std::string::npos) << wc.unsteady;
  EXPECT_TRUE(any_contains(a.missing_texts(), "was not steady")) << joined(a.missing_texts());
}

TEST(Window, ACompletionJobIsMeasuredByItsCompletionTime) {
  RunBuilder b({"exclusive", "timeslice"}, 1, {"job"});
  b.plan_workload("job", "stop", "completion");
  const auto alone = b.cell("baseline-job", "exclusive", 0);
  const auto w0 = b.workload(alone, "job");
  b.window(alone, 5, 10);
  b.set_ended(w0, b.cell_of(alone).window_start_ns + 4 * kSecond);
  const auto shared = b.cell("timeslice-r1", "timeslice", 1);
  const auto w1 = b.workload(shared, "job");
  b.window(shared, 5, 10);
  b.set_ended(w1, b.cell_of(shared).window_start_ns + 8 * kSecond);
  auto a = b.analyze();
  const auto& j = in_cell(a, "timeslice-r1", "job");
  EXPECT_EQ(j.np_basis, "completion");
  EXPECT_NEAR(*j.summary.jct_s, 8.0, 1e-9);
  EXPECT_NEAR(*j.np, 0.5, 1e-9);
  EXPECT_NEAR(*a.mode("timeslice")->workload("job")->jct_s.mean, 8.0, 1e-9);
}

// The job's work ends at its last iteration (for `iterations: N`, its N-th in
// the window); the process's exit after that (teardown, a stop's grace) is no
// part of its completion time.
TEST(Window, CompletionTimeEndsWithTheWorkNotTheProcess) {
  for (const bool iterations : {false, true}) {
    RunBuilder b({"exclusive", "timeslice"}, 1, {"job"});
    b.plan_workload("job", "stop", iterations ? "iterations" : "completion");
    if (iterations) b.plan_workload("job", "stop_iterations", 4);
    const auto c = b.cell("baseline-job", "exclusive", 0);
    const auto w = b.workload(c, "job");
    b.window(c, 5, 10);
    const int64_t open = b.cell_of(c).window_start_ns;
    b.event(w, open - kSecond, "iter", 1, 10.0);  // warm-up: not part of the job's time
    for (int i = 1; i <= 5; ++i) b.event(w, open + i * kSecond, "iter", 1, 10.0);
    b.set_ended(w, open + 9 * kSecond);  // 4 s of teardown after the last iteration
    auto a = b.analyze();
    EXPECT_NEAR(*in_cell(a, "baseline-job", "job").summary.jct_s, iterations ? 4.0 : 5.0, 1e-9) << iterations;
  }
}

TEST(Window, ModesTheEvidenceCannotSeparateAreBothNamedAndNeitherChosen) {
  // Paired by repeat, timeslice − mps alternates in sign: no winner.
  auto a = two_modes(100, {50, 60, 55}, {52, 58, 57}).analyze();
  const auto r = recommend(a);
  EXPECT_FALSE(r.mode);
  EXPECT_EQ(r.undecided.size(), 2u);
  EXPECT_NE(r.headline.find("No significant difference between"), std::string::npos) << r.headline;
  EXPECT_NE(r.settle.find("repeats"), std::string::npos) << r.settle;
  const auto d = decide_repeats(a, r, 0.01);
  EXPECT_FALSE(d.stop) << d.reason;
}

TEST(Window, RepeatsAutoStopsOnAClearDifferenceOnPrecisionAndWithOneMode) {
  // Paired: mps leads by 30 ± 1 every repeat.
  auto clear = two_modes(100, {50, 52}, {80, 83}).analyze();
  const auto rc = recommend(clear);
  EXPECT_EQ(rc.mode, "mps");
  const auto dc = decide_repeats(clear, rc, 0.05);
  EXPECT_TRUE(dc.stop);
  EXPECT_NE(dc.reason.find("mps's STP exceeds timeslice's"), std::string::npos) << dc.reason;

  // Alike and precise: both within ±5 %, no difference.
  auto alike = two_modes(1000, {500, 510, 500}, {510, 500, 510}).analyze();
  const auto da = decide_repeats(alike, recommend(alike), 0.05);
  EXPECT_TRUE(da.stop) << recommend(alike).headline;
  EXPECT_NE(da.reason.find("within ±5%"), std::string::npos) << da.reason;

  RunBuilder one({"exclusive", "timeslice"}, 1, {"train"});
  for (const auto& [label, mode, rate] : {std::tuple{"baseline-train", "exclusive", 100.0}, {"timeslice-r1", "timeslice", 50.0}}) {
    const auto c = one.cell(label, mode, mode == std::string("exclusive") ? 0 : 1);
    one.window(c, 1, 10);
    one.steps(one.workload(c, "train"), 100, 0, rate);
  }
  auto single = one.analyze();
  const auto ds = decide_repeats(single, recommend(single), 0.05);
  EXPECT_TRUE(ds.stop);
  EXPECT_NE(ds.reason.find("only timeslice is eligible"), std::string::npos) << ds.reason;
}

}  // namespace
}  // namespace gpumix::analysis

namespace gpumix::run {
namespace {

using S = store::WorkloadStatus;

// How a workload's end becomes its status: the whole table.
TEST(ExitStatus, Table) {
  struct Row {
    StopCause cause;
    bool killed;
    std::optional<int> exit_code;
    std::optional<int> signal;
    spec::StopKind stop;
    S expected;
  };
  const int term = 128 + 15;
  const Row rows[] = {
      {StopCause::none, false, 0, {}, spec::StopKind::completion, S::ok},
      {StopCause::none, false, 0, {}, spec::StopKind::duration, S::early_exit},
      {StopCause::none, false, 0, {}, spec::StopKind::iterations, S::early_exit},
      {StopCause::none, false, 3, {}, spec::StopKind::duration, S::failed},
      {StopCause::none, false, {}, 11, spec::StopKind::duration, S::crashed},
      {StopCause::planned, false, 0, {}, spec::StopKind::iterations, S::ok},
      {StopCause::planned, false, {}, 15, spec::StopKind::duration, S::ok},
      {StopCause::planned, false, term, {}, spec::StopKind::duration, S::ok},
      {StopCause::planned, false, 1, {}, spec::StopKind::duration, S::failed},
      {StopCause::planned, true, {}, 9, spec::StopKind::duration, S::killed},
      {StopCause::window_end, false, 0, {}, spec::StopKind::duration, S::ok},
      {StopCause::window_end, false, 0, {}, spec::StopKind::completion, S::stopped},
      {StopCause::window_end, false, 0, {}, spec::StopKind::iterations, S::stopped},
      {StopCause::window_end, false, 2, {}, spec::StopKind::duration, S::failed},
      {StopCause::window_end, true, {}, 9, spec::StopKind::completion, S::killed},
      {StopCause::timeout, false, {}, 15, spec::StopKind::duration, S::timeout},
      {StopCause::timeout, true, {}, 9, spec::StopKind::duration, S::timeout},
      {StopCause::not_ready, false, {}, 15, spec::StopKind::duration, S::not_ready},
      {StopCause::not_ready, true, {}, 9, spec::StopKind::duration, S::not_ready},
      {StopCause::warmup_failed, false, 0, {}, spec::StopKind::duration, S::stopped},
      {StopCause::warmup_failed, false, 4, {}, spec::StopKind::duration, S::failed},
      {StopCause::interrupted, false, 0, {}, spec::StopKind::duration, S::interrupted},
      {StopCause::interrupted, true, {}, 9, spec::StopKind::duration, S::interrupted},
  };
  int i = 0;
  for (const auto& r : rows) {
    ExitFacts f;
    f.cause = r.cause;
    f.killed = r.killed;
    f.exit_code = r.exit_code;
    f.signal = r.signal;
    f.stop_kind = r.stop;
    f.how = "how";
    f.stop_grace = "5s";
    f.setup_timeout = "1m";
    f.timeout = "2s";
    f.window = "20s";
    const auto d = decide_status(f);
    EXPECT_EQ(store::to_string(d.status), std::string(store::to_string(r.expected))) << "row " << i;
    EXPECT_EQ(store::is_success(d.status), d.reason.empty() || d.status == S::stopped) << "row " << i << ": " << d.reason;
    ++i;
  }
}

TEST(ExitStatus, TheFailureLineIsReadFromTheOutputsTailOnly) {
  test::TempDir dir("exit-status");
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name, std::ios::binary) << text;
    return dir / name;
  };
  EXPECT_EQ(last_output_line(write("plain", "first\nthe reason\n\n\r\n")), "the reason");
  EXPECT_EQ(last_output_line(write("no-newline", "only line")), "only line");
  EXPECT_EQ(last_output_line(write("empty", "")), "");
  EXPECT_EQ(last_output_line(dir / "missing"), "");
  EXPECT_EQ(last_output_line(write("long", "a\n" + std::string(1000, 'l'))), std::string(300, 'l') + "...");

  // A line longer than the tail: its end, marked as cut (the file is 8 MiB,
  // what is read stays kOutputTailBytes).
  std::string huge(8 << 20, 'h');
  huge.replace(huge.size() - 3, 3, "END");
  const auto line = last_output_line(write("huge", "earlier line\n" + huge));
  EXPECT_EQ(line, "..." + std::string(297, 'h') + "END [cut: line longer than 65536 bytes]");
}

}  // namespace
}  // namespace gpumix::run
