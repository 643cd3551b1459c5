// gpumix-infer-server: a KServe v2 / Triton REST inference server for
// ResNet-18/50 with dynamic batching (see engine.hpp and http_server.hpp).
// Reports `ready` with its URL once the model is loaded, the CUDA graphs are
// captured and the port is bound; one `latency` event per request (server
// side: receipt to response, with queue time and batch size); drains the
// requests in flight on SIGTERM.
#include "batch_queue.hpp"
#include "engine.hpp"
#include "http_server.hpp"

#include "gpumix/resnet.hpp"
#include "gpumix/runtime.hpp"
#include "gpumix/size_list.hpp"

#include <iostream>
#include <sstream>
#include <thread>

using namespace gpumix::wl;
using namespace gpumix::serving;

int main(int argc, char** argv) {
  Cli cli("infer-server", "server",
          "KServe v2 (Triton) REST inference server for ResNet-18/50 with dynamic batching and a CUDA graph "
          "per batch size; answers on --host:--port until stopped");
  std::string model = "resnet50", precision = "bf16", input_dtype = "uint8", host = "127.0.0.1";
  std::string graph_sizes = "1,2,4,8,16,24,32,40,48,56";
  int64_t port = 8000, image_size = 224, num_classes = 1000, max_batch = 64, max_queue = 512, threads = 128;
  int64_t max_body_mb = 64, max_connections = 1024, http_backlog = 256;
  using namespace std::chrono_literals;
  gpumix::Duration max_queue_delay = 0s, drain_timeout = 10s, http_max_wait = 1s, head_timeout = 10s, idle_timeout = 30s;
  bool channels_last = true, cuda_graphs = true, report_requests = true;

  CommonCounts counts;
  counts.warmup = "warmup-batches";
  counts.warmup_help = "Batches of --max-batch images run through the whole path before the server listens";
  counts.warmup_default = 2;
  counts.iterations = "requests";
  counts.iterations_help = "Stop after answering this many requests (0 = unlimited)";
  cli.add_common(counts);
  cli.renamed("iterations", "requests", "it counts answered requests");
  cli.add_choice("model", model, resnet_archs(), "Architecture served (its KServe model name)");
  cli.cpu_default("model", "resnet18");
  cli.add("host", host, "Address to listen on (default loopback only; 0.0.0.0 for every interface)");
  Cli::non_negative(cli.add("port", port, "TCP port; 0 picks a free one (the ready event carries the URL)"));
  Cli::positive(cli.add("image-size", image_size, "Input height and width"));
  cli.cpu_default("image-size", "32");
  Cli::positive(cli.add("num-classes", num_classes, "Output classes"));
  cli.add_choice("input-dtype", input_dtype, {"uint8", "fp32"},
                 "uint8: raw pixels, normalized on the device; fp32: already normalized");
  cli.add_choice("precision", precision, {"fp32", "bf16"}, "bf16 = bf16 weights and activations");
  cli.cpu_default("precision", "fp32");
  cli.add("channels-last", channels_last, "channels_last memory format");
  cli.cpu_default("channels-last", "false");
  cli.add("cuda-graphs", cuda_graphs, "Replay a CUDA graph captured per batch size (CUDA only)");
  cli.add("graph-batch-sizes", graph_sizes, "Batch sizes with a graph, besides --max-batch; a batch is padded up");
  Cli::positive(cli.add("max-batch", max_batch, "Most images in one batch (and in one request)"));
  cli.cpu_default("max-batch", "8");
  cli.add("max-queue-delay", max_queue_delay,
          "Wait up to this long for a fuller batch, e.g. 2ms (0s: run what is queued as soon as the device is free)");
  cli.renamed("max-queue-delay-ms", "max-queue-delay", "a duration with a unit, e.g. 2ms");
  Cli::positive(cli.add("max-queue", max_queue, "Requests waiting for a batch before new ones get 503"));
  Cli::positive(cli.add("http-threads", threads,
                        "HTTP worker threads: requests handled at once (connections wait in one event loop, "
                        "health and /metrics have a worker of their own)"));
  Cli::positive(cli.add("http-backlog", http_backlog,
                        "Requests waiting for an HTTP worker before new ones get 503"));
  Cli::positive(cli.add("http-max-wait", http_max_wait,
                        "A request that waited longer for an HTTP worker gets 503, e.g. 1s (bounds latency under "
                        "overload)"));
  cli.renamed("http-max-wait-ms", "http-max-wait", "a duration with a unit, e.g. 500ms");
  Cli::positive(cli.add("max-connections", max_connections,
                        "Open client connections; at the cap the one waiting longest for its request is closed"));
  Cli::positive(cli.add("head-timeout", head_timeout, "Time a client has to send a request's line and headers (408 after)"));
  Cli::positive(cli.add("idle-timeout", idle_timeout, "Time a kept-alive connection may wait for its next request"));
  Cli::positive(cli.add("max-body-mb", max_body_mb,
                        "Largest request body accepted, as sent and once decoded (gzip, deflate, br): 413 above"));
  cli.add("drain-timeout", drain_timeout, "Time to wait for requests in flight on SIGTERM");
  cli.add("report-requests", report_requests, "One latency event per request (under gpumix)");

  // Two CLI11 versions on the include paths (the server adds httplib's and
  // json's folders) would give Cli two layouts: refuse rather than misread.
  if (sizeof(Cli) != Cli::compiled_size()) {
    std::cerr << "gpumix-infer-server: built against two different CLI11 headers (sizeof(Cli) " << sizeof(Cli)
              << " here, " << Cli::compiled_size() << " in cli.cpp): rebuild with one CLI11" << std::endl;
    return 1;
  }
  return run_workload(cli, argc, argv, [&](Context& ctx) {
    if (port > 65535) throw BadArgument("--port " + std::to_string(port) + ": must be 0..65535");
    if (cuda_graphs && !ctx.cuda) cuda_graphs = false;  // graphs are a CUDA optimization; on the CPU run eagerly
    if (ctx.cuda) at::globalContext().setBenchmarkCuDNN(true);

    EngineOptions eo;
    eo.arch = model;
    eo.image_size = image_size;
    eo.num_classes = num_classes;
    eo.max_batch = max_batch;
    eo.input_type = input_dtype == "uint8" ? gpumix::kserve::DataType::uint8 : gpumix::kserve::DataType::fp32;
    eo.bf16 = is_bf16(precision);
    eo.channels_last = channels_last;
    eo.cuda_graphs = cuda_graphs;
    eo.graph_batch_sizes = parse_size_list("--graph-batch-sizes", graph_sizes);
    eo.stop_preparing = stop_requested;
    // Progress on stderr: loading and capturing can take a while on a GPU.
    auto progress = [](const std::string& what) { std::cerr << "gpumix-infer-server: " << what << std::endl; };
    const double t_load = now_s();
    progress("preparing " + model + " on " + ctx.device.str());
    Engine engine(eo, ctx.device);
    // Stopped while loading (a cell or gpumix interrupted): end at once, cleanly.
    auto stopped_before_ready = [&] {
      progress("stopped before serving (SIGTERM while preparing)");
      if (ctx.rep.enabled()) ctx.rep.done({{"stop_reason", std::string("signal before ready")}});
      return 0;
    };
    if (stop_requested()) return stopped_before_ready();
    progress("model ready after " + std::to_string(now_s() - t_load) + " s");

    BatchQueue::Limits limits;
    limits.max_batch = max_batch;
    limits.max_queue = max_queue;
    limits.max_delay = std::chrono::duration_cast<std::chrono::microseconds>(max_queue_delay);
    BatchQueue queue(limits);
    std::thread batcher([&] { engine.serve(queue); });
    struct JoinBatcher {  // the batcher must end on every way out, or the process hangs
      BatchQueue& q;
      std::thread& t;
      ~JoinBatcher() {
        q.close();
        if (t.joinable()) t.join();
      }
    } join_batcher{queue, batcher};

    // Warm-up batches through the whole path (graphs, copies) before ready.
    progress("warm-up: " + std::to_string(cli.common().warmup) + " batches of " + std::to_string(max_batch));
    {
      std::vector<char> zeros(engine.input_bytes_per_image() * static_cast<size_t>(max_batch));
      for (int64_t i = 0; i < cli.common().warmup; ++i) {
        Job job;
        job.images = max_batch;
        job.input = zeros.data();
        job.arrived = Clock::now();
        if (queue.push(&job) != BatchQueue::Push::queued) throw std::runtime_error("warm-up: queue refused a batch");
        job.wait();
        if (!job.error.empty()) throw std::runtime_error("warm-up batch failed: " + job.error);
        progress("warm-up batch " + std::to_string(i + 1) + " done");
        if (stop_requested()) return stopped_before_ready();
      }
    }

    HttpOptions ho;
    ho.host = host;
    ho.port = static_cast<int>(port);
    auto millis = [](gpumix::Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d); };
    ho.limits.workers = static_cast<int>(threads);
    ho.limits.max_body_bytes = static_cast<size_t>(max_body_mb) << 20;
    ho.limits.max_connections = static_cast<size_t>(max_connections);
    ho.limits.max_waiting = static_cast<size_t>(http_backlog);
    ho.limits.max_wait = millis(http_max_wait);
    ho.limits.head_timeout = millis(head_timeout);
    ho.limits.idle_timeout = millis(idle_timeout);
    ho.report_requests = report_requests;
    HttpServer server(ho, engine.spec(), engine.input_bytes_per_image(), queue, ctx.rep);
    progress("binding " + host + ":" + std::to_string(port));
    try {
      server.start();
    } catch (const std::runtime_error& e) {
      throw BadArgument(std::string("--host/--port: ") + e.what());
    }

    std::string sizes_text;
    for (auto b : engine.graph_sizes()) sizes_text += (sizes_text.empty() ? "" : ",") + std::to_string(b);
    ctx.set("model", model);
    ctx.set("url", server.url());
    ctx.set("input_dtype", input_dtype);
    ctx.set("image_size", image_size);
    ctx.set("precision", precision);
    ctx.set("max_batch", max_batch);
    ctx.set("max_queue", max_queue);
    ctx.set("max_queue_delay_ms", gpumix::to_seconds(max_queue_delay) * 1e3);
    ctx.set("cuda_graph_batch_sizes", sizes_text.empty() ? std::string("none") : sizes_text);
    ctx.set("load_seconds", now_s() - t_load);
    ctx.emit_config();
    ctx.rep.emit("ready", {{"url", server.url()}, {"model", model}});
    if (!ctx.rep.enabled()) std::cout << "gpumix-infer-server: serving " << model << " at " << server.url() << std::endl;

    const double t0 = now_s();
    const std::string reason = serve_until_stopped(cli.common(), [&server] { return server.counts().ok; });
    const int64_t abandoned = server.drain(gpumix::to_seconds(drain_timeout));
    server.stop();
    const auto c = server.counts();
    const double seconds = now_s() - t0;
    gpumix::metrics::Fields summary = {{"stop_reason", reason},         {"seconds", seconds},
                               {"requests_ok", c.ok},           {"images", c.images},
                               {"rejected_503", c.rejected},    {"client_errors", c.client_errors},
                               {"server_errors", c.server_errors}, {"abandoned_at_stop", abandoned}};
    for (auto& f : memory_fields(ctx.device)) summary.push_back(f);
    if (ctx.rep.enabled()) {
      ctx.rep.done(summary);
    } else {
      std::cout << "gpumix-infer-server: " << c.ok << " requests (" << c.images << " images) in " << seconds
                << " s; 503: " << c.rejected << ", 4xx: " << c.client_errors << ", 5xx: " << c.server_errors
                << std::endl;
    }
    return 0;
  });
}
