// MPS requested vs delivered, the client-priority pairs and the tuning
// section, in the analysis and in every report format, on hand-made runs
// (run_builder.hpp) with exactly known figures.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>


#include "gpumix/analysis/mps_shares.hpp"
#include "gpumix/analysis/recommend.hpp"
#include "gpumix/report/html_report.hpp"
#include "gpumix/report/json_report.hpp"
#include "gpumix/report/text_report.hpp"
#include "gpumix/tune/record.hpp"
#include "run_builder.hpp"

namespace gpumix {
namespace {

using test::RunBuilder;

const std::string kSlo = RunBuilder::slo(99, 10);

struct Ids {
  int64_t cell, train, server;
};

// train at `train_rate` samples/s (alone: 100), server 100 requests of `server_ms` (alone: 2 ms).
Ids shared(RunBuilder& b, const std::string& label, const std::string& mode, double train_rate, double server_ms) {
  const auto c = b.cell(label, mode, 1);
  const auto train = b.workload(c, "train");
  b.throughput(train, train_rate);
  const auto server = b.workload(c, "server", "ok", kSlo);
  b.set_role(server, spec::Role::server);
  b.latencies(server, std::vector<double>(100, server_ms));
  return {c, train, server};
}

RunBuilder with_baselines(std::vector<std::string> modes) {
  modes.insert(modes.begin(), "exclusive");
  RunBuilder b(modes, 1, {"train", "server"});
  b.plan_workload("server", "role", "server");
  auto c = b.cell("baseline-train", "exclusive", 0);
  b.throughput(b.workload(c, "train"), 100);
  c = b.cell("baseline-server", "exclusive", 0);
  const auto s = b.workload(c, "server", "ok", kSlo);
  b.set_role(s, spec::Role::server);
  b.latencies(s, std::vector<double>(100, 2.0));
  return b;
}

// Train asks for 60 % itself; server sets no share but pins 2 GB.
RunBuilder shares_run() {
  RunBuilder b = with_baselines({"mps", "mps[train=30]", "mps-split"});
  b.plan_workload("train", "mps", {{"sm_percent", 60}});
  b.plan_workload("server", "mps", {{"pinned_memory_limit_bytes", 2'000'000'000}});
  // mps: NVML per-process figures, 40 % + 40 % of a GPU busy 80 % of the time; server under its limit.
  const auto m = shared(b, "mps-r1", "mps", 50, 4);
  for (int i = 0; i < 3; ++i) {
    b.gpu_sample(m.cell, i * 0.5, 80, 1000 + i * 500);
    b.process_sample(m.cell, i * 0.5, 11, m.train, 40, 1e9);
    b.process_sample(m.cell, i * 0.5, 12, m.server, 40, 1.5e9);
  }
  // mps[train=30]: memory only (no SM figures): nothing delivered to show; server above its limit.
  const auto v = shared(b, "mps-c2-r1", "mps[train=30]", 30, 3);
  for (int i = 0; i < 3; ++i) b.process_sample(v.cell, i * 0.5, 13, v.server, std::nullopt, 3e9);
  // mps-split: the split its evidence recorded.
  const auto s = shared(b, "mps-split-r1", "mps-split", 25, 5);
  b.input().cells.at(static_cast<size_t>(s.cell - 1)).evidence_json = R"({"split_percentages":{"server":75,"train":25}})";
  return b;
}

const analysis::MpsShareCell& row(const analysis::MpsShares& s, const std::string& cell, const std::string& workload) {
  for (const auto& r : s.cells)
    if (r.cell == cell && r.workload == workload) return r;
  throw std::out_of_range(cell + " " + workload);
}

TEST(MpsShares, RequestedFromTheModeTheWorkloadTheSplitOrNone) {
  auto b = shares_run();
  const auto s = analysis::mps_shares(b.analyze());
  ASSERT_EQ(s.cells.size(), 6u) << "two workloads in each of the three MPS cells, none from the baselines";
  EXPECT_EQ(*row(s, "mps-r1", "train").requested_sm_percent, 60);
  EXPECT_EQ(row(s, "mps-r1", "train").requested_from, analysis::ShareSource::workload);
  EXPECT_EQ(*row(s, "mps-r1", "server").requested_sm_percent, 100);
  EXPECT_EQ(row(s, "mps-r1", "server").requested_from, analysis::ShareSource::none);
  EXPECT_EQ(*row(s, "mps-c2-r1", "train").requested_sm_percent, 30);
  EXPECT_EQ(row(s, "mps-c2-r1", "train").requested_from, analysis::ShareSource::mode);
  // Under mps-split the split replaces the workload's own 60 % (modes/mps.cpp does the same).
  EXPECT_EQ(*row(s, "mps-split-r1", "train").requested_sm_percent, 25);
  EXPECT_EQ(row(s, "mps-split-r1", "train").requested_from, analysis::ShareSource::split);
  EXPECT_EQ(*row(s, "mps-split-r1", "server").requested_sm_percent, 75);

  // An mps-split cell without its evidence: the share is not known, not guessed.
  b.input().cells.back().evidence_json = "{}";
  const auto unknown = analysis::mps_shares(b.analyze());
  EXPECT_FALSE(row(unknown, "mps-split-r1", "train").requested_sm_percent);
  EXPECT_EQ(row(unknown, "mps-split-r1", "train").requested_from, analysis::ShareSource::unknown);
}

TEST(MpsShares, DeliveredFromNvmlOrNullAndMemoryAgainstThePinnedLimit) {
  const auto s = analysis::mps_shares(shares_run().analyze());
  const auto& train = row(s, "mps-r1", "train");
  ASSERT_TRUE(train.delivered_sm_percent);
  EXPECT_NEAR(*train.delivered_sm_percent, 40, 1e-9);
  EXPECT_FALSE(train.scaled) << "40 + 40 < 100: nothing to scale";
  EXPECT_NEAR(*train.np, 0.5, 1e-9);
  EXPECT_EQ(train.memory, "") << "no pinned limit to compare with";
  EXPECT_EQ(row(s, "mps-r1", "server").memory, "within");
  EXPECT_EQ(*row(s, "mps-r1", "server").pinned_limit_bytes, 2'000'000'000);

  const auto& bare = row(s, "mps-c2-r1", "train");
  EXPECT_FALSE(bare.delivered_sm_percent);
  EXPECT_NE(bare.delivered_missing.find("NVML gave no per-process SM utilization"), std::string::npos) << bare.delivered_missing;
  EXPECT_EQ(row(s, "mps-c2-r1", "server").memory, "above");

  // The per-mode aggregate: one row per workload per MPS mode.
  ASSERT_EQ(s.modes.size(), 6u);
  EXPECT_EQ(s.modes[0].mode, "mps");
  EXPECT_NEAR(*s.modes[0].delivered_sm_percent.mean, 40, 1e-9);
  EXPECT_EQ(s.modes[3].mode, "mps[train=30]");
  EXPECT_EQ(s.modes[3].memory_above, 1);
  EXPECT_FALSE(s.modes[2].delivered_sm_percent.mean);
}

TEST(MpsShares, AFailedWorkloadShowsWhyNotTheShareOfItsFirstSeconds) {
  // As on the H200 at mps[infer=25]: a fault under MPS ends every client,
  // after they had measured a few seconds.
  RunBuilder b = with_baselines({"mps[train=25]"});
  const auto c = b.cell("mps-c1-r1", "mps[train=25]", 1, "degraded");
  const auto train = b.workload(c, "train", "failed", "[]", "exit status 1: CUDA error: unspecified launch failure\nmore");
  b.throughput(train, 14);
  b.process_sample(c, 0.5, 11, train, 30, 1e9);
  const auto server = b.workload(c, "server", "ok", kSlo);
  b.set_role(server, spec::Role::server);
  b.latencies(server, std::vector<double>(100, 4.0));
  const auto s = analysis::mps_shares(b.analyze());
  const auto& failed = row(s, "mps-c1-r1", "train");
  EXPECT_FALSE(failed.np) << "not the NP of the seconds before the failure";
  EXPECT_FALSE(failed.delivered_sm_percent);
  EXPECT_EQ(failed.delivered_missing, "failed in this cell: exit status 1: CUDA error: unspecified launch failure");
  EXPECT_EQ(*failed.requested_sm_percent, 25);
  ASSERT_TRUE(row(s, "mps-c1-r1", "server").np) << "the neighbour that did not fail keeps its figures";
  for (const auto& m : s.modes) {
    if (m.workload == "train") EXPECT_FALSE(m.np.mean) << "the mode's mean has no NP of a failed workload";
  }
}

TEST(MpsShares, NoneWithoutAnMpsCell) {
  RunBuilder b = with_baselines({"timeslice"});
  shared(b, "timeslice-r1", "timeslice", 50, 4);
  const auto a = b.analyze();
  EXPECT_TRUE(analysis::mps_shares(a).empty());
  EXPECT_TRUE(analysis::priority_effects(a).empty());
  const auto doc = report::analysis_json(a, analysis::recommend(a));
  EXPECT_FALSE(doc.contains("mps_shares"));
  EXPECT_FALSE(doc.contains("mps_priority"));
  EXPECT_FALSE(doc.contains("tune"));
  std::ostringstream text, html;
  report::write_text_report(text, a, analysis::recommend(a), report::DocFormat::text);
  report::write_html_report(html, b.input(), a, analysis::recommend(a));
  EXPECT_EQ(text.str().find("MPS:"), std::string::npos);
  EXPECT_EQ(text.str().find("TUNING"), std::string::npos);
  EXPECT_EQ(html.str().find("id=\"mps-shares\""), std::string::npos);
  EXPECT_EQ(html.str().find("id=\"tune\""), std::string::npos);
  EXPECT_EQ(html.str().find("href=\"#mps-shares\""), std::string::npos);
  EXPECT_EQ(html.str().find("href=\"#tune\""), std::string::npos);
}

// Train's own priority is 1: mps and mps[train.priority=1] are the same
// settings, mps[train.priority=0] is each one's true pair, and mps[train=30]
// differs in its share as well, so it pairs with none.
RunBuilder priority_run() {
  RunBuilder b = with_baselines({"mps", "mps[train.priority=1]", "mps[train.priority=0]", "mps[train=30]"});
  b.plan_workload("train", "mps", {{"priority", 1}});
  shared(b, "mps-r1", "mps", 40, 3);
  shared(b, "mps-c2-r1", "mps[train.priority=1]", 42, 3.5);
  shared(b, "mps-c3-r1", "mps[train.priority=0]", 60, 12);  // server misses its SLO without the lower priority
  shared(b, "mps-c4-r1", "mps[train=30]", 30, 2.5);
  return b;
}

TEST(MpsPriority, OnlyModesThatDifferInEffectivePrioritiesPair) {
  const auto effects = analysis::priority_effects(priority_run().analyze());
  ASSERT_EQ(effects.size(), 2u);
  for (const auto& e : effects) {
    EXPECT_EQ(e.mode_without, "mps[train.priority=0]");
    EXPECT_EQ(e.workload, "server");
    EXPECT_EQ(e.lowered, std::vector<std::string>{"train"});
    EXPECT_EQ(e.verdict_without, "missed");
    EXPECT_EQ(e.verdict_with, "met");
    EXPECT_NEAR(*e.p99_without_ms, 12, 1e-9);
    EXPECT_NEAR(*e.neighbours_np_without, 0.6, 1e-6);  // the builder's steps fall on whole nanoseconds
  }
  EXPECT_EQ(effects[0].mode_with, "mps");
  EXPECT_NEAR(*effects[0].p99_with_ms, 3, 1e-9);
  EXPECT_NEAR(*effects[0].neighbours_np_with, 0.4, 1e-6);
  EXPECT_EQ(effects[1].mode_with, "mps[train.priority=1]");
}

TEST(MpsPriority, TheSlosOwnPriorityIsNotItsNeighbours) {
  RunBuilder b = with_baselines({"mps", "mps[server.priority=1]"});
  shared(b, "mps-r1", "mps", 40, 3);
  shared(b, "mps-c2-r1", "mps[server.priority=1]", 60, 8);
  EXPECT_TRUE(analysis::priority_effects(b.analyze()).empty());
}

TEST(MpsReport, EveryFormatShowsTheSharesAndThePriorityTable) {
  auto b = shares_run();
  const auto a = b.analyze();
  const auto rec = analysis::recommend(a);
  const auto doc = nlohmann::json::parse(report::dump_report(report::analysis_json(a, rec)));
  ASSERT_TRUE(doc.contains("mps_shares"));
  const auto& cells = doc["mps_shares"]["cells"];
  ASSERT_EQ(cells.size(), 6u);
  EXPECT_EQ(cells[0]["cell"], "mps-r1");
  EXPECT_TRUE(cells[0]["requested_sm_pct"].is_number());
  EXPECT_TRUE(cells[0]["delivered_sm_pct"].is_number());
  EXPECT_TRUE(cells[0]["np"].is_number());
  EXPECT_TRUE(cells[0]["scaled"].is_boolean());
  EXPECT_EQ(cells[0]["requested_from"], "workload");
  EXPECT_TRUE(cells[2]["delivered_sm_pct"].is_null());
  EXPECT_TRUE(cells[2]["note"].is_string());
  EXPECT_TRUE(doc["mps_shares"]["modes"][0]["cells"].is_number_integer());
  EXPECT_FALSE(doc.contains("mps_priority")) << "no pair differs only in priorities";

  std::ostringstream text, md, html;
  report::write_text_report(text, a, rec, report::DocFormat::text);
  report::write_text_report(md, a, rec, report::DocFormat::markdown);
  report::write_html_report(html, b.input(), a, rec);
  EXPECT_NE(text.str().find("== MPS: requested vs delivered =="), std::string::npos);
  EXPECT_NE(md.str().find("## MPS: requested vs delivered\n"), std::string::npos);
  EXPECT_NE(html.str().find("<section id=\"mps-shares\">"), std::string::npos);
  EXPECT_EQ(html.str().find("<section id=\"mps-priority\">"), std::string::npos);
  const std::string open = "<script type=\"application/json\" id=\"gpumix-specs\">";
  const auto at = html.str().find(open);
  ASSERT_NE(at, std::string::npos);
  const auto specs = nlohmann::json::parse(html.str().substr(at + open.size(), html.str().find("</script>", at) - at - open.size()));
  ASSERT_TRUE(specs.contains("mps-shares"));
  const auto& chart = specs["mps-shares"];
  EXPECT_EQ(chart["layer"][0]["mark"]["type"], "line") << "the y = x reference";
  EXPECT_EQ(chart["layer"][2]["encoding"]["text"]["field"], "workload") << "points labelled by workload";
  EXPECT_NE(html.str().find("id=\"chart-mps-shares\""), std::string::npos);
  EXPECT_NE(html.str().find("<a href=\"#mps-shares\">MPS shares</a>"), std::string::npos);

  auto p = priority_run();
  const auto pa = p.analyze();
  const auto pdoc = report::analysis_json(pa, analysis::recommend(pa));
  ASSERT_TRUE(pdoc.contains("mps_priority"));
  EXPECT_EQ(pdoc["mps_priority"].size(), 2u);
  EXPECT_TRUE(pdoc["mps_priority"][0]["p99_with_ms"].is_number());
  EXPECT_EQ(pdoc["mps_priority"][0]["slo_without"], "missed");
  std::ostringstream ptext;
  report::write_text_report(ptext, pa, analysis::recommend(pa), report::DocFormat::text);
  EXPECT_NE(ptext.str().find("== MPS client priority: what it did =="), std::string::npos);
}

// A tuning run: its plan carries the search's record.
RunBuilder tuning_run() {
  RunBuilder b = with_baselines({"timeslice", "mps", "mps[train=30]"});
  shared(b, "timeslice-r1", "timeslice", 50, 12);   // misses the SLO
  shared(b, "mps-r1", "mps", 80, 11);               // misses it too
  shared(b, "mps-c3-r1", "mps[train=30]", 40, 4);  // meets it
  tune::TuneRecord r;
  r.controls = {"timeslice", "mps"};
  r.trials = {{"mps", "", "measured", ""}, {"mps[train=30]", "train 30%", "measured", ""}};
  r.stopped_because = "converged";
  b.plan_field("search", nlohmann::json::parse(r.to_json_text()));
  return b;
}

TEST(TuneReport, ATuningRunHasItsSectionInEveryFormat) {
  auto b = tuning_run();
  const auto a = b.analyze();
  const auto rec = analysis::recommend(a);
  const auto doc = nlohmann::json::parse(report::dump_report(report::analysis_json(a, rec)));
  ASSERT_TRUE(doc.contains("tune"));
  EXPECT_EQ(doc["tune"]["best"], "mps[train=30]");
  EXPECT_EQ(doc["tune"]["stopped_because"], "converged");
  ASSERT_EQ(doc["tune"]["candidates"].size(), 3u);
  EXPECT_TRUE(doc["tune"]["candidates"][0]["stp"].is_number());
  EXPECT_TRUE(doc["tune"]["candidates"][0]["headroom_pct"].is_number());
  EXPECT_TRUE(doc["tune"]["candidates"][0]["meets_slos"].is_boolean());
  EXPECT_TRUE(doc["tune"]["versus_recommendation"].is_string());

  std::ostringstream text, md, html;
  report::write_text_report(text, a, rec, report::DocFormat::text);
  report::write_text_report(md, a, rec, report::DocFormat::markdown);
  report::write_html_report(html, b.input(), a, rec);
  const auto t = text.str();
  ASSERT_NE(t.find("\nTUNING\n"), std::string::npos) << t;
  EXPECT_LT(t.find("RECOMMENDATION"), t.find("TUNING")) << "right after the recommendation";
  EXPECT_NE(t.find("search stopped: converged"), std::string::npos);
  EXPECT_NE(md.str().find("## Tuning\n"), std::string::npos);
  const auto h = html.str();
  const auto tune_at = h.find("<section id=\"tune\">");
  ASSERT_NE(tune_at, std::string::npos);
  EXPECT_LT(h.find("<section id=\"recommendation\""), tune_at);
  EXPECT_LT(tune_at, h.find("<section id=\"np\">"));
  EXPECT_NE(h.find("id=\"chart-tune-front\""), std::string::npos);
  EXPECT_NE(h.find("<nav><a href=\"#tune\">tuning</a>"), std::string::npos);
  const std::string open = "<script type=\"application/json\" id=\"gpumix-specs\">";
  const auto at = h.find(open);
  const auto specs = nlohmann::json::parse(h.substr(at + open.size(), h.find("</script>", at) - at - open.size()));
  ASSERT_TRUE(specs.contains("tune-front"));
  const auto& values = specs["tune-front"]["data"]["values"];
  ASSERT_EQ(values.size(), 3u) << "every measured configuration, controls included";
  int best = 0, controls = 0;
  for (const auto& v : values) {
    best += v["best"].get<bool>();
    controls += v["kind"] == "control";
    EXPECT_TRUE(v["stp"].is_number());
  }
  EXPECT_EQ(best, 1);
  EXPECT_EQ(controls, 2);
}

// The tuning answer and the recommendation say how they relate.
TEST(TuneReport, SaysWhetherTheAnswerAndTheRecommendationAgree) {
  auto b = tuning_run();
  const auto a = b.analyze();
  auto rec = analysis::recommend(a);
  ASSERT_TRUE(rec.mode);
  const auto doc = report::analysis_json(a, rec);
  EXPECT_EQ(doc["tune"]["versus_recommendation"], "The tuning answer and the recommendation agree: mps[train=30].");
  rec.mode.reset();
  rec.no_mode = analysis::NoMode::undecided;
  const std::string differ = report::analysis_json(a, rec)["tune"]["versus_recommendation"];
  EXPECT_NE(differ.find("The tuning answer is mps[train=30]"), std::string::npos) << differ;
  EXPECT_NE(differ.find("it names no mode (undecided)"), std::string::npos) << differ;
}

}  // namespace
}  // namespace gpumix
