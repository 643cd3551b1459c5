// The report's text, markdown and HTML on a hand-made run; compare; run refs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "gpumix/analysis/recommend.hpp"
#include "gpumix/report/analysis_tables.hpp"
#include "gpumix/report/charts.hpp"
#include "gpumix/report/compare.hpp"
#include "gpumix/report/html_report.hpp"
#include "gpumix/report/run_data.hpp"
#include "gpumix/report/text_report.hpp"
#include "gpumix/report/web_assets.hpp"
#include "run_builder.hpp"

namespace gpumix::report {
namespace {

using test::RunBuilder;

// test::train_server_run: exclusive baselines, timeslice (2 repeats, meets the
// SLO), mps (breaks it), mig skipped; telemetry in both timeslice cells.
RunBuilder hand_made_run() {
  return test::train_server_run({.on_timeslice = [](RunBuilder& b, int64_t c, int) { b.ramp_telemetry(c); }});
}

struct Rendered {
  std::string text, md, html;
};

Rendered render_all(RunBuilder& b) {
  const auto a = b.analyze();
  const auto r = analysis::recommend(a);
  std::ostringstream text, md, html;
  write_text_report(text, a, r, DocFormat::text);
  write_text_report(md, a, r, DocFormat::markdown);
  write_html_report(html, b.input(), a, r);
  return {text.str(), md.str(), html.str()};
}

nlohmann::json specs_of(const std::string& html) {
  const std::string open = "<script type=\"application/json\" id=\"gpumix-specs\">";
  const auto begin = html.find(open);
  EXPECT_NE(begin, std::string::npos);
  const auto end = html.find("</script>", begin);
  return nlohmann::json::parse(html.substr(begin + open.size(), end - begin - open.size()));
}

std::set<std::string> chart_divs(const std::string& html) {
  std::set<std::string> ids;
  const std::string open = "<div class=\"chart\" id=\"chart-";
  for (size_t pos = 0; (pos = html.find(open, pos)) != std::string::npos;) {
    pos += open.size();
    ids.insert(html.substr(pos, html.find('"', pos) - pos));
  }
  return ids;
}

// The text with every run of spaces made one: table rows become "a b c".
std::string squeeze(const std::string& text) {
  std::string out;
  for (char c : text)
    if (c != ' ' || out.empty() || out.back() != ' ') out += c;
  return out;
}

TEST(TextReport, SaysTheRecommendationWhatIsMissingAndTheTables) {
  auto b = hand_made_run();
  const auto out = render_all(b).text;
  EXPECT_EQ(out.rfind("gpumix report: run 1 (hand-made)\n", 0), 0u) << out;
  EXPECT_NE(out.find("GPU        0: NVIDIA H100 80GB HBM3, 80.0 GiB, MIG off, compute mode Default"), std::string::npos) << out;
  EXPECT_NE(out.find("driver     550.54 (CUDA 12.4)"), std::string::npos) << out;
  EXPECT_NE(out.find("RECOMMENDATION\n  Use timeslice: the highest system throughput (STP 1.00"), std::string::npos) << out;
  EXPECT_NE(out.find("MISSING\n  - Mode mig was skipped: MIG is disabled on GPU 0\n"), std::string::npos) << out;
  for (const char* title : {"== Modes ==", "== Normalized progress (NP) per workload ==", "== System throughput and fairness per mode ==",
                            "== Differences between modes ==", "== SLOs per mode ==", "== Request latency per cell ==",
                            "== GPU activity and energy per cell ==", "== Workloads per cell ==", "== Cells and mode evidence =="})
    EXPECT_NE(out.find(title), std::string::npos) << title;
  // The mps row of the verdicts, with its reason; timeslice's NP row for train (0.50 and 0.60 → 0.55).
  EXPECT_NE(out.find("mps        rejected"), std::string::npos) << out;
  EXPECT_NE(out.find("server p99 50.0 ms > 10 ms (+400%) in mps-r1, 2 of 2 repeats"), std::string::npos);
  EXPECT_NE(squeeze(out).find("\ntrain timeslice throughput 0.55 [-0.09, 1.19] "), std::string::npos) << out;
  // Energy: (4000 - 1000) mJ over 10 s; 100 samples → 30 mJ per sample.
  EXPECT_NE(squeeze(out).find("\ntimeslice-r1 timeslice 0 65.000 35.000 10.000 20.000 3.000 "), std::string::npos) << out;
  EXPECT_NE(out.find("30.000  energy counter"), std::string::npos) << out;
}

TEST(TextReport, MarkdownHasTheSameTablesAsMarkdown) {
  auto b = hand_made_run();
  const auto md = render_all(b).md;
  EXPECT_EQ(md.rfind("# gpumix report: run 1 (hand-made)\n", 0), 0u);
  EXPECT_NE(md.find("- **GPU**: 0: NVIDIA H100 80GB HBM3"), std::string::npos);
  EXPECT_NE(md.find("## Recommendation\n\n**Use timeslice:"), std::string::npos) << md;
  EXPECT_NE(md.find("## What is missing\n\n- Mode mig was skipped"), std::string::npos) << md;
  EXPECT_NE(md.find("## System throughput and fairness per mode"), std::string::npos);
  EXPECT_NE(md.find("| mode | verdict | stp | stp_95ci_half | reasons |\n| --- | --- | ---: | ---: | --- |\n"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| timeslice | recommended | 1.00 |"), std::string::npos) << md;
}

// The hand-made run as if its cells had run on the CPU.
RunBuilder cpu_run() {
  auto b = hand_made_run();
  b.input().run.environment_json =
      R"({"host":"ci","nvml":{"available":false,"reason":"NVML is not available: cannot load libnvidia-ml.so.1"}})";
  return b;
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = 0; (pos = text.find(what, pos)) != std::string::npos; pos += what.size()) ++n;
  return n;
}

const char* kCpuBanner = "The cells ran on the CPU, without an NVIDIA GPU (NVML is not available: cannot load libnvidia-ml.so.1): "
                         "the sharing modes were not exercised on a GPU";

TEST(TextReport, ACpuRunSaysSoFirstAndRecommendsNoMode) {
  auto b = cpu_run();
  const auto out = render_all(b);
  // Text: the banner right under the title, before the environment; said once.
  EXPECT_EQ(out.text.rfind(std::string("gpumix report: run 1 (hand-made)\n\nCPU RUN: ") + kCpuBanner, 0), 0u) << out.text;
  EXPECT_EQ(count(out.text, "The cells ran on the CPU"), 1u) << out.text;
  EXPECT_LT(out.text.find("CPU RUN:"), out.text.find("  GPU "));
  EXPECT_NE(out.text.find("RECOMMENDATION\n  No recommendation: the cells ran on the CPU, so the sharing modes were not "
                          "exercised on a GPU"),
            std::string::npos)
      << out.text;
  EXPECT_EQ(out.text.find("Use "), std::string::npos) << out.text;
  EXPECT_NE(squeeze(out.text).find("\ntimeslice meets every SLO "), std::string::npos) << out.text;
  EXPECT_EQ(squeeze(out.text).find(" recommended "), std::string::npos) << "no verdict says recommended";
  // The figures comparing modes are labelled; the raw measurements are not.
  for (const char* title : {"== Modes (CPU pipeline check) ==", "== Normalized progress (NP) per workload (CPU pipeline check) ==",
                            "== System throughput and fairness per mode (CPU pipeline check) ==",
                            "== SLOs per mode (CPU pipeline check) ==", "== Request latency per cell (CPU pipeline check) ==",
                            "== Workloads per cell ==", "== Cells and mode evidence =="})
    EXPECT_NE(out.text.find(title), std::string::npos) << title;
  EXPECT_NE(out.text.find("MISSING\n  - Mode mig was skipped"), std::string::npos) << out.text;

  // Markdown: the same, as a quote under the title.
  EXPECT_EQ(out.md.rfind(std::string("# gpumix report: run 1 (hand-made)\n\n> **CPU run.** ") + kCpuBanner, 0), 0u) << out.md;
  EXPECT_EQ(count(out.md, "The cells ran on the CPU"), 1u);
  EXPECT_NE(out.md.find("## Recommendation\n\n**No recommendation: the cells ran on the CPU"), std::string::npos) << out.md;
  EXPECT_NE(out.md.find("## Normalized progress (NP) per workload (CPU pipeline check)"), std::string::npos);
  EXPECT_NE(out.md.find("| timeslice | meets every SLO |"), std::string::npos) << out.md;
  EXPECT_EQ(out.md.find("Use timeslice"), std::string::npos);
}

TEST(HtmlReport, ACpuRunSaysSoFirstAndRecommendsNoMode) {
  auto b = cpu_run();
  const auto html = render_all(b).html;
  const auto banner = html.find("<p id=\"cpu-run\" class=\"box cpu\"><strong>CPU run.</strong> " + html_escape(kCpuBanner));
  ASSERT_NE(banner, std::string::npos) << html.substr(html.find("<header>"), 2000);
  EXPECT_LT(html.find("<h1>"), banner);
  EXPECT_LT(banner, html.find("<table class=\"env\">"));
  EXPECT_EQ(count(html, "The cells ran on the CPU"), 1u) << "not again among what is missing";
  EXPECT_NE(html.find("<section id=\"recommendation\" class=\"box rec none\"><h2>Recommendation</h2>\n<p class=\"headline\">No "
                      "recommendation: the cells ran on the CPU"),
            std::string::npos);
  EXPECT_EQ(html.find("Use timeslice"), std::string::npos);
  EXPECT_EQ(html.find("<td class=\"good\">recommended</td>"), std::string::npos);
  EXPECT_NE(html.find("(CPU pipeline check, not a recommendation)"), std::string::npos);
  for (const char* section : {"np\"><h2>Normalized progress per workload", "system\"><h2>System throughput and fairness per mode",
                              "latency\"><h2>Request latency and SLOs"})
    EXPECT_NE(html.find("<section id=\"" + std::string(section) + "<span class=\"tag\">CPU pipeline check</span></h2>"),
              std::string::npos)
        << section;
  EXPECT_EQ(count(html, "<span class=\"tag\">CPU pipeline check</span></h2>"), 3u);
  // The charts of those figures say so in their titles, even when seen alone.
  const auto specs = specs_of(html);
  for (const char* id : {"np", "system", "latency-cdf", "p99"})
    EXPECT_NE(specs[id]["title"]["text"].get<std::string>().find(" (CPU pipeline check)"), std::string::npos) << id;
  EXPECT_EQ(specs["activity"]["title"]["text"].get<std::string>().find("CPU"), std::string::npos);

  // On a GPU: no banner, no label.
  auto gpu = hand_made_run();
  const auto gpu_html = render_all(gpu).html;
  EXPECT_EQ(gpu_html.find("id=\"cpu-run\""), std::string::npos);
  EXPECT_EQ(gpu_html.find("CPU pipeline check"), std::string::npos);
}

// Issue 19: a run with streamed completions adds the TTFT/TPOT table and its
// two CDFs (a run without, above, has neither); token SLOs are judged by name.
TEST(HtmlReport, StreamedCompletionsAddTheTokenTableAndCdfs) {
  auto b = test::llm_server_run();
  const auto out = render_all(b);
  EXPECT_NE(out.text.find("Time to first token and per output token per mode"), std::string::npos) << out.text;
  EXPECT_NE(out.text.find("llm tpot_p99 <= 50 ms"), std::string::npos);
  EXPECT_NE(out.text.find("ttft_p99<=500ms:MISSED"), std::string::npos);
  EXPECT_NE(out.md.find("ttft_p50_ms"), std::string::npos);
  const auto specs = specs_of(out.html);
  for (const char* id : {"ttft-cdf", "tpot-cdf", "latency-cdf"}) {
    ASSERT_TRUE(specs.contains(id)) << id;
    // One line per cell of the workload that streamed, none for `api`.
    std::set<std::string> cells, workloads;
    for (const auto& row : specs[id]["data"]["values"]) {
      cells.insert(row["cell"].get<std::string>());
      workloads.insert(row["workload"].get<std::string>());
    }
    EXPECT_EQ(cells.size(), 3u) << id;
    if (std::string(id) != "latency-cdf") EXPECT_EQ(workloads, std::set<std::string>{"llm"}) << id;
  }
  EXPECT_EQ(specs["tpot-cdf"]["data"]["values"][0]["ms"], 10.0);  // the baseline's TPOT, its only value
  EXPECT_NE(out.html.find("Streamed LLM completions: time to first token"), std::string::npos);
}

TEST(TextReport, MarkdownEscapesPipesAndShowsEmptyCells) {
  Table t;
  t.columns = {"a", "n"};
  t.add({std::string("x|y"), std::monostate{}});
  t.add({std::string("line\nbreak"), 1.5});
  std::ostringstream out;
  render_markdown(out, t);
  EXPECT_EQ(out.str(), "| a | n |\n| --- | --- |\n| x\\|y | - |\n| line break | 1.50 |\n");
}

TEST(HtmlReport, EmbedsTheLibrariesWithLicensesAndOneSpecPerChart) {
  auto b = hand_made_run();
  const auto html = render_all(b).html;
  ASSERT_EQ(web_assets().size(), 3u);
  for (const auto& asset : web_assets()) {
    EXPECT_GT(asset.script.size(), 10000u) << asset.name;
    EXPECT_NE(html.find("<script data-library=\"" + std::string(asset.name) + "\""), std::string::npos) << asset.name;
    EXPECT_NE(html.find(asset.script.substr(0, 300)), std::string::npos) << asset.name;
    EXPECT_NE(html.find(asset.script.substr(asset.script.size() - 300)), std::string::npos) << asset.name;
    EXPECT_NE(asset.license_text.find("Copyright"), std::string::npos) << asset.name;
    EXPECT_NE(html.find(std::string(asset.name) + " " + std::string(asset.version) + " (" + std::string(asset.license) + ")"),
              std::string::npos);
  }
  EXPECT_EQ(web_assets()[0].name, "vega");
  EXPECT_EQ(web_assets()[1].name, "vega-lite");
  EXPECT_EQ(web_assets()[2].name, "vega-embed");
  // Offline: nothing is fetched from anywhere.
  EXPECT_EQ(html.find("<script src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);

  const auto specs = specs_of(html);
  const auto divs = chart_divs(html);
  std::set<std::string> keys;
  for (auto it = specs.begin(); it != specs.end(); ++it) keys.insert(it.key());
  EXPECT_EQ(keys, divs);
  EXPECT_EQ(keys, (std::set<std::string>{"np", "system", "latency-cdf", "p99", "mps-shares", "activity", "energy"}));
  for (auto it = specs.begin(); it != specs.end(); ++it) {
    EXPECT_EQ(it.value()["$schema"], "https://vega.github.io/schema/vega-lite/v6.json") << it.key();
    EXPECT_FALSE(it.value()["title"]["text"].get<std::string>().empty()) << it.key();
    EXPECT_FALSE(it.value()["data"]["values"].empty()) << it.key();
  }
  EXPECT_NE(html.find("<pre id=\"gpumix-status\" hidden>pending</pre>"), std::string::npos);
  EXPECT_NE(html.find("Use timeslice: the highest system throughput"), std::string::npos);
  EXPECT_NE(html.find("Mode mig was skipped: MIG is disabled on GPU 0"), std::string::npos);
}

TEST(HtmlReport, ChartsCarryTheirFiguresAndModeColoursAgree) {
  auto b = hand_made_run();
  const auto a = b.analyze();
  const auto charts = build_charts(b.input(), a);
  std::map<std::string, nlohmann::json> by_id;
  for (const auto& c : charts) by_id[c.id] = c.spec;
  // NP: train and server under timeslice and mps.
  const auto& np = by_id.at("np")["data"]["values"];
  ASSERT_EQ(np.size(), 4u);
  EXPECT_EQ(np[0]["workload"], "train");
  EXPECT_EQ(np[0]["mode"], "timeslice");
  EXPECT_NEAR(np[0]["value"].get<double>(), 0.55, 1e-6);
  // Energy per sample: 30 mJ in both timeslice cells.
  const auto& energy = by_id.at("energy")["data"]["values"];
  ASSERT_EQ(energy.size(), 2u);
  EXPECT_NEAR(energy[0]["value"].get<double>(), 30, 1e-9);
  // Activity: the series and the workloads' start and stop marks.
  int marks = 0;
  for (const auto& row : by_id.at("activity")["data"]["values"]) marks += row["kind"] == "mark";
  EXPECT_EQ(marks, 8);  // 2 cells x 2 workloads x start, stop
  // The same colour for timeslice wherever it appears.
  std::set<std::string> timeslice_colours;
  std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& j) {
    if (j.is_object()) {
      if (j.contains("field") && j["field"] == "mode" && j.contains("scale")) {
        const auto& d = j["scale"]["domain"];
        for (size_t i = 0; i < d.size(); ++i)
          if (d[i] == "timeslice") timeslice_colours.insert(j["scale"]["range"][i].get<std::string>());
        EXPECT_EQ(std::find(d.begin(), d.end(), "mig"), d.end()) << "no legend entry for a mode without data";
      }
      for (const auto& [k, v] : j.items()) walk(v);
    } else if (j.is_array()) {
      for (const auto& v : j) walk(v);
    }
  };
  for (const auto& c : charts) walk(c.spec);
  EXPECT_EQ(timeslice_colours, (std::set<std::string>{"#4c78a8"}));
  EXPECT_EQ(mode_color("mps", {}), "#f58518");
  EXPECT_EQ(mode_color("future-mode", {"timeslice", "other", "future-mode"}), "#72b7b2");  // the second unknown
}

TEST(HtmlReport, WithoutTelemetryOrBaselineChartsWithoutDataAreLeftOut) {
  RunBuilder b({"timeslice"}, 1, {"train"});
  b.throughput(b.workload(b.cell("timeslice-r1", "timeslice", 1), "train"), 70);
  const auto html = render_all(b).html;
  EXPECT_TRUE(specs_of(html).empty());
  EXPECT_TRUE(chart_divs(html).empty());
  EXPECT_NE(html.find("No NP: the run has no exclusive baseline measure."), std::string::npos);
  EXPECT_NE(html.find("No GPU telemetry was recorded for this run"), std::string::npos);
}

TEST(HtmlReport, EscapesTextAndScriptEndings) {
  EXPECT_EQ(html_escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  RunBuilder b({"timeslice"}, 1, {"w"});
  b.input().run.mix_name = "</script><script>alert(1)</script>";
  b.input().run.mix_yaml = "name: \"</script>\"\n";
  const auto c = b.cell("timeslice-r1", "timeslice", 1);
  b.latencies(b.workload(c, "w"), {1, 2, 3});
  const auto html = render_all(b).html;
  EXPECT_EQ(html.find("<script>alert(1)"), std::string::npos);
  // Everything between the specs' opening tag and its end is one JSON document.
  EXPECT_NO_THROW(specs_of(html));
}

TEST(Compare, RunRefsAndTheSideBySideTables) {
  auto ref = parse_run_ref("7", "results");
  EXPECT_EQ(ref.results_dir, "results");
  EXPECT_EQ(ref.run, "7");
  ref = parse_run_ref("/data/h100:3", "results");
  EXPECT_EQ(ref.results_dir, "/data/h100");
  EXPECT_EQ(ref.run, "3");
  ref = parse_run_ref("/data/a100", "results");
  EXPECT_EQ(ref.results_dir, "/data/a100");
  EXPECT_EQ(ref.run, "latest");
  ref = parse_run_ref("dir:latest", "results");
  EXPECT_EQ(ref.run, "latest");

  auto b1 = hand_made_run();
  auto b2 = hand_made_run();
  b2.input().run.id = 2;
  b2.input().run.mix_sha256 = std::string(64, 'b');
  ComparedRun a{"A: run 1", b1.analyze(), {}}, b{"B: run 2", b2.analyze(), {}};
  a.recommendation = analysis::recommend(a.analysis);
  b.recommendation = analysis::recommend(b.analysis);
  auto modes = compare_modes_table(a, b);
  ASSERT_EQ(modes.rows.size(), 3u);  // timeslice, mps, mig
  EXPECT_EQ(std::get<std::string>(modes.rows[0][0]), "timeslice");
  EXPECT_DOUBLE_EQ(std::get<double>(modes.rows[0][3]), 0.0);  // STP change
  EXPECT_EQ(std::get<std::string>(modes.rows[0][4]), "within noise");
  std::ostringstream out;
  write_comparison(out, a, b, DocFormat::markdown);
  EXPECT_NE(out.str().find("The runs used different mix files"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("## Modes"), std::string::npos);
  EXPECT_NE(out.str().find("| exclusive (alone) | train |"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("| timeslice | server p99 <= 10 ms | 5.00 | 5.00 | met | met |"), std::string::npos) << out.str();

  // B ran on the CPU: the first note says so, and B's recommendation names no mode.
  b2.input().run.environment_json = R"({"nvml":{"available":false,"reason":"no driver"}})";
  b.analysis = b2.analyze();
  b.recommendation = analysis::recommend(b.analysis);
  std::ostringstream cpu;
  write_comparison(cpu, a, b, DocFormat::text);
  EXPECT_NE(cpu.str().find("NOTES\n  - B: run 2 ran on the CPU, without an NVIDIA GPU (no driver): its figures check gpumix's "
                           "pipeline and say nothing about sharing a GPU; it recommends no mode.\n"),
            std::string::npos)
      << cpu.str();
  EXPECT_NE(squeeze(cpu.str()).find("\nrecommendation Use timeslice: the highest system throughput"), std::string::npos) << cpu.str();
  EXPECT_NE(cpu.str().find("No recommendation: the cells ran on the CPU"), std::string::npos) << cpu.str();
  EXPECT_EQ(cpu.str().find("is incomplete: The cells ran on the CPU"), std::string::npos) << cpu.str();
}

}  // namespace
}  // namespace gpumix::report
