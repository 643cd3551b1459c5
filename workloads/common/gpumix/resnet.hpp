// ResNet-18 and ResNet-50 (torchvision's v1.5 layout: stride on the 3x3 conv
// of a bottleneck), written with torch::nn modules. Parameter names follow
// torchvision (conv1.weight, layer1.0.bn2.running_var, fc.bias, ...) so that
// bench/workloads/reference.py can load the same weights.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace gpumix::wl {

// A bias-free 2-D convolution whose batch norm can be folded into it for
// inference (the folded bias is registered then).
class ConvImpl : public torch::nn::Module {
 public:
  ConvImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding);
  torch::Tensor forward(const torch::Tensor& x);
  // Inference after fold(): relu(conv(x) + bias + z), `z` (a residual) when
  // defined. `fused`: one cuDNN call (CUDA tensors with cuDNN only), the
  // bias, the residual add and the ReLU running in the convolution's epilogue
  // instead of three more passes over the output; else the same composite.
  torch::Tensor forward_relu(const torch::Tensor& x, const torch::Tensor& z, bool fused);
  // Folds an eval-mode batch norm that follows this convolution. With
  // `bias_into`, the folded bias is added to that (folded) convolution's bias
  // instead and this one stays bias-free: for two convolutions whose outputs
  // are summed (a residual block's downsample), one bias add less.
  void fold(const torch::nn::BatchNorm2d& bn, ConvImpl* bias_into = nullptr);

  torch::Tensor weight;
  torch::Tensor bias;  // undefined until fold()

 private:
  int64_t stride_, padding_;
};
TORCH_MODULE(Conv);

class BasicBlockImpl : public torch::nn::Module {
 public:
  static constexpr int64_t expansion = 1;
  BasicBlockImpl(int64_t in, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);
  void fold(bool fused);

 private:
  Conv conv1{nullptr}, conv2{nullptr}, ds_conv{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, ds_bn{nullptr};
  bool folded_ = false, fused_ = false;
};
TORCH_MODULE(BasicBlock);

class BottleneckImpl : public torch::nn::Module {
 public:
  static constexpr int64_t expansion = 4;
  BottleneckImpl(int64_t in, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);
  void fold(bool fused);

 private:
  Conv conv1{nullptr}, conv2{nullptr}, conv3{nullptr}, ds_conv{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr}, ds_bn{nullptr};
  bool folded_ = false, fused_ = false;
};
TORCH_MODULE(Bottleneck);

class ResNetImpl : public torch::nn::Module {
 public:
  // arch: resnet18 | resnet50
  ResNetImpl(const std::string& arch, int64_t num_classes);
  torch::Tensor forward(torch::Tensor x);

  // Inference only: folds every batch norm into its convolution (the model
  // must be in eval mode; the batch norms are no longer run afterwards).
  // `fused_conv`: each convolution followed by a ReLU then runs as one cuDNN
  // call with its bias (and the residual add) in the epilogue
  // (ConvImpl::forward_relu); CUDA with cuDNN only (fused_conv_available).
  void fold_batchnorm(bool fused_conv = false);
  bool folded() const { return folded_; }

  // Converts every 4-D parameter to channels_last (call after .to(device)).
  void to_channels_last();

  // Inference with random weights: sets every batch norm's running
  // statistics from one batch `x` (one train-mode pass with momentum 1) so
  // that the network computes something non-degenerate, then switches to
  // eval mode.
  void calibrate_batchnorm(const torch::Tensor& x);

 private:
  Conv conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Linear fc{nullptr};
  std::vector<BasicBlock> basic_;
  std::vector<Bottleneck> bottleneck_;
  bool folded_ = false, fused_ = false;
};
TORCH_MODULE(ResNet);

// Whether ConvImpl::forward_relu's fused cuDNN call can run on `device`.
bool fused_conv_available(const torch::Device& device);

// The architectures ResNet accepts.
const std::vector<std::string>& resnet_archs();

}  // namespace gpumix::wl
