// Decode attention computed exactly: double precision, plain operators, no fused or
// library attention kernel. The llm-server's start check measures both its
// fused kernel and torch's bf16 operators against it, so that a difference
// between the two says which one is off (Model::fused_kernels_difference).
#pragma once

#include <torch/torch.h>

namespace gpumix::llm {

// q [batch, heads, head_dim]; k_cache and v_cache [kv_heads, rows, head_dim];
// key_slots [batch, keys]: the cache rows of each sequence's keys in order;
// positions [batch]: sequence b sees its keys 0 .. positions[b]. Query head h
// reads kv head h / (heads / kv_heads). Returns [batch, heads * head_dim] in fp32.
torch::Tensor exact_decode_attention(const torch::Tensor& q, const torch::Tensor& k_cache,
                                     const torch::Tensor& v_cache, const torch::Tensor& key_slots,
                                     const torch::Tensor& positions);

}  // namespace gpumix::llm
