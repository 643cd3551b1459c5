// What `gpumix run` tells the person watching (docs/cli.md): live progress on
// a terminal and in logs, colour only where it belongs, --quiet, and
// --dry-run's plan against what --cell-index runs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "harness.hpp"
#include "results.hpp"

namespace gpumix::test {
namespace {

// One shared cell of half a second: a trainer (8 samples per 20 ms step) and
// a server (a request every 5 ms).
const char* kOneCell = R"(name: live
cell_duration: 500ms
stop_grace: 1s
modes: [timeslice]
workloads:
  - name: train
    command: [TESTLOAD, --iters, "0", --interval-ms, "20", --samples, "8"]
  - name: server
    command: [TESTLOAD, --iters, "0", --interval-ms, "5", --latency-ms, "2"]
    role: server
)";

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

TEST(Progress, OnATerminalTheStatusIsRedrawnInPlaceAndColouredUnlessNoColor) {
  ScratchDir dir;
  dir.write("mix.yaml", kOneCell);
  // Colour allowed: the log is coloured, and the status (the cell's line,
  // then the workloads') is erased in place (back to its first line, erase
  // to the end of the screen) before each log line written above it.
  auto coloured = gpumix_on_terminal({"run", "mix.yaml"}, dir.path(), {{"TERM", "xterm"}, {"NO_COLOR", ""}});
  ASSERT_EQ(coloured.exit_code, 0) << coloured.err;
  EXPECT_NE(coloured.err.find("\x1b[32m"), std::string::npos) << "info lines in green";
  EXPECT_NE(coloured.err.find("cell 0 (1/1) timeslice r1: measuring "), std::string::npos) << coloured.err;
  EXPECT_NE(coloured.err.find("\r\n  train "), std::string::npos) << "the workloads on the status's second line";
  const std::string erase = "\r\x1b[1A\x1b[J";
  EXPECT_GE(count(coloured.err, erase), 2u) << "the status erased in place";
  // Cleared at the end: nothing of a status after the last erase.
  const auto tail = coloured.err.substr(coloured.err.rfind(erase));
  EXPECT_EQ(tail.find("cell 0 (1/1)"), std::string::npos) << tail;
  EXPECT_NE(coloured.out.find("timeslice-r1"), std::string::npos) << "the table still on stdout";
  EXPECT_EQ(coloured.out.find("measuring"), std::string::npos) << "no progress on stdout";

  // NO_COLOR: not one escape byte, yet the status is still redrawn in place.
  for (const auto& env : std::vector<std::map<std::string, std::string>>{{{"TERM", "xterm"}, {"NO_COLOR", "1"}},
                                                                         {{"TERM", "dumb"}, {"NO_COLOR", ""}}}) {
    auto plain = gpumix_on_terminal({"run", "mix.yaml"}, dir.path(), env);
    ASSERT_EQ(plain.exit_code, 0) << plain.err;
    EXPECT_EQ(plain.err.find('\x1b'), std::string::npos) << "TERM=" << env.at("TERM") << " NO_COLOR=" << env.at("NO_COLOR");
    EXPECT_NE(plain.err.find("cell 0 (1/1) timeslice r1: measuring "), std::string::npos) << plain.err;
    EXPECT_NE(plain.err.find("\r      "), std::string::npos) << "erased by spaces after a carriage return";
  }
}

TEST(Progress, WithoutATerminalPlainLinesNameTheCellPhaseAndRates) {
  ScratchDir dir;
  std::string mix = kOneCell;
  mix.replace(mix.find("cell_duration: 500ms"), 20, "cell_duration: 2s");
  dir.write("mix.yaml", mix);
  auto r = gpumix({"run", "mix.yaml"}, dir.path(), std::chrono::seconds(60), {{"GPUMIX_PROGRESS_INTERVAL", "200ms"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << "not a terminal: no colour";
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << "not a terminal: nothing in place";
  // The phase changes as log lines.
  EXPECT_NE(r.err.find("cell 0 (1/1) timeslice-r1: 2 workload(s)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("; measuring for 2s"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("window closed after 2s: stopping"), std::string::npos) << r.err;
  // Progress lines while measuring, with both workloads' live rates.
  static const std::regex line(
      R"(progress: cell 0 \(1/1\) timeslice r1: measuring \ds/2s, ~\ds left; run ETA ~\ds \| train ([0-9.]+) samples/s, server [0-9.]+k? samples/s ([0-9.]+) req/s)");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.err, m, line)) << r.err;
  // About 400 samples/s and 200 req/s (sleeps overshoot on a loaded machine).
  EXPECT_GT(std::stod(m[1]), 150);
  EXPECT_LT(std::stod(m[1]), 450);
  EXPECT_GT(std::stod(m[2]), 50);
  EXPECT_LT(std::stod(m[2]), 220);
  EXPECT_EQ(r.out.find("progress:"), std::string::npos) << "never on stdout";

  auto bad = gpumix({"run", "mix.yaml"}, dir.path(), std::chrono::seconds(30), {{"GPUMIX_PROGRESS_INTERVAL", "soon"}});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("GPUMIX_PROGRESS_INTERVAL: expected a duration"), std::string::npos) << bad.err;
}

TEST(Progress, QuietLeavesOnlyWarningsBeforeOrAfterTheSubcommand) {
  ScratchDir dir;
  dir.write("mix.yaml", kOneCell);
  const std::map<std::string, std::string> fast{{"GPUMIX_PROGRESS_INTERVAL", "100ms"}};
  auto loud = gpumix({"run", "mix.yaml", "-v"}, dir.path(), std::chrono::seconds(60), fast);
  ASSERT_EQ(loud.exit_code, 0) << loud.err;
  EXPECT_NE(loud.err.find(" info] "), std::string::npos);
  EXPECT_NE(loud.err.find(" debug] "), std::string::npos) << "-v after the subcommand";
  EXPECT_NE(loud.err.find("progress: "), std::string::npos);
  for (const auto& args : std::vector<std::vector<std::string>>{{"-q", "run", "mix.yaml"}, {"run", "mix.yaml", "--quiet"}}) {
    auto quiet = gpumix(args, dir.path(), std::chrono::seconds(60), fast);
    ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
    EXPECT_EQ(quiet.err.find(" info] "), std::string::npos) << quiet.err;
    EXPECT_EQ(quiet.err.find("progress: "), std::string::npos) << quiet.err;
    EXPECT_NE(quiet.err.find("warning] no NVIDIA GPU available"), std::string::npos) << "warnings stay";
    EXPECT_NE(quiet.out.find("timeslice-r1"), std::string::npos) << "the result stays";
  }
  EXPECT_EQ(gpumix({"-q", "-v", "validate", "mix.yaml"}, dir.path()).exit_code, 2);
  // loadgen passes its arguments to its own parser, yet takes -q and -v after it too.
  for (const auto& args : std::vector<std::vector<std::string>>{{"-q", "loadgen"}, {"loadgen", "-q"}, {"loadgen", "--quiet"}}) {
    auto a = args;
    for (const char* more : {"--url", "http://127.0.0.1:1", "--rate", "10", "--duration", "1s", "--ready-timeout", "1s"})
      a.push_back(more);
    auto r = gpumix(a, dir.path(), std::chrono::seconds(60));
    EXPECT_EQ(r.err.find("unknown option"), std::string::npos) << r.err;
    EXPECT_EQ(r.exit_code, 1) << "not a usage error; nothing listens on port 1: " << r.err;
  }
  EXPECT_EQ(gpumix({"loadgen", "-q", "-v", "--url", "http://127.0.0.1:1"}, dir.path()).exit_code, 2);
  // Commands that say what they wrote say it as log lines, which -q silences.
  auto said = gpumix({"report", "-o", "r.html"}, dir.path());
  ASSERT_EQ(said.exit_code, 0) << said.err;
  EXPECT_NE(said.err.find("info] report of run"), std::string::npos) << said.err;
  auto silent = gpumix({"report", "-o", "r2.html", "-q"}, dir.path());
  ASSERT_EQ(silent.exit_code, 0) << silent.err;
  EXPECT_EQ(silent.err, "");
}

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
