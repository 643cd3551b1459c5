// gpumix run, show, export, ls and validate on real child processes.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "harness.hpp"
#include "results.hpp"

namespace gpumix::test {
namespace {

const char* kTwoWorkloads = R"(name: pair
seed: 7
cell_duration: 2s
stop_grace: 1s
modes: [exclusive, timeslice]
workloads:
  - name: train
    command: [TESTLOAD, --iters, "0", --interval-ms, "20", --samples, "8", --ready-after, "3"]
    role: training
  - name: server
    command: [TESTLOAD, --iters, "0", --interval-ms, "5", --latency-ms, "4"]
    role: server
    slo: {p99: 50ms}
)";

TEST(Run, StoresEveryCellWorkloadAndEvent) {
  ScratchDir dir;
  dir.write("mix.yaml", kTwoWorkloads);
  auto r = gpumix({"run", "mix.yaml"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("no NVIDIA GPU available"), std::string::npos) << "the CPU fallback must be said clearly";

  auto d = latest_run(dir / "results");
  EXPECT_EQ(d.run.status, store::RunStatus::completed);
  EXPECT_EQ(d.run.mix_name, "pair");
  EXPECT_NE(d.run.mix_yaml.find("name: pair"), std::string::npos);
  EXPECT_EQ(d.run.mix_sha256.size(), 64u);
  auto env = nlohmann::json::parse(d.run.environment_json);
  EXPECT_FALSE(env["host"].get<std::string>().empty());
  EXPECT_TRUE(env.contains("cpu_model"));
  ASSERT_EQ(d.cells.size(), 3u);
  EXPECT_EQ(d.cells[0].label, "baseline-train-r1");
  EXPECT_EQ(d.cells[1].label, "baseline-server-r1");
  EXPECT_EQ(d.cells[2].label, "timeslice-r1");
  for (const auto& c : d.cells) EXPECT_EQ(c.status, store::CellStatus::ok) << c.label;

  const auto& train = d.summary("timeslice-r1", "train");
  EXPECT_EQ(train.status, store::WorkloadStatus::ok);
  EXPECT_TRUE(train.reported_ready);
  EXPECT_TRUE(train.reported_done);  // it got SIGTERM at the cell's end and finished cleanly
  ASSERT_TRUE(train.throughput);
  // 8 samples per ~20 ms step: about 400 samples/s (sleep overshoot lowers it).
  EXPECT_GT(*train.throughput, 250);
  EXPECT_LT(*train.throughput, 410);
  EXPECT_GT(train.peak_rss_kb, 0);
  EXPECT_NEAR(train.wall_s, 2.0, 0.5);

  const auto& server = d.summary("timeslice-r1", "server");
  EXPECT_GT(server.requests, 100);
  ASSERT_EQ(server.slos.size(), 1u);
  EXPECT_TRUE(server.slos[0].met);

  // The timeslice cell's evidence: both workloads alive together, separately.
  auto ev = nlohmann::json::parse(d.cell("timeslice-r1").evidence_json);
  EXPECT_EQ(ev["alive"], 2);
  EXPECT_EQ(ev["separate_processes"], true);
  auto base = nlohmann::json::parse(d.cell("baseline-train-r1").evidence_json);
  EXPECT_EQ(base["alone"], true);

  // stdout/stderr of every workload are files in the run folder.
  for (const auto& w : d.workloads) EXPECT_TRUE(std::filesystem::exists(w.stdout_path)) << w.stdout_path;
}

TEST(Run, ShowExportAndLsAgreeWithTheDatabase) {
  ScratchDir dir;
  dir.write("mix.yaml", kTwoWorkloads);
  ASSERT_EQ(gpumix({"run", "mix.yaml", "--modes", "timeslice"}, dir.path()).exit_code, 0);
  auto d = latest_run(dir / "results");

  auto show = gpumix({"show", "--format", "json"}, dir.path());
  ASSERT_EQ(show.exit_code, 0) << show.err;
  auto shown = nlohmann::json::parse(show.out);
  EXPECT_EQ(shown["kind"], "gpumix.show");
  EXPECT_EQ(shown["run"]["id"], d.run.id);
  EXPECT_EQ(shown["cells"].size(), d.cells.size());
  const auto& rows = shown["workloads"];
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["workload"], "train");
  EXPECT_EQ(rows[0]["iters"], d.summary("timeslice-r1", "train").iterations);
  EXPECT_DOUBLE_EQ(rows[1]["lat_p99_ms"].get<double>(), *d.summary("timeslice-r1", "server").latency_p99);

  auto text = gpumix({"show", std::to_string(d.run.id)}, dir.path());
  ASSERT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("timeslice-r1"), std::string::npos);
  EXPECT_NE(text.out.find("status completed"), std::string::npos);

  auto exported = gpumix({"export", "latest", "--format", "json"}, dir.path());
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  auto doc = nlohmann::json::parse(exported.out);
  EXPECT_EQ(doc["schema_version"], 3);
  EXPECT_EQ(doc["kind"], "gpumix.export");
  EXPECT_EQ(doc["events"].size(), d.events.size());
  EXPECT_EQ(doc["workloads"].size(), 2u);
  EXPECT_EQ(doc["run"]["plan"]["modes"], nlohmann::json({"timeslice"}));
  EXPECT_TRUE(doc["cells"][0]["evidence"].is_object());

  ScratchDir out;
  auto csv = gpumix({"export", "--format", "csv", "--table", "events", "-o", (out / "events.csv").string()}, dir.path());
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  std::ifstream in(out / "events.csv");
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, "workload_id,t_ns,ev,n,ms,ttft_ms,tpot_ms,output_tokens,data");
  size_t lines = 0;
  for (std::string l; std::getline(in, l);) ++lines;
  EXPECT_GE(lines, d.events.size());  // JSON fields with commas are quoted, not split

  auto ls = gpumix({"ls", "--format", "csv"}, dir.path());
  ASSERT_EQ(ls.exit_code, 0);
  EXPECT_NE(ls.out.find(",pair,completed,1,"), std::string::npos) << ls.out;
}

TEST(Run, WorkloadThatReportsNothingGetsWallTimeExitAndRss) {
  ScratchDir dir;
  dir.write("mix.yaml", R"(cell_duration: 5s
modes: [timeslice]
workloads:
  - name: quiet
    command: [sh, -c, "sleep 0.3"]
    stop: completion
)");
  ASSERT_EQ(gpumix({"run", "mix.yaml"}, dir.path()).exit_code, 0);
  auto d = latest_run(dir / "results");
  const auto& q = d.summary("timeslice-r1", "quiet");
  EXPECT_EQ(q.status, store::WorkloadStatus::ok);
  EXPECT_EQ(q.exit_code, 0);
  EXPECT_NEAR(q.wall_s, 0.3, 0.25);
  EXPECT_GT(q.peak_rss_kb, 0);
  EXPECT_EQ(q.iterations, 0);
  // The cell ends when its last workload does, not at cell_duration.
  EXPECT_LT(d.cell("timeslice-r1").ended_ns - d.cell("timeslice-r1").started_ns, 3'000'000'000);
}

TEST(Run, EnvironmentWorkdirAndShellReachTheWorkload) {
  ScratchDir dir;
  std::filesystem::create_directories(dir / "work");
  dir.write("mix.yaml", R"(cell_duration: 5s
seed: 11
modes: [timeslice]
env: {FOO: from-mix, BAR: mix}
workloads:
  - name: probe
    shell: true
    command: 'echo "$FOO $BAR $GPUMIX_WORKLOAD $GPUMIX_CELL $GPUMIX_MODE $GPUMIX_SEED" > out.txt; pwd >> out.txt'
    workdir: work
    env: {FOO: from-workload}
    stop: completion
)");
  ASSERT_EQ(gpumix({"run", "mix.yaml"}, dir.path()).exit_code, 0);
  std::ifstream in(dir / "work" / "out.txt");
  std::string vars, pwd;
  std::getline(in, vars);
  std::getline(in, pwd);
  std::istringstream fields(vars);
  std::string foo, bar, workload, cell, mode, seed;
  fields >> foo >> bar >> workload >> cell >> mode >> seed;
  EXPECT_EQ(foo, "from-workload");
  EXPECT_EQ(bar, "mix");
  EXPECT_EQ(workload, "probe");
  EXPECT_EQ(cell, "timeslice-r1");
  EXPECT_EQ(mode, "timeslice");
  EXPECT_FALSE(seed.empty());
  EXPECT_EQ(std::filesystem::canonical(pwd), std::filesystem::canonical(dir / "work"));
}

TEST(Run, IterationStopConditionEndsTheWorkload) {
  ScratchDir dir;
  dir.write("mix.yaml", R"(cell_duration: 20s
modes: [timeslice]
workloads:
  - name: steps
    command: [TESTLOAD, --iters, "0", --interval-ms, "10"]
    stop: {iterations: 25}
)");
  ASSERT_EQ(gpumix({"run", "mix.yaml"}, dir.path()).exit_code, 0);
  auto s = latest_run(dir / "results").summary("timeslice-r1", "steps");
  EXPECT_EQ(s.status, store::WorkloadStatus::ok);
  EXPECT_GE(s.iterations, 25);
  EXPECT_LE(s.iterations, 27);  // the step in flight when SIGTERM arrives may finish
  EXPECT_LT(s.wall_s, 5);
}

TEST(Run, StartAfterWaitsForTheOthersReady) {
  ScratchDir dir;
  dir.write("mix.yaml", R"(cell_duration: 3s
modes: [timeslice]
workloads:
  - name: server
    command: [TESTLOAD, --iters, "0", --interval-ms, "20", --ready-after, "15"]
    role: server
  - name: client
    command: [TESTLOAD, --iters, "0"]
    start_after: server
)");
  ASSERT_EQ(gpumix({"run", "mix.yaml"}, dir.path()).exit_code, 0);
  auto d = latest_run(dir / "results");
  const int64_t ready_ns = d.first_event_ns("timeslice-r1", "server", "ready");
  ASSERT_GT(ready_ns, 0);
  EXPECT_GE(d.workload("timeslice-r1", "client").started_ns, ready_ns);
  EXPECT_GE(d.workload("timeslice-r1", "client").started_ns - d.workload("timeslice-r1", "server").started_ns,
            250'000'000);  // 15 steps of 20 ms
}

TEST(Run, ASlowServerHoldsTheWindowForEveryone) {
  // The server needs ~1.5 s to get ready, longer than half the cell: the
  // window opens for all three once it is (and its client) is ready, and
  // lasts the full cell_duration for each.
  ScratchDir dir;
  dir.write("mix.yaml", R"(cell_duration: 2s
modes: [timeslice]
workloads:
  - name: server
    command: [TESTLOAD, --iters, "0", --interval-ms, "50", --ready-after, "30"]
    role: server
  - name: client
    command: [TESTLOAD, --iters, "0", --interval-ms, "10"]
    start_after: server
  - name: trainer
    command: [TESTLOAD, --iters, "0", --interval-ms, "10"]
)");
  ASSERT_EQ(gpumix({"run", "mix.yaml"}, dir.path()).exit_code, 0);
  auto d = latest_run(dir / "results");
  const auto& cell = d.cell("timeslice-r1");
  const auto& server = d.workload("timeslice-r1", "server");
  const int64_t ready_ns = d.first_event_ns("timeslice-r1", "server", "ready");
  ASSERT_GT(ready_ns, server.started_ns + 1'400'000'000);
  EXPECT_GE(d.workload("timeslice-r1", "client").started_ns, ready_ns) << "the client waits for its server";
  EXPECT_GE(cell.window_start_ns, ready_ns);
  EXPECT_NEAR(static_cast<double>(cell.window_end_ns - cell.window_start_ns) / 1e9, 2.0, 0.2);
  for (const char* name : {"server", "client", "trainer"}) {
    const auto& w = d.workload("timeslice-r1", name);
    EXPECT_EQ(w.status, store::WorkloadStatus::ok) << name << ": " << w.reason;
    EXPECT_LE(w.ready_ns, cell.window_start_ns) << name;
    EXPECT_NEAR(*d.summary("timeslice-r1", name).window_s, 2.0, 0.2) << name << " is measured over the whole window";
  }
  const auto evidence = nlohmann::json::parse(cell.evidence_json);
  ASSERT_TRUE(evidence.contains("warmup_s")) << evidence.dump();
  EXPECT_GT(evidence["warmup_s"].get<double>(), 1.4);
}

TEST(Run, WorkloadsWithDifferentWarmupsAreMeasuredOverOneWindowAtTheirSteadyRate) {
  // fast is ready at once; slow warms up for 2 s at a fifth of its rate.
  ScratchDir dir;
  dir.write("mix.yaml", R"(cell_duration: 2s
modes: [timeslice]
workloads:
  - name: fast
    command: [TESTLOAD, --iters, "0", --interval-ms, "10"]
  - name: slow
    command: [TESTLOAD, --iters, "0", --interval-ms, "20", --ready-after, "20", --warmup-interval-ms, "100"]
)");
  ASSERT_EQ(gpumix({"run", "mix.yaml"}, dir.path()).exit_code, 0);
  auto d = latest_run(dir / "results");
  const auto& cell = d.cell("timeslice-r1");
  const auto& fast = d.workload("timeslice-r1", "fast");
  const auto& slow = d.workload("timeslice-r1", "slow");
  EXPECT_LT(fast.ready_ns, slow.ready_ns);
  EXPECT_GT(slow.ready_ns - slow.started_ns, 1'800'000'000);
  EXPECT_GE(cell.window_start_ns, slow.ready_ns);
  const auto& s = d.summary("timeslice-r1", "slow");
  const auto& f = d.summary("timeslice-r1", "fast");
  EXPECT_NEAR(*s.window_s, *f.window_s, 1e-9) << "one window for both";
  // 8 samples a step: 400/s steady (80/s in its warm-up), 800/s for fast; a
  // loaded machine oversleeps, so only the lower bound is tight.
  EXPECT_GT(*s.throughput, 250) << "the warm-up is not in the window";
  EXPECT_LT(*s.throughput, 410);
  EXPECT_GT(*f.throughput, 500);
  EXPECT_GT(s.iterations_total, s.iterations);
}

TEST(Run, ACommandThatSaysNothingIsReadyWhenItStarts) {
  ScratchDir dir;
  dir.write("mix.yaml", R"(cell_duration: 1s
modes: [timeslice]
workloads:
  - name: quiet
    command: [sleep, "30"]
  - name: worker
    command: [TESTLOAD, --iters, "0", --interval-ms, "10"]
)");
  ASSERT_EQ(gpumix({"run", "mix.yaml"}, dir.path()).exit_code, 0);
  auto d = latest_run(dir / "results");
  const auto& quiet = d.workload("timeslice-r1", "quiet");
  EXPECT_EQ(quiet.status, store::WorkloadStatus::ok) << quiet.reason;
  EXPECT_EQ(quiet.ready_ns, quiet.started_ns);
  EXPECT_GT(d.cell("timeslice-r1").window_start_ns, 0);
}

TEST(Run, AWorkloadNotReadyWithinSetupTimeoutFailsItsCellAndEveryoneStops) {
  ScratchDir dir;
  dir.write("mix.yaml", R"(cell_duration: 1s
setup_timeout: 1s
modes: [timeslice]
workloads:
  - name: server
    command: [TESTLOAD, --iters, "0", --interval-ms, "10", --ready-after, "1000000"]
    role: server
  - name: client
    command: [TESTLOAD, --iters, "0"]
    start_after: server
  - name: trainer
    command: [TESTLOAD, --iters, "0", --interval-ms, "10"]
)");
  auto r = gpumix({"run", "mix.yaml"}, dir.path());
  EXPECT_NE(r.exit_code, 0) << "a failed workload is reported in the exit status";
  auto d = latest_run(dir / "results");
  const auto& server = d.workload("timeslice-r1", "server");
  EXPECT_EQ(server.status, store::WorkloadStatus::not_ready);
  EXPECT_NE(server.reason.find("warm-up did not end within setup_timeout 1s"), std::string::npos) << server.reason;
  const auto& client = d.workload("timeslice-r1", "client");
  EXPECT_EQ(client.status, store::WorkloadStatus::not_started);
  EXPECT_NE(client.reason.find("not ready: server"), std::string::npos) << client.reason;
  const auto& trainer = d.workload("timeslice-r1", "trainer");
  EXPECT_EQ(trainer.status, store::WorkloadStatus::stopped) << trainer.reason;
  EXPECT_EQ(d.cell("timeslice-r1").status, store::CellStatus::failed);
  EXPECT_EQ(d.cell("timeslice-r1").window_start_ns, 0) << "nothing was measured";
  // The report never recommends a mode whose workload was not ready, and says why.
  auto report = gpumix({"report", "--format", "text"}, dir.path());
  EXPECT_NE(report.out.find("not_ready"), std::string::npos) << report.out;
}

TEST(Run, RepeatsAutoStopsWhenThereIsNothingToSeparate) {
  ScratchDir dir;
  dir.write("mix.yaml", R"(cell_duration: 1s
repeats: auto
max_repeats: 4
modes: [exclusive, timeslice]
evidence: {min_iterations: 5}
workloads:
  - name: a
    command: [TESTLOAD, --iters, "0", --interval-ms, "10"]
  - name: b
    command: [TESTLOAD, --iters, "0", --interval-ms, "10"]
)");
  auto r = gpumix({"run", "mix.yaml"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto d = latest_run(dir / "results");
  EXPECT_EQ(d.cells.size(), 3u) << "two baselines and one repeat: one mode has nothing to be told apart from";
  const auto plan = nlohmann::json::parse(d.run.plan_json);
  EXPECT_EQ(plan["repeats_auto"]["repeats_run"], 1);
  EXPECT_NE(plan["repeats_auto"]["stopped_because"].get<std::string>().find("only timeslice is eligible"), std::string::npos)
      << plan.dump();
  EXPECT_EQ(plan["cells"].size(), 3u);
  auto report = gpumix({"report", "--format", "text"}, dir.path());
  EXPECT_EQ(report.out.find("Planned cells with no record"), std::string::npos) << report.out;
}

TEST(Run, ANonZeroExitAfterSigtermIsAFailure) {
  ScratchDir dir;
  dir.write("mix.yaml", R"(cell_duration: 1s
modes: [timeslice]
workloads:
  - name: grumpy
    command: [TESTLOAD, --iters, "0", --interval-ms, "10", --exit-code, "4"]
  - name: calm
    command: [TESTLOAD, --iters, "0", --interval-ms, "10"]
)");
  gpumix({"run", "mix.yaml"}, dir.path());
  auto d = latest_run(dir / "results");
  const auto& grumpy = d.workload("timeslice-r1", "grumpy");
  EXPECT_EQ(grumpy.status, store::WorkloadStatus::failed);
  EXPECT_NE(grumpy.reason.find("exit status 4 after SIGTERM"), std::string::npos) << grumpy.reason;
  EXPECT_EQ(d.workload("timeslice-r1", "calm").status, store::WorkloadStatus::ok);
}

TEST(Run, MalformedMetricLinesAreKeptAndCounted) {
  ScratchDir dir;
  dir.write("mix.yaml", R"(cell_duration: 5s
modes: [timeslice]
workloads:
  - name: sloppy
    command: [TESTLOAD, --iters, "3", --malformed]
    stop: completion
)");
  ASSERT_EQ(gpumix({"run", "mix.yaml"}, dir.path()).exit_code, 0);
  auto s = latest_run(dir / "results").summary("timeslice-r1", "sloppy");
  EXPECT_EQ(s.malformed, 2);
  EXPECT_EQ(s.iterations, 3);
}

// Bytes that are not UTF-8 in what a workload sends are kept as sent and
// exported, reported and shown with U+FFFD in their place, never an error
// (issue 15: nlohmann::json's plain dump() threw type_error 316).
TEST(Run, BytesThatAreNotUtf8InEventsAreExportedAsReplacementCharacters) {
  ScratchDir dir;
  dir.write("emit.sh",
            "printf '{\"ev\":\"ready\"}\\n{\"ev\":\"info\",\"note\":\"\\377\\376\"}\\nnot json \\377\\n' "
            ">&\"$GPUMIX_METRICS_FD\"\nexec sleep 30\n");
  dir.write("mix.yaml", R"(cell_duration: 1s
modes: [timeslice]
workloads:
  - name: bytes
    command: [bash, emit.sh]
)");
  ASSERT_EQ(gpumix({"run", "mix.yaml"}, dir.path()).exit_code, 0);
  const auto events = latest_run(dir / "results").events;
  bool raw = false;
  for (const auto& e : events) raw = raw || e.data.find('\xff') != std::string::npos;
  EXPECT_TRUE(raw) << "the stored line keeps the bytes as sent";

  auto exported = gpumix({"export", "latest", "--format", "json"}, dir.path());
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_NE(exported.out.find("\xEF\xBF\xBD"), std::string::npos) << "U+FFFD stands for the invalid bytes";
  EXPECT_FALSE(nlohmann::json::parse(exported.out, nullptr, false).is_discarded()) << "the export is valid JSON";
  for (const std::vector<std::string> args : {std::vector<std::string>{"report", "latest", "--format", "json"},
                                              std::vector<std::string>{"show", "latest"},
                                              std::vector<std::string>{"export", "--format", "csv", "--table", "events"}}) {
    auto r = gpumix(args, dir.path());
    EXPECT_EQ(r.exit_code, 0) << args[0] << ": " << r.err;
  }
}

TEST(Run, ModesTheMachineCannotOfferAreSkippedWithTheReason) {
  ScratchDir dir;
  dir.write("mix.yaml", R"(cell_duration: 1s
workloads:
  - name: a
    command: [TESTLOAD, --iters, "0"]
)");
  auto r = gpumix({"run", "mix.yaml", "--modes", "timeslice,mps,mig"}, dir.path());
  ASSERT_EQ(r.exit_code, 0) << "skipped modes are not failures\n" << r.err;
  auto d = latest_run(dir / "results");
  EXPECT_EQ(d.cell("timeslice-r1").status, store::CellStatus::ok);
  for (const char* label : {"mps-r1", "mig-r1"}) {
    EXPECT_EQ(d.cell(label).status, store::CellStatus::skipped) << label;
    EXPECT_FALSE(d.cell(label).error.empty()) << label << " must say why";
    EXPECT_EQ(d.summary(label, "a").status, store::WorkloadStatus::skipped);
  }
}

TEST(Validate, GoodMixIsOkAndBadMixExits2WithPlace) {
  ScratchDir dir;
  dir.write("good.yaml", kTwoWorkloads);
  auto ok = gpumix({"validate", "good.yaml"}, dir.path());
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("ok: 2 workload(s)"), std::string::npos) << ok.out;

  dir.write("bad.yaml", R"(modes: [timeslice]
workloads:
  - name: a
    command: [TESTLOAD]
    mps: {sm_percent: 150}
)");
  auto bad = gpumix({"validate", "bad.yaml"}, dir.path());
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("bad.yaml:5:23: workloads[0].mps.sm_percent: must be between 1 and 100, got 150"),
            std::string::npos)
      << bad.err;

  // run refuses it too, before creating anything.
  auto run = gpumix({"run", "bad.yaml"}, dir.path());
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(dir / "results"));
}

// Issue 15: bytes that are not text (not UTF-8, a NUL, a control character)
// are refused alike by every command that reads a mix, at their place and
// before anything is created; validate used to accept what run rejected.
TEST(Validate, ValidateRunAndK8sRenderRefuseBytesThatAreNotTextAlike) {
  ScratchDir dir;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {std::string("caf\xFF"), "bad.yaml:6:19: byte 0xFF is not UTF-8"},
      {std::string("a\0b", 3), "bad.yaml:6:17: a NUL byte"},
      {std::string("\x1B[31m"), "bad.yaml:6:16: control character U+001B"}};
  for (const auto& [arg, message] : cases) {
    dir.write("bad.yaml", "name: bytes\nmodes: [timeslice]\nworkloads:\n  - name: a\n    command: [TESTLOAD,\n      --name, \"" +
                              arg + "\"]\n");
    for (const std::vector<std::string>& args : {std::vector<std::string>{"validate", "bad.yaml"}, {"run", "bad.yaml"},
                                                 {"k8s", "render", "bad.yaml", "--mode", "timeslice", "--out-dir", "k8s"}}) {
      auto r = gpumix(args, dir.path());
      EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.err;
      EXPECT_NE(r.err.find(message), std::string::npos) << args[0] << ": " << r.err;
    }
    EXPECT_FALSE(std::filesystem::exists(dir / "results"));
    EXPECT_FALSE(std::filesystem::exists(dir / "k8s"));
  }
}

TEST(Cli, BadArgumentsAndUnknownRunsExit2) {
  ScratchDir dir;
  dir.write("mix.yaml", kTwoWorkloads);
  EXPECT_EQ(gpumix({"run"}, dir.path()).exit_code, 2);
  EXPECT_EQ(gpumix({"run", "missing.yaml"}, dir.path()).exit_code, 2);
  EXPECT_EQ(gpumix({"run", "mix.yaml", "--modes", "warp"}, dir.path()).exit_code, 2);
  EXPECT_EQ(gpumix({"run", "mix.yaml", "--cell-duration", "-3s"}, dir.path()).exit_code, 2);
  auto no_db = gpumix({"show"}, dir.path());
  EXPECT_EQ(no_db.exit_code, 2);
  EXPECT_NE(no_db.err.find("no results database"), std::string::npos);
  EXPECT_EQ(gpumix({"frobnicate"}, dir.path()).exit_code, 2);
  EXPECT_EQ(gpumix({"--help"}, dir.path()).exit_code, 0);

  ASSERT_EQ(gpumix({"run", "mix.yaml", "--modes", "timeslice", "--cell-duration", "1s"}, dir.path()).exit_code, 0);
  auto unknown = gpumix({"show", "42"}, dir.path());
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("no run 42"), std::string::npos) << unknown.err;
  EXPECT_EQ(gpumix({"show", "abc"}, dir.path()).exit_code, 2);
  EXPECT_EQ(gpumix({"export", "--format", "xml"}, dir.path()).exit_code, 2);
}

}  // namespace
}  // namespace gpumix::test
