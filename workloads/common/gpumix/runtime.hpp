// What every LibTorch workload shares: device choice, signals, the measured
// step loop, memory peaks, error handling and the human summary.
#pragma once

#include "gpumix/cli.hpp"
#include "gpumix/metrics.hpp"
#include "gpumix/torch_compat.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace gpumix::wl {

// ------------------------------------------------------------ signals, time

// SIGTERM and SIGINT set a flag; the workload finishes its step and stops.
void install_stop_handlers();
bool stop_requested();
// Sleeps up to `seconds` in short slices, returning early on a stop request.
// Returns the seconds actually slept.
double interruptible_sleep(double seconds);
// Monotonic seconds.
double now_s();
// A server's main loop: returns once a stop is requested ("signal"),
// --duration has passed ("duration") or `served()` reaches --iterations
// ("requests"), polling every 20 ms.
std::string serve_until_stopped(const CommonOptions& common, const std::function<int64_t()>& served);

// ------------------------------------------------------------------ device

// auto|cpu|cuda to a device; BadArgument when cuda is asked for and missing.
torch::Device resolve_device(const std::string& choice);
// Waits for the device's queued work (no-op on the CPU).
void synchronize(const torch::Device& device);
// Peak resident set size of this process.
int64_t peak_rss_bytes();

// Peak memory fields for info/done: peak_device_mem_bytes (+ reserved) on
// CUDA, peak_rss_bytes on the CPU.
metrics::Fields memory_fields(const torch::Device& device);

// ------------------------------------------------------------------ context

struct Context {
  Cli& cli;
  metrics::Reporter& rep;  // owned by run_workload, which reports failures after the body too
  torch::Device device;
  bool cuda;
  uint64_t seed;

  // Facts for the info event and the human summary: key, printable value.
  std::vector<std::pair<std::string, metrics::Value>> config;

  template <class T>
  void set(const std::string& key, T value) {
    config.emplace_back(key, metrics::Value(std::move(value)));
  }
  // Emits the configuration (plus device, torch version, ...) as one info event.
  void emit_config();
  // "key=value key=value" for the human summary.
  std::string config_line() const;
};

// ---------------------------------------------------------------- the loop

struct StepOutput {
  int64_t samples = 0;
  torch::Tensor loss;  // optional: reported as `loss` when defined
};

struct LoopOptions {
  int64_t warmup = 0;
  int64_t iterations = 0;   // 0 = unlimited
  double duration = 0;      // seconds, 0 = unlimited
  int64_t report_every = 1; // synchronize and emit one iter event every N steps

  // The common warm-up and iteration counts and --duration, and the workload's --report-every.
  static LoopOptions from(const CommonOptions& common, int64_t report_every) {
    return {common.warmup, common.iterations, to_seconds(common.duration), report_every};
  }
};

struct LoopResult {
  int64_t steps = 0;
  int64_t samples = 0;
  double seconds = 0;
  std::vector<double> step_ms;  // one per reported group, per step
  double first_loss = 0, last_loss = 0;
  bool has_loss = false;
  std::string stop_reason;  // iterations | duration | signal
  bool ready = false;       // warm-up completed
};

// Warm-up (unmeasured), `ready`, then measured steps until iterations,
// duration or a stop signal; emits `iter` events. `step(i)` runs one step.
LoopResult run_steps(Context& ctx, const LoopOptions& opts, const std::function<StepOutput(int64_t)>& step);

// Percentile (0..100) of `v` (copied; gpumix/percentile.hpp's definition); 0 when empty.
double percentile(std::vector<double> v, double p);

// Emits the peak-memory info and `done` with the loop's summary (plus
// `extra`), or prints the human summary when gpumix is not listening.
void finish(Context& ctx, const LoopResult& r, const std::string& unit, metrics::Fields extra = {});

// GPUMIX_TEST_FAIL_AT_STEP=N makes measured step N throw (tests the error path).
void maybe_inject_failure(int64_t measured_step);

// --------------------------------------------------------------------- main

// Parses the command line, resolves the device, seeds, applies CPU defaults,
// and runs `body` with the error conventions: BadArgument -> exit 2; any
// other exception -> `error` event, message on stderr, exit 1.
int run_workload(Cli& cli, int argc, char** argv, const std::function<int(Context&)>& body);

// Parses a precision option value to autocast on/off (fp32|bf16).
inline bool is_bf16(const std::string& precision) { return precision == "bf16"; }

}  // namespace gpumix::wl
