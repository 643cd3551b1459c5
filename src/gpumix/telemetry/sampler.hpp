// GPU telemetry beside a run: a RunObserver that samples NVML on its own
// thread every `interval` (default 100 ms) and stores each tick's rows in one
// transaction, tagged with the run and cell in progress (none between cells)
// and with the run's workloads by PID. A second thread waits for NVML events
// (Xid critical errors, double-bit ECC errors) and stores each as it comes,
// tagged the same way. Without NVML it records why in the store
// (telemetry_sessions) and starts no thread.
//
//   telemetry::Sampler sampler(results / "gpumix.db", 100ms, nvml, why);
//   runner.add_observer(sampler);
//   sampler.start();  ...  runner.run();  ...  sampler.stop();
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "gpumix/gpu/nvml.hpp"
#include "gpumix/run/observer.hpp"
#include "gpumix/telemetry/snapshot.hpp"

namespace gpumix::telemetry {

class SnapshotSource;
class TelemetryStore;

inline constexpr std::chrono::milliseconds kDefaultInterval{100};
inline constexpr size_t kMaxEventsKept = 10000;

struct SamplerStatus {
  bool available = false;  // sampling (or sampled) through NVML
  std::string reason;      // why not
  int64_t ticks = 0;
  int64_t errors = 0;  // ticks' failures (NVML or store), each logged once
  std::string last_error;
};

class Sampler : public run::RunObserver {
 public:
  // `results_dir`: where the results database is; empty stores nothing.
  // `nvml` may be null: `why_unavailable` then says why (recorded as is).
  Sampler(std::filesystem::path results_dir, std::chrono::milliseconds interval, std::shared_ptr<gpu::Nvml> nvml,
          std::string why_unavailable = {});
  // Samples `source` instead of NVML (tests, other sources).
  Sampler(std::filesystem::path results_dir, std::chrono::milliseconds interval, std::unique_ptr<SnapshotSource> source);
  ~Sampler() override;  // stops
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // Before start(): "run" (the default) or "monitor", stored with the session.
  void set_source(std::string source) { origin_ = std::move(source); }
  // Before start(): called on the sampling thread after each tick is stored.
  void on_snapshot(std::function<void(const Snapshot&)> callback) { callback_ = std::move(callback); }

  // Opens the store and starts sampling (first tick at once). Throws when the
  // store cannot be opened; NVML trouble is recorded instead.
  void start();
  // Stops and joins the thread, closes the session. Idempotent.
  void stop();

  SamplerStatus status() const;
  // The last tick's figures; GPM figures are the last ones read (they come
  // at most every 100 ms, so not with every tick); `events`: every NVML event
  // since start() (the most recent kMaxEventsKept).
  std::optional<Snapshot> latest() const;
  // The devices as read at start() (empty without NVML).
  std::vector<gpu::DeviceInfo> devices() const;

  // RunObserver (called on the runner's thread).
  void run_started(int64_t run_id) noexcept override;
  void cell_started(int64_t cell_id, const std::string& label) noexcept override;
  void workload_started(int64_t cell_id, int64_t workload_id, const std::string& name, pid_t pid) noexcept override;
  void workload_ended(int64_t cell_id, int64_t workload_id) noexcept override;
  void cell_ended(int64_t cell_id) noexcept override;
  void run_ended(int64_t run_id) noexcept override;

 private:
  void loop();
  void tick();
  void watch_events();
  void note_error(const std::string& message);

  const std::filesystem::path results_dir_;
  const std::chrono::milliseconds interval_;
  std::shared_ptr<gpu::Nvml> nvml_;
  std::string origin_ = "run";
  std::function<void(const Snapshot&)> callback_;

  std::unique_ptr<TelemetryStore> store_;
  std::unique_ptr<SnapshotSource> source_;  // used by the sampling thread only
  std::thread thread_;
  std::unique_ptr<gpu::EventWatch> events_;  // used by the events thread only
  std::thread events_thread_;

  mutable std::mutex mutex_;  // everything below
  std::condition_variable wake_;
  bool started_ = false;
  bool stopping_ = false;
  std::optional<int64_t> session_id_;
  Tags tags_;
  WorkloadPids workloads_;
  SamplerStatus status_;
  std::set<std::string> logged_;  // error texts already logged
  std::optional<Snapshot> latest_;
  std::vector<EventSample> events_seen_;
  std::vector<gpu::DeviceInfo> devices_;
};

}  // namespace gpumix::telemetry
