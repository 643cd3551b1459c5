// Telemetry in the Prometheus text exposition format (version 0.0.4), in one
// of two naming schemes:
//   gpumix  gpumix_gpu_* per GPU (labels gpu, uuid, model), gpumix_gpm_* per
//           GPU or MIG GPU instance, gpumix_process_* per process (labels gpu,
//           uuid, pid, kind, workload); base units (bytes, hertz, watts,
//           joules, seconds) or percents, as each name says;
//   dcgm    dcgm-exporter's names, units and labels (gpu, UUID, pci_bus_id,
//           device, modelName, hostname; GPU_I_ID for a MIG GPU instance),
//           so that dashboards and alerts written for it work unchanged: the
//           DCGM_FI_DEV_* fields of its default counters that NVML also
//           gives, GPM's figures as DCGM_FI_PROF_* ratios (0..1), and
//           DCGM_FI_DEV_XID_ERRORS (the last Xid, 0 before any).
// gpumix's scheme also counts NVML events (gpumix_gpu_nvml_events_total).
// Both start with gpumix_nvml_available. A pure function of its input:
// tested on hand-made snapshots.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumix/gpu/nvml.hpp"
#include "gpumix/telemetry/snapshot.hpp"

namespace gpumix::telemetry {

inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

enum class MetricNames { gpumix, dcgm };
// "gpumix" or "dcgm"; nullopt otherwise.
std::optional<MetricNames> parse_metric_names(std::string_view text);

struct Exposition {
  bool nvml_available = false;
  std::string hostname;  // the dcgm scheme's `hostname` label
  std::string reason;  // why not, when not
  std::string driver_version;
  std::vector<gpu::DeviceInfo> devices;
  std::optional<Snapshot> snapshot;  // the latest sample, if any yet
};

std::string render_prometheus(const Exposition& e, MetricNames names = MetricNames::gpumix);

// Where `gpumix monitor --listen` serves: "HOST:PORT", "[IPV6]:PORT", ":PORT"
// or "PORT" (the last two on 127.0.0.1). Port 0 picks a free port. Empty when
// the text is none of these or the port is not 0..65535.
struct ListenAddress {
  std::string host;
  int port = 0;
};
std::optional<ListenAddress> parse_listen_address(std::string_view text);

// A label value with \ " and newline escaped.
std::string escape_label_value(std::string_view v);
// HELP text with \ and newline escaped.
std::string escape_help(std::string_view v);
// The shortest text that reads back as `v`; NaN, +Inf, -Inf.
std::string format_value(double v);

}  // namespace gpumix::telemetry
