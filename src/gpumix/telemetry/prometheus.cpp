#include "gpumix/telemetry/prometheus.hpp"

#include <charconv>
#include <cmath>
#include <functional>
#include <map>

#include "gpumix/gpu/decode.hpp"

namespace gpumix::telemetry {

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string escape_help(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
  std::string_view host, port = text;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.empty()) return std::nullopt;
  } else if (auto colon = text.rfind(':'); colon != std::string_view::npos) {
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return std::nullopt;  // IPv6 needs brackets
  }
  int n = -1;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || n < 0 || n > 65535) return std::nullopt;
  return ListenAddress{host.empty() ? "127.0.0.1" : std::string(host), n};
}

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

// One metric family: HELP and TYPE, then its samples; nothing when it has none.
class Family {
 public:
  Family(std::string name, std::string type, std::string help)
      : name_(std::move(name)), type_(std::move(type)), help_(std::move(help)) {}
  void add(const Labels& labels, double value) {
    body_ += name_;
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (v.empty()) continue;  // an empty label is the same as none
      body_ += first ? "{" : ",";
      body_.append(k).append("=\"").append(escape_label_value(v)).append("\"");
      first = false;
    }
    if (!first) body_ += "}";
    body_.append(" ").append(format_value(value)).append("\n");
  }
  template <typename T>
  void add(const Labels& labels, const std::optional<T>& value) {
    if (value) add(labels, static_cast<double>(*value));
  }
  void write(std::string& out) const {
    if (body_.empty()) return;
    out += "# HELP " + name_ + " " + escape_help(help_) + "\n# TYPE " + name_ + " " + type_ + "\n" + body_;
  }

 private:
  std::string name_, type_, help_, body_;
};

}  // namespace

std::optional<MetricNames> parse_metric_names(std::string_view text) {
  if (text == "gpumix") return MetricNames::gpumix;
  if (text == "dcgm") return MetricNames::dcgm;
  return std::nullopt;
}

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// dcgm-exporter's names (etc/default-counters.csv and the DCP fields), for
// what NVML gives: its HELP texts, its units (MiB, MHz, W, mJ; GPM as ratios).
void render_dcgm(const Exposition& e, std::string& out) {
  if (!e.snapshot) return;
  const Snapshot& s = *e.snapshot;
  std::map<int, const gpu::DeviceInfo*> by_index;
  for (const auto& d : e.devices) by_index[d.index] = &d;
  auto labels = [&](int gpu, const std::string& uuid) {
    auto it = by_index.find(gpu);
    const auto* d = it == by_index.end() ? nullptr : it->second;
    return Labels{{"gpu", std::to_string(gpu)},
                  {"UUID", uuid},
                  {"pci_bus_id", d ? d->pci_bus_id : ""},
                  {"device", "nvidia" + std::to_string(gpu)},
                  {"modelName", d ? d->name : ""},
                  {"hostname", e.hostname}};
  };
  auto gpu_family = [&](const char* name, const char* type, const char* help,
                        const std::function<std::optional<double>(const GpuSample&)>& value) {
    Family f(name, type, help);
    for (const auto& g : s.gpus) f.add(labels(g.gpu, g.uuid), value(g));
    f.write(out);
  };
  auto as_double = [](const auto& v) { return v ? std::optional<double>(static_cast<double>(*v)) : std::nullopt; };
  gpu_family("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz).",
             [&](const GpuSample& g) { return as_double(g.sm_clock_mhz); });
  gpu_family("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz).",
             [&](const GpuSample& g) { return as_double(g.memory_clock_mhz); });
  gpu_family("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C).",
             [&](const GpuSample& g) { return as_double(g.temperature_c); });
  gpu_family("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", [](const GpuSample& g) { return g.power_watts; });
  gpu_family("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Total energy consumption since boot (in mJ).",
             [&](const GpuSample& g) { return as_double(g.energy_mj); });
  gpu_family("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).",
             [&](const GpuSample& g) { return as_double(g.gpu_util_percent); });
  gpu_family("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %).",
             [&](const GpuSample& g) { return as_double(g.memory_util_percent); });
  gpu_family("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB).", [](const GpuSample& g) {
    return g.memory_total_bytes && g.memory_used_bytes
               ? std::optional<double>(static_cast<double>(*g.memory_total_bytes - *g.memory_used_bytes) / kMiB)
               : std::nullopt;
  });
  gpu_family("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", [](const GpuSample& g) {
    return g.memory_used_bytes ? std::optional<double>(static_cast<double>(*g.memory_used_bytes) / kMiB) : std::nullopt;
  });
  gpu_family("DCGM_FI_DEV_CLOCKS_EVENT_REASONS", "gauge", "Current clock event reasons (bitmask of DCGM_CLOCKS_EVENT_REASON_*).",
             [&](const GpuSample& g) { return as_double(g.clock_event_reasons); });

  // GPM percents as DCGM's profiling ratios, per GPU or MIG GPU instance.
  auto prof_family = [&](const char* name, const char* help, std::optional<double> GpmSample::*field) {
    Family f(name, "gauge", help);
    for (const auto& m : s.gpm) {
      Labels l = labels(m.gpu, m.uuid);
      if (m.gpu_instance_id) l.emplace_back("GPU_I_ID", std::to_string(*m.gpu_instance_id));
      if (const auto v = m.*field) f.add(l, *v / 100.0);
    }
    f.write(out);
  };
  prof_family("DCGM_FI_PROF_SM_ACTIVE", "The ratio of cycles an SM has at least 1 warp assigned.", &GpmSample::sm_util_percent);
  prof_family("DCGM_FI_PROF_SM_OCCUPANCY", "The ratio of number of warps resident on an SM.", &GpmSample::sm_occupancy_percent);
  prof_family("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "Ratio of cycles the tensor (HMMA) pipe is active.",
              &GpmSample::tensor_util_percent);
  prof_family("DCGM_FI_PROF_DRAM_ACTIVE", "Ratio of cycles the device memory interface is active sending or receiving data.",
              &GpmSample::dram_bw_util_percent);
}

}  // namespace

std::string render_prometheus(const Exposition& e, MetricNames names) {
  std::string out;
  {
    Family f("gpumix_nvml_available", "gauge",
             "1 when gpumix can read the GPUs through NVML; 0 with the reason as a label when it cannot");
    f.add({{"reason", e.nvml_available ? "" : e.reason}}, e.nvml_available ? 1.0 : 0.0);
    f.write(out);
  }
  if (!e.nvml_available) return out;
  if (names == MetricNames::dcgm) {
    render_dcgm(e, out);
    return out;
  }

  std::map<int, const gpu::DeviceInfo*> by_index;
  for (const auto& d : e.devices) by_index[d.index] = &d;
  auto gpu_labels = [&](int gpu, const std::string& uuid) {
    auto it = by_index.find(gpu);
    return Labels{{"gpu", std::to_string(gpu)}, {"uuid", uuid}, {"model", it == by_index.end() ? "" : it->second->name}};
  };

  {
    Family f("gpumix_gpu_info", "gauge", "The GPU's static facts, as labels (value 1)");
    for (const auto& d : e.devices)
      f.add({{"gpu", std::to_string(d.index)},
             {"uuid", d.uuid},
             {"model", d.name},
             {"pci_bus_id", d.pci_bus_id},
             {"driver_version", e.driver_version},
             {"compute_mode", d.compute_mode},
             {"mig", d.mig_enabled ? "enabled" : "disabled"},
             {"timeslice_policy", d.timeslice_policy}},
            1.0);
    f.write(out);
  }
  if (!e.snapshot) return out;
  const Snapshot& s = *e.snapshot;

  auto gpu_family = [&](const char* name, const char* type, const char* help,
                        const std::function<void(Family&, const GpuSample&, const Labels&)>& fill) {
    Family f(name, type, help);
    for (const auto& g : s.gpus) fill(f, g, gpu_labels(g.gpu, g.uuid));
    f.write(out);
  };
  gpu_family("gpumix_gpu_utilization_percent", "gauge", "Percent of time a kernel was running on the GPU (NVML)",
             [](Family& f, const GpuSample& g, const Labels& l) { f.add(l, g.gpu_util_percent); });
  gpu_family("gpumix_gpu_memory_utilization_percent", "gauge", "Percent of time device memory was read or written (NVML)",
             [](Family& f, const GpuSample& g, const Labels& l) { f.add(l, g.memory_util_percent); });
  gpu_family("gpumix_gpu_memory_used_bytes", "gauge", "Device memory allocated",
             [](Family& f, const GpuSample& g, const Labels& l) { f.add(l, g.memory_used_bytes); });
  gpu_family("gpumix_gpu_memory_total_bytes", "gauge", "Device memory in total",
             [](Family& f, const GpuSample& g, const Labels& l) { f.add(l, g.memory_total_bytes); });
  auto hertz = [](const std::optional<int64_t>& mhz) {
    return mhz ? std::optional<double>(static_cast<double>(*mhz) * 1e6) : std::nullopt;
  };
  gpu_family("gpumix_gpu_sm_clock_hertz", "gauge", "SM clock in hertz",
             [&](Family& f, const GpuSample& g, const Labels& l) { f.add(l, hertz(g.sm_clock_mhz)); });
  gpu_family("gpumix_gpu_memory_clock_hertz", "gauge", "Memory clock in hertz",
             [&](Family& f, const GpuSample& g, const Labels& l) { f.add(l, hertz(g.memory_clock_mhz)); });
  gpu_family("gpumix_gpu_power_watts", "gauge", "Power draw in watts",
             [](Family& f, const GpuSample& g, const Labels& l) { f.add(l, g.power_watts); });
  gpu_family("gpumix_gpu_energy_joules_total", "counter", "Energy used since the driver was loaded, in joules",
             [](Family& f, const GpuSample& g, const Labels& l) {
               if (g.energy_mj) f.add(l, static_cast<double>(*g.energy_mj) / 1000.0);
             });
  gpu_family("gpumix_gpu_temperature_celsius", "gauge", "GPU die temperature in degrees Celsius",
             [](Family& f, const GpuSample& g, const Labels& l) { f.add(l, g.temperature_c); });
  gpu_family("gpumix_gpu_clock_event_reasons", "gauge",
             "Bit mask of the reasons the clocks are below their maximum (nvmlClocksEventReason*)",
             [](Family& f, const GpuSample& g, const Labels& l) { f.add(l, g.clock_event_reasons); });
  gpu_family("gpumix_gpu_clock_event_reason_active", "gauge", "1 while the reason holds the clocks down, else 0",
             [](Family& f, const GpuSample& g, const Labels& l) {
               if (!g.clock_event_reasons) return;
               for (const auto& [bit, name] : gpu::clock_event_reasons()) {
                 Labels with = l;
                 with.emplace_back("reason", name);
                 f.add(with, (static_cast<uint64_t>(*g.clock_event_reasons) & bit) ? 1.0 : 0.0);
               }
             });

  auto gpm_family = [&](const char* name, const char* help, std::optional<double> GpmSample::*field) {
    Family f(name, "gauge", help);
    for (const auto& m : s.gpm) {
      Labels l = gpu_labels(m.gpu, m.uuid);
      if (m.gpu_instance_id) l.emplace_back("gpu_instance", std::to_string(*m.gpu_instance_id));
      f.add(l, m.*field);
    }
    f.write(out);
  };
  gpm_family("gpumix_gpm_sm_utilization_percent", "Percent of SMs busy (GPM, per GPU or MIG GPU instance)",
             &GpmSample::sm_util_percent);
  gpm_family("gpumix_gpm_sm_occupancy_percent", "Active warps as a percent of the maximum (GPM)",
             &GpmSample::sm_occupancy_percent);
  gpm_family("gpumix_gpm_tensor_active_percent", "Percent of time any tensor pipe was active (GPM)",
             &GpmSample::tensor_util_percent);
  gpm_family("gpumix_gpm_dram_bandwidth_utilization_percent", "DRAM bandwidth used as a percent of the maximum (GPM)",
             &GpmSample::dram_bw_util_percent);

  auto process_family = [&](const char* name, const char* help, std::optional<int64_t> ProcessSample::*field) {
    Family f(name, "gauge", help);
    for (const auto& p : s.processes) {
      auto it = by_index.find(p.gpu);
      f.add({{"gpu", std::to_string(p.gpu)},
             {"uuid", it == by_index.end() ? "" : it->second->uuid},
             {"pid", std::to_string(p.pid)},
             {"kind", p.kind},
             {"workload", p.workload}},
            p.*field);
    }
    f.write(out);
  };
  process_family("gpumix_process_gpu_memory_used_bytes", "Device memory the process uses",
                 &ProcessSample::used_memory_bytes);
  process_family("gpumix_process_sm_utilization_percent", "The process's SM utilization (NVML's latest sample)",
                 &ProcessSample::sm_util_percent);
  process_family("gpumix_process_memory_utilization_percent",
                 "The process's memory utilization (NVML's latest sample)", &ProcessSample::memory_util_percent);

  {
    Family f("gpumix_sample_timestamp_seconds", "gauge", "When these figures were read (Unix time)");
    f.add(Labels{}, static_cast<double>(s.t_ns) / 1e9);
    f.write(out);
  }
  return out;
}

}  // namespace gpumix::telemetry
