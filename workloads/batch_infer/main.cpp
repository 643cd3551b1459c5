// gpumix-batch-infer: offline ResNet-18/50 inference over synthetic batches,
// one iter event per batch (ms = batch latency); optionally replays a
// captured CUDA graph of the forward pass.
#include "gpumix/data.hpp"
#include "gpumix/resnet.hpp"
#include "gpumix/runtime.hpp"

#include <fstream>
#include <sys/stat.h>

using namespace gpumix::wl;

namespace {

// Writes tensors as raw little-endian float32 plus a manifest
// (name, shape, byte offset) for bench/workloads/reference.py.
class TensorDump {
 public:
  explicit TensorDump(const std::string& dir) : dir_(dir) {
    ::mkdir(dir.c_str(), 0755);
    bin_.open(dir + "/tensors.bin", std::ios::binary | std::ios::trunc);
    manifest_.open(dir + "/manifest.tsv", std::ios::trunc);
    if (!bin_ || !manifest_) throw BadArgument("--dump-dir " + dir + ": cannot write there");
  }
  void add(const std::string& name, const torch::Tensor& t) {
    auto c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
    const auto bytes = static_cast<std::streamsize>(c.numel() * static_cast<int64_t>(sizeof(float)));
    manifest_ << name << '\t';
    for (int64_t i = 0; i < c.dim(); ++i) manifest_ << (i ? "," : "") << c.size(i);
    manifest_ << '\t' << offset_ << '\n';
    bin_.write(reinterpret_cast<const char*>(c.data_ptr<float>()), bytes);
    offset_ += bytes;
  }

 private:
  std::string dir_;
  std::ofstream bin_, manifest_;
  int64_t offset_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Cli cli("batch-infer", "batch",
          "Offline ResNet-18/50 inference (eval mode, inference mode) over synthetic batches; "
          "per-batch latency and throughput, optionally replaying a captured CUDA graph");
  std::string model = "resnet50", precision = "bf16", dump_dir;
  int64_t batch = 64, image_size = 224, num_classes = 1000, synthetic_batches = 4, report_every = 1;
  bool channels_last = true, cuda_graphs = false, fold_bn = true, verify = true, cudnn_benchmark = true,
       fused_conv = true;

  cli.add_common();  // --warmup-steps 10 (CPU: 1)
  cli.add_choice("model", model, resnet_archs(), "Architecture");
  cli.cpu_default("model", "resnet18");
  Cli::positive(cli.add("batch-size", batch, "Images per batch"));
  cli.cpu_default("batch-size", "4");
  Cli::positive(cli.add("image-size", image_size, "Image height and width"));
  cli.cpu_default("image-size", "64");
  cli.add_choice("precision", precision, {"fp32", "bf16"}, "bf16 = bf16 weights and activations");
  cli.cpu_default("precision", "fp32");
  cli.add("channels-last", channels_last, "channels_last memory format");
  cli.cpu_default("channels-last", "false");
  cli.add("cuda-graphs", cuda_graphs, "Capture the forward pass once as a CUDA graph and replay it (CUDA only)");
  cli.add("fold-bn", fold_bn, "Fold batch norms into the convolutions");
  cli.add("fused-conv", fused_conv,
          "With --fold-bn: run each convolution with its bias, residual add and ReLU as one cuDNN call "
          "(CUDA; the epilogue writes the output once instead of three more passes over it)");
  cli.cpu_default("fused-conv", "false");
  cli.add("verify", verify, "Compare the outputs with an unoptimized fp32 forward pass once at start");
  Cli::positive(cli.add("num-classes", num_classes, "Classes"));
  Cli::positive(cli.add("synthetic-batches", synthetic_batches, "Synthetic batches generated once and rotated"));
  Cli::positive(cli.add("report-every", report_every, "Synchronize and emit an iter event every N batches"));
  cli.add("cudnn-benchmark", cudnn_benchmark, "cudnn.benchmark: autotune convolution algorithms (CUDA)");
  cli.add("dump-dir", dump_dir, "Write weights, one input and its output here (for the reference check)");

  return run_workload(cli, argc, argv, [&](Context& ctx) {
    if (cuda_graphs && !ctx.cuda) {
      throw BadArgument("--cuda-graphs true: CUDA graphs need a CUDA device (running on " + ctx.device.str() +
                        ")");
    }
    if (cuda_graphs && !gpumix::compat::has_cuda_graphs()) {
      throw BadArgument("--cuda-graphs true: this LibTorch build has no CUDA graph support");
    }
    if (image_size < 16) throw BadArgument("--image-size " + std::to_string(image_size) + ": must be >= 16");
    // --fused-conv's default gives way where it cannot apply; an explicit true does not.
    if (fused_conv && !fold_bn) {
      if (cli.given("fused-conv")) throw BadArgument("--fused-conv true: needs --fold-bn true (it takes the folded bias)");
      fused_conv = false;
    }
    if (fused_conv && !fused_conv_available(ctx.device)) {
      if (cli.given("fused-conv")) {
        throw BadArgument("--fused-conv true: cuDNN's fused convolutions need a CUDA device with cuDNN (running on " +
                          ctx.device.str() + ")");
      }
      fused_conv = false;
    }
    if (ctx.cuda) at::globalContext().setBenchmarkCuDNN(cudnn_benchmark);
    std::unique_ptr<TensorDump> dump;
    if (!dump_dir.empty()) dump = std::make_unique<TensorDump>(dump_dir);

    const bool bf16 = is_bf16(precision);
    ImageSpec spec;
    spec.batch = batch;
    spec.image_size = image_size;
    spec.num_classes = num_classes;
    spec.channels_last = channels_last;
    spec.dtype = bf16 ? torch::kBFloat16 : torch::kFloat;
    spec.device = ctx.device;
    auto data = synthetic_images(spec, synthetic_batches);

    ResNet net(model, num_classes);
    net->to(ctx.device);
    {
      ImageSpec cal = spec;
      cal.batch = std::max<int64_t>(batch, 8);
      cal.dtype = torch::kFloat;
      cal.channels_last = false;
      net->calibrate_batchnorm(synthetic_images(cal, 1)->next().x);
    }

    // fp32 unoptimized reference output on the first batch.
    const auto first = data->next();
    torch::Tensor ref_out;
    if (verify || dump) {
      torch::InferenceMode guard;
      auto x32 = first.x.to(torch::kFloat).contiguous();
      ref_out = net->forward(x32).to(torch::kFloat);
      if (dump) {
        for (const auto& p : net->named_parameters()) dump->add(p.key(), p.value());
        for (const auto& b : net->named_buffers())
          if (b.key().find("num_batches_tracked") == std::string::npos) dump->add(b.key(), b.value());
        dump->add("__input__", x32);
      }
    }

    if (fold_bn) net->fold_batchnorm(fused_conv);
    if (bf16) net->to(torch::kBFloat16);
    if (channels_last) net->to_channels_last();

    torch::Tensor static_in, static_out;
    gpumix::compat::CudaGraph graph;
    auto forward = [&](const torch::Tensor& x) {
      torch::InferenceMode guard;
      return net->forward(x);
    };
    if (cuda_graphs) {
      static_in = first.x.clone();
      graph.capture([&] { static_out = forward(static_in); });
    }
    auto run = [&](const torch::Tensor& x) {
      if (!cuda_graphs) return forward(x);
      {
        torch::InferenceMode guard;
        static_in.copy_(x);
      }
      graph.replay();
      return static_out;
    };

    ctx.set("model", model);
    ctx.set("batch_size", batch);
    ctx.set("image_size", image_size);
    ctx.set("precision", precision);
    ctx.set("channels_last", channels_last);
    ctx.set("cuda_graphs", cuda_graphs);
    ctx.set("fold_bn", fold_bn);
    ctx.set("fused_conv", fused_conv);
    if (ref_out.defined()) {
      auto out = run(first.x).to(torch::kFloat);
      const double scale = ref_out.abs().max().item<double>();
      const double max_abs = (out - ref_out).abs().max().item<double>();
      const double top1 = out.argmax(1).eq(ref_out.argmax(1)).to(torch::kFloat).mean().item<double>();
      ctx.set("verify_max_abs_err", max_abs);
      ctx.set("verify_rel_err", scale > 0 ? max_abs / scale : max_abs);
      ctx.set("verify_top1_agreement", top1);
      if (dump) dump->add("__output__", out);
    }
    ctx.emit_config();

    auto step = [&](int64_t) {
      auto out = run(data->next().x);
      (void)out;
      return StepOutput{batch, {}};
    };
    auto result = run_steps(ctx, LoopOptions::from(cli.common(), report_every), step);
    finish(ctx, result, "images");
    return 0;
  });
}
