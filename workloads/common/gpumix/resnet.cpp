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

void ConvImpl::fold(const nn::BatchNorm2d& bn) {
  torch::NoGradGuard no_grad;
  const double eps = bn->options.eps();
  auto scale = bn->weight / torch::sqrt(bn->running_var + eps);
  auto folded_bias = bn->bias - bn->running_mean * scale;
  if (bias.defined()) folded_bias = folded_bias + bias * scale;
  weight.mul_(scale.reshape({-1, 1, 1, 1}).to(weight.dtype()));
  if (bias.defined()) {
    bias.copy_(folded_bias);
  } else {
    bias = register_parameter("bias", folded_bias.to(weight.dtype()), /*requires_grad=*/false);
  }
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
  torch::Tensor out;
  torch::Tensor identity = x;
  if (folded_) {
    out = conv1(x).relu_();
    out = conv2(out);
    if (ds_conv) identity = ds_conv(x);
  } else {
    out = bn_forward(bn1, conv1(x)).relu_();
    out = bn_forward(bn2, conv2(out));
    if (ds_conv) identity = bn_forward(ds_bn, ds_conv(x));
  }
  return out.add_(identity).relu_();
}

void BasicBlockImpl::fold() {
  conv1->fold(bn1);
  conv2->fold(bn2);
  if (ds_conv) ds_conv->fold(ds_bn);
  folded_ = true;
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
  torch::Tensor out;
  torch::Tensor identity = x;
  if (folded_) {
    out = conv1(x).relu_();
    out = conv2(out).relu_();
    out = conv3(out);
    if (ds_conv) identity = ds_conv(x);
  } else {
    out = bn_forward(bn1, conv1(x)).relu_();
    out = bn_forward(bn2, conv2(out)).relu_();
    out = bn_forward(bn3, conv3(out));
    if (ds_conv) identity = bn_forward(ds_bn, ds_conv(x));
  }
  return out.add_(identity).relu_();
}

void BottleneckImpl::fold() {
  conv1->fold(bn1);
  conv2->fold(bn2);
  conv3->fold(bn3);
  if (ds_conv) ds_conv->fold(ds_bn);
  folded_ = true;
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
  x = conv1(x);
  if (!folded_) x = bn_forward(bn1, x);
  x = torch::max_pool2d(x.relu_(), {3, 3}, {2, 2}, {1, 1});
  for (auto& b : basic_) x = b(x);
  for (auto& b : bottleneck_) x = b(x);
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  return fc(x);
}

void ResNetImpl::fold_batchnorm() {
  if (folded_) return;
  if (is_training()) throw std::logic_error("fold_batchnorm() needs eval mode");
  conv1->fold(bn1);
  for (auto& b : basic_) b->fold();
  for (auto& b : bottleneck_) b->fold();
  folded_ = true;
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
