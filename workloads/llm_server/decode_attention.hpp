// A fused decode-attention kernel over the paged KV cache (CUDA builds only,
// --decode-attention kernel): one query token per sequence, the G query heads
// of a kv head read each of its keys and values once, straight from the cache
// rows the sequence's block table names (no gathered copy), softmax online.
// Torch-free, so that it compiles apart from LibTorch's flags.
#pragma once

#include <cstdint>

namespace gpumix::llm {

struct DecodeAttentionArgs {
  const void* q = nullptr;  // bf16, row b: [heads, head_dim] at q + b * q_row_stride elements
  int64_t q_row_stride = 0;
  const void* k_cache = nullptr;  // bf16 [kv_heads, rows, head_dim], one layer's
  const void* v_cache = nullptr;
  int64_t cache_head_stride = 0;  // elements between kv heads
  const int64_t* key_slots = nullptr;  // [batch, >= position + 1]: the cache row of each key
  int64_t slots_row_stride = 0;
  const int64_t* positions = nullptr;  // [batch]: keys 0..position are visible
  void* out = nullptr;                 // bf16, row b: [heads, head_dim] at out + b * out_row_stride elements
  int64_t out_row_stride = 0;
  int64_t batch = 0, kv_heads = 0, group = 0, head_dim = 0;
  float scale = 1.0f;
};

// Shapes the kernel handles: head_dim 32, 64 or 128 and at most 8 query heads per kv head.
bool decode_attention_supported(int64_t head_dim, int64_t group);
// Launches on `cuda_stream` (a cudaStream_t); std::runtime_error on a launch error.
void launch_decode_attention(const DecodeAttentionArgs& args, void* cuda_stream);

}  // namespace gpumix::llm
