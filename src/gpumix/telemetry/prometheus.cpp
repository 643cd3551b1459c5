#include "gpumix/telemetry/prometheus.hpp"

#include <charconv>
#include <cmath>
#include <functional>
#include <map>
#include <tuple>

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

// The families of one naming scheme, one per metric of kMetrics that has a
// name in it, in the table's order. `labels` gives a row's labels.
struct Scheme {
  std::string_view MetricDef::*name;
  std::string_view MetricDef::*help;
  std::string_view MetricDef::*type;
  double MetricDef::*scale;
};
constexpr Scheme kGpumixScheme{&MetricDef::prometheus, &MetricDef::help, &MetricDef::prometheus_type,
                               &MetricDef::prometheus_scale};
constexpr Scheme kDcgmScheme{&MetricDef::dcgm, &MetricDef::dcgm_help, &MetricDef::dcgm_type, &MetricDef::dcgm_scale};

template <typename Row, size_t N>
void metric_families(const Scheme& scheme, const std::array<MetricId, N>& metrics, const std::vector<Row>& rows,
                     const std::function<Labels(const Row&)>& labels, std::string& out) {
  for (auto id : metrics) {
    const MetricDef& m = id.def();
    if ((m.*scheme.name).empty()) continue;
    Family f(std::string(m.*scheme.name), std::string(m.*scheme.type), std::string(m.*scheme.help));
    for (const auto& r : rows)
      if (const auto& v = r.values[id]) f.add(labels(r), *v * m.*scheme.scale);
    f.write(out);
  }
}

// dcgm-exporter's names (etc/default-counters.csv and the DCP fields) for
// what NVML gives, with its labels.
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
  metric_families<GpuSample>(kDcgmScheme, metrics_of<Scope::gpu>(), s.gpus,
                             [&](const GpuSample& g) { return labels(g.gpu, g.uuid); }, out);
  metric_families<GpmSample>(kDcgmScheme, metrics_of<Scope::gpm>(), s.gpm,
                             [&](const GpmSample& m) {
                               Labels l = labels(m.gpu, m.uuid);
                               if (m.gpu_instance_id) l.emplace_back("GPU_I_ID", std::to_string(*m.gpu_instance_id));
                               return l;
                             },
                             out);
  // As dcgm-exporter: the last Xid of each GPU, 0 before any.
  Family xid("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered.");
  for (const auto& g : s.gpus) {
    int64_t last = 0;
    for (const auto& e : s.events)
      if (e.gpu == g.gpu && e.type == "xid_critical_error") last = e.data;
    xid.add(labels(g.gpu, g.uuid), static_cast<double>(last));
  }
  xid.write(out);
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

  metric_families<GpuSample>(kGpumixScheme, metrics_of<Scope::gpu>(), s.gpus,
                             [&](const GpuSample& g) { return gpu_labels(g.gpu, g.uuid); }, out);
  {
    Family f("gpumix_gpu_clock_event_reason_active", "gauge", "1 while the reason holds the clocks down, else 0");
    for (const auto& g : s.gpus) {
      const auto& bits = g.values[metrics::clock_event_reasons];
      if (!bits) continue;
      for (const auto& [bit, name] : gpu::clock_event_reasons()) {
        Labels with = gpu_labels(g.gpu, g.uuid);
        with.emplace_back("reason", name);
        f.add(with, (static_cast<uint64_t>(*bits) & bit) ? 1.0 : 0.0);
      }
    }
    f.write(out);
  }
  metric_families<GpmSample>(kGpumixScheme, metrics_of<Scope::gpm>(), s.gpm,
                             [&](const GpmSample& m) {
                               Labels l = gpu_labels(m.gpu, m.uuid);
                               if (m.gpu_instance_id) l.emplace_back("gpu_instance", std::to_string(*m.gpu_instance_id));
                               return l;
                             },
                             out);
  metric_families<ProcessSample>(kGpumixScheme, metrics_of<Scope::process>(), s.processes,
                                 [&](const ProcessSample& p) {
                                   auto it = by_index.find(p.gpu);
                                   return Labels{{"gpu", std::to_string(p.gpu)},
                                                 {"uuid", it == by_index.end() ? "" : it->second->uuid},
                                                 {"pid", std::to_string(p.pid)},
                                                 {"kind", p.kind},
                                                 {"workload", p.workload}};
                                 },
                                 out);
  {
    // One series per kind of event seen (an Xid number, an ECC error).
    Family f("gpumix_gpu_nvml_events_total", "counter",
             "NVML events (Xid critical errors, double-bit ECC) received since gpumix started, by type and Xid");
    std::map<std::tuple<int, std::string, std::string, int64_t>, int64_t> counts;
    for (const auto& e : s.events) ++counts[{e.gpu, e.uuid, e.type, e.data}];
    for (const auto& [key, n] : counts) {
      const auto& [gpu, uuid, type, data] = key;
      Labels l = gpu_labels(gpu, uuid);
      l.emplace_back("type", type);
      l.emplace_back(type == "xid_critical_error" ? "xid" : "data", std::to_string(data));
      f.add(l, static_cast<double>(n));
    }
    f.write(out);
  }
  {
    Family f("gpumix_sample_timestamp_seconds", "gauge", "When these figures were read (Unix time)");
    f.add(Labels{}, static_cast<double>(s.t_ns) / 1e9);
    f.write(out);
  }
  return out;
}

}  // namespace gpumix::telemetry
