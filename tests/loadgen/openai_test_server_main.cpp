// gpumix-openai-testserver: the tests' OpenAI-compatible streaming server as
// a program, to check its server-sent events with an independent client
// (curl -N) and to measure the load generator against a raw client: every
// completion streams max_tokens tokens, the first after --ttft-ms, then one
// every --tpot-ms.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "loadgen/openai_test_server.hpp"

int main(int argc, char** argv) {
  CLI::App app{"OpenAI-compatible streaming test server: model tiny, POST /v1/completions"};
  double ttft_ms = 0, tpot_ms = 0;
  bool split = false;
  app.add_option("--ttft-ms", ttft_ms, "Delay before the first token")->check(CLI::NonNegativeNumber);
  app.add_option("--tpot-ms", tpot_ms, "Delay between tokens")->check(CLI::NonNegativeNumber);
  app.add_flag("--split", split, "Send each event in pieces, lines ended by \\r\\n");
  CLI11_PARSE(app, argc, argv);
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
  std::cout << server.url() << std::endl;
  int sig = 0;
  sigwait(&set, &sig);
  std::cerr << server.requests() << " requests, " << server.bad_requests() << " bad\n";
  return 0;
}
