#include "gpumix/telemetry/sampler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "gpumix/gpu/nvml_abi.hpp"
#include "gpumix/store/store.hpp"
#include "gpumix/telemetry/events.hpp"
#include "gpumix/telemetry/nvml_reader.hpp"
#include "gpumix/telemetry/telemetry_store.hpp"

namespace gpumix::telemetry {
namespace {

// The events worth a record: faults, not state changes.
constexpr uint64_t kWatchedEvents =
    gpu::nvml_abi::kEventTypeXidCriticalError | gpu::nvml_abi::kEventTypeDoubleBitEccError;
// How long one wait blocks: the longest stop() waits for the events thread.
constexpr unsigned kEventWaitMs = 200;

}  // namespace

Sampler::Sampler(std::filesystem::path results_dir, std::chrono::milliseconds interval, std::shared_ptr<gpu::Nvml> nvml,
                 std::string why_unavailable)
    : results_dir_(std::move(results_dir)), interval_(interval.count() > 0 ? interval : kDefaultInterval), nvml_(std::move(nvml)) {
  if (!nvml_) status_.reason = why_unavailable.empty() ? "NVML is not available" : std::move(why_unavailable);
}

Sampler::Sampler(std::filesystem::path results_dir, std::chrono::milliseconds interval, std::unique_ptr<SnapshotSource> source)
    : results_dir_(std::move(results_dir)), interval_(interval.count() > 0 ? interval : kDefaultInterval), source_(std::move(source)) {
  if (!source_) status_.reason = "no telemetry source";
}

Sampler::~Sampler() {
  try {
    stop();
  } catch (const std::exception& e) {
    spdlog::warn("telemetry: stopping the sampler failed: {}", e.what());
  }
}

void Sampler::start() {
  {
    std::lock_guard lock(mutex_);
    if (started_) return;
  }
  auto store = results_dir_.empty() ? nullptr : std::make_unique<TelemetryStore>(results_dir_);
  std::string reason;
  std::string notes;
  if (nvml_ && !source_) {
    try {
      source_ = std::make_unique<NvmlReader>(nvml_);
    } catch (const std::exception& e) {
      reason = std::string("NVML could not read the GPUs: ") + e.what();
    }
  }
  std::vector<gpu::DeviceInfo> devices;
  if (source_) {
    devices = source_->devices();
    for (const auto& n : source_->notes()) notes += (notes.empty() ? "" : "; ") + n;
  }
  if (source_ && nvml_) {
    std::string why;
    events_ = nvml_->watch_events(kWatchedEvents, &why);
    if (!events_) notes += (notes.empty() ? "" : "; ") + ("no NVML events (Xid errors): " + why);
    else
      for (const auto& n : events_->notes()) notes += (notes.empty() ? "" : "; ") + n;
  }
  std::lock_guard lock(mutex_);
  started_ = true;
  store_ = std::move(store);
  if (source_) {
    status_.available = true;
    status_.reason.clear();
    devices_ = std::move(devices);
  } else if (!reason.empty()) {
    status_.reason = reason;
  }
  if (!status_.available) spdlog::warn("GPU telemetry unavailable: {}", status_.reason);
  if (!notes.empty()) spdlog::info("GPU telemetry: {}", notes);
  if (store_) {
    SessionRow s;
    s.run_id = tags_.run_id;
    s.source = origin_;
    s.started_ns = store::now_ns();
    s.interval_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(interval_).count();
    s.available = status_.available;
    s.reason = status_.available ? "" : status_.reason;
    s.notes = notes;
    session_id_ = store_->begin_session(s);
  }
  if (status_.available) thread_ = std::thread(&Sampler::loop, this);
  if (status_.available && events_) events_thread_ = std::thread(&Sampler::watch_events, this);
}

void Sampler::stop() {
  {
    std::lock_guard lock(mutex_);
    if (!started_ || stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (events_thread_.joinable()) events_thread_.join();
  std::optional<int64_t> session;
  SamplerStatus st;
  {
    std::lock_guard lock(mutex_);
    session = session_id_;
    st = status_;
  }
  if (store_ && session) store_->end_session(*session, st.ticks, st.errors, st.last_error);
}

SamplerStatus Sampler::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

std::optional<Snapshot> Sampler::latest() const {
  std::lock_guard lock(mutex_);
  if (!latest_) return latest_;
  auto out = latest_;
  out->events = events_seen_;
  return out;
}

std::vector<gpu::DeviceInfo> Sampler::devices() const {
  std::lock_guard lock(mutex_);
  return devices_;
}

void Sampler::loop() {
  auto next = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    tick();
    lock.lock();
    // The next slot on the grid: slots missed by a slow tick are skipped.
    const auto now = std::chrono::steady_clock::now();
    do next += interval_;
    while (next <= now);
    wake_.wait_until(lock, next, [this] { return stopping_; });
  }
}

void Sampler::tick() {
  Tags tags;
  WorkloadPids workloads;
  {
    std::lock_guard lock(mutex_);
    tags = tags_;
    workloads = workloads_;
  }
  Snapshot snapshot;
  try {
    snapshot = source_->read(workloads, tags);
  } catch (const std::exception& e) {
    note_error(std::string("reading the GPUs failed: ") + e.what());
    return;
  }
  for (const auto& e : snapshot.errors) note_error(e);
  if (store_) {
    try {
      store_->write(snapshot);
    } catch (const std::exception& e) {
      note_error(std::string("storing samples failed: ") + e.what());
    }
  }
  if (callback_) {
    try {
      callback_(snapshot);
    } catch (const std::exception& e) {
      note_error(std::string("handling samples failed: ") + e.what());
    }
  }
  std::lock_guard lock(mutex_);
  ++status_.ticks;
  // GPM figures come at most every 100 ms, so not from every tick: latest()
  // keeps each GPU's (or GPU instance's) last ones until new ones arrive.
  if (latest_)
    for (const auto& old : latest_->gpm) {
      const bool renewed = std::any_of(snapshot.gpm.begin(), snapshot.gpm.end(), [&](const GpmSample& m) {
        return m.gpu == old.gpu && m.gpu_instance_id == old.gpu_instance_id;
      });
      if (!renewed) snapshot.gpm.push_back(old);
    }
  latest_ = std::move(snapshot);
}

void Sampler::watch_events() {
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    std::optional<gpu::GpuEvent> event;
    try {
      event = events_->wait(kEventWaitMs);
    } catch (const std::exception& e) {
      note_error(std::string("waiting for NVML events failed: ") + e.what());
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
      continue;
    }
    if (!event) continue;
    EventSample e;
    {
      std::lock_guard lock(mutex_);
      std::string uuid;
      for (const auto& d : devices_)
        if (d.index == event->gpu) uuid = d.uuid;
      e = event_sample(*event, store::now_ns(), tags_, uuid);
      if (events_seen_.size() == kMaxEventsKept) events_seen_.erase(events_seen_.begin());
      events_seen_.push_back(e);
    }
    spdlog::warn("GPU {}: {} {}{}", e.gpu, e.type == "xid_critical_error" ? "Xid" : e.type, e.data,
                 e.description.empty() ? "" : " (" + e.description + ")");
    if (!store_) continue;
    try {
      Samples s;
      s.events.push_back(std::move(e));
      store_->write(s);
    } catch (const std::exception& ex) {
      note_error(std::string("storing an NVML event failed: ") + ex.what());
    }
  }
}

void Sampler::note_error(const std::string& message) {
  std::lock_guard lock(mutex_);
  ++status_.errors;
  status_.last_error = message;
  if (logged_.size() < 50 && logged_.insert(message).second) spdlog::warn("GPU telemetry: {}", message);
}

void Sampler::run_started(int64_t run_id) noexcept {
  std::lock_guard lock(mutex_);
  tags_.run_id = run_id;
  if (store_ && session_id_) {
    try {
      store_->set_session_run(*session_id_, run_id);
    } catch (const std::exception& e) {
      spdlog::warn("GPU telemetry: recording the run failed: {}", e.what());
    }
  }
}

void Sampler::cell_started(int64_t cell_id, const std::string&) noexcept {
  std::lock_guard lock(mutex_);
  tags_.cell_id = cell_id;
  workloads_.clear();
}

void Sampler::workload_started(int64_t, int64_t workload_id, const std::string& name, pid_t pid) noexcept {
  try {
    std::lock_guard lock(mutex_);
    workloads_[pid] = {workload_id, name};
  } catch (...) {  // allocation failure: the workload goes unattributed
  }
}

void Sampler::workload_ended(int64_t, int64_t workload_id) noexcept {
  std::lock_guard lock(mutex_);
  for (auto it = workloads_.begin(); it != workloads_.end();)
    it = it->second.workload_id == workload_id ? workloads_.erase(it) : std::next(it);
}

void Sampler::cell_ended(int64_t) noexcept {
  std::lock_guard lock(mutex_);
  tags_.cell_id.reset();
  workloads_.clear();
}

void Sampler::run_ended(int64_t) noexcept {
  std::lock_guard lock(mutex_);
  tags_ = {};
  workloads_.clear();
}

}  // namespace gpumix::telemetry
