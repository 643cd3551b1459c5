// gpumix-llm-server: an OpenAI-compatible LLM server (POST /v1/completions,
// streamed or not) for a decoder-only transformer with seeded random weights
// or a safetensors file, a paged KV cache and continuous batching (see
// engine.hpp and openai_api.hpp). Reports `ready` with its URL once the model
// is loaded and warm and the port is bound; one `latency` event per completed
// request (ttft_ms, tpot_ms, output_tokens); drains on SIGTERM and reports the
// mean decode step time per batch size and prefill time per prompt length.
#include "block_pool.hpp"
#include "config.hpp"
#include "engine.hpp"
#include "model.hpp"
#include "openai_api.hpp"
#include "safetensors.hpp"

#include "gpumix/runtime.hpp"
#include "gpumix/size_list.hpp"

#include <iostream>
#include <sstream>
#include <thread>

using namespace gpumix::wl;
using namespace gpumix::llm;

namespace {

torch::ScalarType dtype_of(const std::string& name) {
  if (name == "bf16") return torch::kBFloat16;
  if (name == "fp16") return torch::kFloat16;
  return torch::kFloat32;
}

}  // namespace

int main(int argc, char** argv) {
  Cli cli("llm-server", "server",
          "OpenAI-compatible LLM server (/v1/completions, streamed): a decoder-only transformer (RMSNorm, rotary "
          "embeddings, SwiGLU, grouped-query attention) with seeded weights or a safetensors file, a paged KV cache "
          "and continuous batching; answers on --host:--port until stopped");
  std::string preset = "1b", weights_file, dtype = "bf16", host = "127.0.0.1", kv_memory = "8GiB";
  std::string graph_sizes = "1,2,4,8,16,32,64", model_name, kernels = "auto";
  int64_t layers = 0, hidden = 0, heads = 0, kv_heads = 0, ffn = 0, vocab = 0, max_context = 0;
  bool tied = true, cuda_graphs = true, report_requests = true;
  int64_t port = 8000, block_size = 16, max_batch = 64, prefill_chunk = 512, max_waiting = 256, threads = 256;
  int64_t max_connections = 1024, http_backlog = 256;
  using namespace std::chrono_literals;
  gpumix::Duration drain_timeout = 30s, http_max_wait = 1s, head_timeout = 10s, idle_timeout = 30s;

  CommonCounts counts;
  counts.warmup = "warmup-requests";
  counts.warmup_help = "Completions (a prompt of --prefill-chunk tokens, 8 output tokens) run before the server listens";
  counts.warmup_default = 2;
  counts.iterations = "requests";
  counts.iterations_help = "Stop after completing this many requests (0 = unlimited)";
  cli.add_common(counts);
  cli.add_choice("preset", preset, preset_names(),
                 "Model size: tiny (2 layers, d=64), 125m, 1b (Llama-3.2-1B shape) or 3b (Llama-3.2-3B shape)");
  cli.cpu_default("preset", "tiny");
  Cli::non_negative(cli.add("layers", layers, "Transformer layers (0: the preset's)"));
  Cli::non_negative(cli.add("hidden", hidden, "Model width (0: the preset's)"));
  Cli::non_negative(cli.add("heads", heads, "Query heads (0: the preset's)"));
  Cli::non_negative(cli.add("kv-heads", kv_heads, "Key/value heads, dividing --heads (0: the preset's)"));
  Cli::non_negative(cli.add("ffn", ffn, "SwiGLU MLP width (0: the preset's)"));
  Cli::non_negative(cli.add("vocab", vocab, "Vocabulary size, at least 258 (0: the preset's)"));
  Cli::non_negative(cli.add("max-context", max_context, "Context length: prompt plus output tokens (0: the preset's)"));
  cli.add("tied-embeddings", tied, "The output projection shares the embedding matrix (else lm_head.weight)");
  cli.add("weights", weights_file,
          "A safetensors file (F32, BF16 or F16) in the Hugging Face Llama layout of the chosen shape; "
          "empty: random weights from --seed");
  cli.add("model-name", model_name, "The model id /v1/models lists (default: llm-<preset>)");
  cli.add_choice("dtype", dtype, {"fp32", "bf16", "fp16"}, "Weights, activations and KV cache");
  cli.cpu_default("dtype", "fp32");
  cli.add("kv-cache-memory", kv_memory, "Memory of the paged KV cache, e.g. 8GiB or 512MB");
  cli.cpu_default("kv-cache-memory", "64MiB");
  Cli::positive(cli.add("block-size", block_size, "Tokens per KV cache block"));
  Cli::positive(cli.add("max-batch", max_batch, "Sequences running at once"));
  cli.cpu_default("max-batch", "16");
  Cli::positive(cli.add("prefill-chunk", prefill_chunk,
                        "Prompt tokens prefilled per iteration (longer prompts take several, so decode steps go on)"));
  cli.cpu_default("prefill-chunk", "64");
  Cli::positive(cli.add("max-waiting", max_waiting, "Requests waiting for admission before new ones get 503"));
  cli.add("cuda-graphs", cuda_graphs,
          "Replay a CUDA graph of the decode step per batch size and context bucket (CUDA only; ignored on the CPU)");
  cli.add("graph-batch-sizes", graph_sizes, "Batch sizes with a decode graph; a batch is padded up to the next");
  cli.add_choice("kernels", kernels, {"auto", "fused", "torch"},
                 "fused: decode attention over the paged cache, the rotary embedding with the cache write, and "
                 "SwiGLU's activation as fused CUDA kernels (CUDA builds, bf16; each checked at start, attention "
                 "against the exact result, the others against torch's operators); torch: torch's operators; auto: "
                 "fused where usable, else torch");
  cli.add("host", host, "Address to listen on (default loopback only; 0.0.0.0 for every interface)");
  Cli::non_negative(cli.add("port", port, "TCP port; 0 picks a free one (the ready event carries the URL)"));
  Cli::positive(cli.add("http-threads", threads,
                        "HTTP worker threads: requests handled at once (a stream holds one until its end)"));
  Cli::positive(cli.add("http-backlog", http_backlog, "Requests waiting for an HTTP worker before new ones get 503"));
  Cli::positive(cli.add("http-max-wait", http_max_wait, "A request that waited longer for an HTTP worker gets 503"));
  Cli::positive(cli.add("max-connections", max_connections,
                        "Open client connections; at the cap the one waiting longest for its request is closed"));
  Cli::positive(cli.add("head-timeout", head_timeout, "Time a client has to send a request's line and headers (408 after)"));
  Cli::positive(cli.add("idle-timeout", idle_timeout, "Time a kept-alive connection may wait for its next request"));
  cli.add("drain-timeout", drain_timeout, "Time to wait for requests in flight on SIGTERM");
  cli.add("report-requests", report_requests, "One latency event per completed request (under gpumix)");

  if (sizeof(Cli) != Cli::compiled_size()) {
    std::cerr << "gpumix-llm-server: built against two different CLI11 headers: rebuild with one CLI11" << std::endl;
    return 1;
  }
  return run_workload(cli, argc, argv, [&](Context& ctx) {
    if (port > 65535) throw BadArgument("--port " + std::to_string(port) + ": must be 0..65535");
    if (cuda_graphs && !ctx.cuda) cuda_graphs = false;  // a CUDA optimization; on the CPU run eagerly
    if (ctx.cuda) gpumix::compat::avoid_cudnn_attention();
    const auto kv_bytes = gpumix::parse_bytes(kv_memory);
    if (!kv_bytes || *kv_bytes <= 0)
      throw BadArgument("--kv-cache-memory: '" + kv_memory + "' is not a size (e.g. 8GiB, 512MB)");

    ModelConfig config = preset_config(preset);
    for (auto [value, field] : {std::pair{layers, &config.layers}, {hidden, &config.hidden}, {heads, &config.heads},
                                {kv_heads, &config.kv_heads}, {ffn, &config.ffn}, {vocab, &config.vocab},
                                {max_context, &config.max_context}})
      if (value > 0) *field = value;
    config.tied_embeddings = tied;
    if (auto why = config_error(config); !why.empty()) throw BadArgument(why);
    const auto type = dtype_of(dtype);
    const int64_t block_bytes = Model::cache_bytes_per_token(config, type) * block_size;
    const int64_t blocks = *kv_bytes / block_bytes;
    const int64_t context_blocks = (config.max_context + block_size - 1) / block_size;
    if (blocks - 1 < context_blocks)
      throw BadArgument("--kv-cache-memory " + kv_memory + " holds " + std::to_string(blocks) + " blocks of " +
                        std::to_string(block_size) + " tokens; one sequence of the context length " +
                        std::to_string(config.max_context) + " needs " + std::to_string(context_blocks) +
                        " and one more for padding: at least " + gpumix::format_bytes((context_blocks + 1) * block_bytes));
    if (model_name.empty()) model_name = "llm-" + preset;

    auto progress = [](const std::string& what) { std::cerr << "gpumix-llm-server: " << what << std::endl; };
    const double t_load = now_s();
    std::map<std::string, torch::Tensor> weights;
    if (weights_file.empty()) {
      progress("seeding random weights (" + std::to_string(config.parameters()) + " parameters)");
      weights = Model::seeded_weights(config, ctx.seed);
    } else {
      progress("reading " + weights_file);
      try {
        weights = read_safetensors(weights_file);
        check_layout(weights, weight_layout(config), weights_file);
      } catch (const WeightsError& e) {
        throw BadArgument(std::string("--weights: ") + e.what());
      }
    }
    Model model(config, weights, ctx.device, type, blocks * block_size);
    weights.clear();
    // The fused kernels, each checked first: decode attention against the
    // exact (double-precision) result, the others against torch's operators.
    // In bf16 the results round differently, by about 2^-8 of the value each
    // time; 0.05 is a broken kernel.
    Model::FusedDifferences fused_difference;
    const std::string fused_unusable = model.fused_kernels_unusable();
    if (kernels == "fused" && !fused_unusable.empty()) throw BadArgument("--kernels fused: " + fused_unusable);
    if (kernels != "torch" && fused_unusable.empty()) {
      fused_difference = model.fused_kernels_difference();
      progress("fused kernels, largest |fused - ref| / (1 + |ref|): decode attention " +
               std::to_string(fused_difference.decode_attention) + " against the exact result (at batch " +
               std::to_string(fused_difference.attention_batch) + ", " + std::to_string(fused_difference.attention_splits) +
               " splits of the keys; torch's operators " + std::to_string(fused_difference.decode_attention_torch) +
               "), rotary and cache write " + std::to_string(fused_difference.rotary_cache_write) +
               " and SwiGLU activation " + std::to_string(fused_difference.silu_mul) + " against torch's operators");
      if (fused_difference.decode_attention_torch >= 0.05)
        progress("warning: torch's operators differ from the exact decode attention by more than 0.05 (above)");
      if (fused_difference.largest() < 0.05) {
        model.use_fused_kernels(true);
      } else {
        const std::string why = "a fused kernel's output differs from its reference's by more than 0.05 (above)";
        if (kernels == "fused") throw std::runtime_error("--kernels fused: " + why);
        progress("warning: " + why + "; running on torch's operators");
      }
    }
    BlockPool pool(blocks, block_size);
    progress("model on " + ctx.device.str() + " after " + std::to_string(now_s() - t_load) + " s; KV cache " +
             std::to_string(pool.capacity()) + " blocks of " + std::to_string(block_size) + " tokens");

    EngineOptions eo;
    eo.max_batch = max_batch;
    eo.prefill_chunk = prefill_chunk;
    eo.max_waiting = max_waiting;
    const auto sizes = parse_size_list("--graph-batch-sizes", graph_sizes);  // checked on the CPU too
    if (cuda_graphs) {
      for (auto b : sizes)
        if (b <= max_batch) eo.graph_batch_sizes.push_back(b);
    }
    std::atomic<OpenAiApi*> api{nullptr};
    Engine engine(model, pool, eo, [&api](const Completion& c) {
      if (auto* a = api.load()) a->finished(c);
    });

    auto stopped_before_ready = [&] {
      progress("stopped before serving (SIGTERM while preparing)");
      if (ctx.rep.enabled()) ctx.rep.done({{"stop_reason", std::string("signal before ready")}});
      return 0;
    };
    for (int64_t i = 0; i < cli.common().warmup; ++i) {
      auto c = std::make_shared<Completion>();
      c->prompt.assign(static_cast<size_t>(std::min(prefill_chunk, config.max_context - 9)), kByteOffset);
      c->max_tokens = 8;
      c->temperature = 0;
      c->ignore_eos = true;
      c->arrived = Clock::now();
      if (engine.submit(c) != Engine::Submit::queued) throw std::runtime_error("warm-up: the engine refused a request");
      c->wait_beyond(SIZE_MAX);
      if (!c->error.empty()) throw std::runtime_error("warm-up failed: " + c->error);
      if (stop_requested()) return stopped_before_ready();
    }

    ApiOptions ao;
    ao.host = host;
    ao.port = static_cast<int>(port);
    ao.model = model_name;
    ao.max_context = config.max_context;
    ao.vocab = config.vocab;
    ao.seed = ctx.seed;
    ao.report_requests = report_requests;
    auto millis = [](gpumix::Duration d) { return std::chrono::duration_cast<std::chrono::milliseconds>(d); };
    ao.limits.workers = static_cast<int>(threads);
    ao.limits.max_body_bytes = 16 << 20;
    ao.limits.max_connections = static_cast<size_t>(max_connections);
    ao.limits.max_waiting = static_cast<size_t>(http_backlog);
    ao.limits.max_wait = millis(http_max_wait);
    ao.limits.head_timeout = millis(head_timeout);
    ao.limits.idle_timeout = millis(idle_timeout);
    // A stream is written for as long as it generates: only a client that
    // stops reading for this long is dropped.
    ao.limits.write_timeout = millis(drain_timeout) + std::chrono::milliseconds(60'000);
    OpenAiApi server(ao, engine, pool, ctx.rep);
    api = &server;
    progress("binding " + host + ":" + std::to_string(port));
    try {
      server.start();
    } catch (const std::runtime_error& e) {
      throw BadArgument(std::string("--host/--port: ") + e.what());
    }

    auto list_text = [](const std::vector<int64_t>& values) {
      std::string text;
      for (auto v : values) text += (text.empty() ? "" : ",") + std::to_string(v);
      return text.empty() ? std::string("none") : text;
    };
    ctx.set("model", model_name);
    ctx.set("url", server.url());
    ctx.set("preset", preset);
    ctx.set("parameters", config.parameters());
    ctx.set("layers", config.layers);
    ctx.set("hidden", config.hidden);
    ctx.set("heads", config.heads);
    ctx.set("kv_heads", config.kv_heads);
    ctx.set("max_context", config.max_context);
    ctx.set("dtype", dtype);
    ctx.set("weights", weights_file.empty() ? std::string("seeded") : weights_file);
    ctx.set("kv_cache_blocks", pool.capacity());
    ctx.set("block_size", block_size);
    ctx.set("max_batch", max_batch);
    ctx.set("prefill_chunk", prefill_chunk);
    ctx.set("cuda_graph_batch_sizes", list_text(engine.graph_sizes()));
    ctx.set("cuda_graph_contexts", list_text(engine.graph_contexts()));
    ctx.set("kernels", model.fused_kernels() ? std::string("fused") : std::string("torch"));
    // What --kernels auto chose: gpumix compares it with the baseline's.
    ctx.set("effective_config", std::string("kernels=") + (model.fused_kernels() ? "fused" : "torch"));
    if (fused_unusable.empty() && kernels != "torch") {
      ctx.set("fused_difference_decode_attention", fused_difference.decode_attention);
      ctx.set("fused_difference_decode_attention_torch", fused_difference.decode_attention_torch);
      ctx.set("fused_difference_decode_attention_batch", fused_difference.attention_batch);
      ctx.set("fused_difference_decode_attention_splits", fused_difference.attention_splits);
      ctx.set("fused_difference_rotary_cache_write", fused_difference.rotary_cache_write);
      ctx.set("fused_difference_silu_mul", fused_difference.silu_mul);
    }
    ctx.set("load_seconds", now_s() - t_load);
    ctx.emit_config();
    ctx.rep.emit("ready", {{"url", server.url()}, {"model", model_name}});
    if (!ctx.rep.enabled()) std::cout << "gpumix-llm-server: serving " << model_name << " at " << server.url() << std::endl;

    const double t0 = now_s();
    const std::string reason = serve_until_stopped(cli.common(), [&server] { return server.counts().ok; });
    const int64_t abandoned = server.drain(gpumix::to_seconds(drain_timeout));
    engine.close();  // what is left ends with an error, so the handlers return
    server.stop();
    api = nullptr;
    const auto c = server.counts();
    const double seconds = now_s() - t0;

    // Iteration times of one kind, for measuring the engine: decode steps by
    // batch size, prefill chunks by prompt tokens. The mean leaves each
    // size's first iteration out (its one-time costs are reported apart).
    auto by_size = [](const std::map<int64_t, StepTimes>& times, double (*value)(const StepTimes&)) {
      std::string text;
      for (const auto& [size, st] : times) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s%lld:%.3f", text.empty() ? "" : ",", static_cast<long long>(size), value(st));
        text += buf;
      }
      return text;
    };
    auto warm_mean = [](const StepTimes& st) { return st.warm_mean_ms(); };
    auto gpu_mean = [](const StepTimes& st) { return st.gpu_ms / static_cast<double>(st.steps); };
    auto first = [](const StepTimes& st) { return st.first_ms; };
    const auto decode_times = engine.decode_step_times(), prefill_times = engine.prefill_step_times();
    const std::string steps_text = by_size(decode_times, warm_mean);
    const std::string prefill_text = by_size(prefill_times, warm_mean);
    const std::string prefill_first_text = by_size(prefill_times, first);
    // The forward pass's GPU time: what the iteration spends beyond it is the host's.
    const std::string steps_gpu_text = engine.gpu_timed() ? by_size(decode_times, gpu_mean) : "";
    auto line = [](const std::string& what, const std::string& text) {
      std::cerr << "gpumix-llm-server: " << what << ": " << (text.empty() ? "none" : text) << std::endl;
    };
    line("decode step mean ms by batch size (batch:ms)", steps_text);
    if (engine.gpu_timed()) line("decode forward pass mean GPU ms by batch size (batch:ms)", steps_gpu_text);
    line("prefill-only iteration mean ms by prompt tokens (tokens:ms)", prefill_text);
    line("first prefill-only iteration ms by prompt tokens (tokens:ms)", prefill_first_text);
    gpumix::metrics::Fields summary = {{"stop_reason", reason},          {"seconds", seconds},
                                       {"requests_ok", c.ok},            {"output_tokens", c.output_tokens},
                                       {"prompt_tokens", c.prompt_tokens}, {"rejected_503", c.rejected},
                                       {"client_errors", c.client_errors}, {"server_errors", c.server_errors},
                                       {"cancelled", c.cancelled},        {"abandoned_at_stop", abandoned},
                                       {"decode_step_ms_by_batch", steps_text},
                                       {"prefill_ms_by_tokens", prefill_text},
                                       {"prefill_first_ms_by_tokens", prefill_first_text}};
    if (engine.gpu_timed()) summary.push_back({"decode_gpu_ms_by_batch", steps_gpu_text});
    for (auto& f : memory_fields(ctx.device)) summary.push_back(f);
    if (ctx.rep.enabled()) {
      ctx.rep.done(summary);
    } else {
      std::cout << "gpumix-llm-server: " << c.ok << " requests, " << c.output_tokens << " tokens in " << seconds
                << " s; 503: " << c.rejected << ", 4xx: " << c.client_errors << ", 5xx: " << c.server_errors
                << ", cancelled: " << c.cancelled << std::endl;
    }
    return 0;
  });
}
