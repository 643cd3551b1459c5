// An LLM server in a mix (issue 19): gpumix-openai-testserver as the server,
// streaming tokens at a pace set per sharing mode (as a GPU shared with a
// neighbour would slow its decode), and `builtin: loadgen --api openai` as
// its client, under `gpumix run` with the fake NVML driver. What the run
// stores (TTFT, TPOT and tokens per request), the token SLO verdicts, NP by
// TPOT, and the report's TTFT and TPOT percentiles and charts. About 5 s.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "fake_driver.hpp"
#include "harness.hpp"
#include "results.hpp"

namespace gpumix::test {
namespace {

using namespace std::chrono_literals;

// Each completion: 6 tokens, the first 20 ms after the request arrives, then
// one every 5 ms alone and every 40 ms under timeslice. The objectives on
// TPOT (20 ms) hold alone and break under timeslice whatever the machine's
// load adds to the sleeps; TTFT's (1 s) and latency's (5 s) hold in both.
const char* kMix = R"(name: llm
cell_duration: 2s
stop_grace: 2s
modes: [exclusive, timeslice]
evidence: {min_iterations: 10}
workloads:
  - name: llm
    role: server
    command: [SERVER, --ttft-ms, "20", --tpot-ms, "5", --tpot-ms-in, "timeslice=40"]
    slo: {tpot_p90: 20ms}
  - name: chat
    builtin: loadgen
    start_after: llm
    args: {api: openai, rate: 20, prompt-len: "8", output-len: "6", warmup: 0s, connections: 8}
    slo: {ttft_p90: 1s, tpot_p90: 20ms, p90: 5s}
)";

const nlohmann::json* find_named(const nlohmann::json& list, const char* key, const std::string& name) {
  for (const auto& x : list)
    if (x.value(key, "") == name) return &x;
  return nullptr;
}

TEST(LlmMix, TokenSlosNpByTpotAndTheReportsTokenPercentiles) {
  ScratchDir dir;
  FakeDriver driver(dir, {{"driver_version", "580.95.05"}, {"cuda_driver_version", 13000}, {"gpus", {h200(0)}}});
  std::string mix = kMix;
  mix.replace(mix.find("SERVER"), 6, GPUMIX_OPENAI_TESTSERVER);
  dir.write("mix.yaml", mix);
  auto r = gpumix({"run", "mix.yaml"}, dir.path(), 120s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  // Every streamed completion's tokens are stored with its latency, by the server and by the client.
  const auto d = latest_run(dir / "results");
  for (const char* cell : {"baseline-chat-r1", "timeslice-r1"}) {  // the server's baseline is with its client
    const double pace = std::string(cell) == "timeslice-r1" ? 40 : 5;
    for (const char* who : {"llm", "chat"}) {
      const int64_t id = d.workload(cell, who).id;
      int completions = 0;
      for (const auto& e : d.events) {
        // A stream cut by the cell's end (its server stopped first) is a failed request, without tokens.
        if (e.workload_id != id || e.ev != "latency" || e.data.find("\"ok\":false") != std::string::npos) continue;
        ++completions;
        ASSERT_TRUE(e.ttft_ms && e.tpot_ms && e.output_tokens) << cell << " " << who << ": " << e.data;
        EXPECT_EQ(*e.output_tokens, 6);
        EXPECT_GE(*e.ttft_ms, 20) << e.data;
        // The server sleeps at least its pace between tokens; the client reads them a little late or early.
        EXPECT_GE(*e.tpot_ms, std::string(who) == "llm" ? pace : pace / 2) << e.data;
        EXPECT_LT(*e.tpot_ms, pace * 1.5 + 20) << e.data;
        EXPECT_GE(*e.ms, *e.ttft_ms + 5 * *e.tpot_ms - 1e-6) << "end to end reaches the last token: " << e.data;
      }
      EXPECT_GE(completions, 20) << cell << " " << who;
    }
  }

  auto json_report = gpumix({"report", "--format", "json"}, dir.path(), 60s);
  ASSERT_EQ(json_report.exit_code, 0) << json_report.err;
  const auto doc = nlohmann::json::parse(json_report.out);
  const auto* ts = find_named(doc["modes"], "mode", "timeslice");
  const auto* alone = find_named(doc["modes"], "mode", "exclusive");
  ASSERT_TRUE(ts && alone) << json_report.out.substr(0, 2000);
  const auto* llm = find_named((*ts)["workloads"], "workload", "llm");
  ASSERT_TRUE(llm);
  // NP by TPOT: 5 ms alone ÷ 40 ms shared, plus what sleeping adds to each.
  EXPECT_EQ((*llm)["np_basis"], "tpot");
  const double np = (*llm)["np"]["mean"];
  EXPECT_GT(np, 0.05);
  EXPECT_LT(np, 0.4);
  // Its SLO and the client's: TPOT missed under timeslice, met alone; TTFT and latency met.
  std::map<std::string, bool> met, met_alone;
  for (const auto& m : {ts, alone})
    for (const auto& w : (*m)["workloads"])
      for (const auto& s : w["slos"]) (m == ts ? met : met_alone)[s["label"].get<std::string>()] = s["met"];
  EXPECT_EQ(met, (std::map<std::string, bool>{{"chat p90 <= 5000 ms", true},
                                              {"chat ttft_p90 <= 1000 ms", true},
                                              {"chat tpot_p90 <= 20 ms", false},
                                              {"llm tpot_p90 <= 20 ms", false}}));
  EXPECT_TRUE(met_alone["chat tpot_p90 <= 20 ms"]);
  EXPECT_TRUE(met_alone["llm tpot_p90 <= 20 ms"]);
  EXPECT_FALSE(doc["recommendation"]["slos_met"]);
  // The TTFT and TPOT percentiles per mode and workload, and per cell.
  const auto* chat = find_named((*ts)["workloads"], "workload", "chat");
  ASSERT_TRUE(chat && (*chat)["tokens"].is_object()) << (*ts)["workloads"].dump();
  const double tpot_p50 = (*chat)["tokens"]["tpot_ms"]["p50"]["mean"];
  const double ttft_p90 = (*chat)["tokens"]["ttft_ms"]["p90"]["mean"];
  EXPECT_GE(tpot_p50, 20);
  EXPECT_LT(tpot_p50, 80);
  EXPECT_GE(ttft_p90, 20);
  EXPECT_GE((*chat)["tokens"]["requests"].get<int>(), 20);
  const double alone_tpot_p50 = (*find_named((*alone)["workloads"], "workload", "chat"))["tokens"]["tpot_ms"]["p50"]["mean"];
  EXPECT_GE(alone_tpot_p50, 2.5);
  EXPECT_LT(alone_tpot_p50, 20);
  const auto* cell = find_named(doc["cells"], "label", "timeslice-r1");
  ASSERT_TRUE(cell);
  const auto* cell_chat = find_named((*cell)["workloads"], "name", "chat");
  ASSERT_TRUE(cell_chat);
  EXPECT_DOUBLE_EQ((*cell_chat)["tokens"]["tpot_ms"]["p50"].get<double>(), tpot_p50);  // one repeat: the mode's is the cell's

  // The text report's table and the HTML report's CDFs (drawn by the same
  // code as the latency CDF, which report_cli_test renders in Chromium).
  auto text = gpumix({"report", "--format", "text"}, dir.path(), 60s);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("Time to first token and per output token per mode"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("tpot_p90<=20ms:MISSED"), std::string::npos) << text.out;
  auto html = gpumix({"report", "-o", (dir.path() / "report.html").string()}, dir.path(), 60s);
  ASSERT_EQ(html.exit_code, 0) << html.err;
  const std::string page(std::istreambuf_iterator<char>(std::ifstream(dir.path() / "report.html").rdbuf()), {});
  EXPECT_NE(page.find("id=\"chart-ttft-cdf\""), std::string::npos);
  EXPECT_NE(page.find("id=\"chart-tpot-cdf\""), std::string::npos);
  // `gpumix show` judges the token SLOs per cell too.
  auto show = gpumix({"show"}, dir.path(), 60s);
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("ttft_p90<=1000ms:met"), std::string::npos) << show.out;
}

// A mix without token samples shows no token section, table or chart.
TEST(LlmMix, ARunWithoutTokensHasNoTokenSection) {
  ScratchDir dir;
  dir.write("mix.yaml", R"(name: plain
cell_duration: 1s
modes: [exclusive]
workloads:
  - name: server
    role: server
    command: [TESTLOAD, --iters, "0", --interval-ms, "5", --latency-ms, "4"]
)");
  ASSERT_EQ(gpumix({"run", "mix.yaml"}, dir.path(), 60s).exit_code, 0);
  auto text = gpumix({"report", "--format", "text"}, dir.path(), 60s);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("Request latency per cell"), std::string::npos) << text.out;
  EXPECT_EQ(text.out.find("Time to first token"), std::string::npos) << text.out;
  auto html = gpumix({"report", "-o", (dir.path() / "report.html").string()}, dir.path(), 60s);
  ASSERT_EQ(html.exit_code, 0) << html.err;
  const std::string page(std::istreambuf_iterator<char>(std::ifstream(dir.path() / "report.html").rdbuf()), {});
  EXPECT_EQ(page.find("chart-ttft-cdf"), std::string::npos);
  EXPECT_NE(page.find("chart-latency-cdf"), std::string::npos);
}

}  // namespace
}  // namespace gpumix::test
