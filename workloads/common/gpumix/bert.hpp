// A BERT-base-shaped encoder with a masked-language-model head: token,
// position and segment embeddings + LayerNorm, N post-LN transformer layers
// (fused QKV projection, multi-head attention through
// compat::scaled_dot_product_attention, GELU feed-forward), and an MLM head
// (dense + GELU + LayerNorm + decoder tied to the token embeddings). The head
// runs only on the masked positions, which gives the same loss as scoring
// every position and ignoring the unmasked ones.
#pragma once

#include <torch/torch.h>

namespace gpumix::wl {

struct BertConfig {
  int64_t vocab = 30522;
  int64_t hidden = 768;
  int64_t layers = 12;
  int64_t heads = 12;
  int64_t intermediate = 3072;
  int64_t max_positions = 512;
  double dropout = 0.1;
};

class BertLayerImpl : public torch::nn::Module {
 public:
  BertLayerImpl(const BertConfig& cfg);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t heads_;
  double dropout_;
  torch::nn::Linear qkv{nullptr}, attn_out{nullptr}, ffn_in{nullptr}, ffn_out{nullptr};
  torch::nn::LayerNorm ln_attn{nullptr}, ln_ffn{nullptr};
};
TORCH_MODULE(BertLayer);

class BertMLMImpl : public torch::nn::Module {
 public:
  explicit BertMLMImpl(const BertConfig& cfg);
  // tokens [B, S] (int64); masked [M] flat indices (b * S + s) of the
  // positions to predict. Returns logits [M, vocab].
  torch::Tensor forward(const torch::Tensor& tokens, const torch::Tensor& masked);

 private:
  BertConfig cfg_;
  torch::nn::Embedding word{nullptr}, position{nullptr}, segment{nullptr};
  torch::nn::LayerNorm emb_ln{nullptr};
  std::vector<BertLayer> layers_;
  torch::nn::Linear head_dense{nullptr};
  torch::nn::LayerNorm head_ln{nullptr};
  torch::Tensor decoder_bias;
};
TORCH_MODULE(BertMLM);

}  // namespace gpumix::wl
