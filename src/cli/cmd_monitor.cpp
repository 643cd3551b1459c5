// gpumix monitor: GPU telemetry without a run.
//   gpumix monitor [--duration D] [--interval I] [--format table|csv|json] [--results DIR]
// streams one line per GPU and tick (table, CSV), or one JSON document per
// tick with the GPUs, processes and GPM metrics (json: JSON Lines), until D
// has passed or Ctrl-C (exit 0); --results (or $GPUMIX_RESULTS) also stores
// every sample in DIR/gpumix.db. Exit 1 with the reason when NVML cannot be used.
//   gpumix monitor --listen [HOST:]PORT
// serves the latest sample at http://HOST:PORT/metrics in the Prometheus
// text format (127.0.0.1 unless another host is given; port 0 picks a free
// one, printed on stdout). Without NVML it still serves, with
// gpumix_nvml_available 0 and the reason. --names dcgm serves dcgm-exporter's
// metric names, units and labels instead of gpumix's.
#include <spdlog/spdlog.h>

#include <httplib.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/commands.hpp"
#include "gpumix/gpu/decode.hpp"
#include "gpumix/report/table.hpp"
#include "gpumix/store/store.hpp"
#include "gpumix/telemetry/metrics_http.hpp"
#include "gpumix/telemetry/prometheus.hpp"
#include "gpumix/telemetry/sampler.hpp"
#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/environment.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/signals.hpp"
#include "gpumix/util/units.hpp"
#include "gpumix/json_text.hpp"

namespace gpumix::cli {
namespace {

using telemetry::Snapshot;

constexpr int kDocumentVersion = 1;  // gpumix.monitor, one per tick: docs/cli.md

template <typename T>
nlohmann::json json_of(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// A metric's value as CSV and JSON show it: integers as integers, the clock
// event reasons by name.
std::string csv_text(const telemetry::MetricDef& m, const std::optional<double>& v) {
  if (!v) return "";
  if (m.unit == "bitmask") return gpu::clock_event_reasons_text(static_cast<uint64_t>(*v));
  return m.integer ? std::to_string(std::llround(*v)) : std::isfinite(*v) ? report::number_text(*v) : "";
}
nlohmann::json metric_json(const telemetry::MetricDef& m, const std::optional<double>& v) {
  if (!v) return nullptr;
  if (m.integer) return std::llround(*v);
  return std::isfinite(*v) ? nlohmann::json(*v) : nlohmann::json(nullptr);
}
// ... and as the table shows it.
std::string table_text(const telemetry::MetricDef& m, const std::optional<double>& v) {
  if (!v) return "-";
  if (m.unit == "bitmask") return gpu::clock_event_reasons_text(static_cast<uint64_t>(*v));
  if (m.unit == "bytes") return format_bytes(static_cast<uint64_t>(*v));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", m.decimals, *v);
  return buf;
}

std::string clock_of(int64_t t_ns) {
  auto s = format_timestamp(t_ns);  // "2026-11-23 21:10:05"
  char ms[8];
  std::snprintf(ms, sizeof ms, ".%03d", static_cast<int>((t_ns / 1000000) % 1000));
  return s.substr(s.size() > 8 ? s.size() - 8 : 0) + ms;
}

// The whole-GPU GPM sample of `gpu` in this tick, if any.
const telemetry::GpmSample* gpm_of(const Snapshot& s, int gpu) {
  for (const auto& m : s.gpm)
    if (m.gpu == gpu && !m.gpu_instance_id) return &m;
  return nullptr;
}

int process_count(const Snapshot& s, int gpu) {
  int n = 0;
  for (const auto& p : s.processes) n += p.gpu == gpu;
  return n;
}

constexpr auto kGpuMetrics = telemetry::metrics_of<telemetry::Scope::gpu>();
constexpr auto kGpmMetrics = telemetry::metrics_of<telemetry::Scope::gpm>();
constexpr auto kProcessMetrics = telemetry::metrics_of<telemetry::Scope::process>();

// One line per GPU: its metrics, then its whole-GPU GPM metrics ("gpm_" + name).
std::vector<std::string> csv_columns() {
  std::vector<std::string> out = {"time", "t_ns", "gpu", "uuid"};
  for (auto m : kGpuMetrics) out.emplace_back(m.def().name);
  for (auto m : kGpmMetrics) out.push_back("gpm_" + std::string(m.def().name));
  out.emplace_back("processes");
  return out;
}

void print_csv(std::ostream& out, const Snapshot& s) {
  for (const auto& g : s.gpus) {
    const auto* gpm = gpm_of(s, g.gpu);
    const auto time = report::rfc3339_utc(g.t_ns);
    std::vector<std::string> row = {time.is_null() ? "" : time.get<std::string>(), std::to_string(g.t_ns),
                                    std::to_string(g.gpu), g.uuid};
    for (auto m : kGpuMetrics) row.push_back(csv_text(m.def(), g.values[m]));
    for (auto m : kGpmMetrics) row.push_back(gpm ? csv_text(m.def(), gpm->values[m]) : "");
    row.push_back(std::to_string(process_count(s, g.gpu)));
    for (size_t i = 0; i < row.size(); ++i) out << (i ? "," : "") << report::csv_field(row[i]);
    out << "\n";
  }
}

template <size_t N>
void add_metrics(nlohmann::json& j, const telemetry::Values& values, const std::array<telemetry::MetricId, N>& metrics) {
  for (auto m : metrics) j[std::string(m.def().name)] = metric_json(m.def(), values[m]);
}

nlohmann::json snapshot_json(const Snapshot& s) {
  nlohmann::json gpus = nlohmann::json::array(), procs = nlohmann::json::array(), gpm = nlohmann::json::array();
  for (const auto& g : s.gpus) {
    nlohmann::json j = {{"gpu", g.gpu}, {"uuid", g.uuid}};
    add_metrics(j, g.values, kGpuMetrics);
    const auto& reasons = g.values[telemetry::metrics::clock_event_reasons];
    j["clock_event_reason_names"] =
        reasons ? nlohmann::json(gpu::clock_event_reason_names(static_cast<uint64_t>(*reasons))) : nlohmann::json(nullptr);
    gpus.push_back(std::move(j));
  }
  for (const auto& p : s.processes) {
    nlohmann::json j = {{"gpu", p.gpu}, {"pid", p.pid}, {"kind", p.kind}, {"gpu_instance_id", json_of(p.gpu_instance_id)}};
    add_metrics(j, p.values, kProcessMetrics);
    procs.push_back(std::move(j));
  }
  for (const auto& m : s.gpm) {
    nlohmann::json j = {{"gpu", m.gpu}, {"gpu_instance_id", json_of(m.gpu_instance_id)}, {"uuid", m.uuid}};
    add_metrics(j, m.values, kGpmMetrics);
    gpm.push_back(std::move(j));
  }
  auto doc = json_document("monitor", kDocumentVersion);
  doc.update({{"time", report::rfc3339_utc(s.t_ns)}, {"t_ns", s.t_ns}, {"gpus", gpus}, {"processes", procs}, {"gpm", gpm},
              {"errors", s.errors}});
  return doc;
}

// One column of the text table: its header, its width (0: as wide as the
// text; the first and the last are left-aligned, the rest right-aligned) and
// how a GPU's line fills it.
struct TableColumn {
  std::string header;
  size_t width;
  std::function<std::string(const Snapshot&, const telemetry::GpuSample&, const telemetry::GpmSample*)> cell;
};

// time, gpu, the metrics with a `column` (the GPU's, then its whole-GPU GPM
// ones), the process count, and the clock event reasons (text of any length) last.
const std::vector<TableColumn>& table_columns() {
  static const std::vector<TableColumn> columns = [] {
    using telemetry::GpmSample;
    using telemetry::GpuSample;
    std::vector<TableColumn> out = {
        {"time", 12, [](const Snapshot&, const GpuSample& g, const GpmSample*) { return clock_of(g.t_ns); }},
        {"gpu", 3, [](const Snapshot&, const GpuSample& g, const GpmSample*) { return std::to_string(g.gpu); }}};
    std::vector<TableColumn> last;
    auto add = [&](telemetry::MetricId m) {
      const auto& d = m.def();
      if (d.column.empty()) return;
      TableColumn c{std::string(d.column), d.unit == "bytes" ? 10 : std::max<size_t>(d.column.size(), 4),
                    [m](const Snapshot&, const GpuSample& g, const GpmSample* gpm) {
                      if (m.def().scope != telemetry::Scope::gpm) return table_text(m.def(), g.values[m]);
                      return table_text(m.def(), gpm ? gpm->values[m] : std::nullopt);
                    }};
      if (d.unit == "bitmask") c.width = 0;
      (d.unit == "bitmask" ? last : out).push_back(std::move(c));
    };
    for (auto m : kGpuMetrics) add(m);
    for (auto m : kGpmMetrics) add(m);
    out.push_back({"procs", 5, [](const Snapshot& s, const GpuSample& g, const GpmSample*) {
                     return std::to_string(process_count(s, g.gpu));
                   }});
    out.insert(out.end(), last.begin(), last.end());
    return out;
  }();
  return columns;
}

// The text table, with the header again every 25 lines.
class TablePrinter {
 public:
  void print(std::ostream& out, const Snapshot& s) {
    const auto& columns = table_columns();
    for (const auto& g : s.gpus) {
      if (lines_ % 25 == 0) {
        std::vector<std::string> header;
        for (const auto& c : columns) header.push_back(c.header);
        out << line(header) << "\n";
      }
      const auto* gpm = gpm_of(s, g.gpu);
      std::vector<std::string> cells;
      for (const auto& c : columns) cells.push_back(c.cell(s, g, gpm));
      out << line(cells) << "\n";
      ++lines_;
    }
  }

 private:
  static std::string line(const std::vector<std::string>& cells) {
    const auto& columns = table_columns();
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i) {
      std::string c = cells[i];
      const size_t w = columns[i].width;
      if (c.size() < w) c = (i == 0 || i + 1 == cells.size() ? c + std::string(w - c.size(), ' ') : std::string(w - c.size(), ' ') + c);
      out += (i ? "  " : "") + c;
    }
    return out;
  }
  int64_t lines_ = 0;
};

// Waits for Ctrl-C (SIGINT, SIGTERM, SIGHUP) or the end of `duration` (0: none).
void wait_for_stop(StopSignals& signals, std::chrono::nanoseconds duration) {
  const auto deadline = std::chrono::steady_clock::now() + duration;
  while (signals.count() == 0) {
    int timeout_ms = 1000;
    if (duration.count() > 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return;
      timeout_ms = static_cast<int>(std::min<int64_t>(left.count() + 1, 1000));
    }
    pollfd p{signals.fd(), POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) < 0 && errno != EINTR) throw SystemError("poll", errno);
  }
}

}  // namespace

void add_monitor(CLI::App& app, Action& action) {
  struct Options {
    std::string duration = "0s";
    std::string interval = "100ms";
    std::string format = "table";
    std::string results;  // empty: store nothing
    std::string listen;
    std::string names = "gpumix";
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("monitor", "Stream GPU telemetry, store it (--results), or serve it to Prometheus (--listen)");
  cmd->add_option("--duration", opts->duration, "How long to run (e.g. 30s; 0s: until Ctrl-C)")
      ->type_name("DURATION")
      ->capture_default_str();
  cmd->add_option("--interval", opts->interval, "Time between samples (GPM metrics: at least 100ms apart)")
      ->type_name("DURATION")
      ->envname(env_vars::kTelemetryInterval)
      ->capture_default_str();
  add_format_option(*cmd, opts->format, {"table", "csv", "json"},
                    "table or csv: a line per GPU and sample; json: a document per sample, one per line (JSON Lines)");
  add_results_option(*cmd, opts->results, "Also store the samples in this results folder (gpumix.db); default: store nothing");
  auto renamed = std::make_shared<RenamedOption>(
      *cmd, "--out",
      "the results folder that stores the samples is now --results DIR; the stream itself goes to standard output");
  cmd->add_option("--listen", opts->listen,
                  "Serve /metrics (Prometheus) at [HOST:]PORT instead of printing; HOST defaults to 127.0.0.1, port 0 "
                  "picks a free one");
  cmd->add_option("--names", opts->names,
                  "Metric names at --listen: gpumix (its own, base units) or dcgm (dcgm-exporter's names, units and labels, "
                  "for dashboards and alerts written for it)")
      ->capture_default_str();

  cmd->callback([opts, renamed, &action] {
    action = [opts, renamed]() -> int {
      renamed->check();
      const auto duration = duration_option("--duration", opts->duration);
      const auto interval = std::chrono::duration_cast<std::chrono::milliseconds>(duration_option("--interval", opts->interval, kPositive));
      if (interval.count() < 1) throw InputError("--interval: must be at least 1ms, got '" + opts->interval + "'");
      const auto format = report::parse_format(opts->format);
      const auto names = telemetry::parse_metric_names(opts->names);
      if (!names) throw InputError("--names: expected gpumix or dcgm, got '" + opts->names + "'");
      if (opts->listen.empty() && opts->names != "gpumix") throw InputError("--names: only with --listen");
      std::optional<telemetry::ListenAddress> listen;
      if (!opts->listen.empty()) {
        listen = telemetry::parse_listen_address(opts->listen);
        if (!listen)
          throw InputError("--listen: expected [HOST:]PORT such as 127.0.0.1:9400 or [::1]:9400, got '" + opts->listen + "'");
      }

      std::string why;
      auto nvml = gpu::Nvml::open(&why);
      std::string driver;
      if (nvml) {
        try {
          driver = nvml->driver_version();
        } catch (const std::exception& e) {
          why = e.what();
          nvml.reset();
        }
      }
      // --results names a results folder: make it one (`gpumix ls` reads it), then add telemetry.
      if (!opts->results.empty()) store::Store::open(opts->results);
      StopSignals signals;
      telemetry::Sampler sampler(opts->results.empty() ? std::filesystem::path() : std::filesystem::path(opts->results), interval,
                                 nvml, why);
      sampler.set_source("monitor");

      if (listen) {
        const std::string this_host = hostname();
        sampler.start();
        auto server_ptr = telemetry::make_metrics_server([&] {
          telemetry::Exposition e;
          const auto st = sampler.status();
          e.nvml_available = st.available;
          e.reason = st.reason;
          e.driver_version = driver;
          e.hostname = this_host;
          e.devices = sampler.devices();
          e.snapshot = sampler.latest();
          return telemetry::render_prometheus(e, *names);
        });
        auto& server = *server_ptr;
        int port = listen->port;
        if (port == 0) port = server.bind_to_any_port(listen->host);
        else if (!server.bind_to_port(listen->host, port)) port = -1;
        if (port < 0)
          throw RunError("cannot listen on " + opts->listen + " (address in use, or not an address of this machine)");
        const std::string host = listen->host.find(':') != std::string::npos ? "[" + listen->host + "]" : listen->host;
        std::cout << "gpumix monitor: serving http://" << host << ":" << port << "/metrics" << std::endl;
        std::thread serving([&server] { server.listen_after_bind(); });
        wait_for_stop(signals, duration);
        server.stop();
        serving.join();
        sampler.stop();
        return 0;
      }

      if (!nvml && opts->results.empty()) {
        std::cerr << "gpumix: no GPU telemetry: " << why << "\n";
        return 1;
      }
      std::mutex out_mutex;
      TablePrinter table;
      bool header = format == report::Format::csv;
      sampler.on_snapshot([&](const Snapshot& s) {
        std::lock_guard lock(out_mutex);
        if (header) {
          for (size_t i = 0; i < csv_columns().size(); ++i) std::cout << (i ? "," : "") << csv_columns()[i];
          std::cout << "\n";
          header = false;
        }
        if (format == report::Format::csv) print_csv(std::cout, s);
        else if (format == report::Format::json) std::cout << json_text(snapshot_json(s)) << "\n";
        else table.print(std::cout, s);
        std::cout.flush();
      });
      sampler.start();
      const auto status = sampler.status();
      if (!status.available) {
        sampler.stop();
        std::cerr << "gpumix: no GPU telemetry: " << status.reason << "\n";
        return 1;
      }
      wait_for_stop(signals, duration);
      sampler.stop();
      const auto end = sampler.status();
      if (!opts->results.empty())
        spdlog::info("monitor: {} sample(s) stored in {}", end.ticks, opts->results);
      return 0;
    };
  });
}

}  // namespace gpumix::cli
