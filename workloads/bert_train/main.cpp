// gpumix-bert-train: masked-LM training of a BERT-base-shaped encoder on
// synthetic token data with AdamW.
#include "gpumix/bert.hpp"
#include "gpumix/data.hpp"
#include "gpumix/optim.hpp"
#include "gpumix/runtime.hpp"

using namespace gpumix::wl;

int main(int argc, char** argv) {
  Cli cli("bert-train", "training",
          "BERT-base-shaped encoder trained on masked-LM loss (15% masked synthetic tokens) with AdamW; "
          "fused scaled-dot-product attention where LibTorch has it");
  std::string precision = "bf16";
  int64_t layers = 12, hidden = 768, heads = 12, seq_len = 128, vocab = 30522, batch = 32;
  int64_t synthetic_batches = 4, report_every = 1;
  double lr = 1e-4, weight_decay = 0.01, dropout = 0.1;
  bool fused_adamw = true, cuda_graphs = true;

  cli.add_common();  // --warmup-steps 10 (CPU: 1)
  Cli::positive(cli.add("layers", layers, "Transformer layers"));
  cli.cpu_default("layers", "2");
  Cli::positive(cli.add("hidden", hidden, "Hidden size (FFN: 4x)"));
  cli.cpu_default("hidden", "128");
  Cli::positive(cli.add("heads", heads, "Attention heads"));
  cli.cpu_default("heads", "2");
  Cli::positive(cli.add("seq-len", seq_len, "Sequence length"));
  cli.cpu_default("seq-len", "64");
  Cli::positive(cli.add("vocab", vocab, "Vocabulary size"));
  cli.cpu_default("vocab", "1000");
  Cli::positive(cli.add("batch-size", batch, "Sequences per step"));
  cli.cpu_default("batch-size", "4");
  cli.add_choice("precision", precision, {"fp32", "bf16"}, "bf16 = bf16 autocast, fp32 weights");
  cli.cpu_default("precision", "fp32");
  Cli::positive(cli.add("lr", lr, "AdamW learning rate"));
  Cli::non_negative(cli.add("weight-decay", weight_decay, "AdamW decoupled weight decay"));
  Cli::non_negative(cli.add("dropout", dropout, "Dropout probability (hidden and attention)"));
  cli.add("fused-adamw", fused_adamw, "Use the fused CUDA AdamW kernel when available (else multi-tensor)");
  Cli::positive(cli.add("synthetic-batches", synthetic_batches, "Synthetic batches generated once and rotated"));
  Cli::positive(cli.add("report-every", report_every, "Synchronize and emit an iter event every N steps"));
  cli.add("cuda-graphs", cuda_graphs,
          "Capture the whole training step (forward, backward, AdamW) as one CUDA graph and replay it (CUDA only; "
          "on by default there: it removes the CPU launch overhead of BERT's many small kernels)");
  cli.cpu_default("cuda-graphs", "false");

  return run_workload(cli, argc, argv, [&](Context& ctx) {
    if (hidden % heads != 0) {
      throw BadArgument("--hidden " + std::to_string(hidden) + ": not divisible by --heads " +
                        std::to_string(heads));
    }
    if (vocab <= kFirstToken + 1) {
      throw BadArgument("--vocab " + std::to_string(vocab) + ": must be > " + std::to_string(kFirstToken + 1));
    }
    if (dropout >= 1.0) throw BadArgument("--dropout " + std::to_string(dropout) + ": must be < 1");
    if (cuda_graphs && !ctx.cuda) {
      throw BadArgument("--cuda-graphs true: CUDA graphs need a CUDA device (running on " + ctx.device.str() +
                        ")");
    }
    if (cuda_graphs && !gpumix::compat::has_cuda_graphs()) {
      throw BadArgument("--cuda-graphs true: this LibTorch build has no CUDA graph support");
    }
    const bool bf16 = is_bf16(precision);

    BertConfig cfg;
    cfg.vocab = vocab;
    cfg.hidden = hidden;
    cfg.layers = layers;
    cfg.heads = heads;
    cfg.intermediate = 4 * hidden;
    cfg.max_positions = std::max<int64_t>(512, seq_len);
    cfg.dropout = dropout;

    auto data = synthetic_mlm(synthetic_batches, batch, seq_len, vocab, ctx.device);
    BertMLM net(cfg);
    net->to(ctx.device);
    net->train();
    AdamW opt(net->parameters(), lr, 0.9, 0.999, 1e-8, weight_decay, fused_adamw);

    int64_t n_params = 0;
    for (const auto& p : net->parameters()) n_params += p.numel();
    ctx.set("layers", layers);
    ctx.set("hidden", hidden);
    ctx.set("heads", heads);
    ctx.set("seq_len", seq_len);
    ctx.set("vocab", vocab);
    ctx.set("batch_size", batch);
    ctx.set("precision", precision);
    ctx.set("parameters", n_params);
    ctx.set("masked_per_seq", data[0].masked.size(0) / batch);
    ctx.set("attention", std::string(gpumix::compat::has_fused_sdpa() ? "sdpa" : "plain"));
    ctx.set("optimizer", std::string(opt.fused() ? "adamw-fused" : "adamw-foreach"));
    ctx.set("cuda_graphs", cuda_graphs);

    const auto dev_type = ctx.device.type();
    // One training step. Gradients are set to none first, so that backward
    // allocates them (inside the graph's pool when capturing).
    auto train_step = [&](const torch::Tensor& tokens, const torch::Tensor& masked, const torch::Tensor& labels) {
      opt.zero_grad();
      torch::Tensor loss;
      {
        gpumix::compat::AutocastGuard autocast(dev_type, bf16);
        auto logits = net->forward(tokens, masked);
        loss = torch::cross_entropy_loss(logits, labels);
      }
      loss.backward();
      opt.step();
      return loss.detach();
    };
    size_t next = 0;
    auto next_batch = [&]() -> const MlmBatch& {
      const auto& b = data[next];
      next = (next + 1) % data.size();
      return b;
    };

    // CUDA graph mode (as resnet-train): each step copies the next batch into
    // static tensors and replays the captured step; the autocast cache stays
    // off. The capture's warm-up steps train on the next batches like any
    // step, so a graph run sees the batches of an eager run with that many
    // more warm-up steps (the GPU check in bench/workloads/run.sh compares the
    // two losses step by step). All batches have the same shapes (k masked
    // positions per sequence).
    torch::Tensor static_tokens, static_masked, static_labels, static_loss;
    auto to_static = [&](const MlmBatch& b) {
      static_tokens.copy_(b.tokens);
      static_masked.copy_(b.masked);
      static_labels.copy_(b.labels);
    };
    gpumix::compat::CudaGraph graph;
    if (cuda_graphs) {
      gpumix::compat::AutocastGuard::set_cache_enabled(false);
      static_tokens = torch::empty_like(data[0].tokens);
      static_masked = torch::empty_like(data[0].masked);
      static_labels = torch::empty_like(data[0].labels);
      int calls = 0;
      graph.capture([&] {
        // Host code: runs for the warm-up calls, not inside the graph.
        if (calls++ < gpumix::compat::CudaGraph::kDefaultWarmup) to_static(next_batch());
        static_loss = train_step(static_tokens, static_masked, static_labels);
      });
      ctx.set("graph_warmup_steps", static_cast<int64_t>(gpumix::compat::CudaGraph::kDefaultWarmup));
    }
    ctx.emit_config();

    auto step = [&](int64_t) {
      const auto& b = next_batch();
      if (!cuda_graphs) return StepOutput{batch, train_step(b.tokens, b.masked, b.labels)};
      to_static(b);
      graph.replay();
      return StepOutput{batch, static_loss};
    };

    auto result = run_steps(ctx, LoopOptions::from(cli.common(), report_every), step);
    // The optimizer's device-side step count: every step, replayed or not,
    // must have advanced it (warm-up steps included).
    finish(ctx, result, "sequences", {{"optimizer_steps", opt.step_count()}});
    return 0;
  });
}
