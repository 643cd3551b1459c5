// The shipped example mixes validate, and run end to end on the CPU.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "example_mixes.hpp"
#include "harness.hpp"
#include "results.hpp"

namespace gpumix::test {
namespace {

const std::filesystem::path kExamples = GPUMIX_EXAMPLES;

bool builtins_available() {
  return std::filesystem::exists(std::filesystem::path(kGpumix).parent_path() / "gpumix-resnet-train");
}

TEST(Examples, EveryExampleValidates) {
  ScratchDir dir;
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kExamples)) {
    if (entry.path().extension() != ".yaml" || needs_absent_llm_server(entry.path())) continue;
    auto r = gpumix({"validate", entry.path().string()}, dir.path());
    if (r.exit_code == 2 && r.err.find("not available") != std::string::npos && !builtins_available()) continue;
    EXPECT_EQ(r.exit_code, 0) << entry.path() << "\n" << r.err;
    ++checked;
  }
  EXPECT_GE(checked, 1);
}

TEST(Examples, DefaultMixRunsOnTheCpu) {
  if (!builtins_available()) GTEST_SKIP() << "built without LibTorch: no built-in workloads";
  ScratchDir dir;
  auto r = gpumix({"run", (kExamples / "default.yaml").string(), "--cell-duration", "8s", "--results",
                   (dir / "results").string()},
                  dir.path(), std::chrono::seconds(180));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto d = latest_run(dir / "results");
  EXPECT_EQ(d.run.status, store::RunStatus::completed);
  // Four baselines, then timeslice; mps and mig cannot exist without a GPU.
  ASSERT_EQ(d.cells.size(), 7u);
  for (const auto& c : d.cells) {
    if (c.mode == "mps" || c.mode == "mig") {
      EXPECT_EQ(c.status, store::CellStatus::skipped) << c.label;
      continue;
    }
    // One common window per cell, cell_duration long, opened after every workload was ready.
    EXPECT_GT(c.window_start_ns, c.started_ns) << c.label;
    EXPECT_NEAR(static_cast<double>(c.window_end_ns - c.window_start_ns) / 1e9, 8.0, 0.3) << c.label;
    for (const auto& w : d.workloads)
      if (w.cell_id == c.id) {
        EXPECT_GT(w.ready_ns, 0) << c.label << "/" << w.name;
        EXPECT_LE(w.ready_ns, c.window_start_ns) << c.label << "/" << w.name;
      }
  }
  for (const auto& s : d.summaries) {
    if (s.status == store::WorkloadStatus::skipped) continue;
    EXPECT_EQ(s.status, store::WorkloadStatus::ok) << s.cell << "/" << s.name << ": " << s.reason;
    EXPECT_TRUE(s.reported_ready) << s.cell << "/" << s.name;
    if (s.role == spec::Role::interactive)
      EXPECT_GT(s.requests, 0) << s.cell << "/" << s.name;
    else
      EXPECT_GT(s.iterations, 0) << s.cell << "/" << s.name;
  }
}

TEST(Examples, InferenceServerUnderLoadRunsOnTheCpu) {
  if (!builtins_available()) GTEST_SKIP() << "built without LibTorch: no built-in workloads";
  ScratchDir dir;
  // The example at a rate a CPU serves (the GPU example offers 2000 req/s).
  std::ifstream in(kExamples / "inference-server.yaml");
  std::string mix((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto at = mix.find("rate: 2000");
  ASSERT_NE(at, std::string::npos);
  mix.replace(at, 10, "rate: 20");
  const auto mix_path = dir.write("inference-server.yaml", mix);
  auto r = gpumix({"run", mix_path.string(), "--modes", "exclusive,timeslice",
                   "--cell-duration", "12s", "--results", (dir / "results").string()},
                  dir.path(), std::chrono::seconds(240));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto d = latest_run(dir / "results");
  // The clients' baseline holds the server; the server has no cell of its own.
  std::vector<std::string> labels;
  for (const auto& c : d.cells) labels.push_back(c.label);
  EXPECT_EQ(labels, (std::vector<std::string>{"baseline-clients-r1", "baseline-trainer-r1", "timeslice-r1"}));
  for (const std::string cell : {"baseline-clients-r1", "timeslice-r1"}) {
    const auto& clients = d.summary(cell, "clients");
    EXPECT_EQ(clients.status, store::WorkloadStatus::ok) << cell << ": " << clients.reason;
    EXPECT_EQ(clients.role, spec::Role::client);
    EXPECT_GT(clients.requests, 20) << cell << ": the load generator reached the server through GPUMIX_AFTER_URL";
    const auto& server = d.summary(cell, "server");
    EXPECT_EQ(server.status, store::WorkloadStatus::ok) << cell << ": " << server.reason;
    EXPECT_GT(server.requests, 20) << cell << ": server-side latency events";
  }
  // `gpumix show` reports the clients' tail latency and SLO attainment per cell.
  auto show = gpumix({"show", "--results", (dir / "results").string(), "--format", "csv"}, dir.path());
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("clients"), std::string::npos) << show.out;
  EXPECT_NE(show.out.find("p99"), std::string::npos) << show.out;
}

// The LLM example with the real gpumix-llm-server at the tiny preset (the
// GPU example's 1b model at 16 GiB of KV cache is not for a CPU).
TEST(Examples, LlmServingRunsOnTheCpu) {
  if (!builtins_available() || needs_absent_llm_server(kExamples / "llm-serving.yaml"))
    GTEST_SKIP() << "built without LibTorch: no built-in workloads";
  ScratchDir dir;
  std::ifstream in(kExamples / "llm-serving.yaml");
  std::string mix((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto replace = [&](const std::string& from, const std::string& to) {
    const auto at = mix.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    mix.replace(at, from.size(), to);
  };
  replace("preset: 1b, kv-cache-memory: 16GiB, max-context: 4096", "preset: tiny, max-context: 1024");
  replace(R"(prompt-len: "uniform:128-1024", output-len: "uniform:64-256", warmup: 5s)",
          R"(prompt-len: "uniform:16-256", output-len: "uniform:8-32", vocab: 512, warmup: 1s)");
  const auto mix_path = dir.write("llm-serving.yaml", mix);
  auto r = gpumix({"run", mix_path.string(), "--modes", "exclusive,timeslice", "--cell-duration", "8s",
                   "--results", (dir / "results").string()},
                  dir.path(), std::chrono::seconds(300));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto d = latest_run(dir / "results");
  std::vector<std::string> labels;
  for (const auto& c : d.cells) labels.push_back(c.label);
  EXPECT_EQ(labels, (std::vector<std::string>{"baseline-chat-r1", "baseline-finetune-r1", "baseline-notebook-r1",
                                              "timeslice-r1"}));
  for (const std::string cell : {"baseline-chat-r1", "timeslice-r1"}) {
    const auto& chat = d.summary(cell, "chat");
    EXPECT_EQ(chat.status, store::WorkloadStatus::ok) << cell << ": " << chat.reason;
    EXPECT_GT(chat.requests, 10) << cell << ": the load generator reached the server through GPUMIX_AFTER_URL";
    EXPECT_EQ(d.summary(cell, "llm").status, store::WorkloadStatus::ok) << cell << ": " << d.summary(cell, "llm").reason;
    int streamed = 0;
    const int64_t id = d.workload(cell, "chat").id;
    for (const auto& e : d.events)
      if (e.workload_id == id && e.ttft_ms && e.tpot_ms && e.output_tokens) ++streamed;
    EXPECT_GT(streamed, 10) << cell << ": completions with TTFT, TPOT and their tokens";
  }
  EXPECT_EQ(d.summary("timeslice-r1", "finetune").status, store::WorkloadStatus::ok);
  auto show = gpumix({"show", "--results", (dir / "results").string()}, dir.path());
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("ttft_p99<=500ms"), std::string::npos) << show.out;
}

TEST(Examples, BringYourOwnRuns) {
  ScratchDir dir;
  auto r = gpumix({"run", (kExamples / "bring-your-own.yaml").string(), "--cell-duration", "3s", "--repeats", "1",
                   "--results", (dir / "results").string()},
                  dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto d = latest_run(dir / "results");
  const auto& toy = d.summary("timeslice-r1", "toy-train");
  EXPECT_EQ(toy.status, store::WorkloadStatus::ok);
  ASSERT_TRUE(toy.throughput);
  EXPECT_GT(*toy.throughput, 0);
  EXPECT_EQ(d.summary("baseline-compress-r1", "compress").exit_code, 0);
}

}  // namespace
}  // namespace gpumix::test
