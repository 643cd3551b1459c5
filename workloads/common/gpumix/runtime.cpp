#include "gpumix/runtime.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <sstream>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

#include "gpumix/percentile.hpp"

namespace gpumix::wl {

// ------------------------------------------------------------ signals, time

namespace {
volatile std::sig_atomic_t g_stop = 0;

extern "C" void on_stop_signal(int) { g_stop = 1; }

std::string format_value(const metrics::Value& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", *d);
    return buf;
  }
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  return std::get<std::string>(v);
}

std::string mib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}
}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  // Restart interrupted calls: a SIGTERM must set the flag, not fail a read or
  // a driver call half-way (the loops check the flag).
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  // A closed metrics pipe must not kill the workload: write() then fails with
  // EPIPE and the Reporter stops reporting.
  std::signal(SIGPIPE, SIG_IGN);
}

bool stop_requested() { return g_stop != 0; }

double now_s() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

std::string serve_until_stopped(const CommonOptions& common, const std::function<int64_t()>& served) {
  const double t0 = now_s();
  for (;;) {
    if (stop_requested()) return "signal";
    if (common.duration.count() > 0 && now_s() - t0 >= gpumix::to_seconds(common.duration)) return "duration";
    if (common.iterations > 0 && served() >= common.iterations) return "requests";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

double interruptible_sleep(double seconds) {
  const double start = now_s();
  const double end = start + std::max(0.0, seconds);
  while (!stop_requested()) {
    const double left = end - now_s();
    if (left <= 0) break;
    const double slice = std::min(left, 0.02);
    struct timespec ts;
    ts.tv_sec = static_cast<time_t>(slice);
    ts.tv_nsec = static_cast<long>((slice - static_cast<double>(ts.tv_sec)) * 1e9);
    nanosleep(&ts, nullptr);  // EINTR on a signal: the loop re-checks the flag
  }
  return now_s() - start;
}

// ------------------------------------------------------------------ device

torch::Device resolve_device(const std::string& choice) {
  if (choice == "cpu") return torch::Device(torch::kCPU);
  const bool available = torch::cuda::is_available();
  if (choice == "cuda") {
    if (!available) {
      throw BadArgument(std::string("--device cuda: CUDA is not available (") +
                        (compat::built_with_cuda() ? "no usable GPU" : "LibTorch built without CUDA") + ")");
    }
    return torch::Device(torch::kCUDA, 0);
  }
  return available ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
}

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

int64_t peak_rss_bytes() {
  struct rusage ru {};
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;  // Linux: kilobytes
}

metrics::Fields memory_fields(const torch::Device& device) {
  metrics::Fields f;
  if (device.is_cuda()) {
    f.emplace_back("peak_device_mem_bytes", compat::cuda_peak_allocated_bytes(device));
    f.emplace_back("peak_device_reserved_bytes", compat::cuda_peak_reserved_bytes(device));
  }
  f.emplace_back("peak_rss_bytes", peak_rss_bytes());
  return f;
}

// ------------------------------------------------------------------ context

void Context::emit_config() {
  metrics::Fields f;
  f.emplace_back("workload", cli.name());
  f.emplace_back("device", device.str());
  if (cuda) {
    f.emplace_back("device_name", compat::cuda_device_name(device));
    f.emplace_back("cudnn_version", compat::cudnn_version());
  }
  f.emplace_back("torch_version", compat::torch_version());
  f.emplace_back("seed", static_cast<int64_t>(seed));
  for (const auto& [k, v] : config) f.emplace_back(k, v);
  rep.info(f);
}

std::string Context::config_line() const {
  std::ostringstream out;
  for (const auto& [k, v] : config) out << k << '=' << format_value(v) << ' ';
  out << "device=" << device.str();
  if (cuda) out << " (" << compat::cuda_device_name(device) << ')';
  out << " torch=" << compat::torch_version() << " seed=" << seed;
  return out.str();
}

// ---------------------------------------------------------------- the loop

void maybe_inject_failure(int64_t measured_step) {
  static const long long fail_at = [] {
    const char* s = std::getenv("GPUMIX_TEST_FAIL_AT_STEP");
    return s ? std::atoll(s) : -1LL;
  }();
  if (fail_at >= 0 && measured_step == fail_at) {
    throw std::runtime_error("injected failure at measured step " + std::to_string(measured_step) +
                             " (GPUMIX_TEST_FAIL_AT_STEP)");
  }
}

LoopResult run_steps(Context& ctx, const LoopOptions& opts, const std::function<StepOutput(int64_t)>& step) {
  LoopResult r;
  for (int64_t i = 0; i < opts.warmup && !stop_requested(); ++i) step(i);
  synchronize(ctx.device);
  if (stop_requested()) {
    r.stop_reason = "signal";
    return r;
  }
  r.ready = true;
  ctx.rep.ready();

  const int64_t every = std::max<int64_t>(1, opts.report_every);
  const double start = now_s();
  double group_start = start;
  int64_t group_steps = 0, group_samples = 0;
  torch::Tensor last_loss;

  auto flush = [&] {
    if (group_steps == 0) return;
    synchronize(ctx.device);
    const double t = now_s();
    const double ms = (t - group_start) * 1e3;
    r.step_ms.push_back(ms / static_cast<double>(group_steps));
    if (last_loss.defined()) {
      const double loss = last_loss.item<double>();
      if (!r.has_loss) r.first_loss = loss;
      r.has_loss = true;
      r.last_loss = loss;
      ctx.rep.iter(group_samples, ms, {{"loss", loss}});
    } else {
      ctx.rep.iter(group_samples, ms);
    }
    group_steps = group_samples = 0;
    group_start = now_s();
  };

  for (;;) {
    if (opts.iterations > 0 && r.steps >= opts.iterations) {
      r.stop_reason = "iterations";
      break;
    }
    if (opts.duration > 0 && now_s() - start >= opts.duration) {
      r.stop_reason = "duration";
      break;
    }
    if (stop_requested()) {
      r.stop_reason = "signal";
      break;
    }
    maybe_inject_failure(r.steps);
    StepOutput out = step(opts.warmup + r.steps);
    ++r.steps;
    r.samples += out.samples;
    ++group_steps;
    group_samples += out.samples;
    last_loss = out.loss;
    if (group_steps >= every) flush();
  }
  flush();
  r.seconds = now_s() - start;
  return r;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return percentile_of_sorted(v, p);
}

void finish(Context& ctx, const LoopResult& r, const std::string& unit, metrics::Fields extra) {
  const double rate = r.seconds > 0 ? static_cast<double>(r.samples) / r.seconds : 0.0;
  double mean = 0;
  for (double x : r.step_ms) mean += x;
  if (!r.step_ms.empty()) mean /= static_cast<double>(r.step_ms.size());
  const double p50 = percentile(r.step_ms, 50), p99 = percentile(r.step_ms, 99);
  const auto mem = memory_fields(ctx.device);

  if (ctx.rep.enabled()) {
    ctx.rep.info(mem);
    metrics::Fields f{{"samples", r.samples},
                      {"steps", r.steps},
                      {"seconds", r.seconds},
                      {"samples_per_s", rate},
                      {"step_ms_mean", mean},
                      {"step_ms_p50", p50},
                      {"step_ms_p99", p99},
                      {"stop", r.stop_reason}};
    if (r.has_loss) {
      f.emplace_back("first_loss", r.first_loss);
      f.emplace_back("loss", r.last_loss);
    }
    f.insert(f.end(), mem.begin(), mem.end());
    f.insert(f.end(), extra.begin(), extra.end());
    ctx.rep.done(f);
    return;
  }

  std::ostringstream out;
  out << "gpumix-" << ctx.cli.name() << ": " << ctx.config_line() << '\n';
  char buf[256];
  std::snprintf(buf, sizeof buf, "  %lld steps (stopped by %s), %lld %s in %.2f s: %.1f %s/s\n",
                static_cast<long long>(r.steps), r.stop_reason.c_str(), static_cast<long long>(r.samples),
                unit.c_str(), r.seconds, rate, unit.c_str());
  out << buf;
  std::snprintf(buf, sizeof buf, "  step time: mean %.2f ms, p50 %.2f ms, p99 %.2f ms\n", mean, p50, p99);
  out << buf;
  if (r.has_loss) {
    std::snprintf(buf, sizeof buf, "  loss: %.4f -> %.4f\n", r.first_loss, r.last_loss);
    out << buf;
  }
  for (const auto& [k, v] : extra) out << "  " << k << ": " << format_value(v) << '\n';
  out << "  peak memory:";
  for (const auto& [k, v] : mem) out << ' ' << k << ' ' << mib(std::get<int64_t>(v));
  out << '\n';
  std::cout << out.str() << std::flush;
}

// --------------------------------------------------------------------- main

int run_workload(Cli& cli, int argc, char** argv, const std::function<int(Context&)>& body) {
  install_stop_handlers();
  const int rc = cli.parse(argc, argv);
  if (rc >= 0) return rc;

  metrics::Reporter rep;
  auto report_failure = [&](const std::string& msg) {
    rep.error(msg);
    std::cerr << "gpumix-" << cli.name() << ": error: " << msg << std::endl;
    return 1;
  };

  torch::Device device(torch::kCPU);
  try {
    device = resolve_device(cli.common().device);
    if (!device.is_cuda()) cli.apply_cpu_defaults();
  } catch (const BadArgument& e) {
    return cli.bad_argument(e.what());
  } catch (const CLI::ParseError& e) {
    return cli.bad_argument(e.what());
  } catch (const c10::Error& e) {
    return report_failure(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return report_failure(e.what());
  }

  Context ctx{cli, rep, device, device.is_cuda(), cli.common().seed, {}};
  try {
    torch::manual_seed(ctx.seed);
    return body(ctx);
  } catch (const BadArgument& e) {
    return cli.bad_argument(e.what());
  } catch (const c10::Error& e) {
    return report_failure(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return report_failure(e.what());
  }
}

}  // namespace gpumix::wl
