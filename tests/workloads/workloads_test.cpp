// Runs the built-in workloads (CPU, tiny settings) as child processes and
// checks what they report through the metrics protocol
// (docs/metrics-protocol.md), their exit statuses, signal handling, argument
// errors and --describe; plus the loss-decreases test.
#include <nlohmann/json.hpp>
#include "process.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

using Value = nlohmann::json;
using wltest::Child;
using wltest::TempDir;

namespace {

const std::string kResnet = GPUMIX_RESNET_TRAIN_EXE;
const std::string kBert = GPUMIX_BERT_TRAIN_EXE;
const std::string kInfer = GPUMIX_BATCH_INFER_EXE;
const std::string kInteractive = GPUMIX_INTERACTIVE_EXE;

// Tiny CPU settings for each workload.
const std::vector<std::string> kResnetTiny{"--device", "cpu", "--model", "resnet18", "--batch-size", "2",
                                           "--image-size", "32", "--num-classes", "10", "--warmup-steps", "1"};
const std::vector<std::string> kBertTiny{"--device", "cpu", "--layers", "1", "--hidden", "32", "--heads", "2",
                                         "--seq-len", "16", "--vocab", "100", "--batch-size", "2", "--warmup-steps", "1"};
const std::vector<std::string> kInferTiny{"--device", "cpu", "--model", "resnet18", "--batch-size", "2",
                                          "--image-size", "32", "--warmup-steps", "1"};
const std::vector<std::string> kInteractiveTiny{"--device", "cpu", "--matmul-size", "64", "--batch-size", "1",
                                                "--image-size", "32", "--mlp-steps", "2", "--mlp-width", "32"};

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Every line must be a JSON object with a string `ev`.
std::vector<Value> parse_events(const std::string& text) {
  std::vector<Value> events;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    EXPECT_NE(nl, std::string::npos) << "last metrics line is not newline-terminated";
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    Value v;
    try {
      v = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "invalid JSON line: " << line << " (" << e.what() << ")";
      continue;
    }
    EXPECT_TRUE(v.is_object()) << line;
    if (!v.is_object()) continue;
    EXPECT_TRUE(v.contains("ev") && v["ev"].is_string()) << line;
    events.push_back(v);
  }
  return events;
}

std::vector<Value> of_kind(const std::vector<Value>& events, const std::string& ev) {
  std::vector<Value> out;
  for (const auto& e : events)
    if (e["ev"].get<std::string>() == ev) out.push_back(e);
  return out;
}

// The first info event that has `key`.
const Value* info_with(const std::vector<Value>& events, const std::string& key) {
  for (const auto& e : events)
    if (e["ev"].get<std::string>() == "info" && e.contains(key)) return &e;
  return nullptr;
}

int index_of(const std::vector<Value>& events, const std::string& ev) {
  for (size_t i = 0; i < events.size(); ++i)
    if (events[i]["ev"].get<std::string>() == ev) return static_cast<int>(i);
  return -1;
}

// Common checks of a clean run: info (config) before ready, `iterations`
// iter events of n == `n`, peak memory, done last with matching totals.
void check_clean_run(const std::vector<Value>& events, int64_t iterations, int64_t n) {
  ASSERT_FALSE(events.empty());
  const Value* config = info_with(events, "torch_version");
  ASSERT_NE(config, nullptr) << "no info event with the configuration";
  EXPECT_EQ((*config)["device"].get<std::string>(), "cpu");
  const int ready = index_of(events, "ready");
  ASSERT_GE(ready, 0) << "no ready event";
  EXPECT_EQ(of_kind(events, "ready").size(), 1u);
  const auto iters = of_kind(events, "iter");
  EXPECT_EQ(static_cast<int64_t>(iters.size()), iterations);
  for (const auto& it : iters) {
    ASSERT_TRUE(it["n"].is_number());
    EXPECT_EQ(it["n"].get<double>(), static_cast<double>(n));
    ASSERT_TRUE(it["ms"].is_number());
    EXPECT_GT(it["ms"].get<double>(), 0.0);
  }
  EXPECT_LT(index_of(events, "info"), ready) << "the configuration comes before ready";
  EXPECT_LT(ready, index_of(events, "iter"));
  const Value* mem = info_with(events, "peak_rss_bytes");
  ASSERT_NE(mem, nullptr) << "no info event with peak_rss_bytes";
  EXPECT_GT((*mem)["peak_rss_bytes"].get<double>(), 0.0);
  EXPECT_TRUE(of_kind(events, "error").empty());
  const Value& done = events.back();
  ASSERT_EQ(done["ev"].get<std::string>(), "done") << "done is not the last event";
  EXPECT_EQ(done["samples"].get<double>(), static_cast<double>(iterations * n));
  EXPECT_GT(done["seconds"].get<double>(), 0.0);
  EXPECT_GT(done["samples_per_s"].get<double>(), 0.0);
}

// ------------------------------------------------------------ clean runs

TEST(ResnetTrain, EmitsProtocolEvents) {
  TempDir dir;
  Child c(kResnet, kResnetTiny + std::vector<std::string>{"--iterations", "3"}, dir);
  ASSERT_TRUE(c.wait(120)) << "timed out";
  ASSERT_EQ(c.exit_code(), 0) << c.err();
  const auto events = parse_events(c.metrics());
  check_clean_run(events, 3, 2);
  for (const auto& it : of_kind(events, "iter")) EXPECT_TRUE(it["loss"].is_number());
  const Value* config = info_with(events, "torch_version");
  ASSERT_NE(config, nullptr);
  EXPECT_EQ((*config)["model"].get<std::string>(), "resnet18");
  EXPECT_EQ((*config)["precision"].get<std::string>(), "fp32");
  EXPECT_EQ(events.back()["stop"].get<std::string>(), "iterations");
}

TEST(BertTrain, EmitsProtocolEvents) {
  TempDir dir;
  Child c(kBert, kBertTiny + std::vector<std::string>{"--iterations", "3"}, dir);
  ASSERT_TRUE(c.wait(120)) << "timed out";
  ASSERT_EQ(c.exit_code(), 0) << c.err();
  const auto events = parse_events(c.metrics());
  check_clean_run(events, 3, 2);
  for (const auto& it : of_kind(events, "iter")) {
    ASSERT_TRUE(it["loss"].is_number());
    EXPECT_GT(it["loss"].get<double>(), 0.0);
  }
  const Value* config = info_with(events, "torch_version");
  ASSERT_NE(config, nullptr);
  EXPECT_EQ((*config)["layers"].get<double>(), 1.0);
  EXPECT_EQ((*config)["hidden"].get<double>(), 32.0);
  EXPECT_FALSE((*config)["cuda_graphs"].get<bool>());  // the CPU default
  // The optimizer's device-side step count: 1 warm-up step + 3 measured.
  EXPECT_EQ(events.back()["optimizer_steps"].get<double>(), 4.0);
}

TEST(BatchInfer, EmitsProtocolEventsAndVerifies) {
  TempDir dir;
  Child c(kInfer, kInferTiny + std::vector<std::string>{"--iterations", "3"}, dir);
  ASSERT_TRUE(c.wait(120)) << "timed out";
  ASSERT_EQ(c.exit_code(), 0) << c.err();
  const auto events = parse_events(c.metrics());
  check_clean_run(events, 3, 2);
  const Value* config = info_with(events, "verify_rel_err");
  ASSERT_NE(config, nullptr);
  // Folded batch norms (fp32) against the plain eval forward pass.
  EXPECT_LT((*config)["verify_rel_err"].get<double>(), 1e-3);
  EXPECT_EQ((*config)["verify_top1_agreement"].get<double>(), 1.0);
  EXPECT_TRUE((*config)["fold_bn"].get<bool>());
  EXPECT_FALSE((*config)["cuda_graphs"].get<bool>());
  EXPECT_FALSE((*config)["fused_conv"].get<bool>());  // cuDNN's fused calls: CUDA only
}

TEST(Interactive, EmitsCellLatenciesAndIdleFraction) {
  TempDir dir;
  Child c(kInteractive,
          kInteractiveTiny + std::vector<std::string>{"--cells", "6", "--think-mean", "50ms", "--think-dist", "fixed"},
          dir);
  ASSERT_TRUE(c.wait(120)) << "timed out";
  ASSERT_EQ(c.exit_code(), 0) << c.err();
  const auto events = parse_events(c.metrics());
  ASSERT_GE(index_of(events, "ready"), 0);
  const auto lat = of_kind(events, "latency");
  ASSERT_EQ(lat.size(), 6u);
  const std::vector<std::string> expected{"matmul", "conv", "mlp-train", "forward", "matmul", "conv"};
  for (size_t i = 0; i < lat.size(); ++i) {
    EXPECT_EQ(lat[i]["cell"].get<std::string>(), expected[i]);
    EXPECT_GE(lat[i]["ms"].get<double>(), 0.0);
  }
  const auto iters = of_kind(events, "iter");
  ASSERT_EQ(iters.size(), 6u);
  for (const auto& it : iters) EXPECT_EQ(it["n"].get<double>(), 1.0);
  const Value& done = events.back();
  ASSERT_EQ(done["ev"].get<std::string>(), "done");
  EXPECT_EQ(done["cells"].get<double>(), 6.0);
  const double idle = done["idle_fraction"].get<double>();
  EXPECT_GT(idle, 0.0);
  EXPECT_LT(idle, 1.0);
  // 5 think times of 50 ms.
  EXPECT_NEAR(done["idle_s"].get<double>(), 0.25, 0.1);
  EXPECT_TRUE(done["p50_ms_matmul"].is_number());
  EXPECT_NE(info_with(events, "peak_rss_bytes"), nullptr);
}

TEST(Interactive, SeededThinkTimesAreReproducible) {
  auto idle_of = [](const std::string& seed) {
    TempDir dir;
    Child c(kInteractive,
            kInteractiveTiny + std::vector<std::string>{"--cells", "4", "--think-mean", "30ms", "--seed", seed,
                                                        "--script", "matmul"},
            dir);
    EXPECT_TRUE(c.wait(60));
    EXPECT_EQ(c.exit_code(), 0) << c.err();
    const auto events = parse_events(c.metrics());
    return events.back()["idle_s"].get<double>();
  };
  const double a = idle_of("7"), b = idle_of("7");
  EXPECT_NEAR(a, b, 0.02);  // same draws; sleeps differ by scheduling only
}

TEST(ResnetTrain, StopsAfterDuration) {
  TempDir dir;
  Child c(kResnet, kResnetTiny + std::vector<std::string>{"--duration", "1s"}, dir);
  ASSERT_TRUE(c.wait(120)) << "timed out";
  ASSERT_EQ(c.exit_code(), 0) << c.err();
  const auto events = parse_events(c.metrics());
  const Value& done = events.back();
  ASSERT_EQ(done["ev"].get<std::string>(), "done");
  EXPECT_EQ(done["stop"].get<std::string>(), "duration");
  EXPECT_GE(done["seconds"].get<double>(), 1.0);
  EXPECT_LT(done["seconds"].get<double>(), 5.0);
  EXPECT_EQ(done["samples"].get<double>(), 2.0 * static_cast<double>(of_kind(events, "iter").size()));
}

TEST(Seeds, GpumixSeedIsTheDefaultSeed) {
  TempDir dir;
  Child c(kBert, kBertTiny + std::vector<std::string>{"--iterations", "1"}, dir, true, {{"GPUMIX_SEED", "42"}});
  ASSERT_TRUE(c.wait(120));
  ASSERT_EQ(c.exit_code(), 0) << c.err();
  const auto events = parse_events(c.metrics());
  const Value* config = info_with(events, "seed");
  ASSERT_NE(config, nullptr);
  EXPECT_EQ((*config)["seed"].get<double>(), 42.0);
}

TEST(Seeds, SameSeedSameLosses) {
  auto losses = [](const std::string& seed) {
    TempDir dir;
    Child c(kBert, kBertTiny + std::vector<std::string>{"--iterations", "3", "--seed", seed}, dir);
    EXPECT_TRUE(c.wait(120));
    std::vector<double> out;
    for (const auto& it : of_kind(parse_events(c.metrics()), "iter")) out.push_back(it["loss"].get<double>());
    return out;
  };
  const auto a = losses("5"), b = losses("5"), c = losses("6");
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  ASSERT_EQ(c.size(), 3u);
  bool differs = false;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(a[i], b[i], 1e-4 * std::abs(a[i])) << "step " << i;
    differs = differs || std::abs(a[i] - c[i]) > 1e-3;
  }
  EXPECT_TRUE(differs) << "another seed gave the same losses";
}

TEST(ResnetTrain, TrainsOnCifarBinaryFiles) {
  TempDir dir;
  const std::string data = dir.file("cifar");
  std::filesystem::create_directory(data);
  std::mt19937 rng(1);
  for (int f = 1; f <= 5; ++f) {
    std::ofstream out(data + "/data_batch_" + std::to_string(f) + ".bin", std::ios::binary);
    for (int r = 0; r < 4; ++r) {
      out.put(static_cast<char>(rng() % 10));
      for (int p = 0; p < 3072; ++p) out.put(static_cast<char>(rng() % 256));
    }
  }
  Child c(kResnet,
          std::vector<std::string>{"--device", "cpu", "--model", "resnet18", "--batch-size", "4", "--warmup-steps", "0",
                                   "--iterations", "2", "--data-dir", data},
          dir);
  ASSERT_TRUE(c.wait(120)) << "timed out";
  ASSERT_EQ(c.exit_code(), 0) << c.err();
  const auto events = parse_events(c.metrics());
  check_clean_run(events, 2, 4);
  const Value* config = info_with(events, "data");
  ASSERT_NE(config, nullptr);
  EXPECT_NE((*config)["data"].get<std::string>().find("cifar10 (20 images)"), std::string::npos);
  EXPECT_EQ((*config)["image_size"].get<double>(), 32.0);
  EXPECT_EQ((*config)["num_classes"].get<double>(), 10.0);
}

TEST(Standalone, PrintsHumanSummaryWithoutMetricsFd) {
  TempDir dir;
  Child c(kResnet, kResnetTiny + std::vector<std::string>{"--iterations", "2"}, dir, /*metrics=*/false);
  ASSERT_TRUE(c.wait(120));
  ASSERT_EQ(c.exit_code(), 0) << c.err();
  const std::string out = c.out();
  EXPECT_NE(out.find("model=resnet18"), std::string::npos) << out;
  EXPECT_NE(out.find("images/s"), std::string::npos) << out;
  EXPECT_NE(out.find("peak_rss_bytes"), std::string::npos) << out;
}

TEST(Standalone, InteractiveSummaryHasPerCellPercentiles) {
  TempDir dir;
  Child c(kInteractive, kInteractiveTiny + std::vector<std::string>{"--cells", "4", "--think-mean", "0s"}, dir,
          /*metrics=*/false);
  ASSERT_TRUE(c.wait(120));
  ASSERT_EQ(c.exit_code(), 0) << c.err();
  const std::string out = c.out();
  EXPECT_NE(out.find("idle fraction"), std::string::npos) << out;
  EXPECT_NE(out.find("p99 ms"), std::string::npos) << out;
  EXPECT_NE(out.find("mlp-train"), std::string::npos) << out;
}

// --------------------------------------------------------------- signals

struct SignalCase {
  std::string name, exe;
  std::vector<std::string> args;
  std::string wait_for;  // metrics text that shows the workload is mid-run
  double max_exit_s;
};

// Test names instead of byte dumps in the test listing.
void PrintTo(const SignalCase& c, std::ostream* os) { *os << c.name; }

class Sigterm : public ::testing::TestWithParam<SignalCase> {};

TEST_P(Sigterm, FinishesStepEmitsDoneExitsZero) {
  const auto& p = GetParam();
  TempDir dir;
  Child c(p.exe, p.args, dir);
  ASSERT_TRUE(c.wait_for_metrics(p.wait_for, 120)) << "never saw " << p.wait_for << "\n" << c.err();
  ASSERT_TRUE(c.running()) << "exited before the signal";
  const double t0 = wltest::now_s();
  c.signal(SIGTERM);
  ASSERT_TRUE(c.wait(30)) << "did not exit after SIGTERM";
  const double took = wltest::now_s() - t0;
  EXPECT_EQ(c.exit_code(), 0) << c.err();
  EXPECT_LT(took, p.max_exit_s);
  const auto events = parse_events(c.metrics());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back()["ev"].get<std::string>(), "done");
  EXPECT_EQ(events.back()["stop"].get<std::string>(), "signal");
  EXPECT_TRUE(of_kind(events, "error").empty());
}

INSTANTIATE_TEST_SUITE_P(
    Workloads, Sigterm,
    ::testing::Values(
        SignalCase{"resnet_train", kResnet, kResnetTiny, "\"ev\":\"iter\"", 5.0},
        SignalCase{"bert_train", kBert, kBertTiny, "\"ev\":\"iter\"", 5.0},
        SignalCase{"batch_infer", kInfer, kInferTiny, "\"ev\":\"iter\"", 5.0},
        // A 60 s think time must be cut short promptly.
        SignalCase{"interactive_thinking", kInteractive,
                   kInteractiveTiny + std::vector<std::string>{"--think-mean", "60s", "--think-dist", "fixed"},
                   "\"ev\":\"latency\"", 2.0}),
    [](const ::testing::TestParamInfo<SignalCase>& info) { return info.param.name; });

// ---------------------------------------------------------- bad arguments

struct BadArgCase {
  std::string name, exe;
  std::vector<std::string> args;
  std::vector<std::string> stderr_has;  // e.g. the option and the value
};

void PrintTo(const BadArgCase& c, std::ostream* os) { *os << c.name; }

class BadArgs : public ::testing::TestWithParam<BadArgCase> {};

TEST_P(BadArgs, ExitTwoWithOneLineNamingTheOption) {
  const auto& p = GetParam();
  TempDir dir;
  std::vector<std::string> args = p.args;
  // Placeholders for paths inside the temporary directory.
  for (auto& a : args) {
    if (a == "@MALFORMED_CIFAR" || a == "@INCOMPLETE_CIFAR" || a == "@BAD_LABEL_CIFAR") {
      const std::string d = dir.file("cifar");
      std::filesystem::create_directory(d);
      for (int f = 1; f <= 5; ++f) {
        if (a == "@INCOMPLETE_CIFAR" && f > 1) break;
        std::ofstream out(d + "/data_batch_" + std::to_string(f) + ".bin", std::ios::binary);
        const int bytes = (a == "@MALFORMED_CIFAR" && f == 3) ? 3073 * 2 + 100 : 3073 * 4;
        for (int i = 0; i < bytes; ++i) out.put(static_cast<char>((a == "@BAD_LABEL_CIFAR" && i == 0) ? 200 : 1));
      }
      a = d;
    }
  }
  Child c(p.exe, args, dir);
  ASSERT_TRUE(c.wait(60)) << "timed out";
  EXPECT_EQ(c.exit_code(), 2) << c.err();
  const std::string err = c.err();
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << "not one line: " << err;
  for (const auto& s : p.stderr_has) EXPECT_NE(err.find(s), std::string::npos) << "'" << s << "' not in: " << err;
  EXPECT_EQ(c.metrics().find("\"ready\""), std::string::npos) << "started working despite a bad argument";
  EXPECT_LT(c.seconds(), 20.0) << "bad arguments must be reported before heavy work";
}

INSTANTIATE_TEST_SUITE_P(
    Workloads, BadArgs,
    ::testing::Values(
        BadArgCase{"resnet_unknown_model", kResnet, {"--model", "resnet99"}, {"--model", "resnet99"}},
        BadArgCase{"resnet_zero_batch", kResnet, {"--batch-size", "0"}, {"--batch-size", "0"}},
        BadArgCase{"resnet_negative_batch", kResnet, {"--batch-size", "-4"}, {"--batch-size", "-4"}},
        BadArgCase{"resnet_not_a_number", kResnet, {"--batch-size", "many"}, {"--batch-size", "many"}},
        BadArgCase{"resnet_unknown_option", kResnet, {"--bogus", "1"}, {"--bogus"}},
        BadArgCase{"resnet_bad_bool", kResnet, {"--channels-last", "maybe"}, {"--channels-last", "maybe"}},
        BadArgCase{"resnet_missing_data_dir",
                   kResnet,
                   {"--device", "cpu", "--data-dir", "/nonexistent/gpumix-cifar"},
                   {"--data-dir", "/nonexistent/gpumix-cifar"}},
        BadArgCase{"resnet_incomplete_cifar",
                   kResnet,
                   {"--device", "cpu", "--data-dir", "@INCOMPLETE_CIFAR"},
                   {"--data-dir", "data_batch_2.bin"}},
        BadArgCase{"resnet_malformed_cifar",
                   kResnet,
                   {"--device", "cpu", "--data-dir", "@MALFORMED_CIFAR"},
                   {"--data-dir", "malformed", "data_batch_3.bin", "3073"}},
        BadArgCase{"resnet_cifar_bad_label",
                   kResnet,
                   {"--device", "cpu", "--data-dir", "@BAD_LABEL_CIFAR"},
                   {"--data-dir", "label 200"}},
        BadArgCase{"bert_zero_batch", kBert, {"--batch-size", "0"}, {"--batch-size"}},
        BadArgCase{"bert_heads_do_not_divide",
                   kBert,
                   {"--device", "cpu", "--hidden", "30", "--heads", "4"},
                   {"--hidden", "--heads"}},
        BadArgCase{"bert_unknown_precision", kBert, {"--precision", "fp8"}, {"--precision", "fp8"}},
        BadArgCase{"infer_unknown_model", kInfer, {"--model", "vgg16"}, {"--model", "vgg16"}},
        BadArgCase{"infer_zero_batch", kInfer, {"--batch-size", "0"}, {"--batch-size"}},
        BadArgCase{"infer_cuda_graphs_on_cpu",
                   kInfer,
                   {"--device", "cpu", "--cuda-graphs", "true"},
                   {"--cuda-graphs"}},
        BadArgCase{"bert_cuda_graphs_on_cpu",
                   kBert,
                   {"--device", "cpu", "--cuda-graphs", "true"},
                   {"--cuda-graphs", "CUDA device"}},
        BadArgCase{"infer_fused_conv_on_cpu",
                   kInfer,
                   {"--device", "cpu", "--fused-conv", "true"},
                   {"--fused-conv", "CUDA device"}},
        BadArgCase{"infer_fused_conv_without_folding",
                   kInfer,
                   {"--device", "cpu", "--fold-bn", "false", "--fused-conv", "true"},
                   {"--fused-conv", "--fold-bn true"}},
        BadArgCase{"interactive_unknown_dist", kInteractive, {"--think-dist", "gauss"}, {"--think-dist", "gauss"}},
        BadArgCase{"interactive_unknown_cell",
                   kInteractive,
                   {"--device", "cpu", "--script", "matmul,train-gpt"},
                   {"--script", "train-gpt"}},
        BadArgCase{"interactive_negative_think",
                   kInteractive,
                   {"--think-mean", "-1"},
                   {"--think-mean", "must not be negative", "-1"}},
        // One meaning per name (docs/cli.md): a time has a unit, a count says what it counts.
        BadArgCase{"resnet_duration_without_unit", kResnet, {"--duration", "30"}, {"--duration: '30' has no unit"}},
        BadArgCase{"resnet_old_warmup", kResnet, {"--warmup", "5"},
                   {"--warmup was renamed --warmup-steps (it counts steps"}},
        BadArgCase{"bert_duration_without_unit", kBert, {"--duration", "2.5"}, {"--duration: '2.5' has no unit"}},
        BadArgCase{"bert_old_warmup", kBert, {"--warmup=5"}, {"--warmup was renamed --warmup-steps"}},
        BadArgCase{"infer_duration_without_unit", kInfer, {"--duration", "10"}, {"--duration: '10' has no unit"}},
        BadArgCase{"infer_old_warmup", kInfer, {"--warmup", "5"}, {"--warmup was renamed --warmup-steps"}},
        BadArgCase{"interactive_think_without_unit", kInteractive, {"--think-mean", "2"},
                   {"--think-mean: '2' has no unit"}},
        BadArgCase{"interactive_old_warmup", kInteractive, {"--warmup", "1"},
                   {"--warmup was renamed --warmup-passes (it counts passes"}}),
    [](const ::testing::TestParamInfo<BadArgCase>& info) { return info.param.name; });

// ----------------------------------------------------------------- errors

TEST(Errors, RuntimeErrorIsReportedThenExitOne) {
  TempDir dir;
  Child c(kResnet, kResnetTiny + std::vector<std::string>{"--iterations", "5"}, dir, true,
          {{"GPUMIX_TEST_FAIL_AT_STEP", "1"}});
  ASSERT_TRUE(c.wait(120));
  EXPECT_EQ(c.exit_code(), 1);
  const auto events = parse_events(c.metrics());
  const auto errors = of_kind(events, "error");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0]["msg"].get<std::string>().find("injected failure"), std::string::npos);
  EXPECT_NE(c.err().find("injected failure"), std::string::npos);
  EXPECT_TRUE(of_kind(events, "done").empty());
}

// --------------------------------------------------------------- describe

TEST(Describe, ListsEveryOptionAsJson) {
  struct Expect {
    std::string exe, name, role;
    std::vector<std::string> options;
  };
  const std::vector<Expect> all{
      {kResnet, "resnet-train", "training",
       {"model", "batch-size", "image-size", "precision", "channels-last", "num-classes", "lr", "data-dir"}},
      {kBert, "bert-train", "training",
       {"layers", "hidden", "heads", "seq-len", "vocab", "batch-size", "precision", "lr", "cuda-graphs"}},
      {kInfer, "batch-infer", "batch",
       {"model", "batch-size", "image-size", "precision", "channels-last", "cuda-graphs", "fused-conv"}},
      {kInteractive, "interactive", "interactive", {"cells", "think-mean", "think-dist", "script", "warmup-passes"}},
  };
  const std::set<std::string> types{"int", "float", "bool", "string", "duration"};
  for (const auto& e : all) {
    SCOPED_TRACE(e.name);
    TempDir dir;
    Child c(e.exe, {"--describe"}, dir, /*metrics=*/false);
    ASSERT_TRUE(c.wait(30));
    ASSERT_EQ(c.exit_code(), 0) << c.err();
    Value d;
    ASSERT_NO_THROW(d = nlohmann::json::parse(c.out())) << c.out();
    EXPECT_EQ(d["name"].get<std::string>(), e.name);
    EXPECT_EQ(d["role"].get<std::string>(), e.role);
    EXPECT_FALSE(d["description"].get<std::string>().empty());
    std::set<std::string> names;
    for (const auto& o : d["options"]) {
      const std::string n = o["name"].get<std::string>();
      EXPECT_TRUE(names.insert(n).second) << "duplicate " << n;
      EXPECT_EQ(types.count(o["type"].get<std::string>()), 1u) << n;
      EXPECT_TRUE(o["default"].is_string()) << n;
      EXPECT_FALSE(o["help"].get<std::string>().empty()) << n;
      if (o.contains("choices")) {
        // The default is one of the choices.
        bool found = false;
        for (const auto& ch : o["choices"]) found = found || ch.get<std::string>() == o["default"].get<std::string>();
        EXPECT_TRUE(found) << n;
      }
    }
    for (const auto& common : {"device", "seed", "iterations", "duration"}) EXPECT_EQ(names.count(common), 1u) << common;
    EXPECT_EQ(names.count("warmup"), 0u) << "a count named as a time";
    // Times are durations with a unit; the former --warmup is listed as renamed.
    for (const auto& o : d["options"])
      if (o["name"] == "duration" || o["name"] == "think-mean") EXPECT_EQ(o["type"], "duration") << o;
    ASSERT_TRUE(d["renamed"].is_array());
    ASSERT_EQ(d["renamed"].size(), 1u);
    EXPECT_EQ(d["renamed"][0]["name"], "warmup");
    EXPECT_EQ(names.count(d["renamed"][0]["now"].get<std::string>()), 1u);
    for (const auto& o : e.options) EXPECT_EQ(names.count(o), 1u) << o;
    EXPECT_EQ(names.count("describe"), 0u);
    EXPECT_EQ(names.count("help"), 0u);
  }
}

TEST(Describe, BooleansAndChoicesAreTyped) {
  TempDir dir;
  Child c(kInfer, {"--describe"}, dir, false);
  ASSERT_TRUE(c.wait(30));
  const Value d = nlohmann::json::parse(c.out());
  for (const auto& o : d["options"]) {
    const std::string n = o["name"].get<std::string>();
    if (n == "cuda-graphs" || n == "channels-last") {
      EXPECT_EQ(o["type"].get<std::string>(), "bool");
      EXPECT_TRUE(o["default"].get<std::string>() == "true" || o["default"].get<std::string>() == "false");
    }
    if (n == "model") {
      ASSERT_TRUE(o.contains("choices"));
      EXPECT_EQ(o["choices"].size(), 2u);
    }
    if (n == "batch-size") {
      EXPECT_EQ(o["type"].get<std::string>(), "int");
      EXPECT_EQ(o["default"].get<std::string>(), "64");
      EXPECT_EQ(o["cpu_default"].get<std::string>(), "4");
    }
  }
}

// ------------------------------------------------------- loss decreases

TEST(Training, LossDecreasesOnLearnableSyntheticTask) {
  TempDir dir;
  Child c(kResnet,
          {"--device", "cpu", "--model", "resnet18", "--image-size", "32", "--num-classes", "10", "--batch-size",
           "16", "--lr", "0.05", "--synthetic-batches", "16", "--warmup-steps", "0", "--iterations", "120", "--seed", "3"},
          dir);
  ASSERT_TRUE(c.wait(240)) << "timed out";
  ASSERT_EQ(c.exit_code(), 0) << c.err();
  const auto iters = of_kind(parse_events(c.metrics()), "iter");
  ASSERT_EQ(iters.size(), 120u);
  std::vector<double> loss;
  for (const auto& it : iters) loss.push_back(it["loss"].get<double>());
  // Medians: SGD at this rate on 16 batches of 16 spikes now and then (a
  // step of loss 12 among steps of 0.001 on this machine's CPU kernels), and
  // one spike must not decide whether the model learned.
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  const double first = median({loss.begin(), loss.begin() + 20});
  const double last = median({loss.end() - 20, loss.end()});
  RecordProperty("first20_median_loss", std::to_string(first));
  RecordProperty("last20_median_loss", std::to_string(last));
  EXPECT_LT(last, 0.5 * first) << "first 20 steps: " << first << ", last 20 steps: " << last;
}

// The same for the masked-LM encoder (token sequences are arithmetic
// progressions, so masked tokens are predictable from their neighbours).
TEST(Training, BertMlmLossDecreases) {
  TempDir dir;
  Child c(kBert,
          {"--device", "cpu", "--layers", "1", "--hidden", "64", "--heads", "2", "--seq-len", "16", "--vocab", "100",
           "--batch-size", "8", "--lr", "3e-3", "--dropout", "0", "--synthetic-batches", "16", "--warmup-steps", "0",
           "--iterations", "200", "--seed", "1"},
          dir);
  ASSERT_TRUE(c.wait(240)) << "timed out";
  ASSERT_EQ(c.exit_code(), 0) << c.err();
  const auto iters = of_kind(parse_events(c.metrics()), "iter");
  ASSERT_EQ(iters.size(), 200u);
  double first = 0, last = 0;
  for (size_t i = 0; i < 20; ++i) {
    first += iters[i]["loss"].get<double>() / 20;
    last += iters[iters.size() - 1 - i]["loss"].get<double>() / 20;
  }
  EXPECT_LT(last, 0.7 * first) << "first 20 steps: " << first << ", last 20 steps: " << last;
}

}  // namespace
