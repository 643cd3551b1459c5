// gpumix-openai-testserver: the tests' OpenAI-compatible streaming server as
// a program, to check its server-sent events with an independent client
// (curl -N) and to measure the load generator against a raw client: every
// completion streams max_tokens tokens, the first after --ttft-ms, then one
// every --tpot-ms. Under gpumix (GPUMIX_METRICS_FD) it is a server workload:
// `ready` with its URL and model, then one `latency` event per completion as
// it served it (ttft_ms, tpot_ms, output_tokens), and --tpot-ms-in MODE=MS
// paces its tokens by the cell's sharing mode (GPUMIX_MODE), as a GPU would.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>
#include <mutex>

#include "gpumix/metrics.hpp"
#include "loadgen/openai_test_server.hpp"

int main(int argc, char** argv) {
  CLI::App app{"OpenAI-compatible streaming test server: model tiny, POST /v1/completions"};
  double ttft_ms = 0, tpot_ms = 0;
  bool split = false;
  app.add_option("--ttft-ms", ttft_ms, "Delay before the first token")->check(CLI::NonNegativeNumber);
  app.add_option("--tpot-ms", tpot_ms, "Delay between tokens")->check(CLI::NonNegativeNumber);
  app.add_flag("--split", split, "Send each event in pieces, lines ended by \\r\\n");
  std::vector<std::string> tpot_in;
  app.add_option("--tpot-ms-in", tpot_in, "MODE=MS: the delay between tokens in cells of that mode (GPUMIX_MODE)");
  CLI11_PARSE(app, argc, argv);
  for (const auto& m : tpot_in) {
    const auto eq = m.find('=');
    if (eq == std::string::npos) {
      std::cerr << "--tpot-ms-in: expected MODE=MS, got '" << m << "'\n";
      return 2;
    }
    const char* mode = std::getenv("GPUMIX_MODE");
    if (mode && m.substr(0, eq) == mode) tpot_ms = std::stod(m.substr(eq + 1));
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // only the main thread takes them
  const auto us = [](double ms) { return std::chrono::microseconds(static_cast<int64_t>(ms * 1000)); };
  gpumix::testing::StreamPlan plan;
  plan.ttft = us(ttft_ms);
  plan.per_token = us(tpot_ms);
  plan.split = split;
  gpumix::testing::OpenAiTestServer server([plan](uint64_t, int) { return plan; }, 512);
  gpumix::metrics::Reporter report;
  std::mutex report_mutex;  // one line at a time from the serving threads
  if (report.enabled()) {
    server.on_served([&](const gpumix::testing::OpenAiTestServer::Served& s) {
      gpumix::metrics::Fields f = {{"ms", s.total_ms}, {"ttft_ms", s.ttft_ms}, {"output_tokens", s.tokens}};
      if (s.tokens > 1) f.push_back({"tpot_ms", s.tpot_ms});
      std::lock_guard lock(report_mutex);
      report.emit("latency", f);
    });
    report.emit("ready", {{"url", server.url()}, {"model", std::string("tiny")}});
  }
  std::cout << server.url() << std::endl;
  int sig = 0;
  sigwait(&set, &sig);
  std::cerr << server.requests() << " requests, " << server.bad_requests() << " bad\n";
  return 0;
}
