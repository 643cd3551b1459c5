// The llm-server's fused kernels (CUDA builds only, --kernels fused), bf16:
// - decode attention over the paged KV cache: one query token per sequence,
//   the G query heads of a kv head read each of its keys and values once,
//   straight from the cache rows the sequence's block table names (no
//   gathered copy), softmax online;
// - the rotary embedding of queries and keys with the keys' and values'
//   write into the cache: one kernel where torch takes six;
// - SwiGLU's activation, silu(gate) * up: one kernel where torch takes two.
// A decode step is hundreds of small kernels; each one fewer is a launch and
// a round trip through memory fewer. Torch-free, so that it compiles apart
// from LibTorch's flags.
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
  // Split-K: each (kv head, sequence) as `splits` blocks over slices of its
  // keys, whose partial results go to `partials` (decode_attention_partials
  // floats) and are merged by a second kernel. One sequence is otherwise
  // kv_heads blocks on a GPU of a hundred multiprocessors or more.
  int64_t splits = 1;
  float* partials = nullptr;
};

// Shapes the kernel handles: head_dim 32, 64 or 128 and at most 8 query heads per kv head.
bool decode_attention_supported(int64_t head_dim, int64_t group);
// Splits for `batch` sequences of at most `max_keys` keys: enough blocks to
// fill the current GPU twice, at least 64 keys a split.
int64_t decode_attention_splits(int64_t batch, int64_t kv_heads, int64_t max_keys);
// Floats `partials` holds for `args` (0 when splits is 1).
int64_t decode_attention_partials(const DecodeAttentionArgs& args);
// Launches on `cuda_stream` (a cudaStream_t); std::runtime_error on a launch error.
void launch_decode_attention(const DecodeAttentionArgs& args, void* cuda_stream);

struct RotaryCacheArgs {
  const void* qkv = nullptr;  // bf16, row t: [heads + 2 * kv_heads, head_dim] (q, k, v) at qkv + t * qkv_row_stride
  int64_t qkv_row_stride = 0;
  const void* cos = nullptr;         // bf16 [positions, head_dim]
  const void* sin_signed = nullptr;  // bf16 [positions, head_dim]: sin, its first half negated
  const int64_t* positions = nullptr;    // [tokens]
  const int64_t* write_slots = nullptr;  // [tokens]: the cache row of each token's key and value
  void* q_out = nullptr;                 // bf16 [tokens, heads, head_dim]: the rotated queries
  void* k_cache = nullptr;               // bf16 [kv_heads, rows, head_dim], one layer's
  void* v_cache = nullptr;
  int64_t cache_head_stride = 0;
  int64_t tokens = 0, heads = 0, kv_heads = 0, head_dim = 0;
};

// q_out = rotate(q); k_cache[slot] = rotate(k); v_cache[slot] = v, where
// rotate(x) = x * cos + roll(x, head_dim / 2) * sin_signed at the token's position.
void launch_rotary_cache_write(const RotaryCacheArgs& args, void* cuda_stream);

// out[t, f] = silu(gate_up[t, f]) * gate_up[t, width + f]; both contiguous, bf16.
void launch_silu_mul(const void* gate_up, void* out, int64_t tokens, int64_t width, void* cuda_stream);

}  // namespace gpumix::llm
