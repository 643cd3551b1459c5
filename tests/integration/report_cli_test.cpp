// gpumix report and compare on runs recorded by the real binary; the HTML
// report opened in headless Chromium (Debian's), which must render every chart
// without a console error.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "gpumix/telemetry/telemetry_store.hpp"
#include "gpumix/util/subprocess.hpp"
#include "harness.hpp"
#include "results.hpp"

namespace gpumix::test {
namespace {

using namespace std::chrono_literals;

const char* kChromium = "/usr/bin/chromium";

const char* kMix = R"(name: report-pair
seed: 3
cell_duration: 1200ms
stop_grace: 1s
repeats: 2
modes: [exclusive, timeslice]
workloads:
  - name: train
    command: [TESTLOAD, --iters, "0", --interval-ms, "20", --samples, "8", --ready-after, "3"]
    role: training
  - name: server
    command: [TESTLOAD, --iters, "0", --interval-ms, "5", --latency-ms, "4", --samples, "0"]
    role: server
    slo: {p99: 50ms}
)";

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// What the sampler would have stored on a GPU (this machine has none): per
// cell, 10 Hz samples of utilization, power and the energy counter, and GPM;
// and a GPU in the run's environment, which a run on the CPU lacks (its
// report would then recommend no mode).
void add_gpu_telemetry(const std::filesystem::path& results, const RunData& d) {
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((results / "gpumix.db").c_str(), &db), SQLITE_OK);
    auto env = nlohmann::json::parse(d.run.environment_json);
    env["nvml"] = {{"available", true},
                   {"driver_version", "580.159.04"},
                   {"cuda_driver_version", "13.0"},
                   {"devices", {{{"index", 0}, {"name", "NVIDIA H200"}, {"uuid", "GPU-test"}, {"memory_total_bytes", 150754820096},
                                 {"mig_enabled", false}, {"compute_mode", "Default"}}}}};
    sqlite3_stmt* st = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "UPDATE runs SET environment_json = ? WHERE id = ?", -1, &st, nullptr), SQLITE_OK);
    const std::string text = env.dump();
    sqlite3_bind_text(st, 1, text.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, d.run.id);
    EXPECT_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  telemetry::TelemetryStore store(results);
  int64_t energy_mj = 5'000'000;
  for (const auto& c : d.cells) {
    telemetry::Samples s;
    for (int64_t t = c.started_ns, i = 0; t <= c.ended_ns; t += 100'000'000, ++i) {
      telemetry::GpuSample g;
      g.t_ns = t;
      g.tags = {d.run.id, c.id};
      g.uuid = "GPU-test";
      g.values[telemetry::metric(telemetry::Scope::gpu, "gpu_util_percent")] = 30 + (i * 7) % 60;
      g.values[telemetry::metric(telemetry::Scope::gpu, "power_watts")] = 250.0 + static_cast<double>(i % 5) * 10;
      energy_mj += 26'000;
      g.values[telemetry::metric(telemetry::Scope::gpu, "energy_mj")] = energy_mj;
      s.gpus.push_back(g);
      telemetry::GpmSample m;
      m.t_ns = t + 50'000'000;
      m.tags = {d.run.id, c.id};
      m.uuid = "GPU-test";
      m.values[telemetry::metric(telemetry::Scope::gpm, "sm_util_percent")] = 20.0 + static_cast<double>((i * 5) % 50);
      m.values[telemetry::metric(telemetry::Scope::gpm, "tensor_util_percent")] = 10.0;
      m.values[telemetry::metric(telemetry::Scope::gpm, "dram_bw_util_percent")] = 35.0;
      m.values[telemetry::metric(telemetry::Scope::gpm, "fp32_util_percent")] = 5.0;
      s.gpm.push_back(m);
    }
    store.write(s);
  }
}

// The text with every run of spaces made one: table rows become "a b c".
std::string squeeze(const std::string& text) {
  std::string out;
  for (char c : text)
    if (c != ' ' || out.empty() || out.back() != ' ') out += c;
  return out;
}

struct PageStatus {
  bool done = false;
  nlohmann::json charts = nlohmann::json::object();
  std::vector<std::string> errors;
  int svgs = 0;
  std::string dom;
};

// Opens `html` in headless Chromium and reads the status the page writes once
// every chart has rendered.
PageStatus open_in_chromium(const std::filesystem::path& html, const ScratchDir& dir) {
  const auto profile = dir / ("chromium-profile-" + html.stem().string());
  std::filesystem::create_directories(profile);
  auto r = run_and_capture({kChromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            "--disable-extensions", "--user-data-dir=" + profile.string(), "--enable-logging=stderr", "--v=0",
                            "--virtual-time-budget=15000", "--dump-dom", "file://" + std::filesystem::absolute(html).string()},
                           60s);
  PageStatus st;
  st.dom = r.out;
  EXPECT_EQ(r.exit_code, 0) << r.err.substr(0, 4000);
  // Every console message Chromium logged (the page logs nothing when all is well), besides the page's own capture.
  std::istringstream err(r.err);
  for (std::string line; std::getline(err, line);)
    if (line.find(":CONSOLE") != std::string::npos) st.errors.push_back("chromium: " + line);
  const auto tag = r.out.find("<pre id=\"gpumix-status\"");
  if (tag != std::string::npos) {
    const auto begin = r.out.find('>', tag) + 1;
    auto j = nlohmann::json::parse(r.out.substr(begin, r.out.find("</pre>", begin) - begin), nullptr, false);
    if (j.is_object()) {
      st.done = j.value("done", false);
      st.charts = j["charts"];
      for (const auto& e : j["errors"]) st.errors.push_back(e.get<std::string>());
    }
  }
  for (size_t pos = 0; (pos = r.out.find("<svg", pos)) != std::string::npos; ++pos) ++st.svgs;
  return st;
}

std::vector<std::string> spec_ids(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"gpumix-specs\">";
  const auto begin = html.find(open);
  const auto end = html.find("</script>", begin);
  auto specs = nlohmann::json::parse(html.substr(begin + open.size(), end - begin - open.size()));
  std::vector<std::string> ids;
  for (auto it = specs.begin(); it != specs.end(); ++it) ids.push_back(it.key());
  return ids;
}

TEST(Report, HtmlTextAndMarkdownOfARealRunAndEveryChartRendersInChromium) {
  ScratchDir dir;
  dir.write("mix.yaml", kMix);
  auto run = gpumix({"run", "mix.yaml"}, dir.path());
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  const auto d = latest_run(dir / "results");
  add_gpu_telemetry(dir / "results", d);

  // Text: the recommendation, from the stored figures.
  auto text = gpumix({"report", "--format", "text"}, dir.path());
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("gpumix report: run " + std::to_string(d.run.id) + " (report-pair)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("RECOMMENDATION\n  Use timeslice: the highest system throughput (STP "), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("One repeat per mode"), std::string::npos) << text.out;
  // NP of train = its timeslice throughput / the same repeat's baseline throughput, as stored, averaged over the two repeats.
  double np = 0;
  for (const std::string r : {"-r1", "-r2"})
    np += *d.summary("timeslice" + r, "train").throughput / *d.summary("baseline-train" + r, "train").throughput / 2;
  char np_text[32];
  std::snprintf(np_text, sizeof np_text, "%.2f", np);
  EXPECT_NE(squeeze(text.out).find(std::string("\ntrain timeslice throughput ") + np_text + " ["), std::string::npos)
      << np_text << "\n" << text.out;
  EXPECT_NE(text.out.find("server p99 <= 50 ms"), std::string::npos);
  EXPECT_NE(text.out.find("== GPU activity and energy per cell =="), std::string::npos);

  auto md = gpumix({"report", "latest", "--format", "md", "-o", (dir / "report.md").string()}, dir.path());
  ASSERT_EQ(md.exit_code, 0) << md.err;
  const auto md_text = read(dir / "report.md");
  EXPECT_NE(md_text.find("## Recommendation\n\n**Use timeslice"), std::string::npos) << md_text;
  EXPECT_NE(md_text.find("| workload | mode | np_basis |"), std::string::npos);

  // HTML by default, into the results folder.
  auto html = gpumix({"report"}, dir.path());
  ASSERT_EQ(html.exit_code, 0) << html.err;
  const auto path = dir / "results" / ("report-" + std::to_string(d.run.id) + ".html");
  ASSERT_TRUE(std::filesystem::exists(path)) << html.err;
  EXPECT_NE(html.err.find(path.filename().string()), std::string::npos) << html.err;
  const auto ids = spec_ids(read(path));
  EXPECT_EQ(ids.size(), 6u);

  if (!std::filesystem::exists(kChromium)) GTEST_SKIP() << kChromium << " is absent: `scripts/setup.sh --test` installs it";
  const auto page = open_in_chromium(path, dir);
  ASSERT_TRUE(page.done) << "the page never reported its charts rendered:\n" << page.dom.substr(page.dom.size() > 3000 ? page.dom.size() - 3000 : 0);
  EXPECT_TRUE(page.errors.empty()) << ::testing::PrintToString(page.errors);
  ASSERT_EQ(page.charts.size(), ids.size()) << page.charts.dump();
  for (const auto& id : ids) {
    ASSERT_TRUE(page.charts.contains(id)) << id;
    EXPECT_GT(page.charts[id].get<int>(), 0) << "chart " << id << " drew no marks";
  }
  EXPECT_GE(page.svgs, static_cast<int>(ids.size()));
  // The latency CDF draws one line per cell the server ran in (3); the activity chart, per cell (4), a line
  // per series (2) and the workloads' start and stop rules and labels.
  EXPECT_GE(page.charts["latency-cdf"].get<int>(), 3);
  EXPECT_GE(page.charts["activity"].get<int>(), 4 * 2 + 4 + 2 * 2);
}

TEST(Report, InterruptedRunWithoutBaselineSaysWhatIsMissing) {
  ScratchDir dir;
  dir.write("mix.yaml", R"(name: cut-short
cell_duration: 30s
stop_grace: 1s
modes: [exclusive, timeslice]
workloads:
  - name: train
    command: [TESTLOAD, --iters, "0", --interval-ms, "10", --ready-after, "2"]
  - name: server
    command: [TESTLOAD, --iters, "0", --interval-ms, "5", --latency-ms, "3"]
    slo: {p99: 20ms}
)");
  Background g({"run", "mix.yaml"}, dir.path());
  ASSERT_TRUE(eventually(
      [&] {
        try {
          return latest_run(dir / "results").summary("baseline-train-r1", "train").iterations > 20;
        } catch (const std::exception&) {
          return false;
        }
      },
      15s))
      << g.output();
  g.signal(SIGINT);
  ASSERT_EQ(g.wait(10s), 130) << g.output();

  auto text = gpumix({"report", "--format", "text"}, dir.path());
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("The run was interrupted (stopped by SIGINT): 1 of 3 planned cells ran; not run: baseline-server-r1, "
                          "timeslice-r1."),
            std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("Nothing to recommend: no shared mode was measured"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("No GPU telemetry"), std::string::npos) << text.out;
  EXPECT_NE(squeeze(text.out).find("\nbaseline-train-r1 train other interrupted "), std::string::npos) << text.out;

  auto html = gpumix({"report", "-o", "partial.html"}, dir.path());
  ASSERT_EQ(html.exit_code, 0) << html.err;
  const auto page_text = read(dir / "partial.html");
  EXPECT_NE(page_text.find("What is missing"), std::string::npos);
  EXPECT_NE(page_text.find("not run: baseline-server-r1, timeslice-r1"), std::string::npos);
  if (!std::filesystem::exists(kChromium)) GTEST_SKIP() << kChromium << " is absent: `scripts/setup.sh --test` installs it";
  const auto page = open_in_chromium(dir / "partial.html", dir);
  ASSERT_TRUE(page.done);
  EXPECT_TRUE(page.errors.empty()) << ::testing::PrintToString(page.errors);
  EXPECT_EQ(page.charts.size(), spec_ids(page_text).size());
}

TEST(Report, CompareTwoRunsAndBadArguments) {
  ScratchDir dir;
  dir.write("mix.yaml", R"(name: tiny
cell_duration: 700ms
stop_grace: 1s
modes: [exclusive, timeslice]
workloads:
  - name: w
    command: [TESTLOAD, --iters, "0", --interval-ms, "10"]
)");
  ASSERT_EQ(gpumix({"run", "mix.yaml"}, dir.path()).exit_code, 0);
  ASSERT_EQ(gpumix({"run", "mix.yaml", "--results", "other"}, dir.path()).exit_code, 0);

  auto cmp = gpumix({"compare", "1", "other:1"}, dir.path());
  ASSERT_EQ(cmp.exit_code, 0) << cmp.err;
  EXPECT_NE(cmp.out.find("gpumix compare: A = A: run 1 in results, B = B: run 1 in other"), std::string::npos) << cmp.out;
  EXPECT_NE(cmp.out.find("== Modes"), std::string::npos) << cmp.out;
  EXPECT_NE(squeeze(cmp.out).find("\nexclusive (alone) w "), std::string::npos) << cmp.out;
  auto md = gpumix({"compare", "results", "other", "--format", "md"}, dir.path());
  ASSERT_EQ(md.exit_code, 0) << md.err;
  EXPECT_NE(md.out.find("| mode | stp_a | stp_b |"), std::string::npos) << md.out;

  // One repeat, one workload: no intervals to draw, and still no console warning.
  ASSERT_EQ(gpumix({"report", "1", "-o", "tiny.html"}, dir.path()).exit_code, 0);
  const auto ids = spec_ids(read(dir / "tiny.html"));
  EXPECT_EQ(ids, (std::vector<std::string>{"np", "system"}));
  if (std::filesystem::exists(kChromium)) {
    const auto page = open_in_chromium(dir / "tiny.html", dir);
    ASSERT_TRUE(page.done);
    EXPECT_TRUE(page.errors.empty()) << ::testing::PrintToString(page.errors);
    for (const auto& id : ids) EXPECT_GT(page.charts.value(id, 0), 0) << id;
  }

  EXPECT_EQ(gpumix({"compare", "1", "9"}, dir.path()).exit_code, 2);
  EXPECT_EQ(gpumix({"report", "--format", "pdf"}, dir.path()).exit_code, 2);
  EXPECT_EQ(gpumix({"report", "--results", "nowhere"}, dir.path()).exit_code, 2);
}

}  // namespace
}  // namespace gpumix::test
