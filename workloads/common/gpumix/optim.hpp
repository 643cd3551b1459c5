// Multi-tensor optimizers. torch::optim's C++ SGD/AdamW update one parameter
// at a time (several kernels per tensor); these use the _foreach_ kernels
// (a few launches for all tensors), and AdamW uses the fused CUDA kernel where
// LibTorch has it, like torch.optim does by default on CUDA.
//
// Both may be captured in a CUDA graph (compat::CudaGraph): their state is
// allocated up front and nothing they compute comes from the host at step
// time. AdamW's step count is a tensor on the parameters' device, as in
// torch.optim's capturable mode: a host counter would be baked into the graph
// at capture, and every replay would apply the bias correction of that step.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace gpumix::wl {

// SGD with momentum (dampening 0) and L2 weight decay, torch.optim.SGD semantics.
class SGD {
 public:
  SGD(std::vector<torch::Tensor> params, double lr, double momentum, double weight_decay);
  void zero_grad();  // sets gradients to none
  void step();

 private:
  std::vector<torch::Tensor> params_, bufs_;
  double lr_, momentum_, weight_decay_;
};

// AdamW (decoupled weight decay), torch.optim.AdamW semantics.
class AdamW {
 public:
  AdamW(std::vector<torch::Tensor> params, double lr, double beta1 = 0.9, double beta2 = 0.999,
        double eps = 1e-8, double weight_decay = 0.01, bool allow_fused = true);
  void zero_grad();
  void step();
  bool fused() const { return fused_; }
  // Steps taken, read from the device-side count (synchronizes).
  int64_t step_count() const;

 private:
  // steps_: each parameter's step count (float, on its device), as the fused
  // kernel takes them; the multi-tensor path reads the first (all are equal).
  std::vector<torch::Tensor> params_, exp_avg_, exp_avg_sq_, steps_;
  double lr_, beta1_, beta2_, eps_, weight_decay_;
  bool fused_ = false;
};

}  // namespace gpumix::wl
