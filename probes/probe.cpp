// gpumix-probe ROLE: one process of a `gpumix probe` experiment. gpumix starts
// several at once (under a sharing mode's environment), lines them up with a
// file barrier (--ready, then wait for --go), and reads the JSON each writes
// to --out. Roles:
//   spin     every SM busy for --duration-ms; records when this context ran
//   loop     a GPU-bound kernel loop: iterations per second
//   latency  a small-kernel request loop: each request's latency
//   alloc    allocations (a fraction of free memory and/or sizes), then holds them
//   fault    an illegal memory access after --fault-after-ms
//   check    can a fresh process allocate and run a kernel?
// Exit status: 0 done, 3 a CUDA call failed (the error is in --out), 2 bad usage.
#include <cuda_runtime.h>
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "kernels.cuh"

namespace {

using nlohmann::json;
using namespace gpumix::probes;

int64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct CudaFailure {
  std::string stage;
  cudaError_t error;
};

void check(cudaError_t e, const std::string& stage) {
  if (e != cudaSuccess) throw CudaFailure{stage, e};
}

json error_json(cudaError_t e) { return {{"error", cudaGetErrorString(e)}, {"error_name", cudaGetErrorName(e)}}; }

struct Options {
  std::string role, out, ready, go;
  int64_t duration_ms = 2000;
  int64_t go_timeout_ms = 120000;
  // spin
  int64_t break_ns = 2000;
  int max_intervals = 200000;
  int threads = 128;
  // loop
  int64_t work_iterations = 1 << 18;
  int blocks_per_sm = 8;
  // latency
  int64_t interval_us = 500;
  // alloc
  double fraction = 0;
  std::vector<int64_t> bytes;
  int64_t hold_ms = 0;
  // fault
  int64_t fault_after_ms = 500;
};

// Written whole or not at all: the reader never sees half a file.
void write_json(const std::string& path, const json& j) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    f << j.dump() << "\n";
  }
  std::filesystem::rename(tmp, path);
}

void barrier(const Options& o, json& result) {
  if (!o.ready.empty()) std::ofstream(o.ready) << getpid() << "\n";
  if (o.go.empty()) return;
  const int64_t deadline = monotonic_ns() + o.go_timeout_ms * 1'000'000;
  while (!std::filesystem::exists(o.go)) {
    if (monotonic_ns() > deadline) throw std::runtime_error("no go signal (" + o.go + ") within the timeout");
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  result["t_go_ns"] = monotonic_ns();
}

int sm_count() {
  int device = 0, sms = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device), "cudaDeviceGetAttribute");
  return sms;
}

void spin(const Options& o, json& r) {
  const int sms = sm_count();
  SpinTrace t{};
  t.capacity = o.max_intervals;
  check(cudaMalloc(&t.starts, sizeof(int64_t) * t.capacity), "cudaMalloc");
  check(cudaMalloc(&t.ends, sizeof(int64_t) * t.capacity), "cudaMalloc");
  check(cudaMalloc(&t.count, sizeof(unsigned)), "cudaMalloc");
  check(cudaMemset(t.count, 0, sizeof(unsigned)), "cudaMemset");
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  barrier(o, r);
  r["t_launch_ns"] = monotonic_ns();
  check(launch_spin(t, sms, o.threads, o.duration_ms * 1'000'000, o.break_ns, nullptr), "spin launch");
  check(cudaDeviceSynchronize(), "spin kernel");
  r["t_done_ns"] = monotonic_ns();
  unsigned count = 0;
  check(cudaMemcpy(&count, t.count, sizeof count, cudaMemcpyDeviceToHost), "cudaMemcpy");
  const int n = std::min<int>(static_cast<int>(count), t.capacity);
  std::vector<int64_t> starts(n), ends(n);
  check(cudaMemcpy(starts.data(), t.starts, sizeof(int64_t) * n, cudaMemcpyDeviceToHost), "cudaMemcpy");
  check(cudaMemcpy(ends.data(), t.ends, sizeof(int64_t) * n, cudaMemcpyDeviceToHost), "cudaMemcpy");
  json intervals = json::array();
  for (int i = 0; i < n; ++i) intervals.push_back({starts[i], ends[i]});
  r["sms"] = sms;
  r["threads_per_block"] = o.threads;
  r["break_ns"] = o.break_ns;
  r["intervals"] = intervals;
  r["overflow"] = count > static_cast<unsigned>(t.capacity);
}

void loop(const Options& o, json& r) {
  const int blocks = sm_count() * o.blocks_per_sm;
  float* sink = nullptr;
  check(cudaMalloc(&sink, sizeof(float) * blocks * 256), "cudaMalloc");
  check(launch_work(sink, blocks, o.work_iterations, nullptr), "warm-up launch");
  check(cudaDeviceSynchronize(), "warm-up kernel");
  barrier(o, r);
  const int64_t start = monotonic_ns(), end = start + o.duration_ms * 1'000'000;
  int64_t iterations = 0, now = start;
  r["t_start_ns"] = start;
  try {
    while (now < end) {
      check(launch_work(sink, blocks, o.work_iterations, nullptr), "work launch");
      check(cudaDeviceSynchronize(), "work kernel");
      ++iterations;
      now = monotonic_ns();
    }
  } catch (const CudaFailure&) {
    r["t_error_ns"] = monotonic_ns();
    r["iterations"] = iterations;
    throw;
  }
  r["iterations"] = iterations;
  r["elapsed_s"] = static_cast<double>(now - start) / 1e9;
  r["rate"] = static_cast<double>(iterations) / (static_cast<double>(now - start) / 1e9);
  r["blocks"] = blocks;
}

void latency(const Options& o, json& r) {
  float* sink = nullptr;
  check(cudaMalloc(&sink, sizeof(float) * 32), "cudaMalloc");
  cudaStream_t s;
  check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  check(launch_tiny(sink, s), "warm-up launch");
  check(cudaStreamSynchronize(s), "warm-up kernel");
  barrier(o, r);
  const int64_t end = monotonic_ns() + o.duration_ms * 1'000'000;
  std::vector<double> us;
  while (monotonic_ns() < end) {
    const int64_t t0 = monotonic_ns();
    check(launch_tiny(sink, s), "tiny launch");
    check(cudaStreamSynchronize(s), "tiny kernel");
    us.push_back(static_cast<double>(monotonic_ns() - t0) / 1e3);
    if (o.interval_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(o.interval_us));
  }
  r["latencies_us"] = us;
}

void alloc(const Options& o, json& r) {
  check(cudaFree(nullptr), "CUDA initialization");
  size_t free_b = 0, total_b = 0;
  check(cudaMemGetInfo(&free_b, &total_b), "cudaMemGetInfo");
  r["free_before"] = free_b;
  r["total"] = total_b;
  std::vector<int64_t> sizes;
  if (o.fraction > 0) sizes.push_back(static_cast<int64_t>(o.fraction * static_cast<double>(free_b)));
  sizes.insert(sizes.end(), o.bytes.begin(), o.bytes.end());
  json attempts = json::array();
  bool all_ok = true;
  for (int64_t b : sizes) {
    void* p = nullptr;
    json a = {{"bytes", b}};
    cudaError_t e = cudaMalloc(&p, static_cast<size_t>(b));
    if (e == cudaSuccess) e = cudaMemset(p, 1, static_cast<size_t>(b));  // touch it: really resident
    if (e == cudaSuccess) e = cudaDeviceSynchronize();
    a["ok"] = e == cudaSuccess;
    if (e != cudaSuccess) {
      a.update(error_json(e));
      cudaGetLastError();  // an allocation failure is not sticky: clear it
      all_ok = false;
    }
    attempts.push_back(a);
  }
  r["attempts"] = attempts;
  r["all_ok"] = all_ok;
  if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) r["free_after"] = free_b;
  r["ok"] = true;
  write_json(o.out, r);  // the outcome is known now; holding comes after
  barrier(o, r);
  std::this_thread::sleep_for(std::chrono::milliseconds(o.hold_ms));
}

void fault(const Options& o, json& r) {
  check(cudaFree(nullptr), "CUDA initialization");
  barrier(o, r);
  std::this_thread::sleep_for(std::chrono::milliseconds(o.fault_after_ms));
  r["t_fault_launch_ns"] = monotonic_ns();
  check(launch_fault(nullptr), "fault launch");
  const cudaError_t e = cudaDeviceSynchronize();
  r["t_fault_ns"] = monotonic_ns();
  r["fault"] = error_json(e);
  void* p = nullptr;
  const cudaError_t after = cudaMalloc(&p, 1 << 20);  // sticky: the context is unusable now
  r["malloc_after_fault"] = after == cudaSuccess ? json("ok") : error_json(after);
  check(e, "fault kernel");
}

void check_role(const Options&, json& r) {
  const int64_t t0 = monotonic_ns();
  check(cudaFree(nullptr), "CUDA initialization");
  float* sink = nullptr;
  check(cudaMalloc(&sink, 64 << 20), "cudaMalloc");
  check(launch_tiny(sink, nullptr), "tiny launch");
  check(cudaDeviceSynchronize(), "tiny kernel");
  r["t_ok_ns"] = monotonic_ns();
  r["seconds"] = static_cast<double>(monotonic_ns() - t0) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"gpumix-probe: one process of a gpumix probe experiment"};
  app.add_option("role", o.role, "spin, loop, latency, alloc, fault or check")
      ->required()
      ->check(CLI::IsMember({"spin", "loop", "latency", "alloc", "fault", "check"}));
  app.add_option("--out", o.out, "Write the result (JSON) here")->required();
  app.add_option("--ready", o.ready, "Create this file once initialized");
  app.add_option("--go", o.go, "Then wait until this file exists");
  app.add_option("--go-timeout-ms", o.go_timeout_ms);
  app.add_option("--duration-ms", o.duration_ms, "How long spin, loop and latency run")->check(CLI::Range(1, 600000));
  app.add_option("--break-ns", o.break_ns, "spin: a larger step between timer reads ends an interval")->check(CLI::Range(1, 1000000));
  app.add_option("--max-intervals", o.max_intervals)->check(CLI::Range(16, 10000000));
  app.add_option("--threads", o.threads, "spin: threads per block")->check(CLI::Range(32, 1024));
  app.add_option("--work-iterations", o.work_iterations, "loop: FMAs per thread per kernel")->check(CLI::Range(1, 1 << 30));
  app.add_option("--blocks-per-sm", o.blocks_per_sm)->check(CLI::Range(1, 64));
  app.add_option("--interval-us", o.interval_us, "latency: pause between requests")->check(CLI::Range(0, 1000000));
  app.add_option("--fraction", o.fraction, "alloc: this share of the free memory")->check(CLI::Range(0.0, 1.0));
  app.add_option("--bytes", o.bytes, "alloc: then these sizes, in turn")->delimiter(',');
  app.add_option("--hold-ms", o.hold_ms, "alloc: keep the memory this long");
  app.add_option("--fault-after-ms", o.fault_after_ms);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  json r = {{"role", o.role}, {"pid", getpid()}, {"t_begin_ns", monotonic_ns()}};
  int rc = 0;
  try {
    if (o.role == "spin") spin(o, r);
    else if (o.role == "loop") loop(o, r);
    else if (o.role == "latency") latency(o, r);
    else if (o.role == "alloc") alloc(o, r);
    else if (o.role == "fault") fault(o, r);
    else check_role(o, r);
    r["ok"] = true;
  } catch (const CudaFailure& f) {
    r["ok"] = false;
    r["stage"] = f.stage;
    r.update(error_json(f.error));
    rc = 3;
  } catch (const std::exception& e) {
    r["ok"] = false;
    r["error"] = e.what();
    rc = 1;
  }
  r["t_end_ns"] = monotonic_ns();
  if (o.role != "alloc" || !r.value("ok", false)) write_json(o.out, r);
  std::fflush(stdout);
  return rc;
}
