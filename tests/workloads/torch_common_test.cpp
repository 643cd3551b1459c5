// Unit tests of the workloads' LibTorch library code (CPU): the multi-tensor
// AdamW against torch::optim::AdamW, and the folded (inference) ResNets
// against the plain eval forward pass.
#include "gpumix/optim.hpp"
#include "gpumix/resnet.hpp"

#include <gtest/gtest.h>

#include <tuple>
#include <vector>

namespace {

using gpumix::wl::AdamW;
using gpumix::wl::ResNet;

std::vector<torch::Tensor> random_params(int64_t seed) {
  torch::manual_seed(seed);
  return {torch::randn({7, 5}), torch::randn({5}), torch::randn({3, 4, 2, 2})};
}

// The same gradients for both optimizers, different at every step.
void set_grads(std::vector<torch::Tensor>& params, int step) {
  torch::manual_seed(100 + step);
  for (auto& p : params) p.mutable_grad() = torch::randn_like(p);
}

// The bias corrections come from the device-side step count (CUDA-graph
// safe); the parameters must follow torch::optim::AdamW's, whose host
// counter is the textbook formulation, step after step.
TEST(AdamW, MatchesTorchOptimAdamWStepByStep) {
  const double lr = 0.05, wd = 0.1;
  auto ours = random_params(1), theirs = random_params(1);
  for (auto& p : ours) p.requires_grad_(true);
  for (auto& p : theirs) p.requires_grad_(true);
  AdamW opt(ours, lr, 0.9, 0.999, 1e-8, wd, /*allow_fused=*/true);
  EXPECT_FALSE(opt.fused());  // CPU: the multi-tensor path
  torch::optim::AdamW ref(theirs, torch::optim::AdamWOptions(lr).betas(std::make_tuple(0.9, 0.999)).eps(1e-8).weight_decay(wd));
  for (int step = 0; step < 8; ++step) {
    set_grads(ours, step);
    set_grads(theirs, step);
    opt.step();
    ref.step();
    for (size_t i = 0; i < ours.size(); ++i) {
      const double diff = (ours[i] - theirs[i]).abs().max().item<double>();
      EXPECT_LT(diff, 1e-5) << "parameter " << i << " after step " << step + 1;
    }
  }
  EXPECT_EQ(opt.step_count(), 8);
}

// Folding the batch norms (the downsample's bias moved into the block's last
// convolution) computes what the eval-mode network computes. In double
// precision, so that a wrong fold stands out from rounding (in float, the
// deep layers' tiny calibrated variances alone give 2e-4).
void expect_folded_matches_eval(const std::string& arch) {
  torch::manual_seed(3);
  ResNet net(arch, 10);
  net->to(torch::kDouble);
  auto x = torch::randn({2, 3, 32, 32}, torch::kDouble);
  net->calibrate_batchnorm(x);  // non-trivial running statistics, eval mode
  torch::NoGradGuard no_grad;
  const auto expected = net->forward(x);
  net->fold_batchnorm(/*fused_conv=*/false);
  ASSERT_TRUE(net->folded());
  const auto got = net->forward(x);
  const double scale = expected.abs().max().item<double>();
  EXPECT_LT((got - expected).abs().max().item<double>() / scale, 1e-9) << arch;
}

TEST(ResNet, FoldedResNet18MatchesEval) { expect_folded_matches_eval("resnet18"); }
TEST(ResNet, FoldedResNet50MatchesEval) { expect_folded_matches_eval("resnet50"); }

TEST(ResNet, FusedConvNeedsCuda) { EXPECT_FALSE(gpumix::wl::fused_conv_available(torch::Device(torch::kCPU))); }

}  // namespace
