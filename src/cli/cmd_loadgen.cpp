// gpumix loadgen: drives a KServe v2 inference server, or an OpenAI-compatible
// LLM server with streamed completions, and reports its tail latency (and
// TTFT, TPOT, goodput) (docs/loadgen.md). Its options are a built-in's
// (workloads/common/gpumix/cli.hpp), so a mix can run it as `builtin:
// loadgen` and check its `args` against `gpumix loadgen --describe`.
#include <signal.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <iostream>

#include "cli/commands.hpp"
#include "gpumix/cli.hpp"
#include "gpumix/loadgen/engine.hpp"
#include "gpumix/loadgen/kserve.hpp"
#include "gpumix/loadgen/lengths.hpp"
#include "gpumix/loadgen/openai.hpp"
#include "gpumix/loadgen/result_json.hpp"
#include "gpumix/loadgen/settle.hpp"
#include "gpumix/loadgen/summary.hpp"
#include "gpumix/loadgen/sweep.hpp"
#include "gpumix/metrics.hpp"
#include "gpumix/report/json_report.hpp"
#include "gpumix/report/table.hpp"
#include "gpumix/util/env_vars.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/output_file.hpp"
#include "gpumix/util/signals.hpp"

namespace gpumix::cli {

namespace {

using namespace loadgen;

constexpr const char* kDefaultUrl = "http://127.0.0.1:8000";
constexpr const char* kDefaultLength = "128";  // --prompt-len and --output-len, tokens

struct Options {
  std::string api = "kserve";
  std::string url;
  std::string model;  // empty: resnet50 (kserve), the server's first model (openai)
  std::string input_name;
  std::string datatype = "auto";
  std::string shape;
  bool json = false;
  std::string prompt_len, output_len;  // empty: 128 each (openai)
  int64_t vocab = 32000;
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
  double sweep_min = 1;
  std::string step_duration = "10s";
  std::string settle = "1s";
  std::string settle_timeout = "60s";
  int64_t min_requests = 100;
  std::string min_duration = "1s";
  bool fail_on_slo = false;
  std::string format = "table";
  std::string out;
};

void add_options(wl::Cli& cli, Options& o) {
  o.url = kDefaultUrl;
  if (const char* after = std::getenv(env_vars::kAfterUrl); after && *after) o.url = after;
  o.seed = wl::default_seed();
  cli.add_choice("api", o.api, {"kserve", "openai"},
                 "Protocol: kserve (KServe v2 / Triton inference) or openai (streamed /v1/completions: TTFT, TPOT)");
  cli.add("url", o.url, "The server (default: $GPUMIX_AFTER_URL, set by gpumix to the url of the workload "
                        "this one starts after, else " + std::string(kDefaultUrl) + ")")
      ->default_str(kDefaultUrl);
  if (const char* model = std::getenv(env_vars::kAfterModel); model && *model) o.model = model;
  cli.add("model", o.model,
          "Model name in /v2/models/{model}/infer, or the completion's model (default: $GPUMIX_AFTER_MODEL, else "
          "resnet50, or with --api openai the first of GET /v1/models)")
      ->default_str("resnet50");
  cli.add("input-name", o.input_name, "Input tensor name (default: from the model's metadata)");
  cli.add_choice("datatype", o.datatype, {"auto", "UINT8", "FP32"}, "Input datatype; auto = from the model's metadata");
  cli.add("shape", o.shape, "Input shape, e.g. 1,3,224,224 (default: from the model's metadata, batch 1)");
  cli.add("json", o.json, "Send the tensor as JSON data instead of the binary tensor extension");
  cli.add("prompt-len", o.prompt_len,
          "--api openai: prompt tokens per request: N, uniform:A-B, normal:MEAN,SD or file:PATH (default 128)");
  cli.add("output-len", o.output_len,
          "--api openai: output tokens per request (max_tokens, ignore_eos), as --prompt-len (default 128)");
  wl::Cli::positive(cli.add("vocab", o.vocab, "--api openai: prompt token ids are drawn from [0, vocab)"));
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
  wl::Cli::positive(cli.add("sweep-min", o.sweep_min, "Sweep: lowest rate tried when --sweep-start misses (req/s)"));
  wl::Cli::duration(cli.add("step-duration", o.step_duration,
                            "Sweep: measured time of each step (after --warmup), longer when needed for --min-requests"));
  wl::Cli::duration(cli.add("settle", o.settle, "Sweep: quiet period before each step after the first"));
  wl::Cli::duration(cli.add("settle-timeout", o.settle_timeout,
                            "Sweep: how long to probe, after the quiet period, for the server's unloaded latency"));
  wl::Cli::non_negative(cli.add("min-requests", o.min_requests,
                                "Fewest measured requests for a result to count (MLPerf LoadGen's min_query_count)"));
  wl::Cli::duration(
      cli.add("min-duration", o.min_duration, "Shortest measured time for a result to count (MLPerf LoadGen's min_duration)"));
  cli.add("fail-on-slo", o.fail_on_slo,
          "Exit 1 when the result misses --slo or is insufficient (a sweep: when no step met it)");
  cli.add_choice("format", o.format, {"table", "csv", "json"}, "Output format");
  cli.app().add_option("-o,--out", o.out, "Write the result to FILE instead of standard output (atomically)");
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
  if (s.tokens) {
    const auto& t = *s.tokens;
    const std::pair<const char*, const std::optional<double>*> ts[] = {
        {"ttft_p50_ms", &t.ttft_p50}, {"ttft_p99_ms", &t.ttft_p99}, {"tpot_p50_ms", &t.tpot_p50},
        {"tpot_p99_ms", &t.tpot_p99}, {"itl_p99_ms", &t.itl_p99},   {"goodput_rps", &t.goodput_rps}};
    for (const auto& [k, v] : ts)
      if (*v) f.push_back({k, **v});
    f.push_back({"output_tokens", t.output_tokens});
    f.push_back({"output_tokens_per_s", t.output_tps});
  }
  if (!s.slos.empty()) f.push_back({"slo_met", s.slo_met()});
  if (s.insufficient) f.push_back({"insufficient", *s.insufficient});
  return f;
}

void emit_latency(metrics::Reporter& reporter, const Record& r) {
  const double ms = static_cast<double>(r.latency.count()) / 1e6;
  switch (r.outcome) {
    case Outcome::ok:
      if (r.ttft) {  // a streamed completion (docs/metrics-protocol.md)
        metrics::Fields f = {{"ms", ms}, {"ok", true}, {"ttft_ms", static_cast<double>(r.ttft->count()) / 1e6},
                             {"output_tokens", r.output_tokens}};
        if (r.tpot) f.push_back({"tpot_ms", static_cast<double>(r.tpot->count()) / 1e6});
        reporter.emit("latency", f);
      } else {
        reporter.latency(ms, true);
      }
      break;
    case Outcome::timeout: reporter.latency(ms, {{"ok", false}, {"timeout", true}}); break;
    case Outcome::error:
      if (r.status == 0) reporter.latency(ms, {{"ok", false}, {"error", r.message}});
      else reporter.latency(ms, {{"ok", false}, {"status", int64_t{r.status}}});
      break;
  }
}

int64_t unix_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

nlohmann::json seconds_or_null(Duration d) {
  return d.count() > 0 ? nlohmann::json(to_seconds(d)) : nlohmann::json(nullptr);
}

// The KServe request: the input from the model's metadata where the options
// leave it open (`input` and `datatype` are completed), its data seeded.
kserve::EncodedMessage kserve_request(const Options& o, const std::string& model, const Endpoint& endpoint,
                                      kserve::TensorSpec& input, std::optional<kserve::DataType> datatype,
                                      metrics::Reporter& reporter) {
  std::vector<std::string> outputs;
  if (input.name.empty() || !datatype || input.shape.empty()) {
    auto meta = fetch_model_metadata(endpoint, model);
    if (input.name.empty()) input.name = meta.input.name;
    if (!datatype) input.datatype = meta.input.datatype;
    if (input.shape.empty()) input.shape = meta.input.shape;
    outputs = meta.outputs;
  }
  auto request = kserve::encode_infer_request(input, random_tensor_data(input, o.seed), outputs, !o.json);
  const std::string shape = fmt::format("{}", fmt::join(input.shape, ","));
  spdlog::info("loadgen: {} model {} input {} {} [{}], {} bytes per request ({})", endpoint.url(), model, input.name,
               kserve::to_string(input.datatype), shape, request.body.size(), o.json ? "JSON" : "binary");
  reporter.info({{"url", endpoint.url()}, {"model", model}, {"input", input.name},
                 {"datatype", kserve::to_string(input.datatype)}, {"shape", shape},
                 {"request_bytes", int64_t(request.body.size())}});
  return request;
}

int run(const Options& o, metrics::Reporter& reporter) {
  // Validate everything before touching the network.
  const auto format = report::parse_format(o.format);
  const Endpoint endpoint = parse_url(o.url);
  const Api api = o.api == "openai" ? Api::openai : Api::kserve;
  std::vector<Slo> slos;
  for (const auto& s : o.slo) {
    auto more = parse_slos(s);
    slos.insert(slos.end(), more.begin(), more.end());
  }
  std::optional<openai::Completions> completions;
  if (api == Api::openai) {
    if (!o.input_name.empty() || !o.shape.empty() || o.json || o.datatype != "auto")
      throw InputError(fmt::format("{} is for --api kserve (a tensor input)", !o.input_name.empty() ? "--input-name"
                                                                              : !o.shape.empty()     ? "--shape"
                                                                              : o.json               ? "--json"
                                                                                                     : "--datatype"));
    completions = openai::Completions{
        o.model, Lengths::parse("--prompt-len", o.prompt_len.empty() ? kDefaultLength : o.prompt_len),
        Lengths::parse("--output-len", o.output_len.empty() ? kDefaultLength : o.output_len), o.vocab, o.seed};
  } else {
    for (const auto& slo : slos)
      if (slo.metric != SloMetric::e2e)
        throw InputError("--slo: '" + slo.text + "' needs --api openai (TTFT and TPOT are those of streamed tokens)");
    if (!o.prompt_len.empty() || !o.output_len.empty())
      throw InputError(fmt::format("{} needs --api openai", o.prompt_len.empty() ? "--output-len" : "--prompt-len"));
  }
  LoadSpec spec;
  spec.endpoint = endpoint;
  spec.api = api;
  spec.model = o.model.empty() && api == Api::kserve ? "resnet50" : o.model;
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
  const Duration settle_quiet = duration_option("--settle", o.settle);
  const Duration settle_timeout = duration_option("--settle-timeout", o.settle_timeout);
  const Minimum minimum{o.min_requests, duration_option("--min-duration", o.min_duration)};
  OutputFile out(o.out);  // before the load: a folder that cannot take it fails now
  std::ostream& os = out.stream();
  if (o.fail_on_slo && slos.empty()) throw InputError("--fail-on-slo needs at least one --slo, e.g. --slo p99=25ms");
  if (o.sweep) {
    if (slos.empty()) throw InputError("--sweep needs at least one --slo, e.g. --slo p99=25ms");
    if (o.rate > 0 || o.concurrency > 0 || o.requests > 0)
      throw InputError("--sweep chooses the rates itself: drop --rate, --concurrency and --requests");
    if (step_duration < minimum.duration)
      throw InputError(fmt::format("--step-duration {} is shorter than --min-duration {}: no step would count",
                                   o.step_duration, o.min_duration));
  } else if ((o.rate > 0) == (o.concurrency > 0)) {
    throw InputError("give either --rate R (open loop), --concurrency N (closed loop) or --sweep");
  }
  const SweepOptions so{o.sweep_start, o.sweep_max, o.sweep_factor, o.sweep_tolerance, o.sweep_min};
  if (o.sweep) check_sweep_options(so);
  spec.rate = o.rate;
  spec.concurrency = static_cast<int>(o.concurrency);
  kserve::TensorSpec input{o.input_name, kserve::DataType::fp32, {}};
  const auto datatype = kserve::datatype_from_string(o.datatype);  // nullopt: auto
  if (datatype) input.datatype = *datatype;
  if (!o.shape.empty()) input.shape = parse_shape(o.shape);

  ::signal(SIGPIPE, SIG_IGN);  // a server closing a connection is an error, not our death
  StopSignals signals;
  const int64_t started_ns = unix_now_ns();
  if (!wait_ready(endpoint, ready_path(api), ready_timeout, signals.fd())) {
    reporter.done({{"requests", int64_t{0}}, {"stopped_before_ready", true}});
    return 0;
  }
  std::optional<kserve::EncodedMessage> request;
  Target target;
  if (api == Api::openai) {
    spec.model = completions->model = openai::served_model(endpoint, o.model);
    spec.completions = &*completions;
    spdlog::info("loadgen: {} model {}, prompt {} tokens, output {} tokens (streamed completions)", endpoint.url(),
                 spec.model, completions->prompt.text(), completions->output.text());
    reporter.info({{"url", endpoint.url()}, {"api", "openai"}, {"model", spec.model},
                   {"prompt_len", completions->prompt.text()}, {"output_len", completions->output.text()}});
    target = Target{endpoint.url(), spec.model, "", "", {}, 0, true, "openai"};
  } else {
    request = kserve_request(o, spec.model, endpoint, input, datatype, reporter);
    spec.request = &*request;
    target = Target{endpoint.url(), spec.model, input.name, kserve::to_string(input.datatype), input.shape,
                    static_cast<int64_t>(request->body.size()), !o.json, "kserve"};
  }

  // A sweep step must schedule enough requests for --min-requests and for
  // every objective's percentile (MLPerf LoadGen runs until both its
  // min_duration and min_query_count are met).
  int64_t step_min_requests = minimum.requests;
  for (const auto& slo : slos) step_min_requests = std::max(step_min_requests, samples_for_percentile(slo.percentile));

  nlohmann::json settings = {
      {"rate", o.rate > 0 ? nlohmann::json(o.rate) : nlohmann::json(nullptr)},
      {"concurrency", o.concurrency > 0 ? nlohmann::json(o.concurrency) : nlohmann::json(nullptr)},
      {"connections", o.connections},
      {"think_time_s", to_seconds(spec.think_time)},
      {"warmup_s", to_seconds(spec.warmup)},
      {"duration_s", o.sweep ? nlohmann::json(nullptr) : seconds_or_null(spec.duration)},
      {"requests", o.requests > 0 ? nlohmann::json(o.requests) : nlohmann::json(nullptr)},
      {"timeout_s", to_seconds(spec.timeout)},
      {"seed", o.seed},
      {"api", o.api},
      {"prompt_len", completions ? nlohmann::json(completions->prompt.text()) : nlohmann::json(nullptr)},
      {"output_len", completions ? nlohmann::json(completions->output.text()) : nlohmann::json(nullptr)},
      {"vocab", completions ? nlohmann::json(completions->vocab) : nlohmann::json(nullptr)},
      {"min_requests", minimum.requests},
      {"min_duration_s", to_seconds(minimum.duration)},
      {"slos", nlohmann::json::array()},
      {"sweep", nullptr}};
  for (const auto& slo : slos) settings["slos"].push_back(slo.text);

  std::vector<Summary> steps;
  std::optional<SweepResult> swept;
  std::optional<double> unloaded_ms;
  if (o.sweep) {
    settings["sweep"] = {{"start_rps", so.start},          {"max_rps", so.max},
                         {"min_rps", so.min},              {"factor", so.factor},
                         {"tolerance", so.tolerance},      {"step_duration_s", to_seconds(step_duration)},
                         {"step_min_requests", step_min_requests}, {"settle_s", to_seconds(settle_quiet)},
                         {"settle_timeout_s", to_seconds(settle_timeout)}};
    // The unloaded latency, which the server must come back to between steps.
    unloaded_ms = probe_latency(spec, 5, signals.fd());
    if (unloaded_ms)
      spdlog::info("loadgen: unloaded latency {:.2f} ms (median of 5 sequential requests)", *unloaded_ms);
    else
      spdlog::warn("loadgen: the unloaded latency probe failed: between steps only the --settle quiet period");
    bool ready_sent = false;
    auto step = [&](double rate) {
      std::optional<Settle> settled;
      if (ready_sent) {
        settled = settle(spec, unloaded_ms, settle_quiet, settle_timeout, signals.fd());
        if (unloaded_ms && !settled->settled && signals.count() == 0)
          spdlog::warn("loadgen: the server did not come back to its unloaded latency within --settle-timeout {} "
                       "(last probe {}): the next step may measure the last one's backlog",
                       o.settle_timeout, settled->probe_ms ? fmt::format("{:.2f} ms", *settled->probe_ms) : "failed");
      }
      LoadSpec s = spec;
      s.rate = rate;
      s.duration = step_duration;
      s.min_requests = step_min_requests;
      if (static_cast<double>(step_min_requests) > rate * to_seconds(step_duration))
        spdlog::info("loadgen: {:.1f} req/s: about {:.0f} s to schedule {} requests", rate,
                     static_cast<double>(step_min_requests) / rate, step_min_requests);
      LoadHooks hooks;
      hooks.on_measuring = [&] {
        if (!ready_sent) reporter.ready();
        ready_sent = true;
      };
      const int64_t t0 = unix_now_ns();
      auto summary = summarize(run_load(s, signals.fd(), hooks), slos, rate, 0, minimum);
      summary.started_ns = t0;
      summary.ended_ns = unix_now_ns();
      summary.settle = settled;
      ready_sent = true;
      std::vector<std::string> keys;
      reporter.info(done_fields(summary, keys));
      spdlog::info("loadgen: {:.1f} req/s: achieved {:.1f}, {} requests, p99 {} ms, {} errors, {} timeouts, {} late: "
                   "SLO {}",
                   rate, summary.achieved_rps, summary.requests,
                   summary.p99 ? fmt::format("{:.2f}", *summary.p99) : "-", summary.errors, summary.timeouts,
                   summary.late, to_string(summary.verdict()));
      return summary;
    };
    swept = sweep(so, step, [&] { return signals.count() > 0; });
    steps = swept->steps;
  } else {
    LoadHooks hooks;
    hooks.on_measuring = [&] { reporter.ready(); };
    if (reporter.enabled()) hooks.on_record = [&](const Record& r) { emit_latency(reporter, r); };
    const int64_t t0 = unix_now_ns();
    const auto result = run_load(spec, signals.fd(), hooks);
    auto summary = summarize(result, slos, spec.rate, spec.concurrency, minimum);
    summary.started_ns = t0;
    summary.ended_ns = unix_now_ns();
    if (result.discarded > 0)
      spdlog::info("loadgen: {} failures after the stop were left out (the server stopped too)", result.discarded);
    steps.push_back(std::move(summary));
  }
  const Verdict verdict = overall_verdict(steps, swept ? &*swept : nullptr);

  if (format == report::Format::json) {
    os << report::dump_report(loadgen_json(target, std::move(settings), steps, swept ? &*swept : nullptr,
                                                  unloaded_ms, started_ns, unix_now_ns()))
              << "\n";
  } else {
    report::render(os, summary_table(steps, slos), format);
  }
  if (format == report::Format::table) {
    const auto notes = summary_notes(steps);
    if (!notes.empty()) os << "\nnotes:\n";
    for (const auto& n : notes) os << "  " << n << "\n";
  }
  const Summary& first = steps.front();
  if (!swept && !first.failures.empty()) {
    if (format == report::Format::table) {
      os << "\nfailures:\n";
      report::render(os, failure_table(first), format);
    } else {
      for (const auto& [status, f] : first.failures)
        spdlog::warn("loadgen: {} failures with status {}: {}", f.first, status, f.second);
    }
  }
  if (swept) {
    const auto& r = *swept;
    std::string answer;
    if (r.interrupted) answer = "sweep interrupted";
    else if (r.reached_min) answer = fmt::format("no rate down to --sweep-min {:.1f} req/s met the SLO", so.min);
    else if (r.reached_max) answer = fmt::format("every rate up to --sweep-max {:.1f} req/s met the SLO", *r.best_rate);
    else answer = fmt::format("highest rate meeting the SLO: {:.1f} req/s (missed at {:.1f})", *r.best_rate, *r.first_bad);
    if (format == report::Format::table) os << "\n" << answer << "\n";
    else spdlog::info("loadgen: {}", answer);
    metrics::Fields done = {{"steps", int64_t(r.steps.size())}, {"reached_max", r.reached_max},
                            {"interrupted", r.interrupted}};
    if (r.best_rate) done.push_back({"best_rps", *r.best_rate});
    reporter.done(done);
  } else {
    std::vector<std::string> keys;
    reporter.done(done_fields(first, keys));
  }
  out.commit();
  // --fail-on-slo: a result that cannot show the objectives were met fails.
  return o.fail_on_slo && (verdict == Verdict::missed || verdict == Verdict::insufficient) ? 1 : 0;
}

// gpumix's -q and -v after `loadgen` too, as after every other subcommand
// (its arguments go to the built-in's own parser, which does not know them).
std::vector<std::string> apply_log_flags(const std::vector<std::string>& args) {
  std::vector<std::string> rest;
  bool quiet = false, verbose = false;
  for (const auto& a : args) {
    if (a == "-q" || a == "--quiet") quiet = true;
    else if (a == "-v" || a == "--verbose") verbose = true;
    else rest.push_back(a);
  }
  if (quiet && verbose) throw InputError("--quiet and --verbose exclude each other");
  if (quiet) spdlog::set_level(spdlog::level::warn);
  if (verbose) spdlog::set_level(spdlog::level::debug);
  return rest;
}

int loadgen_main(const std::vector<std::string>& all_args) {
  const auto args = apply_log_flags(all_args);
  Options o;
  wl::Cli cli("loadgen", "client",
              "Load generator: open- or closed-loop requests to a KServe v2 inference server or an OpenAI-compatible LLM "
              "server (streamed: TTFT, TPOT, goodput), tail latency and SLO attainment",
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
      "loadgen",
      "Drive a KServe v2 or OpenAI-compatible inference server and report its tail latency (gpumix loadgen --help)");
  // Every argument goes to the load generator's own parser (the built-in
  // conventions and --describe).
  cmd->prefix_command();
  cmd->allow_extras();
  cmd->set_help_flag();
  cmd->callback([cmd, &action] { action = [args = cmd->remaining()] { return loadgen_main(args); }; });
}

}  // namespace gpumix::cli
