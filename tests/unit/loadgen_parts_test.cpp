// The load generator's pure parts: arrival schedule, option parsing, request
// data, summaries and the sweep algorithm (the KServe codec it shares with the
// server is tested in serving_test.cpp).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "gpumix/loadgen/kserve.hpp"
#include "gpumix/loadgen/result_json.hpp"
#include "gpumix/loadgen/schedule.hpp"
#include "gpumix/loadgen/summary.hpp"
#include "gpumix/loadgen/sweep.hpp"
#include "gpumix/util/errors.hpp"

using namespace gpumix;
using namespace gpumix::loadgen;
using namespace std::chrono_literals;

TEST(LoadgenSchedule, PoissonMeanGapAndCountAreThoseOfTheRate) {
  PoissonSchedule s(500.0, 42);
  std::vector<double> gaps;
  double prev = 0;
  EXPECT_EQ(s.next().count(), 0);  // the first request goes at once
  for (int i = 0; i < 10000; ++i) {
    const double t = to_seconds(s.next());
    gaps.push_back(t - prev);
    prev = t;
  }
  double mean = 0, var = 0;
  for (double g : gaps) mean += g;
  mean /= gaps.size();
  for (double g : gaps) var += (g - mean) * (g - mean);
  var /= gaps.size() - 1;
  EXPECT_NEAR(mean, 1.0 / 500, 0.03 / 500);  // within 3 %
  // Exponential: the standard deviation equals the mean.
  EXPECT_NEAR(std::sqrt(var), 1.0 / 500, 0.05 / 500);
  for (double g : gaps) ASSERT_GE(g, 0);
}

TEST(LoadgenSchedule, SameSeedSameScheduleOtherSeedOther) {
  PoissonSchedule a(1000, 7), b(1000, 7), c(1000, 8);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    const auto ta = a.next(), tb = b.next(), tc = c.next();
    ASSERT_EQ(ta, tb) << "at " << i;
    differs |= ta != tc;
  }
  EXPECT_TRUE(differs);
}

TEST(LoadgenOptions, SloParsing) {
  auto s = parse_slos("p99=25ms,p99.9=0.1s,p50=500us");
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].percentile, 99);
  EXPECT_EQ(s[0].limit, 25ms);
  EXPECT_EQ(s[0].text, "p99=25ms");
  EXPECT_DOUBLE_EQ(s[1].percentile, 99.9);
  EXPECT_EQ(s[1].limit, 100ms);
  for (const char* bad : {"99=25ms", "p99", "p99=", "p100=1s", "p0=1s", "px=1s", "p99=-1ms", "p99=0ms", "p99=fast",
                          "p99=25ms,", ""}) {
    try {
      parse_slos(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("--slo"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("expected pNN=DURATION"), std::string::npos) << e.what();
    }
  }
}

TEST(LoadgenOptions, UrlParsing) {
  auto e = parse_url("http://127.0.0.1:8000");
  EXPECT_EQ(e.host, "127.0.0.1");
  EXPECT_EQ(e.port, 8000);
  EXPECT_EQ(e.prefix, "");
  e = parse_url("http://server/kserve/");
  EXPECT_EQ(e.host, "server");
  EXPECT_EQ(e.port, 80);
  EXPECT_EQ(e.prefix, "/kserve");
  e = parse_url("http://[::1]:9000");
  EXPECT_EQ(e.host, "::1");
  EXPECT_EQ(e.port, 9000);
  for (const char* bad : {"127.0.0.1:8000", "https://x", "http://", "http://x:0", "http://x:70000", "http://x:12a",
                          "localhost"}) {
    EXPECT_THROW(parse_url(bad), InputError) << bad;
  }
  try {
    parse_url("https://x");
  } catch (const InputError& err) {
    EXPECT_NE(std::string(err.what()).find("only http:// is supported"), std::string::npos) << err.what();
  }
}

// Issue 15: a URL of some tens of thousands of characters (from a server's
// `ready` event, say) crashed the client (std::regex recursing per character).
TEST(LoadgenOptions, VeryLongUrlsAreParsedOrRefusedWithAShortMessage) {
  const std::string host(300000, 'h');
  const auto e = parse_url("http://" + host + ":8080/" + host + "/");
  EXPECT_EQ(e.host, host);
  EXPECT_EQ(e.port, 8080);
  EXPECT_EQ(e.prefix, "/" + host);
  for (const std::string& bad : {"http://" + host + ":", "http://[" + host + "]", "h" + host + "tp://x", "http://x:" + host}) {
    try {
      parse_url(bad);
      ADD_FAILURE() << "accepted a bad URL of " << bad.size() << " characters";
    } catch (const InputError& err) {
      EXPECT_LT(std::string(err.what()).size(), 400u) << "the message quotes the URL in full";
    }
  }
}

TEST(LoadgenOptions, ShapeParsing) {
  EXPECT_EQ(parse_shape("1,3,224,224"), (std::vector<int64_t>{1, 3, 224, 224}));
  for (const char* bad : {"", "1,,3", "1,x", "0,3", "-1,3", "1,3,", "100000,100000"})
    EXPECT_THROW(parse_shape(bad), InputError) << bad;
}

TEST(LoadgenKServe, RandomTensorDataIsTheInputsSizeAndSeeded) {
  const kserve::TensorSpec u8{"input", kserve::DataType::uint8, {1, 3, 224, 224}};
  EXPECT_EQ(random_tensor_data(u8, 1).size(), 150528u);
  EXPECT_EQ(random_tensor_data(u8, 1), random_tensor_data(u8, 1));
  EXPECT_NE(random_tensor_data(u8, 1), random_tensor_data(u8, 2));
  const kserve::TensorSpec f32{"x", kserve::DataType::fp32, {2, 5}};
  const auto data = random_tensor_data(f32, 1);
  ASSERT_EQ(data.size(), 40u);
  for (size_t at = 0; at < data.size(); at += 4) {
    float f;
    std::memcpy(&f, data.data() + at, sizeof f);
    EXPECT_GE(f, 0.0f);
    EXPECT_LT(f, 1.0f);
  }
}

namespace {
Record rec(double ms, Outcome o = Outcome::ok, int status = 0, bool late = false) {
  Record r;
  r.latency = std::chrono::duration_cast<Duration>(std::chrono::duration<double, std::milli>(ms));
  r.outcome = o;
  r.status = status;
  r.late = late;
  r.message = status ? "m" + std::to_string(status) : "";
  return r;
}
}  // namespace

TEST(LoadgenSummary, ExactPercentilesOfSuccessesFailuresApart) {
  LoadResult lr;
  for (int i = 1; i <= 1000; ++i) lr.records.push_back(rec(i, Outcome::ok, 0, i % 100 == 0));  // 1..1000 ms
  for (int i = 0; i < 5; ++i) lr.records.push_back(rec(1, Outcome::error, 503));
  lr.records.push_back(rec(1, Outcome::error, 400));
  for (int i = 0; i < 4; ++i) lr.records.push_back(rec(5000, Outcome::timeout));
  lr.span = 2s;
  auto s = summarize(lr, parse_slos("p50=500ms,p99=990ms"), 500, 0);
  EXPECT_EQ(s.requests, 1010);
  EXPECT_EQ(s.ok, 1000);
  EXPECT_EQ(s.errors, 6);
  EXPECT_EQ(s.timeouts, 4);
  EXPECT_EQ(s.late, 10);
  EXPECT_NEAR(*s.p50, 500.5, 1e-6);  // type 7 over 1..1000
  EXPECT_NEAR(*s.p99, 990.01, 1e-6);
  EXPECT_NEAR(*s.max, 1000, 1e-6);   // the 5 s timeouts are not latencies
  EXPECT_NEAR(*s.mean, 500.5, 1e-6);
  EXPECT_NEAR(s.achieved_rps, 500, 1e-9);
  EXPECT_EQ(s.failures.at(503).first, 5);
  EXPECT_EQ(s.failures.at(503).second, "m503");
  EXPECT_EQ(s.failures.at(400).first, 1);
  ASSERT_EQ(s.slos.size(), 2u);
  EXPECT_NEAR(s.slos[0].attainment, 500.0 / 1010, 1e-12);  // failures count against it
  EXPECT_FALSE(s.slos[0].met);
  EXPECT_NEAR(s.slos[1].attainment, 990.0 / 1010, 1e-12);
  EXPECT_FALSE(s.slos[1].met);
  EXPECT_FALSE(s.slo_met());
  EXPECT_EQ(s.verdict(), Verdict::missed);
  auto t = summary_table({s}, parse_slos("p50=500ms,p99=990ms"));
  ASSERT_EQ(t.columns.size(), t.rows[0].size());
  EXPECT_EQ(t.columns[t.columns.size() - 2], "slo");
  EXPECT_EQ(std::get<std::string>(t.rows[0][t.columns.size() - 2]), "missed");
  EXPECT_EQ(t.columns.back(), "insufficient");
  EXPECT_TRUE(std::holds_alternative<std::monostate>(t.rows[0].back()));
}

// Issue 16: 2 requests early in a step were divided by their own short span
// (13.04 req/s "achieved" at 2 offered). The window is the step's.
TEST(LoadgenSummary, AchievedRateIsOverTheWholeWindowOrTheLateSpan) {
  LoadResult few;
  for (double at : {0.10, 0.25}) {
    Record r = rec(5);
    r.scheduled = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(at));
    few.records.push_back(r);
  }
  few.window = 1s;
  few.span = 255ms;
  EXPECT_NEAR(summarize(few, {}, 2, 0).achieved_rps, 2.0, 1e-9);
  // Overloaded: 40 scheduled in 1 s, the last answered 2 s in: 20/s, not 40.
  LoadResult late;
  for (int i = 0; i < 40; ++i) late.records.push_back(rec(1));
  late.window = 1s;
  late.span = 2s;
  EXPECT_NEAR(summarize(late, {}, 40, 0).achieved_rps, 20.0, 1e-9);
}

TEST(LoadgenSummary, TooFewRequestsOrTooShortIsInsufficientAndSaysWhy) {
  EXPECT_EQ(samples_for_percentile(50), 2);
  EXPECT_EQ(samples_for_percentile(90), 10);
  EXPECT_EQ(samples_for_percentile(95), 20);
  EXPECT_EQ(samples_for_percentile(99), 100);
  EXPECT_EQ(samples_for_percentile(99.9), 1000);
  auto make = [](int n, Duration window) {
    LoadResult lr;
    for (int i = 0; i < n; ++i) lr.records.push_back(rec(1));
    lr.window = window;
    return lr;
  };
  const Minimum minimum{100, 1s};
  const auto slos = parse_slos("p99=25ms");
  auto enough = summarize(make(100, 1s), slos, 100, 0, minimum);
  EXPECT_FALSE(enough.insufficient) << *enough.insufficient;
  EXPECT_EQ(enough.verdict(), Verdict::met);
  EXPECT_EQ(enough.thin_percentiles, std::vector<std::string>{"p99.9"});

  auto few = summarize(make(48, 1s), slos, 48, 0, minimum);
  ASSERT_TRUE(few.insufficient);
  EXPECT_EQ(*few.insufficient, "48 requests, minimum 100");
  EXPECT_EQ(few.verdict(), Verdict::insufficient);  // met, but over too few to count
  EXPECT_EQ(few.thin_percentiles, (std::vector<std::string>{"p99", "p99.9"}));

  auto brief = summarize(make(500, 500ms), slos, 1000, 0, minimum);
  ASSERT_TRUE(brief.insufficient);
  EXPECT_EQ(*brief.insufficient, "measured 0.50 s, minimum 1s");

  // An objective's percentile needs its own minimum beyond --min-requests.
  auto tail = summarize(make(500, 2s), parse_slos("p99.9=25ms"), 250, 0, minimum);
  ASSERT_TRUE(tail.insufficient);
  EXPECT_EQ(*tail.insufficient, "p99.9=25ms needs at least 1000 requests");

  // A miss stays a miss however few the requests.
  LoadResult slow = make(10, 1s);
  for (auto& r : slow.records) r.latency = 100ms;
  EXPECT_EQ(summarize(slow, slos, 10, 0, minimum).verdict(), Verdict::missed);
  EXPECT_EQ(summarize(make(10, 1s), {}, 10, 0, minimum).verdict(), Verdict::none);
}

TEST(LoadgenSummary, NotesSayWhatMakesARowWeak) {
  auto step = [](double rate, int n) {
    LoadResult lr;
    for (int i = 0; i < n; ++i) lr.records.push_back(rec(1));
    lr.window = 1s;
    return summarize(lr, parse_slos("p99=25ms"), rate, 0, Minimum{100, 1s});
  };
  // One row: its thin percentiles on its own line.
  EXPECT_EQ(summary_notes({step(50, 50)}),
            (std::vector<std::string>{"50.0 req/s: insufficient: 50 requests, minimum 100",
                                      "50.0 req/s: 50 successful requests are too few for a tail percentile (p99 "
                                      "needs 100, p99.9 needs 1000)"}));
  // A sweep: one line per thin percentile; a drain that ran out; a server
  // that had not settled.
  auto drained = step(400, 200);
  drained.drain_expired = true;
  drained.unsent = 7;
  auto unsettled = step(200, 150);
  unsettled.settle = Settle{1, 30, 30, 40.0, 5.0, false};
  EXPECT_EQ(summary_notes({drained, unsettled}),
            (std::vector<std::string>{
                "400.0 req/s: requests still outstanding --timeout after the schedule's end are timeouts (7 never sent)",
                "200.0 req/s: the server had not settled before this step (probe 40.00 ms, target 5.00 ms)",
                "p99.9 needs 1000 successful requests, fewer at 400.0 req/s (200), 200.0 req/s (150)"}));
  EXPECT_TRUE(summary_notes({step(100, 1000)}).empty());
}

TEST(LoadgenJson, OneDocumentWithNumbersNullsAndTimes) {
  LoadResult lr;
  for (int i = 0; i < 200; ++i) lr.records.push_back(rec(2));
  lr.records.push_back(rec(1, Outcome::error, 503));
  lr.records.push_back(rec(1, Outcome::error, 0));
  lr.window = 1500ms;
  lr.span = 1510ms;
  auto s = summarize(lr, parse_slos("p99=25ms"), 100, 0, Minimum{100, 1s});
  s.started_ns = 1'795'000'000'250'000'000;
  s.ended_ns = 0;                             // unknown
  s.settle = Settle{0.5, 0.75, 3, 2.5, 5.0, true};
  const Target target{"http://127.0.0.1:8000", "m", "in", "UINT8", {1, 3, 8, 8}, 500, true};
  const auto doc = loadgen_json(target, {{"rate", 100}}, {s}, nullptr, std::nullopt, s.started_ns, 0);
  EXPECT_EQ(doc["schema_version"], kLoadgenSchemaVersion);
  EXPECT_EQ(doc["kind"], "gpumix.loadgen");
  EXPECT_EQ(doc["mode"], "open_loop");
  EXPECT_EQ(doc["started"], "2026-11-18T11:06:40.250Z");
  EXPECT_TRUE(doc["ended"].is_null());
  EXPECT_EQ(doc["target"]["shape"], nlohmann::json({1, 3, 8, 8}));
  EXPECT_EQ(doc["target"]["encoding"], "binary");
  EXPECT_EQ(doc["settings"]["rate"], 100);
  ASSERT_EQ(doc["steps"].size(), 1u);
  const auto& j = doc["steps"][0];
  EXPECT_TRUE(j["requests"].is_number_integer());
  EXPECT_EQ(j["requests"], 202);
  EXPECT_EQ(j["ok"], 200);
  EXPECT_EQ(j["errors"], 2);
  EXPECT_TRUE(j["concurrency"].is_null());
  EXPECT_DOUBLE_EQ(j["offered_rps"].get<double>(), 100);
  EXPECT_DOUBLE_EQ(j["achieved_rps"].get<double>(), 200 / 1.51);
  EXPECT_DOUBLE_EQ(j["latency_ms"]["p50"].get<double>(), 2);
  EXPECT_EQ(j["thin_percentiles"], nlohmann::json({"p99.9"}));
  EXPECT_EQ(j["slos"][0]["objective"], "p99=25ms");
  EXPECT_DOUBLE_EQ(j["slos"][0]["limit_ms"].get<double>(), 25);
  EXPECT_EQ(j["slo"], "met");  // 200 of 202 within 25 ms: 99.01 %
  EXPECT_TRUE(j["insufficient"].is_null());
  ASSERT_EQ(j["failures"].size(), 2u);
  EXPECT_TRUE(j["failures"][0]["status"].is_null());  // no response
  EXPECT_EQ(j["failures"][1]["status"], 503);
  EXPECT_EQ(j["settle"]["probes"], 3);
  EXPECT_EQ(j["settle"]["settled"], true);
  EXPECT_EQ(doc["result"]["slo"], "met");
  EXPECT_TRUE(doc["result"]["answer_rps"].is_null());

  // A sweep's result is its answer; without one, missed.
  SweepResult sw;
  sw.steps = {s};
  sw.best_rate = 100;
  sw.first_bad = 102;
  const auto swept = loadgen_json(target, {}, sw.steps, &sw, 1.25, 0, 0);
  EXPECT_EQ(swept["mode"], "sweep");
  EXPECT_DOUBLE_EQ(swept["result"]["answer_rps"].get<double>(), 100);
  EXPECT_DOUBLE_EQ(swept["result"]["unloaded_ms"].get<double>(), 1.25);
  EXPECT_EQ(swept["result"]["slo"], "met");
  sw.best_rate.reset();
  sw.reached_min = true;
  const auto none = loadgen_json(target, {}, sw.steps, &sw, std::nullopt, 0, 0);
  EXPECT_EQ(none["result"]["slo"], "missed");
  EXPECT_TRUE(none["result"]["answer_rps"].is_null());
  EXPECT_EQ(none["result"]["reached_min"], true);
}

TEST(LoadgenSummary, NothingMeasured) {
  auto s = summarize(LoadResult{}, parse_slos("p99=1s"), 10, 0);
  EXPECT_EQ(s.requests, 0);
  EXPECT_FALSE(s.p50);
  EXPECT_FALSE(s.slo_met());  // no evidence is not success
}

namespace {
// A server whose p99 is fine up to `knee` req/s and far above beyond it.
Summary fake_step(double rate, double knee) {
  LoadResult lr;
  for (int i = 0; i < 100; ++i) lr.records.push_back(rec(rate <= knee ? 5 : 100));
  lr.span = 1s;
  return summarize(lr, parse_slos("p99=25ms"), rate, 0);
}
}  // namespace

TEST(LoadgenSweep, GrowsThenBisectsToTheKnee) {
  std::vector<double> tried;
  auto r = sweep({100, 100000, 2, 0.02}, [&](double rate) { tried.push_back(rate); return fake_step(rate, 1234); },
                 [] { return false; });
  ASSERT_TRUE(r.best_rate);
  EXPECT_LE(*r.best_rate, 1234);
  EXPECT_GE(*r.best_rate, 1234 * 0.98);
  EXPECT_GT(*r.first_bad, 1234);
  EXPECT_LE(*r.first_bad - *r.best_rate, 0.02 * *r.best_rate);
  EXPECT_EQ(std::vector<double>(tried.begin(), tried.begin() + 6), (std::vector<double>{100, 200, 400, 800, 1600, 1200}));
  EXPECT_EQ(r.steps.size(), tried.size());
  EXPECT_LE(tried.size(), 12u);
}

TEST(LoadgenSweep, DescendsFromABadStartThenBisects) {
  std::vector<double> tried;
  auto r = sweep({1000, 10000, 4, 0.05, 1}, [&](double rate) { tried.push_back(rate); return fake_step(rate, 100); },
                 [] { return false; });
  EXPECT_EQ(std::vector<double>(tried.begin(), tried.begin() + 4), (std::vector<double>{1000, 250, 62.5, 156.25}));
  ASSERT_TRUE(r.best_rate);
  EXPECT_LE(*r.best_rate, 100);
  EXPECT_GE(*r.best_rate, 95);
  EXPECT_FALSE(r.reached_min);
  // Bad all the way down to --sweep-min: no answer.
  auto none = sweep({100, 1000, 2, 0.02, 20}, [](double rate) { return fake_step(rate, 1); }, [] { return false; });
  EXPECT_FALSE(none.best_rate);
  EXPECT_TRUE(none.reached_min);
  EXPECT_EQ(none.steps.size(), 4u);  // 100, 50, 25, 20
}

// A step over too few requests is never the answer, even when it met the
// objectives: the sweep treats it as bad.
TEST(LoadgenSweep, InsufficientStepsAreNeverTheAnswer) {
  auto step = [](double rate) {
    LoadResult lr;
    const int n = rate < 300 ? 50 : 100;  // the low rates have too few requests
    for (int i = 0; i < n; ++i) lr.records.push_back(rec(5));
    lr.window = 1s;
    return summarize(lr, parse_slos("p99=25ms"), rate, 0, Minimum{100, 1s});
  };
  auto r = sweep({400, 1000, 2, 0.5, 100}, step, [] { return false; });
  ASSERT_TRUE(r.best_rate);
  EXPECT_EQ(*r.best_rate, 1000);  // 400 and 800 met over 100 requests; then the cap
  auto low = sweep({200, 1000, 2, 0.5, 50}, step, [] { return false; });
  EXPECT_FALSE(low.best_rate);  // 200, 100, 50: all "met" over 50 requests
  EXPECT_TRUE(low.reached_min);
  for (const auto& s : low.steps) EXPECT_EQ(s.verdict(), Verdict::insufficient);
}

TEST(LoadgenSweep, EdgeCases) {
  auto never = [] { return false; };
  auto low = sweep({100, 1000, 2, 0.02}, [](double rate) { return fake_step(rate, 50); }, never);
  ASSERT_TRUE(low.best_rate);  // 100 missed, 50 met, then bisection
  EXPECT_EQ(low.steps[1].offered_rps, 50);
  EXPECT_EQ(*low.best_rate, 50);
  auto high = sweep({100, 1000, 2, 0.02}, [](double rate) { return fake_step(rate, 1e9); }, never);
  EXPECT_TRUE(high.reached_max);
  EXPECT_EQ(*high.best_rate, 1000);  // 100, 200, 400, 800, then the cap
  EXPECT_EQ(high.steps.size(), 5u);
  int calls = 0;
  auto stopped = sweep({100, 1000, 2, 0.02}, [&](double rate) { ++calls; return fake_step(rate, 1e9); },
                       [&] { return calls == 2; });
  EXPECT_TRUE(stopped.interrupted);
  EXPECT_EQ(stopped.steps.size(), 2u);
  EXPECT_THROW(sweep({0, 10, 2, 0.02}, [](double r) { return fake_step(r, 1); }, never), InputError);
  EXPECT_THROW(sweep({10, 5, 2, 0.02}, [](double r) { return fake_step(r, 1); }, never), InputError);
  EXPECT_THROW(sweep({10, 50, 1, 0.02}, [](double r) { return fake_step(r, 1); }, never), InputError);
  EXPECT_THROW(sweep({10, 50, 2, 0}, [](double r) { return fake_step(r, 1); }, never), InputError);
  EXPECT_THROW(sweep({10, 50, 2, 0.02, 20}, [](double r) { return fake_step(r, 1); }, never), InputError);  // min > start
}
