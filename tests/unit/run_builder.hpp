// Hand-made runs for the analysis and report tests: cells, workloads and
// metric events with exactly known figures.
#pragma once

#include <fmt/format.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "gpumix/analysis/interference.hpp"

namespace gpumix::test {

inline constexpr int64_t kSecond = 1'000'000'000;

class RunBuilder {
 public:
  explicit RunBuilder(std::vector<std::string> modes, int repeats = 1, std::vector<std::string> workloads = {}) {
    in_.run.id = 1;
    in_.run.mix_name = "hand-made";
    in_.run.mix_path = "/tmp/mix.yaml";
    in_.run.mix_yaml = "name: hand-made\n";
    in_.run.mix_sha256 = std::string(64, 'a');
    in_.run.status = store::RunStatus::completed;
    in_.run.host = "testhost";
    in_.run.gpumix_version = "0.1.0";
    in_.run.git_sha = "abc123";
    in_.run.started_ns = 1000 * kSecond;
    in_.run.ended_ns = 2000 * kSecond;
    in_.run.environment_json =
        R"({"host":"testhost","os":"Debian 12","nvml":{"available":true,"driver_version":"550.54","cuda_driver_version":"12.4",)"
        R"("devices":[{"index":0,"name":"NVIDIA H100 80GB HBM3","memory_total_bytes":85899345920,"mig_enabled":false,)"
        R"("compute_mode":"Default"}]}})";
    plan_ = {{"modes", modes}, {"repeats", repeats}, {"seed", 0}, {"cell_duration_s", 10}, {"workloads", nlohmann::json::array()},
             {"cells", nlohmann::json::array()}};
    for (const auto& w : workloads) plan_["workloads"].push_back({{"name", w}, {"role", "other"}});
    sync();
  }

  // Adds a planned cell to the plan (cells a run never reached stay planned only).
  void plan_cell(const std::string& label, const std::string& mode) {
    plan_["cells"].push_back({{"label", label}, {"mode", mode}});
    sync();
  }

  int64_t cell(const std::string& label, const std::string& mode, int repeat, const std::string& status = "ok",
               const std::string& error = "") {
    store::CellRow c;
    c.id = static_cast<int64_t>(in_.cells.size()) + 1;
    c.run_id = 1;
    c.index = static_cast<int>(in_.cells.size());
    c.label = label;
    c.mode = mode;
    c.repeat = repeat;
    c.baseline = mode == "exclusive";
    c.status = *store::cell_status_from_string(status);
    c.error = error;
    c.started_ns = next_start_;
    c.ended_ns = next_start_ + 10 * kSecond;
    next_start_ += 20 * kSecond;
    in_.cells.push_back(c);
    bool planned = false;
    for (const auto& p : plan_["cells"])
      if (p["label"] == label) planned = true;
    if (!planned) plan_cell(label, mode);
    return c.id;
  }

  int64_t workload(int64_t cell_id, const std::string& name, const std::string& status = "ok", const std::string& slo_json = "[]",
                   const std::string& reason = "") {
    store::WorkloadRow w;
    w.id = static_cast<int64_t>(in_.workloads.size()) + 100;
    w.cell_id = cell_id;
    w.name = name;
    w.role = spec::Role::other;
    w.slo_json = slo_json;
    w.status = *store::workload_status_from_string(status);
    w.reason = reason;
    w.exit_code = 0;
    const auto& c = cell_row(cell_id);
    if (status != "skipped" && status != "not_started") {
      w.started_ns = c.started_ns;
      w.ended_ns = c.ended_ns;
      w.peak_rss_kb = 2048;
    }
    in_.workloads.push_back(w);
    return w.id;
  }

  // Gives a cell a measured window: `warmup_s` after its start, `length_s`
  // long; its workloads then run from the cell's start to 0.5 s past the window.
  void window(int64_t cell_id, double warmup_s, double length_s) {
    auto& c = in_.cells.at(static_cast<size_t>(cell_id - 1));
    c.window_start_ns = c.started_ns + static_cast<int64_t>(warmup_s * 1e9);
    c.window_end_ns = c.window_start_ns + static_cast<int64_t>(length_s * 1e9);
    c.ended_ns = c.window_end_ns + kSecond;
    for (auto& w : in_.workloads)
      if (w.cell_id == cell_id && w.started_ns > 0) {
        w.ended_ns = c.window_end_ns + kSecond / 2;
        w.ready_ns = c.window_start_ns;
      }
  }

  // From the workload's start: steps of `n` samples at `warmup_rate` samples/s
  // until `ready_s`, then at `rate` until it ends (a `ready` event between).
  void steps(int64_t workload_id, double warmup_rate, double ready_s, double rate, int64_t n = 10) {
    const auto& w = workload_row(workload_id);
    int64_t t = w.started_ns;
    const int64_t ready = w.started_ns + static_cast<int64_t>(ready_s * 1e9);
    bool said_ready = false;
    while (true) {
      const bool warm = t < ready;
      t += static_cast<int64_t>(static_cast<double>(n) / (warm ? warmup_rate : rate) * 1e9);
      if (t > w.ended_ns) break;
      if (!warm && !said_ready) {
        event(workload_id, ready, "ready");
        said_ready = true;
      }
      event(workload_id, t, "iter", n, 1e3 * static_cast<double>(n) / (warm ? warmup_rate : rate));
    }
  }

  void set_status(int64_t workload_id, const std::string& status) {
    for (auto& w : in_.workloads)
      if (w.id == workload_id) w.status = *store::workload_status_from_string(status);
  }

  void set_ended(int64_t workload_id, int64_t ended_ns) {
    for (auto& w : in_.workloads)
      if (w.id == workload_id) w.ended_ns = ended_ns;
  }

  // Sets a plan field of a workload (e.g. "stop": "completion") or of the run.
  void plan_workload(const std::string& name, const std::string& key, const nlohmann::json& value) {
    for (auto& w : plan_["workloads"])
      if (w["name"] == name) w[key] = value;
    sync();
  }
  void plan_field(const std::string& key, const nlohmann::json& value) {
    plan_[key] = value;
    sync();
  }

  const store::WorkloadRow& workload_row(int64_t id) const {
    for (const auto& w : in_.workloads)
      if (w.id == id) return w;
    throw std::out_of_range("no workload " + std::to_string(id));
  }
  const store::CellRow& cell_of(int64_t id) const { return cell_row(id); }

  void set_role(int64_t workload_id, spec::Role role) {
    for (auto& w : in_.workloads)
      if (w.id == workload_id) w.role = role;
  }

  // `ready`, then `iters` steps of `n` samples every `period_s`: throughput n / period_s.
  void throughput(int64_t workload_id, double samples_per_s, int iters = 10, int64_t n = 10) {
    const auto t0 = start_of(workload_id) + kSecond;
    const auto period = static_cast<int64_t>(static_cast<double>(n) / samples_per_s * 1e9);
    event(workload_id, t0, "ready");
    for (int i = 1; i <= iters; ++i) event(workload_id, t0 + i * period, "iter", n, 1e3 * static_cast<double>(period) / 1e9);
  }

  // Requests of `ms` each, `every_s` apart from the window's start.
  void window_latencies(int64_t workload_id, int count, double ms, double every_s) {
    const auto& c = cell_row(workload_row(workload_id).cell_id);
    for (int i = 1; i <= count; ++i)
      event(workload_id, c.window_start_ns + static_cast<int64_t>(i * every_s * 1e9), "latency", std::nullopt, ms);
  }

  // Streamed completions of `tokens` tokens, `every_s` apart from the
  // window's start: first token after `ttft_ms`, then one every `tpot_ms`.
  void window_completions(int64_t workload_id, int count, double ttft_ms, double tpot_ms, int64_t tokens, double every_s) {
    const auto& c = cell_row(workload_row(workload_id).cell_id);
    for (int i = 1; i <= count; ++i) {
      event(workload_id, c.window_start_ns + static_cast<int64_t>(i * every_s * 1e9), "latency", std::nullopt,
            ttft_ms + tpot_ms * static_cast<double>(tokens - 1));
      auto& e = in_.events.back();
      e.ttft_ms = ttft_ms;
      if (tokens > 1) e.tpot_ms = tpot_ms;
      e.output_tokens = tokens;
    }
  }

  void latencies(int64_t workload_id, const std::vector<double>& ms) {
    const auto t0 = start_of(workload_id) + kSecond;
    for (size_t i = 0; i < ms.size(); ++i) event(workload_id, t0 + static_cast<int64_t>(i) * 1'000'000, "latency", std::nullopt, ms[i]);
  }

  void event(int64_t workload_id, int64_t t_ns, const std::string& ev, std::optional<int64_t> n = std::nullopt,
             std::optional<double> ms = std::nullopt) {
    store::EventRow e;
    e.workload_id = workload_id;
    e.t_ns = t_ns;
    e.ev = ev;
    e.n = n;
    e.ms = ms;
    e.data = "{}";
    in_.events.push_back(e);
  }

  // A GPU sample `offset_s` into the cell.
  void gpu_sample(int64_t cell_id, double offset_s, int64_t util, int64_t energy_mj, double watts = 300) {
    telemetry::GpuSample g;
    g.t_ns = cell_row(cell_id).started_ns + static_cast<int64_t>(offset_s * 1e9);
    g.tags = {1, cell_id};
    g.uuid = "GPU-0";
    g.values[telemetry::metric(telemetry::Scope::gpu, "gpu_util_percent")] = util;
    g.values[telemetry::metric(telemetry::Scope::gpu, "energy_mj")] = energy_mj;
    g.values[telemetry::metric(telemetry::Scope::gpu, "power_watts")] = watts;
    in_.telemetry.gpus.push_back(g);
  }

  void gpm_sample(int64_t cell_id, double offset_s, double sm, double tensor, double dram) {
    telemetry::GpmSample m;
    m.t_ns = cell_row(cell_id).started_ns + static_cast<int64_t>(offset_s * 1e9);
    m.tags = {1, cell_id};
    m.uuid = "GPU-0";
    m.values[telemetry::metric(telemetry::Scope::gpm, "sm_util_percent")] = sm;
    m.values[telemetry::metric(telemetry::Scope::gpm, "tensor_util_percent")] = tensor;
    m.values[telemetry::metric(telemetry::Scope::gpm, "dram_bw_util_percent")] = dram;
    in_.telemetry.gpm.push_back(m);
  }

  // Ten seconds of telemetry: a GPU sample a second (utilization 40 % + 5 %
  // a second, energy counter 1000 mJ + 300 mJ a second) and GPM samples
  // between them (SM 30 % + 1 % a second, tensor 10 %, DRAM 20 %).
  void ramp_telemetry(int64_t cell_id) {
    for (int i = 0; i <= 10; ++i) {
      gpu_sample(cell_id, i, 40 + 5 * i, 1000 + 300 * i);
      gpm_sample(cell_id, i + 0.5, 30 + i, 10, 20);
    }
  }

  // A process sample `offset_s` into the cell: of workload `workload_id`
  // (0: a process of no workload), with NVML's SM percent and device memory.
  void process_sample(int64_t cell_id, double offset_s, int64_t pid, int64_t workload_id, std::optional<double> sm,
                      std::optional<double> memory_bytes, std::optional<int64_t> gpu_instance = std::nullopt) {
    telemetry::ProcessSample p;
    p.t_ns = cell_row(cell_id).started_ns + static_cast<int64_t>(offset_s * 1e9);
    p.tags = {1, cell_id};
    p.pid = pid;
    p.kind = "compute";
    if (workload_id) {
      p.workload_id = workload_id;
      p.workload = workload_row(workload_id).name;
    }
    p.gpu_instance_id = gpu_instance;
    p.values[telemetry::metrics::process_sm] = sm;
    p.values[telemetry::metrics::process_memory] = memory_bytes;
    in_.telemetry.processes.push_back(p);
  }

  analysis::RunInput& input() { return in_; }
  analysis::Analysis analyze() { return analysis::analyze(in_); }

  static std::string slo(double percentile, double ms) {
    return fmt::format(R"([{{"percentile":{},"ms":{}}}])", percentile, ms);
  }

 private:
  void sync() { in_.run.plan_json = plan_.dump(); }
  const store::CellRow& cell_row(int64_t id) const { return in_.cells.at(static_cast<size_t>(id - 1)); }
  int64_t start_of(int64_t workload_id) const {
    for (const auto& w : in_.workloads)
      if (w.id == workload_id) return cell_row(w.cell_id).started_ns;
    return 0;
  }

  analysis::RunInput in_;
  nlohmann::json plan_;
  int64_t next_start_ = 1100 * kSecond;
};

// The run the analysis and report tests share; its figures are worked out by
// hand in analysis_test.cpp. Train reports throughput; server latencies only,
// with an SLO p99 <= 10 ms:
//   baseline-train, baseline-server (exclusive): train 100/s; server 2 ms a request
//   timeslice-r1, r2:  train 50/s, 60/s;  server 4 ms, 5 ms (meets the SLO)
//   mps-r1, r2:        train 80/s, 90/s;  server 98 x 2 ms + 2 x 50 ms (p99 50: breaks it)
//   mig-r1, r2:        skipped: MIG is disabled on GPU 0
// Cell ids in that order: 1, 2, then 3 (timeslice-r1), 4 (mps-r1), 5 (mig-r1), 6, 7, 8.
struct TrainServerRunOptions {
  // Called after each timeslice cell's workloads are added (telemetry, say).
  std::function<void(RunBuilder&, int64_t cell_id, int repeat)> on_timeslice;
  // What train reports in mps-r<repeat>, in place of 80/s and 90/s.
  std::function<void(RunBuilder&, int64_t train_id, int repeat)> mps_train;
  std::string mig_reason;  // the skipped workloads' reason
};

inline RunBuilder train_server_run(const TrainServerRunOptions& o = {}) {
  RunBuilder b({"exclusive", "timeslice", "mps", "mig"}, 2, {"train", "server"});
  const std::string slo = RunBuilder::slo(99, 10);
  auto c = b.cell("baseline-train", "exclusive", 0);
  b.throughput(b.workload(c, "train"), 100);
  c = b.cell("baseline-server", "exclusive", 0);
  b.latencies(b.workload(c, "server", "ok", slo), std::vector<double>(100, 2.0));
  std::vector<double> tail(98, 2.0);
  tail.push_back(50);
  tail.push_back(50);
  for (int r = 1; r <= 2; ++r) {
    c = b.cell("timeslice-r" + std::to_string(r), "timeslice", r);
    b.throughput(b.workload(c, "train"), r == 1 ? 50 : 60);
    b.latencies(b.workload(c, "server", "ok", slo), std::vector<double>(100, r == 1 ? 4.0 : 5.0));
    if (o.on_timeslice) o.on_timeslice(b, c, r);
    c = b.cell("mps-r" + std::to_string(r), "mps", r);
    const auto train = b.workload(c, "train");
    if (o.mps_train) o.mps_train(b, train, r);
    else b.throughput(train, r == 1 ? 80 : 90);
    b.latencies(b.workload(c, "server", "ok", slo), tail);
    c = b.cell("mig-r" + std::to_string(r), "mig", r, "skipped", "MIG is disabled on GPU 0");
    b.workload(c, "train", "skipped", "[]", o.mig_reason);
    b.workload(c, "server", "skipped", slo, o.mig_reason);
  }
  return b;
}

// An LLM server (role server) streaming completions of 11 tokens, 200 in
// each 10 s window, with SLOs ttft_p99 <= 500 ms, tpot_p99 <= 50 ms and
// p99 <= 20 s, and `api`, a server reporting latencies without tokens, with
// ttft_p99 <= 500 ms (never measurable):
//   alone:     TTFT 100 ms, TPOT 10 ms (latency 200 ms)
//   timeslice: TTFT 600 ms, TPOT 20 ms (latency 800 ms): NP by TPOT 0.5 (by latency it would be 0.25); ttft missed
//   mps:       TTFT 200 ms, TPOT 75 ms (latency 950 ms): NP by TPOT 0.1333; tpot missed by 50 %
inline RunBuilder llm_server_run() {
  RunBuilder b({"exclusive", "timeslice", "mps"}, 1, {"llm", "api"});
  const std::string llm_slos = R"([{"metric":"ttft","percentile":99,"ms":500},{"metric":"tpot","percentile":99,"ms":50},)"
                               R"({"metric":"latency","percentile":99,"ms":20000}])";
  const std::string api_slos = R"([{"metric":"ttft","percentile":99,"ms":500}])";
  struct Pace {
    const char* cell;
    const char* mode;
    int repeat;
    double ttft, tpot;
  };
  for (const auto& p : {Pace{"baseline-r1", "exclusive", 1, 100, 10}, Pace{"timeslice-r1", "timeslice", 1, 600, 20},
                        Pace{"mps-r1", "mps", 1, 200, 75}}) {
    const auto c = b.cell(p.cell, p.mode, p.repeat);
    const auto llm = b.workload(c, "llm", "ok", llm_slos);
    const auto api = b.workload(c, "api", "ok", api_slos);
    b.set_role(llm, spec::Role::server);
    b.set_role(api, spec::Role::server);
    b.window(c, 1, 10);
    b.window_completions(llm, 200, p.ttft, p.tpot, 11, 0.04);
    b.window_latencies(api, 200, p.ttft, 0.04);
  }
  return b;
}

}  // namespace gpumix::test
