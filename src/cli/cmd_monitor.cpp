// gpumix monitor: GPU telemetry without a run.
//   gpumix monitor [--duration D] [--interval I] [--format table|csv|json] [--out DIR]
// streams one line per GPU and tick (table, CSV), or one JSON object per tick
// with the GPUs, processes and GPM metrics (json), until D has passed or
// Ctrl-C (exit 0); --out also stores every sample in DIR/gpumix.db. Exit 1
// with the reason when NVML cannot be used.
//   gpumix monitor --listen [HOST:]PORT
// serves the latest sample at http://HOST:PORT/metrics in the Prometheus
// text format (127.0.0.1 unless another host is given; port 0 picks a free
// one, printed on stdout). Without NVML it still serves, with
// gpumix_nvml_available 0 and the reason. --names dcgm serves dcgm-exporter's
// metric names, units and labels instead of gpumix's.
#include <httplib.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/commands.hpp"
#include "gpumix/gpu/decode.hpp"
#include "gpumix/report/table.hpp"
#include "gpumix/store/store.hpp"
#include "gpumix/telemetry/prometheus.hpp"
#include "gpumix/telemetry/sampler.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/signals.hpp"
#include "gpumix/util/units.hpp"

namespace gpumix::cli {
namespace {

using telemetry::Snapshot;

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

template <typename T>
std::string text(const std::optional<T>& v) {
  if (!v) return "";
  if constexpr (std::is_floating_point_v<T>) return telemetry::format_value(*v);
  else return std::to_string(*v);
}

template <typename T>
nlohmann::json json_of(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

std::string fixed(const std::optional<double>& v, int digits) {
  if (!v) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, *v);
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

const std::vector<std::string> kCsvColumns = {
    "t_ns", "gpu", "uuid", "gpu_util_percent", "memory_util_percent", "memory_used_bytes", "memory_total_bytes",
    "sm_clock_mhz", "memory_clock_mhz", "power_watts", "energy_mj", "temperature_c", "clock_event_reasons",
    "gpm_sm_util_percent", "gpm_sm_occupancy_percent", "gpm_tensor_util_percent", "gpm_dram_bw_util_percent",
    "processes"};

void print_csv(std::ostream& out, const Snapshot& s) {
  for (const auto& g : s.gpus) {
    const auto* m = gpm_of(s, g.gpu);
    std::optional<double> none;
    const std::vector<std::string> row = {
        std::to_string(g.t_ns), std::to_string(g.gpu), g.uuid, text(g.gpu_util_percent), text(g.memory_util_percent),
        text(g.memory_used_bytes), text(g.memory_total_bytes), text(g.sm_clock_mhz), text(g.memory_clock_mhz),
        text(g.power_watts), text(g.energy_mj), text(g.temperature_c),
        g.clock_event_reasons ? gpu::clock_event_reasons_text(static_cast<uint64_t>(*g.clock_event_reasons)) : "",
        text(m ? m->sm_util_percent : none), text(m ? m->sm_occupancy_percent : none),
        text(m ? m->tensor_util_percent : none), text(m ? m->dram_bw_util_percent : none),
        std::to_string(process_count(s, g.gpu))};
    for (size_t i = 0; i < row.size(); ++i) out << (i ? "," : "") << csv_field(row[i]);
    out << "\n";
  }
}

nlohmann::json snapshot_json(const Snapshot& s) {
  nlohmann::json gpus = nlohmann::json::array(), procs = nlohmann::json::array(), gpm = nlohmann::json::array();
  for (const auto& g : s.gpus) {
    nlohmann::json reasons = nullptr;
    if (g.clock_event_reasons) reasons = gpu::clock_event_reason_names(static_cast<uint64_t>(*g.clock_event_reasons));
    gpus.push_back({{"gpu", g.gpu},
                    {"uuid", g.uuid},
                    {"gpu_util_percent", json_of(g.gpu_util_percent)},
                    {"memory_util_percent", json_of(g.memory_util_percent)},
                    {"memory_used_bytes", json_of(g.memory_used_bytes)},
                    {"memory_total_bytes", json_of(g.memory_total_bytes)},
                    {"sm_clock_mhz", json_of(g.sm_clock_mhz)},
                    {"memory_clock_mhz", json_of(g.memory_clock_mhz)},
                    {"power_watts", json_of(g.power_watts)},
                    {"energy_mj", json_of(g.energy_mj)},
                    {"temperature_c", json_of(g.temperature_c)},
                    {"clock_event_reasons", json_of(g.clock_event_reasons)},
                    {"clock_event_reason_names", reasons}});
  }
  for (const auto& p : s.processes)
    procs.push_back({{"gpu", p.gpu},
                     {"pid", p.pid},
                     {"kind", p.kind},
                     {"gpu_instance_id", json_of(p.gpu_instance_id)},
                     {"used_memory_bytes", json_of(p.used_memory_bytes)},
                     {"sm_util_percent", json_of(p.sm_util_percent)},
                     {"memory_util_percent", json_of(p.memory_util_percent)}});
  for (const auto& m : s.gpm)
    gpm.push_back({{"gpu", m.gpu},
                   {"gpu_instance_id", json_of(m.gpu_instance_id)},
                   {"uuid", m.uuid},
                   {"sm_util_percent", json_of(m.sm_util_percent)},
                   {"sm_occupancy_percent", json_of(m.sm_occupancy_percent)},
                   {"tensor_util_percent", json_of(m.tensor_util_percent)},
                   {"dram_bw_util_percent", json_of(m.dram_bw_util_percent)}});
  return {{"t_ns", s.t_ns}, {"gpus", gpus}, {"processes", procs}, {"gpm", gpm}, {"errors", s.errors}};
}

// The text table: fixed widths, the header again every 25 lines.
class TablePrinter {
 public:
  void print(std::ostream& out, const Snapshot& s) {
    for (const auto& g : s.gpus) {
      if (lines_ % 25 == 0) {
        out << line({"time", "gpu", "util%", "mem%", "mem_used", "sm_mhz", "mem_mhz", "power_w", "temp_c", "sm_act%",
                     "sm_occ%", "tensor%", "dram%", "procs", "clock_events"})
            << "\n";
      }
      const auto* m = gpm_of(s, g.gpu);
      auto i = [](const std::optional<int64_t>& v) { return v ? std::to_string(*v) : std::string("-"); };
      out << line({clock_of(g.t_ns), std::to_string(g.gpu), i(g.gpu_util_percent), i(g.memory_util_percent),
                   g.memory_used_bytes ? format_bytes(*g.memory_used_bytes) : "-", i(g.sm_clock_mhz), i(g.memory_clock_mhz),
                   fixed(g.power_watts, 1), i(g.temperature_c), fixed(m ? m->sm_util_percent : std::nullopt, 1),
                   fixed(m ? m->sm_occupancy_percent : std::nullopt, 1), fixed(m ? m->tensor_util_percent : std::nullopt, 1),
                   fixed(m ? m->dram_bw_util_percent : std::nullopt, 1), std::to_string(process_count(s, g.gpu)),
                   g.clock_event_reasons ? gpu::clock_event_reasons_text(static_cast<uint64_t>(*g.clock_event_reasons)) : "-"})
          << "\n";
      ++lines_;
    }
  }

 private:
  static std::string line(const std::vector<std::string>& cells) {
    static const int widths[] = {12, 3, 5, 4, 10, 6, 7, 7, 6, 7, 7, 7, 5, 5, 0};
    std::string out;
    for (size_t i = 0; i < cells.size(); ++i) {
      std::string c = cells[i];
      const size_t w = static_cast<size_t>(widths[i]);
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

std::chrono::nanoseconds duration_option(const std::string& name, const std::string& value, bool allow_zero) {
  auto d = parse_duration(value);
  if (!d || d->count() < 0 || (!allow_zero && d->count() == 0))
    throw InputError(name + ": expected a " + (allow_zero ? "" : "positive ") + "duration such as 100ms, 10s or 5m, got '" +
                     value + "'");
  return *d;
}

}  // namespace

void add_monitor(CLI::App& app, Action& action) {
  struct Options {
    std::string duration = "0";
    std::string interval = "100ms";
    std::string format = "table";
    std::string out;
    std::string listen;
    std::string names = "gpumix";
  };
  auto opts = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("monitor", "Stream GPU telemetry, store it (--out), or serve it to Prometheus (--listen)");
  cmd->add_option("--duration", opts->duration, "How long to run (e.g. 30s; 0: until Ctrl-C)")->capture_default_str();
  cmd->add_option("--interval", opts->interval, "Time between samples (GPM metrics: at least 100ms apart)")
      ->envname("GPUMIX_TELEMETRY_INTERVAL")
      ->capture_default_str();
  add_format_option(*cmd, opts->format);
  cmd->add_option("--out", opts->out, "Also store the samples in this results folder (gpumix.db)");
  cmd->add_option("--listen", opts->listen,
                  "Serve /metrics (Prometheus) at [HOST:]PORT instead of printing; HOST defaults to 127.0.0.1, port 0 "
                  "picks a free one");
  cmd->add_option("--names", opts->names,
                  "Metric names at --listen: gpumix (its own, base units) or dcgm (dcgm-exporter's names, units and labels, "
                  "for dashboards and alerts written for it)")
      ->capture_default_str();

  cmd->callback([opts, &action] {
    action = [opts]() -> int {
      const auto duration = duration_option("--duration", opts->duration, true);
      const auto interval = std::chrono::duration_cast<std::chrono::milliseconds>(duration_option("--interval", opts->interval, false));
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
      // --out names a results folder: make it one (`gpumix ls` reads it), then add telemetry.
      if (!opts->out.empty()) store::Store::open(opts->out);
      StopSignals signals;
      telemetry::Sampler sampler(opts->out.empty() ? std::filesystem::path() : std::filesystem::path(opts->out), interval,
                                 nvml, why);
      sampler.set_source("monitor");

      if (listen) {
        char host_buf[256] = {};
        const std::string hostname = ::gethostname(host_buf, sizeof host_buf - 1) == 0 ? host_buf : "";
        sampler.start();
        httplib::Server server;
        // SO_REUSEADDR only: cpp-httplib's default SO_REUSEPORT would let a
        // second gpumix share a port that is in use.
        server.set_socket_options([](socket_t sock) {
          int yes = 1;
          ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        });
        server.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
          telemetry::Exposition e;
          const auto st = sampler.status();
          e.nvml_available = st.available;
          e.reason = st.reason;
          e.driver_version = driver;
          e.hostname = hostname;
          e.devices = sampler.devices();
          e.snapshot = sampler.latest();
          res.set_content(telemetry::render_prometheus(e, *names), telemetry::kPrometheusContentType);
        });
        server.Get("/", [](const httplib::Request&, httplib::Response& res) {
          res.set_content("gpumix monitor: Prometheus metrics at /metrics\n", "text/plain; charset=utf-8");
        });
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

      if (!nvml && opts->out.empty()) {
        std::cerr << "gpumix: no GPU telemetry: " << why << "\n";
        return 1;
      }
      std::mutex out_mutex;
      TablePrinter table;
      bool header = format == report::Format::csv;
      sampler.on_snapshot([&](const Snapshot& s) {
        std::lock_guard lock(out_mutex);
        if (header) {
          for (size_t i = 0; i < kCsvColumns.size(); ++i) std::cout << (i ? "," : "") << kCsvColumns[i];
          std::cout << "\n";
          header = false;
        }
        if (format == report::Format::csv) print_csv(std::cout, s);
        else if (format == report::Format::json) std::cout << snapshot_json(s).dump() << "\n";
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
      if (!opts->out.empty())
        std::cerr << "gpumix monitor: " << end.ticks << " sample(s) stored in " << opts->out << "\n";
      return 0;
    };
  });
}

}  // namespace gpumix::cli
