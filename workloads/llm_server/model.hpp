// The decoder-only transformer in the style of current open models: RMSNorm,
// rotary embeddings (rotate-half), grouped-query attention, SwiGLU MLP, tied or
// untied embeddings. One forward pass runs one engine iteration: the tokens of
// every sequence in the step packed in rows, their keys and values written to
// the paged cache, and attention per group of rows over cache rows gathered
// from the sequences' block tables.
#pragma once

#include "config.hpp"

#include "gpumix/torch_compat.hpp"

#include <map>
#include <string>
#include <vector>

namespace gpumix::llm {

// Rows [row_begin, row_begin + batch * queries) of a step, sequence-major:
// `batch` sequences with `queries` new tokens each, attending to the cache
// rows `key_slots` [batch, C]: a row sees keys 0..its position (the forward
// pass builds that mask on the device, inside a CUDA graph where there is one).
struct AttentionGroup {
  int64_t row_begin = 0, batch = 0, queries = 0;
  torch::Tensor key_slots;
};

// One engine iteration's inputs, on the device. Every index is a view of
// `packed` (int64), copied from the host in one transfer.
struct StepTensors {
  torch::Tensor packed;
  torch::Tensor tokens, positions, write_slots;  // [rows] int64: token, its position, the cache row it fills
  std::vector<AttentionGroup> groups;            // cover the rows in order
  torch::Tensor logit_rows;                      // rows whose logits are wanted; undefined: every row
};

class Model {
 public:
  // `weights` by name as weight_layout(config) lists them (any dtype, on the
  // CPU); a KV cache of `cache_rows` token slots is allocated on `device`.
  Model(const ModelConfig& config, const std::map<std::string, torch::Tensor>& weights, torch::Device device,
        torch::ScalarType dtype, int64_t cache_rows);

  // Random weights from `seed` (fp32, CPU), the same on every machine.
  static std::map<std::string, torch::Tensor> seeded_weights(const ModelConfig& config, uint64_t seed);
  // Bytes of keys and values one cached token takes.
  static int64_t cache_bytes_per_token(const ModelConfig& config, torch::ScalarType dtype);

  // Logits (fp32) of the rows asked for, [rows, vocab].
  torch::Tensor forward(const StepTensors& step);

  // The fused kernels (fused_kernels.hpp) instead of torch's operators for
  // decode attention, the rotary embedding with the cache write, and SwiGLU's
  // activation. Why they cannot be used, or empty: a CUDA build with them,
  // bf16 on a GPU, a head size and grouping the attention kernel handles.
  std::string fused_kernels_unusable() const;
  void use_fused_kernels(bool on) { fused_ = on; }
  bool fused_kernels() const { return fused_; }
  // The largest difference between each fused kernel's output and a
  // reference's on random inputs, |fused - ref| / (1 + |ref|) (a check before
  // serving with them; the cache is left as it was).
  struct FusedDifferences {
    // Decode attention against the exact (double-precision) result, and torch's bf16
    // operators against it too; the others against torch's operators.
    double decode_attention = 0, decode_attention_torch = 0, rotary_cache_write = 0, silu_mul = 0;
    int64_t attention_batch = 0, attention_splits = 0;  // where decode attention's difference was largest
    double largest() const;
  };
  FusedDifferences fused_kernels_difference();

  const ModelConfig& config() const { return config_; }
  torch::Device device() const { return device_; }
  torch::ScalarType dtype() const { return dtype_; }

 private:
  struct Layer {
    torch::Tensor attn_norm, wqkv, wo, mlp_norm, w_gate_up, w_down;
  };
  torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& w) const;
  torch::Tensor rotate(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin_signed) const;
  torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k_cache, const torch::Tensor& v_cache,
                          const torch::Tensor& positions, const std::vector<AttentionGroup>& groups,
                          const std::vector<torch::Tensor>& masks) const;
  // [batch, 1, queries, C]: 0 where a row's key is visible, -inf elsewhere.
  torch::Tensor visibility_mask(const torch::Tensor& positions, const AttentionGroup& g) const;
  // One decode group (one query per sequence) either way; [batch, heads * head_dim].
  torch::Tensor decode_gathered(const torch::Tensor& q, const torch::Tensor& k_cache, const torch::Tensor& v_cache,
                                const torch::Tensor& mask, const AttentionGroup& g) const;
  torch::Tensor decode_fused(const torch::Tensor& q, const torch::Tensor& k_cache, const torch::Tensor& v_cache,
                             const torch::Tensor& positions, const AttentionGroup& g) const;
  // Rotated queries [T, heads, head_dim]; rotated keys and the values written
  // to the cache rows `write_slots` names. Torch's operators or the fused kernel.
  torch::Tensor rotate_and_cache(const torch::Tensor& qkv, const torch::Tensor& cos, const torch::Tensor& sin,
                                 const torch::Tensor& positions, const torch::Tensor& write_slots,
                                 const torch::Tensor& k_cache, const torch::Tensor& v_cache, bool fused) const;
  // silu(gate) * up of [T, 2 * ffn] (gate, up): [T, ffn].
  torch::Tensor swiglu(const torch::Tensor& gate_up, bool fused) const;

  ModelConfig config_;
  torch::Device device_;
  torch::ScalarType dtype_;
  torch::Tensor embed_, norm_, head_, cos_, sin_signed_;
  std::vector<Layer> layers_;
  torch::Tensor cache_;  // [layers, 2 (keys, values), kv_heads, cache_rows, head_dim]
  bool fused_ = false;
};

}  // namespace gpumix::llm
