// A workload written for gpumix's own tests: it reports metrics on demand and
// misbehaves on demand (crashes, hangs, ignores SIGTERM, leaves children).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gpumix/metrics.hpp"

namespace {
std::atomic<bool> g_stop{false};
void on_term(int) { g_stop = true; }

void sleep_ms(double ms) { std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(ms)); }

// A child that stays in our process group (or escapes it with setsid) and
// sleeps until killed: gpumix must not leave it behind.
pid_t spawn_sleeper(bool escape) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (escape) ::setsid();
    ::signal(SIGTERM, SIG_IGN);
    for (;;) ::pause();
  }
  return pid;
}
// Escapes everything but a cgroup: a double fork (re-parented away from us),
// setsid (out of our process group) and an exec with an empty environment (no
// run token in /proc/<pid>/environ); it writes its pid to `pid_file` and then
// sleeps until killed, ignoring SIGTERM.
void spawn_escapee(const std::string& pid_file) {
  if (::fork() != 0) return;
  if (::fork() != 0) ::_exit(0);
  ::setsid();
  const std::string pid = std::to_string(::getpid()) + "\n";
  int fd = ::open(pid_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  (void)!::write(fd, pid.data(), pid.size());
  ::close(fd);
  char arg0[] = "gpumix-testload", arg1[] = "--hide";
  char* args[] = {arg0, arg1, nullptr};
  char* no_env[] = {nullptr};
  ::execve("/proc/self/exe", args, no_env);
  ::_exit(127);
}

// --share-dir: a model of one GPU shared by every testload registered in a
// folder, for tests of `gpumix tune` without a GPU. Each asks for its MPS
// active-thread percentage (100 without one) at its client priority. The
// priority-0 clients get what they ask for, scaled down together when it
// adds up to more than the GPU; the priority-1 clients share what is left
// the same way (at least 5 %). A workload's pace follows its share:
// iterations and request latencies take their time ÷ share^exponent.
class SharedGpuModel {
 public:
  explicit SharedGpuModel(std::string dir) : dir_(std::move(dir)) {
    const char* pct = std::getenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE");
    const char* prio = std::getenv("CUDA_MPS_CLIENT_PRIORITY");
    demand_ = pct ? std::atof(pct) : 100;
    priority_ = prio ? std::atoi(prio) : 0;
    std::filesystem::create_directories(dir_);
    std::ofstream(file()) << demand_ << " " << priority_ << "\n";
  }
  ~SharedGpuModel() { std::filesystem::remove(file()); }

  double share() const {
    double asked[2] = {0, 0};
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
      const pid_t pid = static_cast<pid_t>(std::atol(entry.path().filename().c_str()));
      if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH)) continue;  // gone without cleaning up
      double demand = 0;
      int priority = 0;
      if (std::ifstream(entry.path()) >> demand >> priority) asked[priority == 1 ? 1 : 0] += demand;
    }
    const double first = std::max(asked[0], demand_ * (priority_ == 0));
    const double first_gets = std::min(1.0, first / 100);
    if (priority_ == 0) return first_gets * demand_ / std::max(first, demand_);
    const double left = std::max(0.05, 1 - first_gets);
    const double second = std::max(asked[1], demand_);
    return std::min(left, second / 100) * demand_ / second;
  }

 private:
  std::string file() const { return dir_ + "/" + std::to_string(::getpid()); }
  std::string dir_;
  double demand_ = 100;
  int priority_ = 0;
};

// Writes events without pause until SIGTERM (from a buffer: as fast as the pipe takes them).
void flood(int fd) {
  std::string lines;
  while (lines.size() < 64 * 1024) lines += R"({"ev":"iter","n":1,"ms":0.01})" "\n";
  while (!g_stop)
    if (::write(fd, lines.data(), lines.size()) < 0 && errno != EINTR) return;
}

// One line of `mib` MiB on stderr, without a newline.
void huge_stderr_line(int64_t mib) {
  const std::string chunk(1024 * 1024, 'e');
  for (int64_t i = 0; i < mib; ++i) (void)!::write(STDERR_FILENO, chunk.data(), chunk.size());
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gpumix test workload"};
  int64_t iters = 10, samples = 8, ready_after = 0, crash_after = -1, fail_after = -1;
  double interval_ms = 10, latency_ms = 0, warmup_interval_ms = -1;
  int exit_code = 0;
  bool ignore_term = false, hang = false, spawn_child = false, spawn_daemon = false, malformed = false;
  bool flood_events = false, hide = false;
  int64_t stderr_line_mib = 0;
  std::string pid_file, error_msg, escape_pid_file;
  uint64_t seed = 1;
  std::string share_dir;
  double share_exponent = 1;
  int64_t hold_mib = 0;
  app.add_option("--iters", iters, "Iterations (0: until SIGTERM)");
  app.add_option("--samples", samples, "Samples per iteration");
  app.add_option("--interval-ms", interval_ms, "Sleep per iteration");
  app.add_option("--ready-after", ready_after, "Iterations of warm-up before ready");
  app.add_option("--warmup-interval-ms", warmup_interval_ms, "Sleep per warm-up iteration (default: --interval-ms)");
  app.add_option("--latency-ms", latency_ms, "Also report a request latency around this value per iteration");
  app.add_option("--crash-after", crash_after, "Raise SIGSEGV after this many iterations");
  app.add_option("--fail-after", fail_after, "Report an error and exit 3 after this many iterations");
  app.add_option("--error-msg", error_msg, "The error message for --fail-after");
  app.add_option("--exit-code", exit_code, "Exit status at the end");
  app.add_flag("--ignore-sigterm", ignore_term, "Ignore SIGTERM");
  app.add_flag("--hang", hang, "Report ready, then sleep forever without reporting");
  app.add_flag("--spawn-child", spawn_child, "Start a child in the same process group that sleeps forever");
  app.add_flag("--spawn-daemon", spawn_daemon, "Start a child that leaves the process group (setsid) and sleeps forever");
  app.add_flag("--malformed", malformed, "Write lines that break the protocol");
  app.add_option("--pid-file", pid_file, "Write our pid and our children's pids here, one a line");
  app.add_option("--seed", seed, "Seed for the latencies");
  app.add_flag("--flood", flood_events, "Report ready, then write events without pause until SIGTERM");
  app.add_option("--stderr-line-mib", stderr_line_mib, "Write one line of this many MiB to stderr (no newline), then exit 3");
  app.add_option("--escape-pid-file", escape_pid_file,
                 "Leave a process behind that double-forks, calls setsid and execs with an empty environment; its pid goes here");
  app.add_option("--share-dir", share_dir,
                 "Share a modelled GPU with the testloads registered in this folder: pace and latency follow the share");
  app.add_option("--share-exponent", share_exponent, "With --share-dir: throughput grows, and latency shrinks, as share^this");
  app.add_option("--hold-mib", hold_mib, "Hold this much touched memory from the start (a known peak RSS)");
  app.add_flag("--hide", hide, "(the escaped process) sleep until killed, ignoring SIGTERM");
  CLI11_PARSE(app, argc, argv);
  if (hide) {
    ::signal(SIGTERM, SIG_IGN);
    for (;;) ::pause();
  }

  ::signal(SIGTERM, ignore_term ? SIG_IGN : on_term);
  gpumix::metrics::Reporter report;
  std::ofstream pids;
  if (!pid_file.empty()) {
    pids.open(pid_file);
    pids << ::getpid() << std::endl;
  }
  if (spawn_child) pids << spawn_sleeper(false) << std::endl;
  if (spawn_daemon) pids << spawn_sleeper(true) << std::endl;
  if (!escape_pid_file.empty()) spawn_escapee(escape_pid_file);
  if (stderr_line_mib > 0) {
    huge_stderr_line(stderr_line_mib);
    return 3;
  }

  std::vector<char> held(static_cast<size_t>(hold_mib) << 20, 1);  // touched: resident, not only reserved
  asm volatile("" : : "r"(held.data()) : "memory");                 // and kept: the compiler may not drop it
  report.info({{"pid", static_cast<int64_t>(::getpid())}, {"held_bytes", static_cast<int64_t>(held.size())}});
  if (malformed) {
    report.emit("iter", {{"n", std::string("eight")}});  // n must be an integer
    ::write(std::atoi(std::getenv("GPUMIX_METRICS_FD") ? std::getenv("GPUMIX_METRICS_FD") : "-1"), "not json\n", 9);
  }
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> jitter(1.0);
  if (ready_after == 0) report.ready();
  if (flood_events) {
    const char* fd = std::getenv("GPUMIX_METRICS_FD");
    if (fd) flood(std::atoi(fd));
    report.done({{"clean", true}});
    return 0;
  }
  if (hang) {
    report.ready();
    for (;;) ::pause();
  }
  std::optional<SharedGpuModel> gpu;
  if (!share_dir.empty()) gpu.emplace(share_dir);
  for (int64_t i = 0; (iters == 0 || i < iters) && !g_stop; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    const double share = gpu ? gpu->share() : 1;
    sleep_ms((i < ready_after && warmup_interval_ms >= 0 ? warmup_interval_ms : interval_ms) / std::pow(share, share_exponent));
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    report.iter(samples, ms);
    if (latency_ms > 0) report.latency(gpu ? latency_ms / std::pow(share, share_exponent) : latency_ms * (0.5 + 0.5 * jitter(rng)));
    if (i + 1 == ready_after) report.ready();
    if (i + 1 == crash_after) {
      std::signal(SIGSEGV, SIG_DFL);  // die by the signal even under a sanitizer's handler
      std::raise(SIGSEGV);
    }
    if (i + 1 == fail_after) {
      report.error(error_msg.empty() ? "simulated failure" : error_msg);
      std::fprintf(stderr, "testload: %s\n", error_msg.empty() ? "simulated failure" : error_msg.c_str());
      return 3;
    }
  }
  if (ignore_term) {  // keep running after a SIGTERM that never came through
    for (;;) sleep_ms(100);
  }
  report.done({{"clean", true}});
  return exit_code;
}
