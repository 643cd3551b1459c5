// gpumix-kserve-testserver: the tests' KServe v2 server as a program, to
// measure the load generator's own ceiling (bench/loadgen_overhead.sh):
// it answers every inference after --delay-us, doing nothing else; and a
// server of known capacity for bench/loadgen_vs_wrk.sh: --workers N, each
// taking --delay-us per request, first come first served.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "loadgen/kserve_test_server.hpp"

int main(int argc, char** argv) {
  CLI::App app{"KServe v2 test server: model m, one UINT8 input (--shape), answers after --delay-us"};
  int64_t delay_us = 0;
  int threads = 512;
  int workers = 0;
  std::vector<int64_t> shape = {1, 3, 224, 224};
  app.add_option("--shape", shape, "Input shape (UINT8)")->delimiter(',');
  app.add_option("--delay-us", delay_us, "Answer each request after this many microseconds");
  app.add_option("--threads", threads, "Server threads (one per open connection)");
  app.add_option("--workers", workers, "Serve requests through this many workers, each --delay-us per request (0: no queue)")
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // only the main thread takes them
  const std::chrono::microseconds delay(delay_us);
  std::function<gpumix::testing::Reply(uint64_t)> reply = [delay](uint64_t) {
    return gpumix::testing::Reply{200, delay, false};
  };
  if (workers > 0) reply = gpumix::testing::fifo_workers(workers, delay);
  gpumix::testing::KServeTestServer server(reply, threads, shape);
  std::cout << server.url() << std::endl;
  int sig = 0;
  sigwait(&set, &sig);
  std::cerr << server.requests() << " requests, " << server.bad_requests() << " bad\n";
  return 0;
}
