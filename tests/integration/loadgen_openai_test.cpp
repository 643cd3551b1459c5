// `gpumix loadgen --api openai` against an OpenAI-compatible streaming server
// on loopback whose first-token and per-token delays are known: TTFT, TPOT
// and inter-token latencies measured within tolerance of them, goodput,
// length distributions, SSE split across reads, broken streams, the sweep's
// knee, and the binary's options, output and metrics events. Tolerances are
// one-sided where a loaded machine can only add time.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <sstream>

#include "gpumix/loadgen/engine.hpp"
#include "gpumix/loadgen/openai.hpp"
#include "gpumix/loadgen/summary.hpp"
#include "gpumix/loadgen/sweep.hpp"
#include "harness.hpp"
#include "loadgen/openai_test_server.hpp"

using namespace gpumix;
using namespace gpumix::loadgen;
using gpumix::testing::OpenAiTestServer;
using gpumix::testing::StreamPlan;
using namespace std::chrono_literals;

namespace {

StreamPlan tokens_after(std::chrono::microseconds ttft, std::chrono::microseconds per_token) {
  StreamPlan p;
  p.ttft = ttft;
  p.per_token = per_token;
  return p;
}

// A closed-loop load of `requests` streamed completions of `output` tokens.
struct Llm {
  openai::Completions completions;
  LoadSpec spec;
  Llm(const OpenAiTestServer& server, const std::string& prompt, const std::string& output) {
    completions = {"tiny", Lengths::parse("--prompt-len", prompt), Lengths::parse("--output-len", output), 32000, 1};
    spec.endpoint = parse_url(server.url());
    spec.api = Api::openai;
    spec.model = "tiny";
    spec.completions = &completions;
    spec.timeout = 2s;
  }
  Summary run(int concurrency, int64_t requests, const std::vector<Slo>& slos = {}) {
    spec.concurrency = concurrency;
    spec.requests = requests;
    return summarize(run_load(spec, -1), slos, 0, concurrency);
  }
};

}  // namespace

// 20 ms to the first token, then one every 5 ms: TTFT ≥ 20 ms (the first
// token cannot come sooner), TPOT and the inter-token gaps 5 ms plus what a
// loaded machine adds — or a little less when the client reads the first
// token later than the last (hence 0.9×).
TEST(LoadgenOpenAi, TtftAndTpotAreThoseOfTheServer) {
  OpenAiTestServer server([](uint64_t, int) { return tokens_after(20ms, 5ms); });
  Llm llm(server, "32", "10");
  const auto s = llm.run(4, 40);
  EXPECT_EQ(server.bad_requests(), 0);
  ASSERT_EQ(s.ok, 40) << (s.failures.empty() ? "" : s.failures.begin()->second.second);
  ASSERT_TRUE(s.tokens);
  const auto& t = *s.tokens;
  EXPECT_EQ(t.output_tokens, 400);
  EXPECT_GE(*t.ttft_p50, 20.0);
  EXPECT_LT(*t.ttft_p50, 32.0);
  EXPECT_GE(*t.tpot_p50, 0.9 * 5.0);
  EXPECT_LT(*t.tpot_p50, 7.5);
  EXPECT_GE(*t.itl_p50, 0.9 * 5.0);
  EXPECT_LT(*t.itl_p50, 7.5);
  EXPECT_GE(*s.p50, 20.0 + 9 * 5.0);  // end to end: first token and 9 gaps
  EXPECT_LT(*s.p50, 20.0 + 9 * 5.0 + 25);
  EXPECT_NEAR(t.output_tps, 10 * s.achieved_rps, 1e-6);
}

// Every 4th request streams its tokens 30 ms apart, the others 2 ms: over
// requests TPOT p50 is ~2 ms and p90 ~30 ms; over tokens ITL p50 ~2 ms and
// p99 ~30 ms. Goodput under tpot_p50=10ms counts the fast three quarters.
TEST(LoadgenOpenAi, ItlOverTokensTpotOverRequestsAndGoodput) {
  OpenAiTestServer server([](uint64_t n, int) { return tokens_after(1ms, n % 4 == 0 ? 30ms : 2ms); });
  Llm llm(server, "8", "11");
  const auto slos = parse_slos("tpot_p50=10ms,ttft_p90=1s");
  const auto s = llm.run(8, 40, slos);
  ASSERT_EQ(s.ok, 40);
  const auto& t = *s.tokens;
  EXPECT_LT(*t.tpot_p50, 10.0);
  EXPECT_GE(*t.tpot_p90, 0.9 * 30.0);
  EXPECT_LT(*t.itl_p50, 10.0);
  EXPECT_GE(*t.itl_p99, 0.9 * 30.0);
  EXPECT_EQ(t.good, 30);
  ASSERT_TRUE(t.goodput_rps);
  EXPECT_NEAR(*t.goodput_rps, s.achieved_rps * 30 / 40, 1e-6);
  ASSERT_EQ(s.slos.size(), 2u);
  EXPECT_DOUBLE_EQ(s.slos[0].attainment, 0.75);
  EXPECT_TRUE(s.slos[0].met);
  EXPECT_TRUE(s.slos[1].met);
  // The same load against tpot_p90: missed, as a quarter of the requests are slow.
  EXPECT_FALSE(summarize(run_load(llm.spec, -1), parse_slos("tpot_p90=10ms"), 0, 8).slo_met());
}

// Each event in pieces cut inside "data:", inside the JSON and between the
// \r\n's, each a separate write on the wire: the same tokens are read.
TEST(LoadgenOpenAi, EventsSplitAcrossReadsAreReassembled) {
  OpenAiTestServer server([](uint64_t, int) {
    auto p = tokens_after(1ms, 2ms);
    p.split = true;
    return p;
  });
  Llm llm(server, "4", "6");
  const auto s = llm.run(2, 10);
  ASSERT_EQ(s.ok, 10) << (s.failures.empty() ? "" : s.failures.begin()->second.second);
  EXPECT_EQ(s.tokens->output_tokens, 60);
  EXPECT_GE(*s.tokens->tpot_p50, 0.9 * 2.0);
}

TEST(LoadgenOpenAi, BrokenStreamsErrorsAndStallsAreCountedApart) {
  OpenAiTestServer server([](uint64_t n, int) {
    auto p = tokens_after(1ms, 1ms);
    switch (n % 10) {
      case 1: p.malformed = true; break;
      case 2: p.truncated = true; break;
      case 3: p.status = 503; break;
      case 4: p.stall = true; break;
      default: break;
    }
    return p;
  });
  Llm llm(server, "4", "5");
  llm.spec.timeout = 300ms;
  const auto s = llm.run(4, 50);
  EXPECT_EQ(s.requests, 50);
  EXPECT_EQ(s.ok, 30);
  EXPECT_EQ(s.errors, 15);
  EXPECT_EQ(s.timeouts, 5);
  ASSERT_EQ(s.failures.count(503), 1u);
  EXPECT_EQ(s.failures.at(503).first, 5);
  EXPECT_EQ(s.failures.at(503).second, "test server says 503");
  ASSERT_EQ(s.failures.count(200), 1u);  // broken streams after a 200
  EXPECT_EQ(s.failures.at(200).first, 10);
  const auto& m = s.failures.at(200).second;
  EXPECT_TRUE(m.find("malformed event") == 0 || m == "the stream ended without data: [DONE]") << m;
  EXPECT_EQ(s.tokens->output_tokens, 30 * 5);  // only the successful requests' tokens
  server.stop();
}

TEST(LoadgenOpenAi, OutputLengthsFollowTheirDistribution) {
  OpenAiTestServer server([](uint64_t, int) { return tokens_after(0ms, 0ms); });
  Llm llm(server, "uniform:5-9", "normal:6,2");
  const auto s = llm.run(2, 200);
  ASSERT_EQ(s.ok, 200);
  const auto lengths = server.lengths();
  ASSERT_EQ(lengths.size(), 200u);
  int64_t out = 0, lo = 1 << 20, hi = 0;
  std::set<int64_t> prompts;
  for (const auto& [p, o] : lengths) {
    prompts.insert(p);
    out += o;
    lo = std::min(lo, o), hi = std::max(hi, o);
  }
  EXPECT_EQ(prompts, (std::set<int64_t>{5, 6, 7, 8, 9}));
  EXPECT_GE(lo, 1);
  EXPECT_GE(hi, 9);
  EXPECT_NEAR(static_cast<double>(out) / 200, 6, 0.5);
  EXPECT_EQ(s.tokens->output_tokens, out);  // the server streams max_tokens tokens, each counted
}

// TTFT counts from the scheduled send time: one connection for 100/s of
// 40 ms completions queues the sends, and the queueing is in the TTFT (no
// coordinated omission), not only the server's 10 ms.
TEST(LoadgenOpenAi, TtftCountsFromTheScheduledSendTime) {
  OpenAiTestServer server([](uint64_t, int) { return tokens_after(10ms, 10ms); });
  Llm llm(server, "4", "4");
  llm.spec.rate = 100;
  llm.spec.connections = 1;
  llm.spec.requests = 20;
  const auto s = summarize(run_load(llm.spec, -1), {}, 100, 0);
  ASSERT_EQ(s.ok, 20);
  EXPECT_GT(s.late, 10);
  EXPECT_GT(*s.tokens->ttft_p90, 200.0);  // the 18th request waits for 17 × 40 ms of others
  EXPECT_LT(*s.tokens->tpot_p50, 20.0);   // TPOT is the stream's own
}

// TPOT grows with the completions in flight (1 ms per token each): below
// ~50/s a completion mostly runs alone, towards 100/s (10 tokens of L ms
// each at L in flight: Little's law has no fixed point) they pile up. The
// sweep brackets the knee of tpot_p90=6ms.
TEST(LoadgenOpenAi, SweepFindsTheKneeOfAServerWhoseTpotGrowsWithConcurrency) {
  OpenAiTestServer server([](uint64_t, int in_flight) { return tokens_after(1ms, 1ms * in_flight); });
  Llm llm(server, "4", "10");
  llm.spec.connections = 64;
  llm.spec.warmup = 100ms;
  llm.spec.duration = 400ms;
  llm.spec.timeout = 1s;
  const auto slos = parse_slos("tpot_p90=6ms");
  auto r = sweep({25, 400, 2, 0.35, 5},
                 [&](double rate) {
                   LoadSpec s = llm.spec;
                   s.rate = rate;
                   s.min_requests = 10;
                   return summarize(run_load(s, -1), slos, rate, 0, {10, 400ms});
                 },
                 [] { return false; });
  std::string steps;
  for (const auto& st : r.steps)
    steps += fmt::format("{} req/s: {} requests, tpot p90 {:.2f} ms, {}\n", st.offered_rps, st.requests,
                         st.tokens->tpot_p90.value_or(-1), to_string(st.verdict()));
  ASSERT_TRUE(r.best_rate) << steps;
  ASSERT_TRUE(r.first_bad) << steps;
  EXPECT_GE(*r.best_rate, 25.0) << steps;
  EXPECT_LT(*r.best_rate, 100.0) << steps;
  EXPECT_LE(*r.first_bad, 100.0) << steps;
  EXPECT_LE(*r.first_bad - *r.best_rate, 0.35 * *r.best_rate) << steps;
}

// ---------------------------------------------------------------------------
// The binary.

TEST(LoadgenOpenAiCli, BadOptionsAreExit2WithTheOptionNamed) {
  test::ScratchDir dir;
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"--api", "grpc"}, "--api"},
      {{"--api", "openai", "--prompt-len", "uniform:3"}, "--prompt-len: 'uniform:3': a uniform range is A-B"},
      {{"--api", "openai", "--output-len", "file:/nonexistent"}, "--output-len: 'file:/nonexistent': cannot read"},
      {{"--api", "openai", "--slo", "ttft_p99=fast"}, "--slo: 'ttft_p99=fast'"},
      {{"--api", "openai", "--vocab", "0"}, "--vocab"},
      {{"--slo", "ttft_p99=500ms"}, "--slo: 'ttft_p99=500ms' needs --api openai"},
      {{"--prompt-len", "16"}, "--prompt-len needs --api openai"},
      {{"--api", "openai", "--shape", "1,3"}, "--shape is for --api kserve"},
  };
  for (const auto& [more, message] : cases) {
    std::vector<std::string> args = {"loadgen", "--rate", "10"};
    args.insert(args.end(), more.begin(), more.end());
    auto r = test::gpumix(args, dir.path(), 30s);
    EXPECT_EQ(r.exit_code, 2) << more.back() << ": " << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
  }
  // The built-in's description has the options, and a mix's args are checked against them.
  auto d = test::gpumix({"loadgen", "--describe"}, dir.path(), 30s);
  ASSERT_EQ(d.exit_code, 0) << d.err;
  std::set<std::string> names;
  const auto described = nlohmann::json::parse(d.out);
  for (const auto& o : described["options"]) names.insert(o["name"].get<std::string>());
  for (const char* n : {"api", "prompt-len", "output-len", "vocab"}) EXPECT_TRUE(names.count(n)) << n;
  auto mix = dir.write("mix.yaml", "workloads:\n  - name: load\n    builtin: loadgen\n    args: {api: openai, rate: 2, "
                                   "prompt-len: uniform:64-512, slo: ttft_p99=500ms}\n");
  auto ok = test::gpumix({"validate", mix.string()}, dir.path(), 30s);
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  auto bad = dir.write("bad.yaml", "workloads:\n  - name: load\n    builtin: loadgen\n    args: {api: grpc, rate: 2}\n");
  EXPECT_EQ(test::gpumix({"validate", bad.string()}, dir.path(), 30s).exit_code, 2);

  auto lengths = dir.write("lengths.txt", "4\n\nfour\n");
  auto r = test::gpumix({"loadgen", "--api", "openai", "--rate", "10", "--output-len", "file:" + lengths.string()},
                        dir.path(), 30s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--output-len: " + lengths.string() + ":3: expected a length"), std::string::npos) << r.err;
}

// The model from /v1/models, lengths from a file replayed in order, the JSON
// document's token fields and the latency events' TTFT and TPOT.
TEST(LoadgenOpenAiCli, JsonTableAndMetricsEventsCarryTokens) {
  test::ScratchDir dir;
  OpenAiTestServer server([](uint64_t, int) { return tokens_after(5ms, 2ms); });
  auto lengths = dir.write("out.txt", "3\n# comment\n5\n8\n");
  const auto events = dir.path() / "events.jsonl";
  auto r = test::gpumix({"loadgen", "--api", "openai", "--url", server.url(), "--concurrency", "2", "--requests", "12",
                         "--warmup", "0s", "--prompt-len", "uniform:5-9", "--output-len", "file:" + lengths.string(),
                         "--slo", "ttft_p90=1s,tpot_p90=1s", "--min-requests", "12", "--min-duration", "0s", "--format", "json"},
                        dir.path(), 60s, {{"GPUMIX_METRICS_FILE", events.string()}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(server.bad_requests(), 0);
  std::multiset<int64_t> sent;
  for (const auto& [p, o] : server.lengths()) sent.insert(o);
  EXPECT_EQ(sent, (std::multiset<int64_t>{3, 3, 3, 3, 5, 5, 5, 5, 8, 8, 8, 8}));
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["schema_version"], 1);
  EXPECT_EQ(doc["target"]["api"], "openai");
  EXPECT_EQ(doc["target"]["model"], "tiny");  // from GET /v1/models
  EXPECT_EQ(doc["settings"]["output_len"], "file:" + lengths.string());
  const auto& step = doc["steps"][0];
  EXPECT_EQ(step["ok"], 12);
  const auto& t = step["tokens"];
  EXPECT_EQ(t["output_tokens"], 4 * (3 + 5 + 8));
  EXPECT_GE(t["ttft_ms"]["p50"].get<double>(), 5.0);
  EXPECT_GE(t["tpot_ms"]["p50"].get<double>(), 0.9 * 2.0);
  EXPECT_TRUE(t["itl_ms"]["p99"].is_number());
  EXPECT_EQ(t["good"], 12);
  EXPECT_TRUE(t["goodput_rps"].is_number());
  EXPECT_EQ(step["slos"][0]["metric"], "ttft");
  EXPECT_EQ(step["slo"], "met");

  std::ifstream in(events);
  int latency = 0;
  for (std::string line; std::getline(in, line);) {
    const auto e = nlohmann::json::parse(line);
    if (e["ev"] != "latency") continue;
    ++latency;
    EXPECT_GE(e["ttft_ms"].get<double>(), 5.0) << line;
    EXPECT_GT(e["tpot_ms"].get<double>(), 0.0) << line;
    EXPECT_TRUE(e["output_tokens"] == 3 || e["output_tokens"] == 5 || e["output_tokens"] == 8) << line;
    EXPECT_GE(e["ms"].get<double>(), e["ttft_ms"].get<double>()) << line;
  }
  EXPECT_EQ(latency, 12);

  auto table = test::gpumix({"loadgen", "--api", "openai", "--url", server.url(), "--rate", "100", "--requests", "20",
                             "--warmup", "0s", "--output-len", "4", "--connections", "8"},
                            dir.path(), 60s);
  ASSERT_EQ(table.exit_code, 0) << table.err;
  for (const char* column : {"ttft_p99_ms", "tpot_p99_ms", "itl_p99_ms", "e2e_p99_ms", "output_tok/s"})
    EXPECT_NE(table.out.find(column), std::string::npos) << column << "\n" << table.out;
  auto csv = test::gpumix({"loadgen", "--api", "openai", "--url", server.url(), "--concurrency", "1", "--requests",
                           "3", "--warmup", "0s", "--output-len", "4", "--format", "csv"},
                          dir.path(), 60s);
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(csv.out.rfind("offered_rps,concurrency,achieved_rps", 0), 0u) << csv.out;
  EXPECT_NE(csv.out.find("ttft_p50_ms"), std::string::npos) << csv.out;

  // A model the server does not serve: an error naming the ones it does.
  auto wrong = test::gpumix({"loadgen", "--api", "openai", "--url", server.url(), "--model", "big", "--rate", "10"},
                            dir.path(), 60s);
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("model 'big' is not served (GET /v1/models lists: tiny)"), std::string::npos) << wrong.err;
}
