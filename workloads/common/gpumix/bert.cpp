#include "gpumix/bert.hpp"

#include "gpumix/torch_compat.hpp"

namespace gpumix::wl {

namespace nn = torch::nn;

namespace {

// BERT's initializer: normal(0, 0.02) weights, zero biases, LayerNorm 1/0.
void init_linear(nn::Linear& l) {
  torch::NoGradGuard no_grad;
  l->weight.normal_(0.0, 0.02);
  if (l->bias.defined()) l->bias.zero_();
}

nn::LayerNorm make_ln(int64_t hidden) {
  return nn::LayerNorm(nn::LayerNormOptions({hidden}).eps(1e-12));
}

}  // namespace

BertLayerImpl::BertLayerImpl(const BertConfig& cfg) : heads_(cfg.heads), dropout_(cfg.dropout) {
  qkv = register_module("qkv", nn::Linear(cfg.hidden, 3 * cfg.hidden));
  attn_out = register_module("attn_out", nn::Linear(cfg.hidden, cfg.hidden));
  ln_attn = register_module("ln_attn", make_ln(cfg.hidden));
  ffn_in = register_module("ffn_in", nn::Linear(cfg.hidden, cfg.intermediate));
  ffn_out = register_module("ffn_out", nn::Linear(cfg.intermediate, cfg.hidden));
  ln_ffn = register_module("ln_ffn", make_ln(cfg.hidden));
  for (auto* l : {&qkv, &attn_out, &ffn_in, &ffn_out}) init_linear(*l);
}

torch::Tensor BertLayerImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), s = x.size(1), h = x.size(2), d = h / heads_;
  const double p = is_training() ? dropout_ : 0.0;
  // [B, S, 3H] -> 3 x [B, heads, S, d]
  auto qkv_t = qkv(x).view({b, s, 3, heads_, d}).permute({2, 0, 3, 1, 4});
  auto q = qkv_t.select(0, 0), k = qkv_t.select(0, 1), v = qkv_t.select(0, 2);
  auto ctx = compat::scaled_dot_product_attention(q, k, v, p);
  ctx = ctx.transpose(1, 2).reshape({b, s, h});
  auto y = compat::layer_norm(ln_attn, x + torch::dropout(attn_out(ctx), p, is_training()));
  auto f = ffn_out(torch::gelu(ffn_in(y)));
  return compat::layer_norm(ln_ffn, y + torch::dropout(f, p, is_training()));
}

BertMLMImpl::BertMLMImpl(const BertConfig& cfg) : cfg_(cfg) {
  word = register_module("word", nn::Embedding(cfg.vocab, cfg.hidden));
  position = register_module("position", nn::Embedding(cfg.max_positions, cfg.hidden));
  segment = register_module("segment", nn::Embedding(2, cfg.hidden));
  emb_ln = register_module("emb_ln", make_ln(cfg.hidden));
  {
    torch::NoGradGuard no_grad;
    for (auto* e : {&word, &position, &segment}) (*e)->weight.normal_(0.0, 0.02);
  }
  for (int64_t i = 0; i < cfg.layers; ++i) {
    layers_.push_back(register_module("layer" + std::to_string(i), BertLayer(cfg)));
  }
  head_dense = register_module("head_dense", nn::Linear(cfg.hidden, cfg.hidden));
  init_linear(head_dense);
  head_ln = register_module("head_ln", make_ln(cfg.hidden));
  decoder_bias = register_parameter("decoder_bias", torch::zeros({cfg.vocab}));
}

torch::Tensor BertMLMImpl::forward(const torch::Tensor& tokens, const torch::Tensor& masked) {
  const int64_t b = tokens.size(0), s = tokens.size(1);
  auto pos = torch::arange(s, tokens.options());
  // All tokens belong to segment 0: add its embedding row.
  auto x = word(tokens) + position(pos).unsqueeze(0) + segment->weight[0];
  x = torch::dropout(compat::layer_norm(emb_ln, x), cfg_.dropout, is_training());
  for (auto& layer : layers_) x = layer(x);
  auto h = x.reshape({b * s, cfg_.hidden}).index_select(0, masked);
  h = compat::layer_norm(head_ln, torch::gelu(head_dense(h)));
  // Decoder tied to the token embeddings.
  return torch::addmm(decoder_bias, h, word->weight.t());
}

}  // namespace gpumix::wl
