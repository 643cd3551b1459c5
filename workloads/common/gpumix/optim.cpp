#include "gpumix/optim.hpp"

#include "gpumix/torch_compat.hpp"

#include <cmath>

namespace gpumix::wl {

namespace {

std::vector<torch::Tensor> grads_of(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> g;
  g.reserve(params.size());
  for (const auto& p : params) g.push_back(p.grad());
  return g;
}

void set_grads_to_none(std::vector<torch::Tensor>& params) {
  for (auto& p : params) p.mutable_grad().reset();
}

}  // namespace

SGD::SGD(std::vector<torch::Tensor> params, double lr, double momentum, double weight_decay)
    : params_(std::move(params)), lr_(lr), momentum_(momentum), weight_decay_(weight_decay) {}

void SGD::zero_grad() { set_grads_to_none(params_); }

void SGD::step() {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> params, grads;
  for (const auto& p : params_) {
    if (!p.grad().defined()) continue;
    params.push_back(p);
    grads.push_back(p.grad());
  }
  if (params.empty()) return;
  if (weight_decay_ != 0) at::_foreach_add_(grads, params, weight_decay_);
  if (momentum_ != 0) {
    if (bufs_.empty()) {
      for (const auto& g : grads) bufs_.push_back(g.clone());
    } else {
      at::_foreach_mul_(bufs_, momentum_);
      at::_foreach_add_(bufs_, grads);
    }
    at::_foreach_add_(params, bufs_, -lr_);
  } else {
    at::_foreach_add_(params, grads, -lr_);
  }
}

AdamW::AdamW(std::vector<torch::Tensor> params, double lr, double beta1, double beta2, double eps,
             double weight_decay, bool allow_fused)
    : params_(std::move(params)), lr_(lr), beta1_(beta1), beta2_(beta2), eps_(eps), weight_decay_(weight_decay) {
  TORCH_CHECK(!params_.empty(), "AdamW: no parameters");
  bool all_cuda_fp32 = true;
  for (const auto& p : params_) {
    all_cuda_fp32 = all_cuda_fp32 && p.is_cuda() && p.scalar_type() == torch::kFloat;
    exp_avg_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    exp_avg_sq_.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    steps_.push_back(torch::zeros({}, p.options().dtype(torch::kFloat)));
  }
  fused_ = allow_fused && all_cuda_fp32 && compat::has_fused_adamw();
}

void AdamW::zero_grad() { set_grads_to_none(params_); }

int64_t AdamW::step_count() const { return std::llround(steps_.front().item<double>()); }

void AdamW::step() {
  torch::NoGradGuard no_grad;
  for (const auto& p : params_) {
    TORCH_CHECK(p.grad().defined(), "AdamW: a parameter has no gradient");
  }
  auto grads = grads_of(params_);
  at::_foreach_add_(steps_, 1.0);
  if (fused_) {
    compat::fused_adamw(params_, grads, exp_avg_, exp_avg_sq_, steps_, lr_, beta1_, beta2_, weight_decay_, eps_);
    return;
  }
  // torch.optim.AdamW's capturable formulation: the bias corrections
  // 1 - beta^t are device scalars computed from the step tensor, and
  //   p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)
  // is applied as p += m / ((sqrt(v) / sqrt(bc2) + eps) * (-bc1 / lr)).
  const auto& t = steps_.front();
  const auto bc1 = at::rsub(torch::pow(beta1_, t), 1.0);
  const auto inv_sqrt_bc2 = torch::rsqrt(at::rsub(torch::pow(beta2_, t), 1.0));
  const auto neg_bc1_over_lr = bc1 / -lr_;
  if (weight_decay_ != 0) at::_foreach_mul_(params_, 1.0 - lr_ * weight_decay_);
  at::_foreach_mul_(exp_avg_, beta1_);
  at::_foreach_add_(exp_avg_, grads, 1.0 - beta1_);
  at::_foreach_mul_(exp_avg_sq_, beta2_);
  at::_foreach_addcmul_(exp_avg_sq_, grads, grads, 1.0 - beta2_);
  auto denom = at::_foreach_sqrt(exp_avg_sq_);
  // Tensor-valued scalars: one kernel per tensor (LibTorch 1.13 has no
  // _foreach_ op taking a tensor scalar); this path runs where the fused
  // kernel does not (CPU, --fused-adamw false).
  for (auto& d : denom) d.mul_(inv_sqrt_bc2);
  at::_foreach_add_(denom, eps_);
  for (auto& d : denom) d.mul_(neg_bc1_over_lr);
  at::_foreach_addcdiv_(params_, exp_avg_, denom);
}

}  // namespace gpumix::wl
