// What `gpumix run` tells the person watching (docs/cli.md): --dry-run's
// plan against what --cell-index runs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "harness.hpp"
#include "results.hpp"

namespace gpumix::test {
namespace {

const char* kTwoRepeats = R"(name: planned
cell_duration: 1s
stop_grace: 1s
setup_timeout: 20s
repeats: 2
modes: [exclusive, timeslice]
workloads:
  - name: a
    command: [TESTLOAD, --iters, "0", --interval-ms, "20"]
  - name: b
    command: [TESTLOAD, --iters, "0", --interval-ms, "20"]
)";

TEST(DryRun, ListsTheCellsThatCellIndexRunsAndTouchesNothing) {
  ScratchDir dir;
  dir.write("mix.yaml", kTwoRepeats);
  auto table = gpumix({"run", "mix.yaml", "--dry-run", "--results", "untouched"}, dir.path());
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "untouched"));
  EXPECT_FALSE(std::filesystem::exists(dir / "results"));
  EXPECT_NE(table.out.find("6 cell(s): measured windows of 6s in all, plus each cell's warm-up (at most 20s each): at most 2m06s"),
            std::string::npos)
      << table.out;

  auto json = gpumix({"run", "mix.yaml", "--dry-run", "--format", "json"}, dir.path());
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const auto plan = nlohmann::json::parse(json.out);
  EXPECT_EQ(plan["schema_version"], 1);
  EXPECT_EQ(plan["kind"], "gpumix.plan");
  EXPECT_EQ(plan["total_max_s"], 126.0);
  EXPECT_EQ(plan["selected_cell"], nullptr);
  ASSERT_EQ(plan["cells"].size(), 6u);
  const std::vector<std::string> labels = {"baseline-a-r1", "baseline-b-r1", "timeslice-r1",
                                           "baseline-a-r2", "baseline-b-r2", "timeslice-r2"};
  for (size_t i = 0; i < labels.size(); ++i) {
    EXPECT_EQ(plan["cells"][i]["index"], i);
    EXPECT_EQ(plan["cells"][i]["label"], labels[i]);
    EXPECT_NE(table.out.find(labels[i]), std::string::npos);
  }
  EXPECT_EQ(plan["cells"][4]["kind"], "baseline");
  EXPECT_EQ(plan["cells"][5]["kind"], "shared");
  EXPECT_EQ(plan["cells"][5]["workloads"], nlohmann::json({"a", "b"}));
  EXPECT_EQ(plan["effective_plan"]["cells"].size(), 6u);

  // What --cell-index 4 runs is the dry run's cell 4.
  auto one = gpumix({"run", "mix.yaml", "--cell-index", "4"}, dir.path());
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const auto d = latest_run(dir / "results");
  ASSERT_EQ(d.cells.size(), 1u);
  EXPECT_EQ(d.cells[0].index, 4);
  EXPECT_EQ(d.cells[0].label, plan["cells"][4]["label"]);
  EXPECT_EQ(d.cells[0].mode, plan["cells"][4]["mode"]);
  EXPECT_EQ(d.cells[0].repeat, plan["cells"][4]["repeat"]);
  EXPECT_EQ(d.cells[0].baseline, true);
  auto only = nlohmann::json::parse(gpumix({"run", "mix.yaml", "--dry-run", "--cell-index", "4", "--format", "json"}, dir.path()).out);
  EXPECT_EQ(only["selected_cell"], 4);
  ASSERT_EQ(only["cells"].size(), 1u);
  EXPECT_EQ(only["cells"][0], plan["cells"][4]);
  EXPECT_EQ(gpumix({"run", "mix.yaml", "--dry-run", "--cell-index", "6"}, dir.path()).exit_code, 2);
}

TEST(DryRun, HonoursOverridesAndSaysWhatRepeatsAutoMeans) {
  ScratchDir dir;
  dir.write("mix.yaml", kTwoRepeats);
  auto csv = gpumix({"run", "mix.yaml", "--dry-run", "--format", "csv", "--modes", "timeslice", "--repeats", "3", "--cell-duration", "5s"},
                    dir.path());
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(csv.out,
            "index,label,mode,repeat,kind,workloads\n"
            "0,timeslice-r1,timeslice,1,shared,\"a, b\"\n"
            "1,timeslice-r2,timeslice,2,shared,\"a, b\"\n"
            "2,timeslice-r3,timeslice,3,shared,\"a, b\"\n");
  auto json = nlohmann::json::parse(
      gpumix({"run", "mix.yaml", "--dry-run", "--format", "json", "--modes", "timeslice", "--cell-duration", "5s"}, dir.path()).out);
  EXPECT_EQ(json["measured_s"], 10.0);
  auto automatic = gpumix({"run", "mix.yaml", "--dry-run", "--repeats", "auto"}, dir.path());
  ASSERT_EQ(automatic.exit_code, 0) << automatic.err;
  EXPECT_NE(automatic.out.find("repeats: auto: this is the most that may run"), std::string::npos) << automatic.out;
  EXPECT_EQ(gpumix({"run", "mix.yaml", "--format", "json"}, dir.path()).exit_code, 2) << "--format needs --dry-run";
}

}  // namespace
}  // namespace gpumix::test
