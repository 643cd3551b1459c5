// gpumix report and compare on runs recorded by the real binary; the HTML
// report opened in headless Chromium (Debian's, over its DevTools protocol),
// which must render every chart without a console error and lay the page out
// without sideways scrolling in a 1280 px window and on A4 and Letter paper.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "gpumix/telemetry/telemetry_store.hpp"
#include "chromium.hpp"
#include "harness.hpp"
#include "results.hpp"

namespace gpumix::test {
namespace {

using namespace std::chrono_literals;

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

// What the page says once every chart has rendered (html_report.hpp), and
// every console error or warning Chromium saw while it loaded.
struct PageStatus {
  bool done = false;
  nlohmann::json charts = nlohmann::json::object();
  std::vector<std::string> errors;
};


// One browser for every test of this file (starting one takes seconds on a
// busy machine); each test opens its own page in it.
Chromium& shared_browser() {
  static const ScratchDir profile;
  static Chromium chromium(profile / "chromium");
  return chromium;
}

// Opens `html` in `browser` at that viewport and reads the status the page
// writes once every chart has rendered.
PageStatus open_report(Chromium& browser, const std::filesystem::path& html, int width = 1280, int height = 900) {
  browser.open(html, width, height);
  PageStatus st;
  auto j = nlohmann::json::parse(browser.evaluate(kAwaitReportStatus).get<std::string>(), nullptr, false);
  if (j.is_object()) {
    st.done = j.value("done", false);
    st.charts = j["charts"];
    for (const auto& e : j["errors"]) st.errors.push_back(e.get<std::string>());
  }
  for (const auto& e : browser.console()) st.errors.push_back("chromium: " + e);
  return st;
}

// The page's layout as laid out now: the document's width against the
// viewport's; every table's width against the room its container gives it;
// every chart's drawing (vega-embed's svg or canvas) and its size; every
// element that sticks out of <main>'s content box; and the print rules in
// force (break-inside of a table row and of a chart, whether <nav> shows).
const char* kLayout = R"js(
(function () {
  var main = document.querySelector('main'), style = getComputedStyle(main), box = main.getBoundingClientRect();
  var left = box.left + parseFloat(style.paddingLeft), right = box.right - parseFloat(style.paddingRight);
  function name(e) {
    var n = e.tagName.toLowerCase() + (e.id ? '#' + e.id : '');
    if (typeof e.className === 'string' && e.className) n += '.' + e.className.trim().split(/\s+/).join('.');
    var s = e.closest('section, header');
    return n + (s ? ' in ' + (s.id || s.tagName.toLowerCase()) : '');
  }
  var out = {viewport: document.documentElement.clientWidth, document: document.documentElement.scrollWidth,
             main: right - left, tables: [], charts: [], outside: []};
  document.querySelectorAll('main table').forEach(function (t) {
    var entry = {table: name(t), columns: t.rows.length ? t.rows[0].cells.length : 0, width: t.scrollWidth,
                 room: t.parentElement.clientWidth, container_scroll: t.parentElement.scrollWidth};
    if (entry.width > entry.room && t.rows.length)  // which columns take the room
      entry.column_widths = Array.prototype.map.call(t.rows[0].cells, function (c) {
        return c.textContent + ': ' + Math.round(c.getBoundingClientRect().width);
      });
    out.tables.push(entry);
  });
  document.querySelectorAll('div.chart').forEach(function (div) {
    var g = div.querySelector('svg, canvas'), r = g ? g.getBoundingClientRect() : null;
    out.charts.push({id: div.id.replace(/^chart-/, ''), drawn: !!g, width: r ? r.width : 0, height: r ? r.height : 0,
                     room: div.clientWidth});
  });
  var reported = [];  // only the outermost element that sticks out, and no part of a drawing
  document.querySelectorAll('main *').forEach(function (e) {
    var r = e.getBoundingClientRect();
    if (e.closest('svg') !== e && e.closest('svg')) return;
    if (reported.some(function (p) { return p.contains(e); })) return;
    if (r.width > 0 && (r.right > right + 0.5 || r.left < left - 0.5) && reported.push(e))
      out.outside.push(name(e) + ': ' + Math.round(r.left) + '..' + Math.round(r.right) + ' px, room ' + Math.round(left) + '..' + Math.round(right));
  });
  var row = document.querySelector('main tbody tr'), chart = document.querySelector('div.chart');
  out.row_breaks = row ? getComputedStyle(row).breakInside : '';
  out.chart_breaks = chart ? getComputedStyle(chart).breakInside : '';
  out.nav_shown = getComputedStyle(document.querySelector('nav')).display !== 'none';
  return out;
})()
)js";

// Checks that nothing in the laid-out page needs a sideways scroll: the
// document fits the viewport, every table its container, nothing sticks out
// of <main>, and every chart drew within its room. `where` names the layout.
void expect_fits(const nlohmann::json& layout, const std::vector<std::string>& chart_ids, const std::string& where) {
  SCOPED_TRACE(where + ": " + layout.dump(1).substr(0, 6000));
  EXPECT_LE(layout["document"].get<double>(), layout["viewport"].get<double>()) << "the page scrolls sideways";
  for (const auto& t : layout["tables"]) {
    EXPECT_LE(t["width"].get<double>(), t["room"].get<double>()) << t.dump();
    EXPECT_LE(t["container_scroll"].get<double>(), t["room"].get<double>()) << t.dump();
  }
  EXPECT_TRUE(layout["outside"].empty()) << layout["outside"].dump(1);
  ASSERT_EQ(layout["charts"].size(), chart_ids.size());
  for (const auto& c : layout["charts"]) {
    EXPECT_TRUE(c["drawn"].get<bool>()) << c.dump();
    EXPECT_GT(c["width"].get<double>(), 100) << c.dump();
    EXPECT_GT(c["height"].get<double>(), 50) << c.dump();
    EXPECT_LE(c["width"].get<double>(), c["room"].get<double>() + 0.5) << c.dump();
  }
}

// The number of pages of a PDF that Chromium (Skia) wrote.
int pdf_pages(const std::string& pdf) {
  int pages = 0;
  for (size_t pos = 0; (pos = pdf.find("/Type /Page", pos)) != std::string::npos; pos += 11)
    if (pdf.compare(pos + 11, 1, "s") != 0) ++pages;
  return pages;
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
  auto& browser = shared_browser();
  const auto page = open_report(browser, path);
  ASSERT_TRUE(page.done) << "the page never reported its charts rendered";
  EXPECT_TRUE(page.errors.empty()) << ::testing::PrintToString(page.errors);
  ASSERT_EQ(page.charts.size(), ids.size()) << page.charts.dump();
  for (const auto& id : ids) {
    ASSERT_TRUE(page.charts.contains(id)) << id;
    EXPECT_GT(page.charts[id].get<int>(), 0) << "chart " << id << " drew no marks";
  }
  expect_fits(browser.evaluate(kLayout), ids, "screen, 1280 x 900");
  // The latency CDF draws one line per cell the server ran in (3); the activity chart, per cell (4), a line
  // per series (2) and the workloads' start and stop rules and labels.
  EXPECT_GE(page.charts["latency-cdf"].get<int>(), 3);
  EXPECT_GE(page.charts["activity"].get<int>(), 4 * 2 + 4 + 2 * 2);
}

// A run as wide as reports get: five workloads with long names (a server
// with two SLOs, an interactive one, trainers, a batch job), every mode (mps
// and mig are skipped on this machine, with their reasons), and GPU telemetry
// with GPM added afterwards: the NP, workloads and activity tables at their
// widest.
const char* kWideMix = R"(name: five-workloads-with-long-names-on-every-mode
seed: 3
cell_duration: 400ms
stop_grace: 1s
modes: [exclusive, timeslice, mps, mig]
evidence: {min_iterations: 10}
workloads:
  - name: resnet50-imagenet-training-fp16-large-batch
    command: [TESTLOAD, --iters, "0", --interval-ms, "10", --samples, "64", --ready-after, "2"]
    role: training
  - name: bert-large-squad-inference-server-with-dynamic-batching
    command: [TESTLOAD, --iters, "0", --interval-ms, "2", --latency-ms, "2", --samples, "0"]
    role: server
    slo: {p95: 30ms, p99: 50ms}
  - name: interactive-notebook-llama-7b-finetune-experiments
    command: [TESTLOAD, --iters, "0", --interval-ms, "8", --latency-ms, "6", --samples, "1"]
    role: interactive
    slo: {p90: 250ms}
  - name: stable-diffusion-xl-batch-inference-nightly-job
    command: [TESTLOAD, --iters, "0", --interval-ms, "10", --samples, "4"]
    role: batch
  - name: recommendation-dlrm-embedding-table-training
    command: [TESTLOAD, --iters, "0", --interval-ms, "6", --samples, "256"]
    role: training
)";

// Writes `bytes` (or what `make` returns: full-page screenshots take seconds,
// so only then) to $GPUMIX_TEST_SCREENSHOTS/`name` when that folder is set,
// to look at what the test saw.
void keep(const std::string& name, const std::function<std::string()>& make) {
  if (const char* dir = std::getenv("GPUMIX_TEST_SCREENSHOTS")) {
    std::filesystem::create_directories(dir);
    std::ofstream(std::filesystem::path(dir) / name, std::ios::binary) << make();
  }
}
void keep(const std::string& name, const std::string& bytes) {
  keep(name, [&] { return bytes; });
}

TEST(Report, HtmlFitsA1280PxWindowAndPrintsOnA4AndLetter) {
  ScratchDir dir;
  dir.write("mix.yaml", kWideMix);
  auto run = gpumix({"run", "mix.yaml"}, dir.path());
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  add_gpu_telemetry(dir / "results", latest_run(dir / "results"));
  auto html = gpumix({"report", "-o", "wide.html"}, dir.path());
  ASSERT_EQ(html.exit_code, 0) << html.err;
  const auto ids = spec_ids(read(dir / "wide.html"));
  EXPECT_GE(ids.size(), 5u);  // the p99 chart needs 100 requests in a window: likely, not certain
  if (!std::filesystem::exists(kChromium)) GTEST_SKIP() << kChromium << " is absent: `scripts/setup.sh --test` installs it";

  auto& browser = shared_browser();
  const auto page = open_report(browser, dir / "wide.html", 1280, 900);
  ASSERT_TRUE(page.done);
  EXPECT_TRUE(page.errors.empty()) << ::testing::PrintToString(page.errors);
  for (const auto& id : ids) EXPECT_GT(page.charts.value(id, 0), 0) << "chart " << id << " drew no marks";

  // A window 1280 px wide: no sideways scrolling anywhere.
  const auto screen = browser.evaluate(kLayout);
  expect_fits(screen, ids, "screen, 1280 x 900");
  EXPECT_EQ(screen["viewport"], 1280);
  size_t widest = 0;
  for (const auto& t : screen["tables"]) widest = std::max(widest, t["columns"].get<size_t>());
  EXPECT_GE(screen["tables"].size(), 10u);
  EXPECT_GE(widest, 14u) << "the run should fill the widest tables";
  const auto shot = browser.screenshot(false);
  EXPECT_EQ(png_size(shot), std::make_pair(1280, 900));
  keep("report-1280.png", shot);
  keep("layout-1280.json", screen.dump(1));
  keep("report-1280-full.png", [&] { return browser.screenshot(true); });

  // Print: A4 (210 mm) less Chromium's default margins (1 cm each side) leaves
  // 190 mm, 718 CSS pixels, the narrower of A4 and Letter.
  browser.emulate_media("print");
  browser.set_viewport(718, 1047);
  const auto print = browser.evaluate(kLayout);
  expect_fits(print, ids, "print, A4");
  EXPECT_EQ(print["row_breaks"], "avoid");
  EXPECT_EQ(print["chart_breaks"], "avoid");
  EXPECT_FALSE(print["nav_shown"].get<bool>());
  keep("report-print-a4.png", [&] { return browser.screenshot(true); });
  keep("layout-print-a4.json", print.dump(1));
  for (const auto& [paper, width, height] : {std::tuple{"a4", 8.27, 11.69}, std::tuple{"letter", 8.5, 11.0}}) {
    const auto pdf = browser.print_to_pdf(width, height);
    EXPECT_EQ(pdf.rfind("%PDF-", 0), 0u) << paper;
    EXPECT_GE(pdf_pages(pdf), 4) << paper;
    keep(std::string("report-") + paper + ".pdf", pdf);
  }
  EXPECT_TRUE(browser.console().empty()) << ::testing::PrintToString(browser.console());
}

// The checks above can fail: on a page with a table too wide for its room,
// a chart that drew nothing and a console error, they say so.
TEST(Report, TheLayoutCheckSeesOverflowEmptyChartsAndConsoleErrors) {
  if (!std::filesystem::exists(kChromium)) GTEST_SKIP() << kChromium << " is absent: `scripts/setup.sh --test` installs it";
  ScratchDir dir;
  dir.write("bad.html", "<!DOCTYPE html><html><body><main style=\"max-width: 600px\"><nav></nav>"
                        "<div><table><tr><td style=\"white-space: nowrap\">" + std::string(300, 'W') +
                        "</td></tr></table></div><div class=\"chart\" id=\"chart-np\"></div></main>"
                        "<script>console.error('boom')</script></body></html>");
  auto& browser = shared_browser();
  browser.open(dir / "bad.html", 1280, 900);
  const auto layout = browser.evaluate(kLayout);
  EXPECT_GT(layout["document"].get<double>(), 1280) << layout.dump();
  ASSERT_EQ(layout["tables"].size(), 1u);
  EXPECT_GT(layout["tables"][0]["width"].get<double>(), layout["tables"][0]["room"].get<double>());
  EXPECT_NE(layout["outside"].dump().find("table"), std::string::npos) << layout.dump();
  ASSERT_EQ(layout["charts"].size(), 1u);
  EXPECT_FALSE(layout["charts"][0]["drawn"].get<bool>());
  EXPECT_EQ(browser.console(), std::vector<std::string>{"console.error: \"boom\""});
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
  // On the CPU wherever the test runs: NVML cannot be loaded.
  ScopedEnv no_gpu("GPUMIX_NVML_LIBRARY", (dir / "no-libnvidia-ml.so.1").string());
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
  // On the CPU the headline says why first; the verdicts say the shared mode was not run.
  EXPECT_NE(text.out.find("RECOMMENDATION\n  No recommendation: the cells ran on the CPU"), std::string::npos) << text.out;
  EXPECT_NE(squeeze(text.out).find("\ntimeslice not measured - - not run\n"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("No GPU telemetry"), std::string::npos) << text.out;
  EXPECT_NE(squeeze(text.out).find("\nbaseline-train-r1 train other interrupted "), std::string::npos) << text.out;

  auto html = gpumix({"report", "-o", "partial.html"}, dir.path());
  ASSERT_EQ(html.exit_code, 0) << html.err;
  const auto page_text = read(dir / "partial.html");
  EXPECT_NE(page_text.find("What is missing"), std::string::npos);
  EXPECT_NE(page_text.find("not run: baseline-server-r1, timeslice-r1"), std::string::npos);
  if (!std::filesystem::exists(kChromium)) GTEST_SKIP() << kChromium << " is absent: `scripts/setup.sh --test` installs it";
  auto& browser = shared_browser();
  const auto page = open_report(browser, dir / "partial.html");
  ASSERT_TRUE(page.done);
  EXPECT_TRUE(page.errors.empty()) << ::testing::PrintToString(page.errors);
  EXPECT_EQ(page.charts.size(), spec_ids(page_text).size());
}

// Two runs whose cells ran on the CPU (NVML made unloadable, so on any
// machine): every report says so first and names no mode, `gpumix run` does
// not suggest one, compare says so too; then bad arguments.
TEST(Report, RunsOnTheCpuSaySoEverywhereCompareAndBadArguments) {
  ScratchDir dir;
  dir.write("mix.yaml", R"(name: tiny
cell_duration: 700ms
stop_grace: 1s
modes: [exclusive, timeslice]
workloads:
  - name: w
    command: [TESTLOAD, --iters, "0", --interval-ms, "10"]
)");
  const std::map<std::string, std::string> no_gpu = {{"GPUMIX_NVML_LIBRARY", (dir / "no-libnvidia-ml.so.1").string()}};
  auto run = gpumix({"run", "mix.yaml"}, dir.path(), 90s, no_gpu);
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;
  EXPECT_NE(run.out.find("/results   (the analysis and plots; the cells ran on the CPU, so no mode is recommended)\n"),
            std::string::npos)
      << run.out;
  EXPECT_EQ(run.out.find("recommended mode"), std::string::npos) << run.out;
  ASSERT_EQ(gpumix({"run", "mix.yaml", "--results", "other"}, dir.path(), 90s, no_gpu).exit_code, 0);

  // Text and markdown: the banner first, no mode named.
  const std::string banner = "The cells ran on the CPU, without an NVIDIA GPU (NVML is not available: cannot load " +
                             (dir / "no-libnvidia-ml.so.1").string();
  auto text = gpumix({"report", "1", "--format", "text"}, dir.path());
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_EQ(text.out.rfind("gpumix report: run 1 (tiny)\n\nCPU RUN: " + banner, 0), 0u) << text.out;
  EXPECT_NE(text.out.find("RECOMMENDATION\n  No recommendation: the cells ran on the CPU"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("== System throughput and fairness per mode (CPU pipeline check) =="), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("Use timeslice"), std::string::npos) << text.out;
  auto md = gpumix({"report", "1", "--format", "md"}, dir.path());
  EXPECT_EQ(md.out.rfind("# gpumix report: run 1 (tiny)\n\n> **CPU run.** " + banner, 0), 0u) << md.out;
  // JSON: the device, why, and no mode, with its reason's code.
  auto json_report = gpumix({"report", "1", "--format", "json"}, dir.path());
  ASSERT_EQ(json_report.exit_code, 0) << json_report.err;
  const auto doc = nlohmann::json::parse(json_report.out);
  EXPECT_EQ(doc["run"]["device"], "cpu");
  EXPECT_EQ(doc["run"]["cpu_only"].get<std::string>().rfind("NVML is not available: cannot load", 0), 0u) << doc["run"].dump();
  EXPECT_TRUE(doc["recommendation"]["mode"].is_null());
  EXPECT_EQ(doc["recommendation"]["no_mode_code"], "cpu_only");
  EXPECT_EQ(doc["missing_codes"][0], "cpu_only");

  // Compare: the runs side by side, and first that both ran on the CPU.
  auto cmp = gpumix({"compare", "1", "other:1"}, dir.path());
  ASSERT_EQ(cmp.exit_code, 0) << cmp.err;
  EXPECT_NE(cmp.out.find("gpumix compare: A = A: run 1 in results, B = B: run 1 in other\n\nNOTES\n  - A: run 1 in results ran on "
                         "the CPU, without an NVIDIA GPU (NVML is not available"),
            std::string::npos)
      << cmp.out;
  EXPECT_NE(cmp.out.find("  - B: run 1 in other ran on the CPU"), std::string::npos) << cmp.out;
  EXPECT_NE(cmp.out.find("== Modes"), std::string::npos) << cmp.out;
  EXPECT_NE(squeeze(cmp.out).find("\nexclusive (alone) w "), std::string::npos) << cmp.out;
  EXPECT_EQ(cmp.out.find("Use timeslice"), std::string::npos) << cmp.out;
  auto cmp_md = gpumix({"compare", "results", "other", "--format", "md"}, dir.path());
  ASSERT_EQ(cmp_md.exit_code, 0) << cmp_md.err;
  EXPECT_NE(cmp_md.out.find("| mode | stp_a | stp_b |"), std::string::npos) << cmp_md.out;
  auto cmp_json = gpumix({"compare", "results", "other", "--format", "json"}, dir.path());
  ASSERT_EQ(cmp_json.exit_code, 0) << cmp_json.err;
  const auto cmp_doc = nlohmann::json::parse(cmp_json.out);
  for (const char* side : {"a", "b"}) {
    EXPECT_EQ(cmp_doc[side]["run"]["device"], "cpu") << side;
    EXPECT_EQ(cmp_doc[side]["recommendation"]["no_mode_code"], "cpu_only") << side;
  }

  // HTML: one repeat, one workload: no intervals to draw, and still no console
  // warning; the banner on top, and the page fits a 1280 px window.
  ASSERT_EQ(gpumix({"report", "1", "-o", "tiny.html"}, dir.path()).exit_code, 0);
  const auto page_text = read(dir / "tiny.html");
  EXPECT_NE(page_text.find("<p id=\"cpu-run\" class=\"box cpu\"><strong>CPU run.</strong> The cells ran on the CPU"),
            std::string::npos);
  const auto ids = spec_ids(page_text);
  EXPECT_EQ(ids, (std::vector<std::string>{"np", "system"}));
  if (std::filesystem::exists(kChromium)) {
    auto& browser = shared_browser();
    const auto page = open_report(browser, dir / "tiny.html");
    ASSERT_TRUE(page.done);
    EXPECT_TRUE(page.errors.empty()) << ::testing::PrintToString(page.errors);
    for (const auto& id : ids) EXPECT_GT(page.charts.value(id, 0), 0) << id;
    expect_fits(browser.evaluate(kLayout), ids, "screen, 1280 x 900");
  }

  EXPECT_EQ(gpumix({"compare", "1", "9"}, dir.path()).exit_code, 2);
  EXPECT_EQ(gpumix({"report", "--format", "pdf"}, dir.path()).exit_code, 2);
  EXPECT_EQ(gpumix({"report", "--results", "nowhere"}, dir.path()).exit_code, 2);
}

}  // namespace
}  // namespace gpumix::test
