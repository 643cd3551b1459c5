// gpumix probe timeslice|isolation|show: the GPU's sharing mechanics measured
// with gpumix-probe processes (probes/): time-slice length, context-switch
// cost and efficiency per mode and process count; what isolation each mode
// gives (memory, faults, performance). Results go to the results database
// (probe_* tables) and into `gpumix report`.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <sstream>

#include "cli/commands.hpp"
#include "gpumix/gpu/nvml.hpp"
#include "gpumix/probe/experiments.hpp"
#include "gpumix/report/probe_tables.hpp"
#include "gpumix/run/session.hpp"
#include "gpumix/spec/builtins.hpp"
#include "gpumix/spec/sharing_mode.hpp"
#include "gpumix/telemetry/sampler.hpp"
#include "gpumix/util/environment.hpp"
#include "gpumix/util/output_file.hpp"
#include "gpumix/util/signals.hpp"
#include "gpumix/util/text.hpp"
#include "gpumix/util/units.hpp"
#include "gpumix/json_text.hpp"

namespace gpumix::cli {
namespace {

struct CommonOptions {
  std::string results_dir = "results";
  std::string modes = join(spec::probed_modes(), ",");
  std::string duration = "2s";
  std::string probe;  // gpumix-probe; default beside gpumix
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<int> int_list(const std::string& option, const std::string& s, int lo, int hi) {
  std::vector<int> out;
  for (const auto& item : split(s)) {
    size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || v < lo || v > hi)
      throw InputError(option + ": expected whole numbers from " + std::to_string(lo) + " to " + std::to_string(hi) +
                       ", got '" + item + "'");
    out.push_back(v);
  }
  if (out.empty()) throw InputError(option + ": expected at least one number");
  return out;
}

std::vector<std::string> probe_modes(const std::string& s) {
  auto modes = split(s);
  const std::string probed = join(spec::probed_modes(), ", ");
  for (const auto& m : modes)
    if (const auto* known = spec::find_sharing_mode(m); !known || !known->probed)
      throw InputError("--modes: '" + m + "' cannot be probed (" + probed + ")");
  if (modes.empty()) throw InputError("--modes: expected one or more of " + probed);
  return modes;
}

int64_t duration_ms(const std::string& text) {
  const auto d = duration_option("--duration", text, std::chrono::milliseconds(200), std::chrono::minutes(5));
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

void add_common(CLI::App& cmd, CommonOptions& o) {
  add_results_option(cmd, o.results_dir, "Results folder (its gpumix.db gets the probe's tables)");
  cmd.add_option("--modes", o.modes, "Modes to probe, comma-separated: timeslice, mps")->capture_default_str();
  cmd.add_option("--duration", o.duration, "How long each group of probe processes measures")
      ->type_name("DURATION")
      ->capture_default_str();
  cmd.add_option("--probe", o.probe, "The gpumix-probe program (default: beside gpumix, or in $GPUMIX_WORKLOAD_DIR)");
}

constexpr int kDocumentVersion = 1;  // gpumix.probe.show: docs/results.md

void print_session(std::ostream& out, probe::ProbeStore& store, const probe::SessionRow& s, report::Format fmt) {
  if (fmt == report::Format::table)
    out << "probe session " << s.id << " (" << s.kind << ", " << s.status << ") on " << s.gpu_name << " " << s.gpu_uuid
        << ", driver " << s.driver << ", host " << s.host << ", " << format_timestamp(s.started_ns) << "\n\n";
  if (s.kind == "timeslice") {
    report::render(out, report::timeslice_table(store.timeslice(s.id)), fmt);
    if (auto t = report::slowdown_table(store.slowdown(s.id)); !t.rows.empty()) {
      if (fmt == report::Format::table) out << "\nGPU-bound kernel loop next to others (slowdown against alone)\n";
      report::render(out, t, fmt);
    }
  } else {
    report::render(out, report::isolation_table(store.isolation(s.id)), fmt);
  }
}

// A session in `probe show`'s document: its row, options and tables.
nlohmann::json session_json(probe::ProbeStore& store, const probe::SessionRow& s) {
  nlohmann::json j = {{"id", s.id},
                      {"kind", s.kind},
                      {"status", s.status},
                      {"error", s.error},
                      {"started", report::rfc3339_utc(s.started_ns)},
                      {"ended", report::rfc3339_utc(s.ended_ns)},
                      {"host", s.host},
                      {"gpu_name", s.gpu_name},
                      {"gpu_uuid", s.gpu_uuid},
                      {"driver", s.driver},
                      {"options", report::parsed_or_null(s.options_json)}};
  if (s.kind == "timeslice") {
    j["timeslice"] = report::table_json(report::timeslice_table(store.timeslice(s.id)));
    j["slowdown"] = report::table_json(report::slowdown_table(store.slowdown(s.id)));
  } else {
    j["isolation"] = report::table_json(report::isolation_table(store.isolation(s.id)));
  }
  return j;
}

// The body both experiments share: guard, GPU, session row, signals, cleanup.
template <typename Run>
int run_probe(const std::string& kind, const CommonOptions& o, const nlohmann::json& options_json, Run&& body) {
  const std::filesystem::path exe = o.probe.empty() ? spec::builtin_dir() / "gpumix-probe" : std::filesystem::path(o.probe);
  if (::access(exe.c_str(), X_OK) != 0)
    throw InputError(exe.string() + ": gpumix-probe not found or not executable (build it with the CUDA toolkit: "
                     "GPUMIX_WITH_CUDA=ON and nvcc; or name it with --probe)");
  const std::filesystem::path probes_dir = std::filesystem::path(o.results_dir) / "probes";
  run::Session session({{}, probes_dir});
  const auto& nvml = session.nvml();
  if (!nvml) {
    std::cerr << "gpumix: probe needs an NVIDIA GPU: " << session.why_no_gpu() << "\n";
    return 1;
  }
  const auto dev = nvml->device(0);
  probe::ProbeStore store(o.results_dir);
  probe::SessionRow row;
  row.kind = kind;
  row.host = hostname();
  row.gpu_name = dev.name;
  row.gpu_uuid = dev.uuid;
  row.driver = nvml->driver_version();
  row.options_json = json_text(options_json);
  const int64_t id = store.begin_session(row);
  spdlog::info("probe session {} ({}): {} {}, driver {}", id, kind, dev.name, dev.uuid, row.driver);

  StopSignals signals;
  // NVML events (Xid errors) of the session, for the fault case; telemetry
  // once a second, to leave the probes' timing alone.
  telemetry::Sampler sampler(o.results_dir, std::chrono::seconds(1), nvml);
  sampler.set_source("probe");
  sampler.start();
  probe::ProbeEnv env{exe, probes_dir / std::to_string(id), {nvml, session.guard().token()}, &signals, o.results_dir};
  std::string status = "ok", error;
  try {
    body(env, store, id);
  } catch (const probe::ProbeInterrupted&) {
    status = "interrupted";
  } catch (const std::exception& e) {
    status = "failed";
    error = e.what();
  }
  if (auto killed = session.sweep_adopted(); !killed.empty())
    spdlog::warn("killed processes the probes left behind: {}", fmt::join(killed, ", "));
  sampler.stop();
  store.end_session(id, status, error);
  std::cout << "\n";
  print_session(std::cout, store, *store.session(id), report::Format::table);
  std::cout << "\nprobe session " << id << " " << status << (error.empty() ? "" : ": " + error) << "; raw evidence in "
            << env.work_dir.string() << "\nsee: gpumix probe show " << id << " --results " << o.results_dir << "\n";
  if (status == "interrupted") return 130;
  return status == "ok" ? 0 : 1;
}

void progress_line(const std::string& line) { spdlog::info("{}", line); }

}  // namespace

void add_probe(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand("probe", "Measure the GPU's sharing mechanics: time slices, switch cost, isolation");
  cmd->require_subcommand(1);

  {
    struct Options : CommonOptions {
      std::string processes = "1,2,4,8";
      int repeats = 2;
      std::string min_gap = "50us";
      bool no_slowdown = false;
    };
    auto o = std::make_shared<Options>();
    auto* ts = cmd->add_subcommand("timeslice", "Time-slice length, gap, switch overhead and efficiency per mode and process count; "
                                                "slowdown of a kernel loop next to others");
    add_common(*ts, *o);
    ts->add_option("--processes", o->processes, "Process counts, comma-separated")->capture_default_str();
    ts->add_option("--repeats", o->repeats, "Repeats of every measurement (their spread is reported)")
        ->check(CLI::Range(1, 20))
        ->capture_default_str();
    ts->add_option("--min-gap", o->min_gap, "Breaks in a process's running shorter than this are hiccups, not switches")
        ->type_name("DURATION")
        ->capture_default_str();
    ts->add_flag("--no-slowdown", o->no_slowdown, "Skip the kernel-loop slowdown");
    ts->callback([o, &action] {
      action = [o]() -> int {
        probe::TimesliceOptions t;
        t.modes = probe_modes(o->modes);
        t.counts = int_list("--processes", o->processes, 1, 32);
        t.repeats = o->repeats;
        t.duration_ms = duration_ms(o->duration);
        t.slowdown = !o->no_slowdown;
        t.trace.min_gap_ns = duration_option("--min-gap", o->min_gap, kPositive).count();
        nlohmann::json j = {{"modes", t.modes}, {"processes", t.counts}, {"repeats", t.repeats},
                            {"duration_ms", t.duration_ms}, {"min_gap_ns", t.trace.min_gap_ns}, {"slowdown", t.slowdown}};
        return run_probe("timeslice", *o, j, [&](const probe::ProbeEnv& env, probe::ProbeStore& store, int64_t id) {
          probe::run_timeslice_probe(env, t, store, id, &progress_line);
        });
      };
    });
  }
  {
    struct Options : CommonOptions {
      std::string sm_percents = "100,50,25";
      std::string mps_limit = "2GiB";
    };
    auto o = std::make_shared<Options>();
    auto* iso = cmd->add_subcommand("isolation", "What isolation each mode gives: memory, MPS memory limit, faults, performance");
    add_common(*iso, *o);
    iso->add_option("--sm-percents", o->sm_percents, "MPS: active-thread percentages of the saturating neighbour")
        ->capture_default_str();
    iso->add_option("--mps-memory-limit", o->mps_limit, "MPS: the client's CUDA_MPS_PINNED_DEVICE_MEM_LIMIT")
        ->capture_default_str();
    iso->callback([o, &action] {
      action = [o]() -> int {
        probe::IsolationOptions t;
        t.modes = probe_modes(o->modes);
        t.sm_percents = int_list("--sm-percents", o->sm_percents, 1, 100);
        t.duration_ms = duration_ms(o->duration);
        auto limit = parse_bytes(o->mps_limit);
        if (!limit || *limit < (int64_t{1} << 20))
          throw InputError("--mps-memory-limit: expected a size of at least 1MiB (e.g. 2GiB), got '" + o->mps_limit + "'");
        t.mps_limit_bytes = *limit;
        nlohmann::json j = {{"modes", t.modes}, {"sm_percents", t.sm_percents}, {"duration_ms", t.duration_ms},
                            {"mps_limit_bytes", t.mps_limit_bytes}};
        return run_probe("isolation", *o, j, [&](const probe::ProbeEnv& env, probe::ProbeStore& store, int64_t id) {
          probe::run_isolation_probe(env, t, store, id, &progress_line);
        });
      };
    });
  }
  {
    struct Options {
      std::string results_dir = "results";
      std::string session = "latest";
      std::string kind;
      std::string format = "table";
      std::string out;
    };
    auto o = std::make_shared<Options>();
    auto* show = cmd->add_subcommand("show", "Show a probe session's results (default: the latest of each kind)");
    show->add_option("session", o->session, "A session id, or latest")->capture_default_str();
    add_results_option(*show, o->results_dir);
    show->add_option("--kind", o->kind, "With latest: timeslice or isolation (default: both)")
        ->check(CLI::IsMember({"timeslice", "isolation"}));
    add_format_option(*show, o->format, {"table", "csv", "json"},
                      "table or csv: each session's tables; json: one document with every session");
    add_out_option(*show, o->out);
    show->callback([o, &action] {
      action = [o]() -> int {
        const auto fmt = report::parse_format(o->format);
        if (!std::filesystem::exists(std::filesystem::path(o->results_dir) / store::kDatabaseName))
          throw InputError(o->results_dir + ": no gpumix.db (run gpumix probe first)");
        probe::ProbeStore store(o->results_dir, store::Access::read_only);
        std::vector<probe::SessionRow> chosen;
        if (o->session == "latest") {
          for (const char* kind : {"timeslice", "isolation"})
            if (o->kind.empty() || o->kind == kind)
              if (auto s = store.latest(kind)) chosen.push_back(*s);
          if (chosen.empty()) throw InputError(o->results_dir + ": no probe results (run gpumix probe timeslice|isolation)");
        } else {
          int64_t id = 0;
          try {
            id = std::stoll(o->session);
          } catch (const std::exception&) {
            throw InputError("session: expected an id or latest, got '" + o->session + "'");
          }
          auto s = store.session(id);
          if (!s) throw InputError(o->results_dir + ": no probe session " + o->session);
          chosen.push_back(*s);
        }
        OutputFile output(o->out);
        if (fmt == report::Format::json) {
          auto doc = json_document("probe.show", kDocumentVersion);
          doc["sessions"] = nlohmann::json::array();
          for (const auto& s : chosen) doc["sessions"].push_back(session_json(store, s));
          write_json(output.stream(), doc);
        } else {
          for (size_t i = 0; i < chosen.size(); ++i) {
            if (i && fmt == report::Format::table) output.stream() << "\n";
            print_session(output.stream(), store, chosen[i], fmt);
          }
        }
        output.commit();
        return 0;
      };
    });
  }
}

}  // namespace gpumix::cli
