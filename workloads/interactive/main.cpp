// gpumix-interactive: a notebook-like session. A scripted sequence of cells
// (matrix products, convolutions, a small MLP training burst, a ResNet-18
// forward pass) separated by think times from a seeded distribution. Each
// cell's latency is measured with the device synchronized; `done` reports the
// idle fraction (think time / wall time).
#include "gpumix/resnet.hpp"
#include "gpumix/runtime.hpp"

#include <map>
#include <random>
#include <sstream>

using namespace gpumix::wl;

namespace {

const std::vector<std::string> kCellKinds{"matmul", "conv", "mlp-train", "forward"};

std::vector<std::string> split_script(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty()) continue;
    bool known = false;
    for (const auto& k : kCellKinds) known = known || k == item;
    if (!known) {
      throw BadArgument("--script " + s + ": unknown cell '" + item +
                        "' (cells: matmul, conv, mlp-train, forward)");
    }
    out.push_back(item);
  }
  if (out.empty()) throw BadArgument("--script '" + s + "': no cells");
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Cli cli("interactive", "interactive",
          "Notebook-like session: scripted cells (matmul, conv, MLP training burst, ResNet-18 forward) "
          "separated by seeded think times; per-cell latency with the device synchronized, idle fraction");
  std::string think_dist = "exp", script = "matmul,conv,mlp-train,forward", precision = "bf16";
  int64_t cells = 0, matmul_size = 4096, batch = 32, image_size = 224, mlp_steps = 20, mlp_width = 4096;
  gpumix::Duration think_mean = std::chrono::seconds(2);
  bool cudnn_benchmark = true;

  CommonCounts counts;
  counts.warmup = "warmup-passes";
  counts.warmup_help = "Untimed passes over each cell kind before the ready event";
  counts.warmup_default = counts.warmup_cpu = 1;
  counts.iterations_help = "Same as --cells";
  cli.add_common(counts);
  Cli::non_negative(cli.add("cells", cells, "Cells to run after warm-up; 0 = until --duration or SIGTERM"));
  cli.add("think-mean", think_mean, "Mean think time between cells (e.g. 2s, 500ms)");
  cli.add_choice("think-dist", think_dist, {"exp", "uniform", "fixed"},
                 "Think time distribution: exponential, uniform on [0, 2*mean], or fixed");
  cli.add("script", script, "Comma-separated cell sequence, repeated (matmul, conv, mlp-train, forward)");
  Cli::positive(cli.add("matmul-size", matmul_size, "Square matrix size of the matmul cell"));
  cli.cpu_default("matmul-size", "256");
  Cli::positive(cli.add("batch-size", batch, "Batch of the conv and forward cells"));
  cli.cpu_default("batch-size", "2");
  Cli::positive(cli.add("image-size", image_size, "Image size of the conv and forward cells"));
  cli.cpu_default("image-size", "64");
  Cli::positive(cli.add("mlp-steps", mlp_steps, "Training steps in the mlp-train cell"));
  cli.cpu_default("mlp-steps", "5");
  Cli::positive(cli.add("mlp-width", mlp_width, "Hidden width of the MLP"));
  cli.cpu_default("mlp-width", "128");
  cli.add_choice("precision", precision, {"fp32", "bf16"}, "bf16 = bf16 autocast");
  cli.cpu_default("precision", "fp32");
  cli.add("cudnn-benchmark", cudnn_benchmark, "cudnn.benchmark: autotune convolution algorithms (CUDA)");

  return run_workload(cli, argc, argv, [&](Context& ctx) {
    const auto sequence = split_script(script);
    if (image_size < 16) throw BadArgument("--image-size " + std::to_string(image_size) + ": must be >= 16");
    const int64_t total_cells = cli.given("cells") ? cells : cli.common().iterations;
    const bool bf16 = is_bf16(precision);
    if (ctx.cuda) at::globalContext().setBenchmarkCuDNN(cudnn_benchmark);
    const auto dev = ctx.device;
    const auto fopts = torch::TensorOptions().device(dev).dtype(torch::kFloat);
    const auto dtype = bf16 ? torch::kBFloat16 : torch::kFloat;

    // --- cell state, built once (as a notebook's earlier cells would).
    auto a = torch::randn({matmul_size, matmul_size}, fopts).to(dtype);
    auto b = torch::randn({matmul_size, matmul_size}, fopts).to(dtype);

    const int64_t conv_hw = std::max<int64_t>(8, image_size / 4);
    auto conv_in = torch::randn({batch, 64, conv_hw, conv_hw}, fopts).to(dtype);
    std::vector<torch::Tensor> conv_w;
    for (int i = 0; i < 4; ++i) conv_w.push_back((torch::randn({64, 64, 3, 3}, fopts) * 0.05).to(dtype));
    if (ctx.cuda) {
      conv_in = conv_in.contiguous(torch::MemoryFormat::ChannelsLast);
      for (auto& w : conv_w) w = w.contiguous(torch::MemoryFormat::ChannelsLast);
    }

    const int64_t mlp_in = std::max<int64_t>(16, mlp_width / 4), mlp_batch = ctx.cuda ? 256 : 32;
    torch::nn::Sequential mlp(torch::nn::Linear(mlp_in, mlp_width), torch::nn::ReLU(),
                              torch::nn::Linear(mlp_width, mlp_width), torch::nn::ReLU(),
                              torch::nn::Linear(mlp_width, 10));
    mlp->to(dev);
    torch::optim::Adam mlp_opt(mlp->parameters(), torch::optim::AdamOptions(1e-3));
    auto mlp_x = torch::randn({mlp_batch, mlp_in}, fopts);
    auto mlp_y = torch::randint(10, {mlp_batch}, fopts.dtype(torch::kLong));

    ResNet resnet("resnet18", 1000);
    resnet->to(dev);
    resnet->eval();
    if (bf16) resnet->to(torch::kBFloat16);
    if (ctx.cuda) resnet->to_channels_last();
    auto images = torch::randn({batch, 3, image_size, image_size}, fopts).to(dtype);
    if (ctx.cuda) images = images.contiguous(torch::MemoryFormat::ChannelsLast);

    std::map<std::string, std::function<void()>> run_cell;
    run_cell["matmul"] = [&] {
      torch::InferenceMode guard;
      auto c = a;
      for (int i = 0; i < 8; ++i) c = torch::matmul(c, b).div_(static_cast<double>(matmul_size));
    };
    run_cell["conv"] = [&] {
      torch::InferenceMode guard;
      auto x = conv_in;
      for (const auto& w : conv_w) x = at::conv2d(x, w, {}, /*stride=*/{1, 1}, /*padding=*/{1, 1}).relu_();
    };
    run_cell["mlp-train"] = [&] {
      for (int64_t i = 0; i < mlp_steps; ++i) {
        torch::Tensor loss;
        {
          gpumix::compat::AutocastGuard autocast(dev.type(), bf16);
          loss = torch::cross_entropy_loss(mlp->forward(mlp_x), mlp_y);
        }
        mlp_opt.zero_grad();
        loss.backward();
        mlp_opt.step();
      }
    };
    run_cell["forward"] = [&] {
      torch::InferenceMode guard;
      resnet->forward(images);
    };

    std::mt19937_64 rng(ctx.seed);
    const double think_mean_s = gpumix::to_seconds(think_mean);
    auto draw_think = [&]() -> double {
      if (think_mean_s <= 0) return 0.0;
      if (think_dist == "fixed") return think_mean_s;
      if (think_dist == "uniform") return std::uniform_real_distribution<double>(0.0, 2.0 * think_mean_s)(rng);
      return std::exponential_distribution<double>(1.0 / think_mean_s)(rng);
    };

    ctx.set("script", script);
    ctx.set("think_mean_s", think_mean_s);
    ctx.set("think_dist", think_dist);
    ctx.set("precision", precision);
    ctx.set("matmul_size", matmul_size);
    ctx.set("batch_size", batch);
    ctx.set("image_size", image_size);
    ctx.set("mlp_steps", mlp_steps);
    ctx.emit_config();

    // Warm-up: every distinct cell kind, untimed.
    for (int64_t w = 0; w < cli.common().warmup && !stop_requested(); ++w) {
      for (const auto& kind : kCellKinds) {
        bool used = false;
        for (const auto& s : sequence) used = used || s == kind;
        if (used && !stop_requested()) run_cell[kind]();
      }
    }
    synchronize(dev);
    if (!stop_requested()) ctx.rep.ready();

    std::map<std::string, std::vector<double>> latencies;
    std::vector<double> all_ms;
    int64_t done_cells = 0;
    double idle = 0;
    std::string reason = "signal";
    const double start = now_s();
    const double duration = gpumix::to_seconds(cli.common().duration);
    for (size_t i = 0; !stop_requested(); ++i) {
      if (total_cells > 0 && done_cells >= total_cells) {
        reason = "cells";
        break;
      }
      if (duration > 0 && now_s() - start >= duration) {
        reason = "duration";
        break;
      }
      maybe_inject_failure(done_cells);
      const auto& kind = sequence[i % sequence.size()];
      synchronize(dev);
      const double t0 = now_s();
      run_cell[kind]();
      synchronize(dev);
      const double ms = (now_s() - t0) * 1e3;
      ctx.rep.latency(ms, {{"cell", kind}});
      ctx.rep.iter(1, ms, {{"cell", kind}});
      latencies[kind].push_back(ms);
      all_ms.push_back(ms);
      ++done_cells;
      if (total_cells > 0 && done_cells >= total_cells) {
        reason = "cells";
        break;
      }
      double think = draw_think();
      if (duration > 0) think = std::min(think, std::max(0.0, duration - (now_s() - start)));
      idle += interruptible_sleep(think);
    }
    const double seconds = now_s() - start;
    const double idle_fraction = seconds > 0 ? idle / seconds : 0.0;
    const double busy = [&] {
      double s = 0;
      for (double x : all_ms) s += x / 1e3;
      return s;
    }();

    const auto mem = memory_fields(dev);
    if (ctx.rep.enabled()) {
      ctx.rep.info(mem);
      // Keys must outlive the done() call.
      std::vector<std::string> keys;
      for (const auto& [kind, v] : latencies) {
        keys.push_back("p50_ms_" + kind);
        keys.push_back("p99_ms_" + kind);
      }
      gpumix::metrics::Fields f{{"samples", done_cells},
                                {"cells", done_cells},
                                {"seconds", seconds},
                                {"samples_per_s", seconds > 0 ? static_cast<double>(done_cells) / seconds : 0.0},
                                {"busy_s", busy},
                                {"idle_s", idle},
                                {"idle_fraction", idle_fraction},
                                {"latency_ms_p50", percentile(all_ms, 50)},
                                {"latency_ms_p99", percentile(all_ms, 99)},
                                {"stop", reason}};
      size_t k = 0;
      for (const auto& [kind, v] : latencies) {
        f.emplace_back(keys[k++], percentile(v, 50));
        f.emplace_back(keys[k++], percentile(v, 99));
      }
      f.insert(f.end(), mem.begin(), mem.end());
      ctx.rep.done(f);
    } else {
      std::printf("gpumix-interactive: %s\n", ctx.config_line().c_str());
      std::printf("  %lld cells (stopped by %s) in %.2f s; busy %.2f s, idle %.2f s, idle fraction %.3f\n",
                  static_cast<long long>(done_cells), reason.c_str(), seconds, busy, idle, idle_fraction);
      std::printf("  %-10s %6s %10s %10s\n", "cell", "count", "p50 ms", "p99 ms");
      for (const auto& [kind, v] : latencies) {
        std::printf("  %-10s %6zu %10.2f %10.2f\n", kind.c_str(), v.size(), percentile(v, 50), percentile(v, 99));
      }
      for (const auto& [key, v] : mem) {
        std::printf("  %s: %.1f MiB\n", std::string(key).c_str(),
                    static_cast<double>(std::get<int64_t>(v)) / (1024.0 * 1024.0));
      }
      std::fflush(stdout);
    }
    return 0;
  });
}
