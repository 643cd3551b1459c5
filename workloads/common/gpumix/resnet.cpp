#include "gpumix/resnet.hpp"

#include <cmath>
#include <stdexcept>

namespace gpumix::wl {

namespace nn = torch::nn;

const std::vector<std::string>& resnet_archs() {
  static const std::vector<std::string> archs{"resnet18", "resnet50"};
  return archs;
}

// ------------------------------------------------------------------- Conv

ConvImpl::ConvImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding)
    : stride_(stride), padding_(padding) {
  weight = register_parameter("weight", torch::empty({out, in, kernel, kernel}));
  // torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu")
  nn::init::kaiming_normal_(weight, 0.0, torch::kFanOut, torch::kReLU);
}

torch::Tensor ConvImpl::forward(const torch::Tensor& x) {
  return at::conv2d(x, weight, bias, {stride_, stride_}, {padding_, padding_});
}

torch::Tensor ConvImpl::forward_relu(const torch::Tensor& x, const torch::Tensor& z, bool fused) {
  if (fused) {
    TORCH_CHECK(bias.defined(), "the fused convolution needs the folded bias (fold() first)");
    const std::vector<int64_t> stride{stride_, stride_}, padding{padding_, padding_}, dilation{1, 1};
    if (z.defined()) return at::cudnn_convolution_add_relu(x, weight, z, 1.0, bias, stride, padding, dilation, 1);
    return at::cudnn_convolution_relu(x, weight, bias, stride, padding, dilation, 1);
  }
  auto y = forward(x);
  if (z.defined()) y.add_(z);
  return y.relu_();
}

void ConvImpl::fold(const nn::BatchNorm2d& bn, ConvImpl* bias_into) {
  torch::NoGradGuard no_grad;
  const double eps = bn->options.eps();
  auto scale = bn->weight / torch::sqrt(bn->running_var + eps);
  auto folded_bias = bn->bias - bn->running_mean * scale;
  if (bias.defined()) folded_bias = folded_bias + bias * scale;
  weight.mul_(scale.reshape({-1, 1, 1, 1}).to(weight.dtype()));
  if (bias_into) {
    TORCH_CHECK(bias_into->bias.defined() && !bias.defined(), "fold(bn, bias_into): fold the other convolution first");
    bias_into->bias.add_(folded_bias.to(bias_into->bias.dtype()));
  } else if (bias.defined()) {
    bias.copy_(folded_bias);
  } else {
    bias = register_parameter("bias", folded_bias.to(weight.dtype()), /*requires_grad=*/false);
  }
}

bool fused_conv_available(const torch::Device& device) {
  return device.is_cuda() && at::globalContext().hasCuDNN() && at::globalContext().userEnabledCuDNN();
}

namespace {

nn::BatchNorm2d make_bn(int64_t channels) {
  nn::BatchNorm2d bn{nn::BatchNorm2dOptions(channels)};
  nn::init::ones_(bn->weight);
  nn::init::zeros_(bn->bias);
  return bn;
}

// Batch norm without BatchNorm2dImpl::forward's extra work: with a fixed
// momentum, num_batches_tracked is never read, so it is not incremented (one
// kernel less per batch norm and step); otherwise the same torch::batch_norm
// call as torch.nn.functional.batch_norm.
torch::Tensor bn_forward(const nn::BatchNorm2d& bn, const torch::Tensor& x) {
  return torch::batch_norm(x, bn->weight, bn->bias, bn->running_mean, bn->running_var, bn->is_training(),
                           bn->options.momentum().value_or(0.1), bn->options.eps(),
                           at::globalContext().userEnabledCuDNN());
}

}  // namespace

// ------------------------------------------------------------- BasicBlock

BasicBlockImpl::BasicBlockImpl(int64_t in, int64_t planes, int64_t stride) {
  conv1 = register_module("conv1", Conv(in, planes, 3, stride, 1));
  bn1 = register_module("bn1", make_bn(planes));
  conv2 = register_module("conv2", Conv(planes, planes, 3, 1, 1));
  bn2 = register_module("bn2", make_bn(planes));
  if (stride != 1 || in != planes * expansion) {
    ds_conv = Conv(in, planes * expansion, 1, stride, 0);
    ds_bn = make_bn(planes * expansion);
    register_module("downsample", nn::Sequential(ds_conv, ds_bn));
  }
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  if (folded_) {
    // The downsample's bias is in conv2's (fold).
    const auto identity = ds_conv ? ds_conv(x) : x;
    return conv2->forward_relu(conv1->forward_relu(x, {}, fused_), identity, fused_);
  }
  auto out = bn_forward(bn1, conv1(x)).relu_();
  out = bn_forward(bn2, conv2(out));
  const auto identity = ds_conv ? bn_forward(ds_bn, ds_conv(x)) : x;
  return out.add_(identity).relu_();
}

void BasicBlockImpl::fold(bool fused) {
  conv1->fold(bn1);
  conv2->fold(bn2);
  if (ds_conv) ds_conv->fold(ds_bn, conv2.get());
  folded_ = true;
  fused_ = fused;
}

// ------------------------------------------------------------- Bottleneck

BottleneckImpl::BottleneckImpl(int64_t in, int64_t planes, int64_t stride) {
  conv1 = register_module("conv1", Conv(in, planes, 1, 1, 0));
  bn1 = register_module("bn1", make_bn(planes));
  conv2 = register_module("conv2", Conv(planes, planes, 3, stride, 1));
  bn2 = register_module("bn2", make_bn(planes));
  conv3 = register_module("conv3", Conv(planes, planes * expansion, 1, 1, 0));
  bn3 = register_module("bn3", make_bn(planes * expansion));
  if (stride != 1 || in != planes * expansion) {
    ds_conv = Conv(in, planes * expansion, 1, stride, 0);
    ds_bn = make_bn(planes * expansion);
    register_module("downsample", nn::Sequential(ds_conv, ds_bn));
  }
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  if (folded_) {
    // The downsample's bias is in conv3's (fold).
    const auto identity = ds_conv ? ds_conv(x) : x;
    auto out = conv1->forward_relu(x, {}, fused_);
    out = conv2->forward_relu(out, {}, fused_);
    return conv3->forward_relu(out, identity, fused_);
  }
  auto out = bn_forward(bn1, conv1(x)).relu_();
  out = bn_forward(bn2, conv2(out)).relu_();
  out = bn_forward(bn3, conv3(out));
  const auto identity = ds_conv ? bn_forward(ds_bn, ds_conv(x)) : x;
  return out.add_(identity).relu_();
}

void BottleneckImpl::fold(bool fused) {
  conv1->fold(bn1);
  conv2->fold(bn2);
  conv3->fold(bn3);
  if (ds_conv) ds_conv->fold(ds_bn, conv3.get());
  folded_ = true;
  fused_ = fused;
}

// ----------------------------------------------------------------- ResNet

namespace {

template <class Block>
nn::Sequential make_layer(int64_t& in, int64_t planes, int64_t blocks, int64_t stride, std::vector<Block>& all) {
  nn::Sequential layer;
  for (int64_t i = 0; i < blocks; ++i) {
    Block b(in, planes, i == 0 ? stride : 1);
    in = planes * Block::Impl::expansion;
    layer->push_back(b);
    all.push_back(b);
  }
  return layer;
}

}  // namespace

ResNetImpl::ResNetImpl(const std::string& arch, int64_t num_classes) {
  std::vector<int64_t> blocks;
  bool bottleneck = false;
  if (arch == "resnet18") {
    blocks = {2, 2, 2, 2};
  } else if (arch == "resnet50") {
    blocks = {3, 4, 6, 3};
    bottleneck = true;
  } else {
    throw std::invalid_argument("unknown ResNet architecture '" + arch + "'");
  }
  conv1 = register_module("conv1", Conv(3, 64, 7, 2, 3));
  bn1 = register_module("bn1", make_bn(64));
  int64_t in = 64;
  const int64_t planes[4] = {64, 128, 256, 512};
  nn::Sequential layers[4];
  for (int i = 0; i < 4; ++i) {
    const int64_t stride = i == 0 ? 1 : 2;
    layers[i] = bottleneck ? make_layer(in, planes[i], blocks[static_cast<size_t>(i)], stride, bottleneck_)
                           : make_layer(in, planes[i], blocks[static_cast<size_t>(i)], stride, basic_);
  }
  layer1 = register_module("layer1", layers[0]);
  layer2 = register_module("layer2", layers[1]);
  layer3 = register_module("layer3", layers[2]);
  layer4 = register_module("layer4", layers[3]);
  fc = register_module("fc", nn::Linear(in, num_classes));
}

torch::Tensor ResNetImpl::forward(torch::Tensor x) {
  x = folded_ ? conv1->forward_relu(x, {}, fused_) : bn_forward(bn1, conv1(x)).relu_();
  x = torch::max_pool2d(x, {3, 3}, {2, 2}, {1, 1});
  for (auto& b : basic_) x = b(x);
  for (auto& b : bottleneck_) x = b(x);
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  return fc(x);
}

void ResNetImpl::fold_batchnorm(bool fused_conv) {
  if (folded_) return;
  if (is_training()) throw std::logic_error("fold_batchnorm() needs eval mode");
  conv1->fold(bn1);
  for (auto& b : basic_) b->fold(fused_conv);
  for (auto& b : bottleneck_) b->fold(fused_conv);
  folded_ = true;
  fused_ = fused_conv;
}

void ResNetImpl::to_channels_last() {
  torch::NoGradGuard no_grad;
  for (auto& p : parameters()) {
    if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
  }
}

void ResNetImpl::calibrate_batchnorm(const torch::Tensor& x) {
  auto set_momentum = [&](double momentum) {
    for (auto& m : modules(/*include_self=*/false)) {
      if (auto* bn = m->as<nn::BatchNorm2d>()) bn->options.momentum(momentum);
    }
  };
  torch::NoGradGuard no_grad;
  train();
  set_momentum(1.0);
  forward(x);
  set_momentum(0.1);
  eval();
}

}  // namespace gpumix::wl
