#include "gpumix/telemetry/nvml_reader.hpp"

#include <unistd.h>

#include <set>

#include "gpumix/store/store.hpp"
#include "gpumix/util/procfs.hpp"

namespace gpumix::telemetry {

std::optional<WorkloadRef> attribute(pid_t pid, const WorkloadPids& workloads,
                                     const std::function<pid_t(pid_t)>& pgid_of,
                                     const std::function<pid_t(pid_t)>& parent_of) {
  if (auto it = workloads.find(pid); it != workloads.end()) return it->second;
  if (pid_t group = pgid_of(pid); group > 0)
    if (auto it = workloads.find(group); it != workloads.end()) return it->second;
  pid_t p = pid;
  for (int generation = 0; generation < 32; ++generation) {
    p = parent_of(p);
    if (p <= 1) break;
    if (auto it = workloads.find(p); it != workloads.end()) return it->second;
  }
  return std::nullopt;
}

std::map<unsigned, ProcessUtil> utilization_over_periods(const std::vector<gpu::ProcessUtilization>& batch,
                                                         const std::set<unsigned>& known) {
  std::map<unsigned, ProcessUtil> out;
  if (batch.empty()) return out;
  std::set<uint64_t> periods;
  for (const auto& u : batch) {
    periods.insert(u.timestamp_us);
    out[u.pid].sm += u.sm_util_percent;
    out[u.pid].memory += u.memory_util_percent;
  }
  const double n = static_cast<double>(periods.size());
  for (auto& [pid, v] : out) {
    v.sm /= n;
    v.memory /= n;
  }
  for (unsigned pid : known) out.try_emplace(pid);  // idle in every period of the batch
  return out;
}

namespace {

pid_t real_pgid(pid_t pid) {
  pid_t g = ::getpgid(pid);
  return g < 0 ? 0 : g;
}

pid_t real_parent(pid_t pid) { return parent_pid(pid).value_or(0); }

template <typename T>
std::optional<int64_t> i64(const std::optional<T>& v) {
  return v ? std::optional<int64_t>(static_cast<int64_t>(*v)) : std::nullopt;
}

constexpr auto kUtilFresh = std::chrono::seconds(1);

}  // namespace

NvmlReader::NvmlReader(std::shared_ptr<gpu::Nvml> nvml) : nvml_(std::move(nvml)) {
  const int n = nvml_->device_count();
  util_seen_us_.assign(static_cast<size_t>(n), 0);
  util_.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    devices_.push_back(nvml_->device(i));
    const auto& d = devices_.back();
    if (!d.gpm_supported) {
      notes_.push_back("GPU " + std::to_string(i) + " (" + d.name + "): no GPM metrics (they need Hopper or later)");
      continue;
    }
    auto open = [&](std::optional<unsigned> gi, const std::string& uuid) {
      try {
        gpm_.push_back({i, gi, uuid, nvml_->gpm_stream(i, gi)});
      } catch (const std::exception& e) {
        notes_.push_back("GPU " + std::to_string(i) + ": no GPM metrics: " + e.what());
      }
    };
    if (!d.mig_enabled) {
      open(std::nullopt, d.uuid);
      continue;
    }
    std::set<unsigned> instances;
    for (const auto& m : nvml_->mig_instances(i))
      if (instances.insert(m.gpu_instance_id).second) open(m.gpu_instance_id, m.uuid);
  }
}

NvmlReader::~NvmlReader() = default;

Snapshot NvmlReader::read(const WorkloadPids& workloads, const Tags& tags) {
  Snapshot s;
  s.t_ns = store::now_ns();
  const auto now = std::chrono::steady_clock::now();
  for (const auto& d : devices_) {
    const int i = d.index;
    const std::string prefix = "GPU " + std::to_string(i) + ": ";
    try {
      static constexpr auto kGpu = metrics_of<Scope::gpu>();
      static const auto kCounters = [] {
        std::array<gpu::DeviceCounter, kGpu.size()> c{};
        for (size_t k = 0; k < kGpu.size(); ++k) c[k] = kGpu[k].def().counter;
        return c;
      }();
      std::vector<std::string> errors;
      const auto read = nvml_->read_counters(i, kCounters, errors);
      for (const auto& e : errors) s.errors.push_back(prefix + e);
      GpuSample g;
      g.t_ns = s.t_ns;
      g.tags = tags;
      g.gpu = i;
      g.uuid = d.uuid;
      for (size_t k = 0; k < kGpu.size(); ++k) g.values[kGpu[k]] = read[k];
      s.gpus.push_back(std::move(g));
    } catch (const std::exception& e) {
      s.errors.push_back(prefix + e.what());
    }

    // Processes: compute contexts, then MPS clients (which win when both list a pid).
    std::map<unsigned, ProcessSample> procs;
    auto add = [&](const std::vector<gpu::GpuProcess>& list, const char* kind) {
      for (const auto& p : list) {
        auto& row = procs[p.pid];
        row.t_ns = s.t_ns;
        row.tags = tags;
        row.gpu = i;
        row.pid = p.pid;
        row.kind = kind;
        row.values[metrics::process_memory] = static_cast<double>(p.used_memory_bytes);
        row.gpu_instance_id = i64(p.gpu_instance_id);
      }
    };
    try {
      add(nvml_->compute_processes(i), "compute");
    } catch (const std::exception& e) {
      s.errors.push_back(prefix + e.what());
    }
    try {
      add(nvml_->mps_compute_processes(i), "mps_client");
    } catch (const std::exception& e) {
      s.errors.push_back(prefix + e.what());
    }
    auto& util = util_[static_cast<size_t>(i)];
    try {
      const auto batch = nvml_->process_utilization(i, util_seen_us_[static_cast<size_t>(i)]);
      for (const auto& u : batch)
        util_seen_us_[static_cast<size_t>(i)] = std::max(util_seen_us_[static_cast<size_t>(i)], u.timestamp_us);
      std::set<unsigned> known;  // on the GPU now: idle if the batch has no sample of theirs
      for (const auto& [pid, row] : procs) known.insert(pid);
      for (const auto& [pid, v] : utilization_over_periods(batch, known)) util[pid] = {v, now};
    } catch (const std::exception& e) {
      s.errors.push_back(prefix + e.what());
    }
    for (auto it = util.begin(); it != util.end();)
      it = (now - it->second.received > kUtilFresh) ? util.erase(it) : std::next(it);
    for (auto& [pid, row] : procs) {
      if (auto u = util.find(pid); u != util.end()) {
        row.values[metrics::process_sm] = u->second.value.sm;
        row.values[metrics::process_memory_util] = u->second.value.memory;
      }
      if (auto w = attribute(static_cast<pid_t>(pid), workloads, real_pgid, real_parent)) {
        row.workload_id = w->workload_id;
        row.workload = w->name;
      }
      s.processes.push_back(std::move(row));
    }
  }

  static constexpr auto kGpm = metrics_of<Scope::gpm>();
  static const auto kGpmIds = [] {
    std::array<unsigned, kGpm.size()> ids{};
    for (size_t k = 0; k < kGpm.size(); ++k) ids[k] = kGpm[k].def().gpm_id;
    return ids;
  }();
  for (auto& g : gpm_) {
    try {
      auto m = g.stream->read(kGpmIds);
      if (!m) continue;
      GpmSample row;
      row.t_ns = s.t_ns;
      row.tags = tags;
      row.gpu = g.gpu;
      row.gpu_instance_id = i64(g.gpu_instance_id);
      row.uuid = g.uuid;
      for (size_t k = 0; k < kGpm.size(); ++k) row.values[kGpm[k]] = (*m)[k];
      s.gpm.push_back(std::move(row));
    } catch (const std::exception& e) {
      s.errors.push_back("GPU " + std::to_string(g.gpu) + ": " + e.what());
    }
  }
  return s;
}

}  // namespace gpumix::telemetry
