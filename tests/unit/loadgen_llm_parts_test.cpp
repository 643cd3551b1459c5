// The LLM load's pure parts: length distributions, the completion requests,
// the server-sent events parser fed in every split, the stream reader's
// timestamps and errors, and SLOs on tokens.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "gpumix/loadgen/lengths.hpp"
#include "gpumix/loadgen/openai.hpp"
#include "gpumix/loadgen/schedule.hpp"
#include "gpumix/util/errors.hpp"

using namespace gpumix;
using namespace gpumix::loadgen;
using namespace std::chrono_literals;

namespace {
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST(LoadgenLengths, EachDistributionDrawsWhatItSays) {
  std::mt19937_64 rng(1);
  EXPECT_EQ(Lengths::parse("--prompt-len", "64").draw(rng, 0), 64);
  const auto u = Lengths::parse("--prompt-len", "uniform:10-20");
  int64_t lo = 100, hi = 0;
  for (int i = 0; i < 2000; ++i) {
    const auto v = u.draw(rng, i);
    lo = std::min(lo, v), hi = std::max(hi, v);
  }
  EXPECT_EQ(lo, 10);
  EXPECT_EQ(hi, 20);
  const auto n = Lengths::parse("--output-len", "normal:100,10");
  double sum = 0;
  for (int i = 0; i < 4000; ++i) sum += static_cast<double>(n.draw(rng, i));
  EXPECT_NEAR(sum / 4000, 100, 1.5);
  // Clamped at 1: a normal around 1 never draws 0 or less.
  const auto low = Lengths::parse("--output-len", "normal:1,5");
  for (int i = 0; i < 1000; ++i) EXPECT_GE(low.draw(rng, i), 1);
  EXPECT_EQ(low.max(), 31);

  const auto path = std::filesystem::temp_directory_path() / "gpumix_lengths_test.txt";
  std::ofstream(path) << "# lengths\n3\n\n 7 \n5\n";
  const auto f = Lengths::parse("--output-len", "file:" + path.string());
  EXPECT_EQ(f.draw(rng, 0), 3);
  EXPECT_EQ(f.draw(rng, 1), 7);
  EXPECT_EQ(f.draw(rng, 2), 5);
  EXPECT_EQ(f.draw(rng, 3), 3);  // from the first again
  EXPECT_EQ(f.max(), 7);

  std::ofstream(path) << "3\n4x\n";
  EXPECT_EQ(error_of([&] { Lengths::parse("--output-len", "file:" + path.string()); }),
            "--output-len: " + path.string() + ":2: expected a length (an integer in 1..1048576), got '4x'");
  std::filesystem::remove(path);
}

TEST(LoadgenLengths, BadTextNamesTheOptionAndThePart) {
  const std::pair<const char*, const char*> cases[] = {
      {"0", "--prompt-len: '0': the length must be an integer in 1..1048576, got '0'"},
      {"uniform:5", "--prompt-len: 'uniform:5': a uniform range is A-B"},
      {"uniform:9-3", "--prompt-len: 'uniform:9-3': B must be at least A"},
      {"normal:10", "--prompt-len: 'normal:10': a normal distribution is MEAN,SD"},
      {"normal:10,-1", "--prompt-len: 'normal:10,-1': SD must be a number ≥ 0, got '-1'"},
      {"zipf:2", "--prompt-len: 'zipf:2': unknown distribution 'zipf'"},
      {"file:/nonexistent/lengths", "--prompt-len: 'file:/nonexistent/lengths': cannot read the file"},
  };
  for (const auto& [text, message] : cases)
    EXPECT_EQ(error_of([&] { Lengths::parse("--prompt-len", text); }).substr(0, std::string(message).size()), message)
        << text;
}

TEST(LoadgenOpenAi, CompletionRequestsAreSeededAndWellFormed) {
  openai::Completions c{"tiny", Lengths::parse("p", "uniform:5-50"), Lengths::parse("o", "7"), 100, 9};
  const auto a = c.make(3), b = c.make(3), other = c.make(4);
  EXPECT_EQ(a.body, b.body);
  EXPECT_NE(a.body, other.body);
  const auto j = nlohmann::json::parse(a.body);
  EXPECT_EQ(j["model"], "tiny");
  ASSERT_EQ(static_cast<int64_t>(j["prompt"].size()), a.prompt_tokens);
  for (const auto& t : j["prompt"]) EXPECT_TRUE(t.get<int64_t>() >= 0 && t.get<int64_t>() < 100);
  EXPECT_EQ(j["max_tokens"], 7);
  EXPECT_EQ(j["temperature"], 0);
  EXPECT_EQ(j["ignore_eos"], true);
  EXPECT_EQ(j["stream"], true);
  EXPECT_TRUE(j["seed"].is_number_integer());
}

// The same stream fed whole, byte by byte and split at every position gives
// the same events.
TEST(LoadgenOpenAi, SseParserGivesTheSameEventsWhateverTheSplit) {
  const std::string stream =
      ": a comment\n"
      "data: {\"a\":1}\n\n"
      "event: x\r\ndata:{\"b\":2}\r\n\r\n"
      "data: line1\ndata: line2\n\n"
      "data: [DONE]\n\n";
  const std::vector<std::string> expected = {R"({"a":1})", R"({"b":2})", "line1\nline2", "[DONE]"};
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    openai::SseParser p;
    auto events = p.feed(std::string_view(stream).substr(0, cut));
    for (auto& e : p.feed(std::string_view(stream).substr(cut))) events.push_back(e);
    EXPECT_EQ(events, expected) << "cut at " << cut;
    EXPECT_FALSE(p.mid_event());
  }
  openai::SseParser bytewise;
  std::vector<std::string> events;
  for (char c : stream)
    for (auto& e : bytewise.feed(std::string_view(&c, 1))) events.push_back(e);
  EXPECT_EQ(events, expected);
}

TEST(LoadgenOpenAi, StreamReaderTimesTokenChunksAndNamesBrokenStreams) {
  const auto t0 = openai::Clock::time_point{} + 1s;
  const auto chunk = [](const std::string& text) {
    return "data: {\"choices\":[{\"index\":0,\"text\":\"" + text + "\"}]}\n\n";
  };
  openai::StreamReader r;
  EXPECT_TRUE(r.feed(chunk(""), t0));  // a role chunk: no token
  EXPECT_TRUE(r.feed(chunk("a"), t0 + 10ms));
  EXPECT_TRUE(r.feed(chunk("b") + chunk("c").substr(0, 9), t0 + 15ms));
  EXPECT_TRUE(r.feed(chunk("c").substr(9), t0 + 22ms));
  EXPECT_TRUE(r.feed("data: {\"choices\":[{\"token_ids\":[1,2]}]}\n\ndata: [DONE]\n\n", t0 + 30ms));
  r.finish();
  EXPECT_FALSE(r.error()) << *r.error();
  EXPECT_EQ(*r.first(), t0 + 10ms);
  EXPECT_EQ(*r.last(), t0 + 30ms);
  EXPECT_EQ(r.tokens(), 5);
  EXPECT_EQ(r.gaps(), (std::vector<Duration>{5ms, 7ms, 8ms}));

  openai::StreamReader usage;
  usage.feed(chunk("a") + R"(data: {"choices":[],"usage":{"completion_tokens":9}})" "\n\ndata: [DONE]\n\n", t0);
  usage.finish();
  EXPECT_EQ(usage.tokens(), 9);

  const std::pair<std::string, std::string> broken[] = {
      {chunk("a") + "data: {\"choices\":[{\"text\":\"x\"\n\n", "malformed event (not a JSON object): {\"choices\""},
      {chunk("a"), "the stream ended without data: [DONE]"},
      {chunk("a") + "data: {\"cho", "the stream ended inside an event"},
      {"data: [DONE]\n\n", "the stream carried no tokens"},
      {R"(data: {"error":{"message":"out of memory"}})" "\n\n", "the server reported an error mid-stream: out of memory"},
      {R"(data: {"id":1})" "\n\n", "an event without choices"},
  };
  for (const auto& [body, message] : broken) {
    openai::StreamReader b;
    b.feed(body, t0);
    b.finish();
    ASSERT_TRUE(b.error()) << body;
    EXPECT_EQ(b.error()->substr(0, message.size()), message) << body;
  }
}

TEST(LoadgenOpenAi, ModelListAndErrorBodies) {
  EXPECT_EQ(openai::parse_model_ids(R"({"object":"list","data":[{"id":"a"},{"id":"b"}]})"),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_THROW(openai::parse_model_ids(R"({"data":[]})"), std::runtime_error);
  EXPECT_THROW(openai::parse_model_ids("<html>"), std::runtime_error);
  EXPECT_EQ(openai::error_message(R"({"error":{"message":"too long","type":"invalid"}})"), "too long");
  EXPECT_EQ(openai::error_message(R"({"detail":"Not Found"})"), "Not Found");
  EXPECT_EQ(openai::error_message("plain"), "plain");
}

TEST(LoadgenSlo, ObjectivesOnTokens) {
  const auto s = parse_slos("ttft_p99=500ms,tpot_p90=50ms,p99=2s,e2e_p50=1s");
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].metric, SloMetric::ttft);
  EXPECT_EQ(s[0].percentile, 99);
  EXPECT_EQ(s[0].limit, 500ms);
  EXPECT_EQ(s[1].metric, SloMetric::tpot);
  EXPECT_EQ(s[1].percentile, 90);
  EXPECT_EQ(s[2].metric, SloMetric::e2e);
  EXPECT_EQ(s[3].metric, SloMetric::e2e);
  EXPECT_EQ(s[3].text, "e2e_p50=1s");
  EXPECT_NE(error_of([] { parse_slos("ttft_p99=500ms,itl_p99=5ms"); }).find("--slo: 'itl_p99=5ms'"), std::string::npos);
  EXPECT_NE(error_of([] { parse_slos("tpot_q99=5ms"); }).find("--slo: 'tpot_q99=5ms'"), std::string::npos);
}
