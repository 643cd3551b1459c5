// gpumix-resnet-train: ResNet-18/50 training (SGD momentum, cross-entropy) on
// synthetic ImageNet-shaped data or CIFAR-10 binary files.
#include "gpumix/data.hpp"
#include "gpumix/optim.hpp"
#include "gpumix/resnet.hpp"
#include "gpumix/runtime.hpp"

using namespace gpumix::wl;

int main(int argc, char** argv) {
  Cli cli("resnet-train", "training",
          "ResNet-18/50 training with SGD (momentum 0.9, weight decay) and cross-entropy on synthetic "
          "ImageNet-shaped data or CIFAR-10 (binary format)");
  std::string model = "resnet50", precision = "bf16", data_dir;
  int64_t batch = 64, image_size = 224, num_classes = 1000, synthetic_batches = 4, report_every = 1;
  double lr = 0.1, momentum = 0.9, weight_decay = 1e-4;
  bool channels_last = true, cudnn_benchmark = true, cuda_graphs = true;

  cli.add_common();  // --warmup-steps 10 (CPU: 1)
  cli.add_choice("model", model, resnet_archs(), "Architecture");
  cli.cpu_default("model", "resnet18");
  Cli::positive(cli.add("batch-size", batch, "Images per step"));
  cli.cpu_default("batch-size", "8");
  Cli::positive(cli.add("image-size", image_size, "Image height and width (default 32 with --data-dir)"));
  cli.cpu_default("image-size", "64");
  cli.add_choice("precision", precision, {"fp32", "bf16"}, "bf16 = bf16 autocast, fp32 weights");
  cli.cpu_default("precision", "fp32");
  cli.add("channels-last", channels_last, "channels_last memory format");
  cli.cpu_default("channels-last", "false");
  Cli::positive(cli.add("num-classes", num_classes, "Classes (default 10 with --data-dir)"));
  Cli::positive(cli.add("lr", lr, "SGD learning rate"));
  Cli::non_negative(cli.add("momentum", momentum, "SGD momentum"));
  Cli::non_negative(cli.add("weight-decay", weight_decay, "SGD weight decay (L2)"));
  cli.add("data-dir", data_dir, "CIFAR-10 binary directory (data_batch_1.bin .. data_batch_5.bin); empty = synthetic");
  Cli::positive(cli.add("synthetic-batches", synthetic_batches, "Synthetic batches generated once and rotated"));
  Cli::positive(cli.add("report-every", report_every, "Synchronize and emit an iter event every N steps"));
  cli.add("cudnn-benchmark", cudnn_benchmark, "cudnn.benchmark: autotune convolution algorithms (CUDA)");
  cli.add("cuda-graphs", cuda_graphs,
          "Capture the whole training step (forward, backward, SGD) as one CUDA graph and replay it (CUDA only; "
          "on by default there: it removes the CPU launch overhead that limits ResNet-50 at batch 64)");
  cli.cpu_default("cuda-graphs", "false");

  return run_workload(cli, argc, argv, [&](Context& ctx) {
    // Argument checks first: no heavy work before a bad argument is reported.
    if (!data_dir.empty()) {
      check_cifar_dir(data_dir);
      if (!cli.given("image-size")) image_size = 32;
      if (!cli.given("num-classes")) num_classes = 10;
      if (num_classes < 10) {
        throw BadArgument("--num-classes " + std::to_string(num_classes) + ": CIFAR-10 has 10 classes");
      }
    }
    if (image_size < 16) throw BadArgument("--image-size " + std::to_string(image_size) + ": must be >= 16");
    if (cuda_graphs && !ctx.cuda) {
      throw BadArgument("--cuda-graphs true: CUDA graphs need a CUDA device (running on " + ctx.device.str() +
                        ")");
    }
    if (cuda_graphs && !gpumix::compat::has_cuda_graphs()) {
      throw BadArgument("--cuda-graphs true: this LibTorch build has no CUDA graph support");
    }
    const bool bf16 = is_bf16(precision);
    if (ctx.cuda) at::globalContext().setBenchmarkCuDNN(cudnn_benchmark);

    ImageSpec spec;
    spec.batch = batch;
    spec.image_size = image_size;
    spec.num_classes = num_classes;
    spec.channels_last = channels_last;
    spec.device = ctx.device;
    auto data = data_dir.empty() ? synthetic_images(spec, synthetic_batches) : cifar10_images(data_dir, spec);

    ResNet net(model, num_classes);
    net->to(ctx.device);
    if (channels_last) net->to_channels_last();
    net->train();
    SGD opt(net->parameters(), lr, momentum, weight_decay);

    ctx.set("model", model);
    ctx.set("batch_size", batch);
    ctx.set("image_size", image_size);
    ctx.set("num_classes", num_classes);
    ctx.set("precision", precision);
    ctx.set("channels_last", channels_last);
    ctx.set("data", data->describe());
    ctx.set("lr", lr);
    ctx.set("cuda_graphs", cuda_graphs);

    const auto dev_type = ctx.device.type();
    // One training step on (x, y). Gradients are set to none first, so that
    // backward allocates them (inside the graph's pool when capturing).
    auto train_step = [&](const torch::Tensor& x, const torch::Tensor& y) {
      opt.zero_grad();
      torch::Tensor loss;
      {
        gpumix::compat::AutocastGuard autocast(dev_type, bf16);
        auto logits = net->forward(x);
        loss = torch::cross_entropy_loss(logits, y);
      }
      loss.backward();
      opt.step();
      return loss.detach();
    };

    // CUDA graph mode: the step reads static input tensors; each measured
    // step copies the next batch into them and replays the graph. Autocast's
    // weight-cast cache must be off while capturing (as torch.cuda.graph
    // requires), and stays off for every step so all steps do the same work.
    torch::Tensor static_x, static_y, static_loss;
    gpumix::compat::CudaGraph graph;
    if (cuda_graphs) {
      gpumix::compat::AutocastGuard::set_cache_enabled(false);
      auto first = data->next();
      static_x = first.x.clone();
      static_y = first.y.clone();
      graph.capture([&] { static_loss = train_step(static_x, static_y); });
    }
    ctx.emit_config();

    auto step = [&](int64_t) {
      auto b = data->next();
      if (!cuda_graphs) return StepOutput{batch, train_step(b.x, b.y)};
      static_x.copy_(b.x);
      static_y.copy_(b.y);
      graph.replay();
      return StepOutput{batch, static_loss};
    };

    auto result = run_steps(ctx, LoopOptions::from(ctx.cli.common(), report_every), step);
    finish(ctx, result, "images");
    return 0;
  });
}
