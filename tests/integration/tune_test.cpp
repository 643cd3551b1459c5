// `gpumix tune` end to end without a GPU: the real binary with the fake NVML
// driver and the fake MPS control program, and test workloads that share a
// modelled GPU (testload --share-dir): the server's latency and the
// trainer's pace follow the share their MPS settings give them, so the
// search has a known optimum to find.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "chromium.hpp"
#include "fake_driver.hpp"
#include "gpumix/spec/mode_variant.hpp"
#include "harness.hpp"

namespace gpumix::test {
namespace {

using namespace std::chrono_literals;

// The model (shared_gpu_mix in fake_driver.hpp): both controls give each
// half the GPU and miss the SLO by 48 %; the optimum over the grid
// --sm-step 20 searches is server 80 %, train 20 % (STP 0.8 + 0.2^0.5 = 1.247).
double model_optimum() {
  double best = 0;
  for (int ds = 20; ds <= 100; ds += 20)
    for (int dt = 20; dt <= 100; dt += 20) {
      const double total = ds + dt, gets = std::min(1.0, total / 100), s = gets * ds / total, t = gets * dt / total;
      if (10 / s <= 13.5) best = std::max(best, s + std::sqrt(t));
    }
  return best;
}

TEST(Tune, FindsTheModelsOptimumWhereBothControlsMissTheSloAndEmitsIt) {
  ScratchDir dir;
  FakeGpuWithMps gpu(dir);
  const auto mix = dir.write("mix.yaml", shared_gpu_mix("tune-model", "2s", (dir.path() / "gpu").string()));
  const auto emitted = dir.path() / "tuned.yaml";
  auto r = gpumix({"tune", mix.string(), "--sm-step", "20", "--budget", "20m", "--results", (dir.path() / "results").string(),
                   "--emit-mix", emitted.string(), "--format", "json", "-o", (dir.path() / "answer.json").string()},
                  dir.path(), 600s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = nlohmann::json::parse(std::ifstream(dir.path() / "answer.json"));
  EXPECT_EQ(doc["kind"], "gpumix.tune");
  ASSERT_TRUE(doc["best"].is_string()) << doc.dump(2);
  const std::string best = doc["best"];
  std::map<std::string, nlohmann::json> rows;
  int measured = 0;
  for (const auto& c : doc["candidates"]) {
    rows[c["mode"]] = c;
    measured += c["status"] == "measured";
  }
  ASSERT_TRUE(rows.count(best));
  EXPECT_EQ(rows[best]["kind"], "candidate") << doc.dump(2);
  EXPECT_EQ(rows[best]["meets_slos"], true);
  EXPECT_GE(rows[best]["repeats"], 2) << "the best is measured again with fresh baselines";
  // Both controls share the GPU half and half, and miss the SLO.
  ASSERT_TRUE(rows.count("timeslice") && rows.count("mps"));
  EXPECT_EQ(rows["timeslice"]["meets_slos"], false);
  EXPECT_EQ(rows["mps"]["meets_slos"], false);
  EXPECT_GE(rows[best]["stp"].get<double>(), 0.93 * model_optimum()) << best << " of " << doc.dump(2);
  EXPECT_LT(measured, 25) << "a search, not the grid's 50 points";
  // MPS without limits missed by 48 %: fewer SMs for the server next to an unlimited trainer is not tried.
  ASSERT_TRUE(rows.count("mps[server=80]")) << doc.dump(2);
  EXPECT_EQ(rows["mps[server=80]"]["status"], "pruned");
  EXPECT_FALSE(doc["stopped_because"].get<std::string>().empty());

  // The run is a run like any other.
  auto show = gpumix({"show", "--results", (dir.path() / "results").string(), "--format", "json"}, dir.path(), 60s);
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("mps-c1-r1"), std::string::npos);
  auto report = gpumix({"report", "--results", (dir.path() / "results").string(), "--format", "json"}, dir.path(), 60s);
  ASSERT_EQ(report.exit_code, 0) << report.err;
  // The report recomputes the same answer from the stored record, and shows
  // each configured mode's requested shares as its name gives them.
  const auto rdoc = nlohmann::json::parse(report.out);
  ASSERT_TRUE(rdoc.contains("tune")) << report.out.substr(0, 2000);
  EXPECT_EQ(rdoc["tune"]["best"], best);
  EXPECT_EQ(rdoc["tune"]["candidates"], doc["candidates"]);
  EXPECT_TRUE(rdoc["tune"]["versus_recommendation"].is_string());
  ASSERT_TRUE(rdoc.contains("mps_shares"));
  int checked = 0;
  for (const auto& c : rdoc["mps_shares"]["cells"]) {
    const auto variant = spec::parse_mode_variant(c["mode"].get<std::string>(), nullptr);
    ASSERT_TRUE(variant) << c.dump();
    const auto set = variant->mps.find(c["workload"].get<std::string>());
    if (set == variant->mps.end() || !set->second.sm_percent) continue;
    EXPECT_EQ(c["requested_from"], "mode") << c.dump();
    EXPECT_EQ(c["requested_sm_pct"].get<double>(), *set->second.sm_percent) << c.dump();
    ++checked;
  }
  EXPECT_GT(checked, 0) << "the search measured configured modes";

  // The HTML report's tuning and MPS charts draw in a browser without an error.
  auto html = gpumix({"report", "--results", (dir.path() / "results").string(), "-o", (dir.path() / "report.html").string()},
                     dir.path(), 60s);
  ASSERT_EQ(html.exit_code, 0) << html.err;
  const std::string page(std::istreambuf_iterator<char>(std::ifstream(dir.path() / "report.html").rdbuf()), {});
  EXPECT_NE(page.find("<section id=\"tune\">"), std::string::npos);
  EXPECT_NE(page.find("id=\"chart-tune-front\""), std::string::npos);
  EXPECT_NE(page.find("id=\"chart-mps-shares\""), std::string::npos);
  if (std::filesystem::exists(test::kChromium)) {
    test::Chromium browser(dir.path() / "chromium");
    browser.open(dir.path() / "report.html", 1280, 900);
    const auto status = nlohmann::json::parse(browser.evaluate(test::kAwaitReportStatus).get<std::string>(), nullptr, false);
    ASSERT_TRUE(status.is_object()) << "the charts did not finish";
    EXPECT_TRUE(status["errors"].empty()) << status.dump();
    EXPECT_GT(status["charts"].value("tune-front", 0), 0) << status.dump();
    EXPECT_GT(status["charts"].value("mps-shares", 0), 0) << status.dump();
    EXPECT_TRUE(browser.console().empty()) << ::testing::PrintToString(browser.console());
  }

  // The emitted mix validates and carries the winner's settings into Kubernetes.
  auto valid = gpumix({"validate", emitted.string()}, dir.path(), 60s);
  EXPECT_EQ(valid.exit_code, 0) << valid.out << valid.err;
  auto k8s = gpumix({"k8s", "render", emitted.string(), "--mode", "mps", "--out-dir", (dir.path() / "k8s").string()}, dir.path(), 60s);
  ASSERT_EQ(k8s.exit_code, 0) << k8s.err;
  std::string manifests;
  for (const auto& f : std::filesystem::recursive_directory_iterator(dir.path() / "k8s"))
    if (f.is_regular_file()) manifests += std::string(std::istreambuf_iterator<char>(std::ifstream(f.path()).rdbuf()), {});
  EXPECT_NE(manifests.find("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"), std::string::npos);
}

// A budget that the baselines and controls already spend: the search stops
// there, says so, and the answer comes from what was measured.
TEST(Tune, StopsAtItsBudget) {
  ScratchDir dir;
  FakeGpuWithMps gpu(dir);
  const auto mix = dir.write("mix.yaml", R"(cell_duration: 1s
workloads:
  - name: a
    command: [TESTLOAD, --iters, "0", --interval-ms, "5"]
  - name: b
    command: [TESTLOAD, --iters, "0", --interval-ms, "5"]
)");
  auto r = gpumix({"tune", mix.string(), "--budget", "3s", "--results", (dir.path() / "results").string(), "--format", "json"},
                  dir.path(), 120s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["stopped_because"].get<std::string>().rfind("the budget", 0), 0u) << doc["stopped_because"];
  EXPECT_NE(doc["stopped_because"].get<std::string>().find("the budget had no room"), std::string::npos) << doc["stopped_because"];
  EXPECT_EQ(doc["candidates"].size(), 2u) << "only the controls: " << doc.dump(2);
  EXPECT_TRUE(doc["best"].is_string());
}

TEST(Tune, BadInputIsRefusedBeforeAnythingRuns) {
  ScratchDir dir;
  const auto mix = dir.write("mix.yaml", R"(workloads:
  - name: a
    command: [TESTLOAD]
  - name: b
    command: [TESTLOAD]
)");
  const auto results = (dir.path() / "results").string();
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"--objective", "fastest"}, "--objective: expected stp"},
      {{"--objective", "throughput:c"}, "no workload named 'c'"},
      {{"--sm", "c=10"}, "no workload named 'c'"},
      {{"--sm", "a=0,50"}, "'0' is not a whole percentage"},
      {{"--sm-step", "0"}, "--sm-step"},
      {{"--budget", "30"}, "--budget"},
      {{"--emit-mix", (dir.path() / "missing" / "x.yaml").string()}, "missing"},
  };
  for (const auto& [args, expected] : bad) {
    std::vector<std::string> argv = {"tune", mix.string(), "--results", results};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = gpumix(argv, dir.path(), 30s);
    EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find(expected), std::string::npos) << args[0] << ": " << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "results" / "gpumix.db")) << "nothing ran";
  auto one = dir.write("one.yaml", "workloads:\n  - name: a\n    command: [TESTLOAD]\n");
  auto r = gpumix({"tune", one.string(), "--results", results}, dir.path(), 30s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("needs two"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gpumix::test
