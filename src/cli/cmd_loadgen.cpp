// gpumix loadgen: drives a KServe v2 inference server and reports its tail
// latency (docs/loadgen.md). Its options are a built-in's (workloads/common/
// gpumix/cli.hpp), so a mix can run it as `builtin: loadgen` and check its
// `args` against `gpumix loadgen --describe`.
#include <signal.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/cli.hpp"
#include "gpumix/loadgen/engine.hpp"
#include "gpumix/loadgen/kserve.hpp"
#include "gpumix/loadgen/summary.hpp"
#include "gpumix/loadgen/sweep.hpp"
#include "gpumix/metrics.hpp"
#include "gpumix/report/table.hpp"
#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/signals.hpp"

namespace gpumix::cli {

namespace {

using namespace loadgen;

constexpr const char* kDefaultUrl = "http://127.0.0.1:8000";

struct Options {
  std::string url;
  std::string model = "resnet50";
  std::string input_name;
  std::string datatype = "auto";
  std::string shape;
  bool json = false;
  double rate = 0;
  int64_t connections = 256;
  int64_t concurrency = 0;
  std::string think_time = "0s";
  std::string duration = "0s";
  std::string warmup = "1s";
  int64_t requests = 0;
  std::string timeout = "10s";
  std::string ready_timeout = "60s";
  uint64_t seed = 0;
  std::vector<std::string> slo;
  bool sweep = false;
  double sweep_start = 100;
  double sweep_max = 100000;
  double sweep_factor = 2;
  double sweep_tolerance = 0.02;
  std::string step_duration = "10s";
  std::string format = "table";
};

void add_options(wl::Cli& cli, Options& o) {
  o.url = kDefaultUrl;
  if (const char* after = std::getenv(env_vars::kAfterUrl); after && *after) o.url = after;
  o.seed = wl::default_seed();
  cli.add("url", o.url, "The server (default: $GPUMIX_AFTER_URL, set by gpumix to the url of the workload "
                        "this one starts after, else " + std::string(kDefaultUrl) + ")")
      ->default_str(kDefaultUrl);
  if (const char* model = std::getenv(env_vars::kAfterModel); model && *model) o.model = model;
  cli.add("model", o.model, "Model name in /v2/models/{model}/infer (default: $GPUMIX_AFTER_MODEL, else resnet50)")
      ->default_str("resnet50");
  cli.add("input-name", o.input_name, "Input tensor name (default: from the model's metadata)");
  cli.add_choice("datatype", o.datatype, {"auto", "UINT8", "FP32"}, "Input datatype; auto = from the model's metadata");
  cli.add("shape", o.shape, "Input shape, e.g. 1,3,224,224 (default: from the model's metadata, batch 1)");
  cli.add("json", o.json, "Send the tensor as JSON data instead of the binary tensor extension");
  wl::Cli::non_negative(cli.add("rate", o.rate, "Open loop: Poisson arrivals per second"));
  wl::Cli::positive(cli.add("connections", o.connections, "Open loop: persistent connections (one thread each)"));
  wl::Cli::non_negative(cli.add("concurrency", o.concurrency, "Closed loop: clients, each sending when answered"));
  wl::Cli::duration(cli.add("think-time", o.think_time, "Closed loop: pause between a response and the next request"));
  wl::Cli::duration(cli.add("duration", o.duration, "Measured time after warm-up (e.g. 30s); 0s = until stopped"));
  wl::Cli::duration(cli.add("warmup", o.warmup, "Requests scheduled in this first time are sent but not measured"));
  wl::Cli::non_negative(cli.add("requests", o.requests, "Measured requests; 0 = no limit"));
  wl::Cli::duration(cli.add("timeout", o.timeout, "A request without a response by then is a timeout"));
  wl::Cli::duration(cli.add("ready-timeout", o.ready_timeout, "How long to wait for GET /v2/health/ready"));
  cli.add("seed", o.seed, "Seed of the arrival times and the request's content (default: $GPUMIX_SEED, else 0)")
      ->default_str("0");
  cli.app()
      .add_option("--slo", o.slo, "Latency objective, e.g. p99=25ms; repeat or separate by commas for several")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cli.add("sweep", o.sweep, "Find the highest rate meeting --slo (docs/loadgen.md)");
  wl::Cli::positive(cli.add("sweep-start", o.sweep_start, "Sweep: first rate (req/s)"));
  wl::Cli::positive(cli.add("sweep-max", o.sweep_max, "Sweep: highest rate tried (req/s)"));
  wl::Cli::positive(cli.add("sweep-factor", o.sweep_factor, "Sweep: rate growth per step until the SLO breaks"));
  wl::Cli::positive(cli.add("sweep-tolerance", o.sweep_tolerance, "Sweep: bisect until within this fraction"));
  wl::Cli::duration(cli.add("step-duration", o.step_duration, "Sweep: measured time of each step (after --warmup)"));
  cli.add_choice("format", o.format, {"table", "csv", "json"}, "Output format");
  cli.add_describe();
}

// The done event's fields from a summary; `keys` keeps the SLO keys alive.
metrics::Fields done_fields(const Summary& s, std::vector<std::string>& keys) {
  metrics::Fields f = {{"requests", s.requests}, {"ok", s.ok}, {"errors", s.errors}, {"timeouts", s.timeouts},
                       {"late", s.late}, {"discarded", s.discarded}, {"achieved_rps", s.achieved_rps}};
  if (s.offered_rps > 0) f.push_back({"offered_rps", s.offered_rps});
  if (s.concurrency > 0) f.push_back({"concurrency", int64_t{s.concurrency}});
  const std::pair<const char*, const std::optional<double>*> ps[] = {
      {"p50_ms", &s.p50}, {"p90_ms", &s.p90}, {"p95_ms", &s.p95}, {"p99_ms", &s.p99},
      {"p99.9_ms", &s.p999}, {"mean_ms", &s.mean}, {"max_ms", &s.max}};
  for (const auto& [k, v] : ps)
    if (*v) f.push_back({k, **v});
  keys.reserve(s.slos.size());
  for (const auto& r : s.slos) {
    keys.push_back("slo " + r.slo.text);
    f.push_back({keys.back(), r.attainment});
  }
  if (!s.slos.empty()) f.push_back({"slo_met", s.slo_met()});
  return f;
}

void emit_latency(metrics::Reporter& reporter, const Record& r) {
  const double ms = static_cast<double>(r.latency.count()) / 1e6;
  switch (r.outcome) {
    case Outcome::ok: reporter.latency(ms, true); break;
    case Outcome::timeout: reporter.latency(ms, {{"ok", false}, {"timeout", true}}); break;
    case Outcome::error:
      if (r.status == 0) reporter.latency(ms, {{"ok", false}, {"error", r.message}});
      else reporter.latency(ms, {{"ok", false}, {"status", int64_t{r.status}}});
      break;
  }
}

int run(const Options& o, metrics::Reporter& reporter) {
  // Validate everything before touching the network.
  const auto format = report::parse_format(o.format);
  const Endpoint endpoint = parse_url(o.url);
  std::vector<Slo> slos;
  for (const auto& s : o.slo) {
    auto more = parse_slos(s);
    slos.insert(slos.end(), more.begin(), more.end());
  }
  LoadSpec spec;
  spec.endpoint = endpoint;
  spec.model = o.model;
  spec.connections = static_cast<int>(o.connections);
  spec.think_time = duration_option("--think-time", o.think_time);
  spec.warmup = duration_option("--warmup", o.warmup);
  spec.duration = duration_option("--duration", o.duration);
  spec.requests = o.requests;
  spec.timeout = duration_option("--timeout", o.timeout, kPositive);
  spec.drain = std::min<Duration>(spec.timeout, std::chrono::seconds(2));
  spec.seed = o.seed;
  const Duration ready_timeout = duration_option("--ready-timeout", o.ready_timeout, kPositive);
  const Duration step_duration = duration_option("--step-duration", o.step_duration, kPositive);
  if (o.sweep) {
    if (slos.empty()) throw InputError("--sweep needs at least one --slo, e.g. --slo p99=25ms");
    if (o.rate > 0 || o.concurrency > 0 || o.requests > 0)
      throw InputError("--sweep chooses the rates itself: drop --rate, --concurrency and --requests");
  } else if ((o.rate > 0) == (o.concurrency > 0)) {
    throw InputError("give either --rate R (open loop), --concurrency N (closed loop) or --sweep");
  }
  spec.rate = o.rate;
  spec.concurrency = static_cast<int>(o.concurrency);
  kserve::TensorSpec input{o.input_name, kserve::DataType::fp32, {}};
  const auto datatype = kserve::datatype_from_string(o.datatype);  // nullopt: auto
  if (datatype) input.datatype = *datatype;
  if (!o.shape.empty()) input.shape = parse_shape(o.shape);

  ::signal(SIGPIPE, SIG_IGN);  // a server closing a connection is an error, not our death
  StopSignals signals;
  if (!wait_ready(endpoint, ready_timeout, signals.fd())) {
    reporter.done({{"requests", int64_t{0}}, {"stopped_before_ready", true}});
    return 0;
  }
  std::vector<std::string> outputs;
  if (input.name.empty() || !datatype || input.shape.empty()) {
    auto meta = fetch_model_metadata(endpoint, o.model);
    if (input.name.empty()) input.name = meta.input.name;
    if (!datatype) input.datatype = meta.input.datatype;
    if (input.shape.empty()) input.shape = meta.input.shape;
    outputs = meta.outputs;
  }
  const auto request = kserve::encode_infer_request(input, random_tensor_data(input, o.seed), outputs, !o.json);
  spec.request = &request;
  const std::string shape = fmt::format("{}", fmt::join(input.shape, ","));
  spdlog::info("loadgen: {} model {} input {} {} [{}], {} bytes per request ({})", endpoint.url(), o.model,
               input.name, kserve::to_string(input.datatype), shape, request.body.size(), o.json ? "JSON" : "binary");
  reporter.info({{"url", endpoint.url()}, {"model", o.model}, {"input", input.name},
                 {"datatype", kserve::to_string(input.datatype)}, {"shape", shape},
                 {"request_bytes", int64_t(request.body.size())}});

  if (o.sweep) {
    SweepOptions so{o.sweep_start, o.sweep_max, o.sweep_factor, o.sweep_tolerance};
    bool ready_sent = false;
    auto step = [&](double rate) {
      LoadSpec s = spec;
      s.rate = rate;
      s.duration = step_duration;
      LoadHooks hooks;
      hooks.on_measuring = [&] {
        if (!ready_sent) reporter.ready();
        ready_sent = true;
      };
      auto summary = summarize(run_load(s, signals.fd(), hooks), slos, rate, 0);
      std::vector<std::string> keys;
      reporter.info(done_fields(summary, keys));
      spdlog::info("loadgen: {:.1f} req/s: p99 {} ms, {} errors, {} timeouts, {} late: SLO {}", rate,
                   summary.p99 ? fmt::format("{:.2f}", *summary.p99) : "-", summary.errors, summary.timeouts,
                   summary.late, summary.slo_met() ? "met" : "missed");
      return summary;
    };
    auto result = sweep(so, step, [&] { return signals.count() > 0; });
    report::render(std::cout, summary_table(result.steps, slos), format);
    std::string verdict;
    if (result.interrupted) verdict = "sweep interrupted";
    else if (!result.best_rate) verdict = fmt::format("no rate met the SLO (the first, {:.1f} req/s, missed it: lower --sweep-start)", o.sweep_start);
    else if (result.reached_max) verdict = fmt::format("every rate up to --sweep-max {:.1f} req/s met the SLO", *result.best_rate);
    else verdict = fmt::format("highest rate meeting the SLO: {:.1f} req/s (missed at {:.1f})", *result.best_rate, *result.first_bad);
    if (format == report::Format::table) std::cout << "\n" << verdict << "\n";
    else spdlog::info("loadgen: {}", verdict);
    metrics::Fields done = {{"steps", int64_t(result.steps.size())}, {"reached_max", result.reached_max},
                            {"interrupted", result.interrupted}};
    if (result.best_rate) done.push_back({"best_rps", *result.best_rate});
    reporter.done(done);
    return 0;
  }

  LoadHooks hooks;
  hooks.on_measuring = [&] { reporter.ready(); };
  if (reporter.enabled()) hooks.on_record = [&](const Record& r) { emit_latency(reporter, r); };
  const auto result = run_load(spec, signals.fd(), hooks);
  const auto summary = summarize(result, slos, spec.rate, spec.concurrency);
  report::render(std::cout, summary_table({summary}, slos), format);
  if (!summary.failures.empty()) {
    if (format == report::Format::table) {
      std::cout << "\nfailures:\n";
      report::render(std::cout, failure_table(summary), format);
    } else {
      for (const auto& [status, f] : summary.failures)
        spdlog::warn("loadgen: {} failures with status {}: {}", f.first, status, f.second);
    }
  }
  if (result.discarded > 0)
    spdlog::info("loadgen: {} failures after the stop were left out (the server stopped too)", result.discarded);
  std::vector<std::string> keys;
  reporter.done(done_fields(summary, keys));
  return 0;
}

int loadgen_main(const std::vector<std::string>& args) {
  Options o;
  wl::Cli cli("loadgen", "client",
              "Load generator: open- or closed-loop requests to a KServe v2 inference server, tail latency and SLO "
              "attainment",
              "gpumix loadgen");
  add_options(cli, o);
  if (int rc = cli.parse(args); rc >= 0) return rc;
  metrics::Reporter reporter;
  try {
    return run(o, reporter);
  } catch (const std::exception& e) {
    reporter.error(e.what());
    throw;
  }
}

}  // namespace

void add_loadgen(CLI::App& app, Action& action) {
  auto* cmd = app.add_subcommand(
      "loadgen", "Drive a KServe v2 inference server and report its tail latency (gpumix loadgen --help)");
  // Every argument goes to the load generator's own parser (the built-in
  // conventions and --describe).
  cmd->prefix_command();
  cmd->allow_extras();
  cmd->set_help_flag();
  cmd->callback([cmd, &action] { action = [args = cmd->remaining()] { return loadgen_main(args); }; });
}

}  // namespace gpumix::cli
