#include "fused_kernels.hpp"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <stdexcept>
#include <string>

namespace gpumix::llm {
namespace {

constexpr int kMaxGroup = 8;
constexpr int kWarps = 8;
constexpr int kUnroll = 4;

__device__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// Grid (kv_heads, batch, splits), kWarps warps; split s takes the s-th of
// `splits` equal slices of the sequence's keys. Warp w takes that slice's
// keys in runs of kUnroll, w * kUnroll, then kWarps * kUnroll further on, ...;
// lane l holds elements [l * E, l * E + E) of the head. Each warp keeps an
// online softmax per query head; the warps' partial results are merged last.
template <int E>
__global__ void __launch_bounds__(kWarps * 32) decode_attention_kernel(DecodeAttentionArgs a) {
  constexpr int kHeadDim = E * 32;
  const int kh = blockIdx.x, b = blockIdx.y;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = static_cast<int>(a.group);
  const int64_t keys = a.positions[b] + 1, slice = (keys + a.splits - 1) / a.splits;
  const int64_t begin = blockIdx.z * slice, end = keys < begin + slice ? keys : begin + slice;

  const auto* q = static_cast<const __nv_bfloat16*>(a.q) + b * a.q_row_stride + kh * group * kHeadDim + lane * E;
  const auto* k_head = static_cast<const __nv_bfloat16*>(a.k_cache) + kh * a.cache_head_stride + lane * E;
  const auto* v_head = static_cast<const __nv_bfloat16*>(a.v_cache) + kh * a.cache_head_stride + lane * E;
  const int64_t* slots = a.key_slots + b * a.slots_row_stride;

  float qv[kMaxGroup][E], acc[kMaxGroup][E], m[kMaxGroup], l[kMaxGroup];
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g) {
    m[g] = -INFINITY;
    l[g] = 0.f;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      qv[g][e] = g < group ? __bfloat162float(q[g * kHeadDim + e]) * a.scale : 0.f;
      acc[g][e] = 0.f;
    }
  }
  // kUnroll keys at a time: their loads are all in flight before the math.
  for (int64_t c0 = begin + warp * kUnroll; c0 < end; c0 += kWarps * kUnroll) {
    float kv[kUnroll][E], vv[kUnroll][E];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t row = c0 + u < end ? slots[c0 + u] * kHeadDim : -1;
#pragma unroll
      for (int e = 0; e < E; ++e) {
        kv[u][e] = row >= 0 ? __bfloat162float(k_head[row + e]) : 0.f;
        vv[u][e] = row >= 0 ? __bfloat162float(v_head[row + e]) : 0.f;
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (c0 + u >= end) break;
#pragma unroll
      for (int g = 0; g < kMaxGroup; ++g) {
        if (g >= group) break;
        float s = 0.f;
#pragma unroll
        for (int e = 0; e < E; ++e) s += qv[g][e] * kv[u][e];
        s = warp_sum(s);
        const float new_m = fmaxf(m[g], s);
        const float correction = __expf(m[g] - new_m), p = __expf(s - new_m);
        l[g] = l[g] * correction + p;
#pragma unroll
        for (int e = 0; e < E; ++e) acc[g][e] = acc[g][e] * correction + p * vv[u][e];
        m[g] = new_m;
      }
    }
  }

  __shared__ float warp_m[kWarps][kMaxGroup], warp_l[kWarps][kMaxGroup];
  __shared__ float warp_acc[kWarps][kMaxGroup][kHeadDim];
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g) {
    if (g >= group) break;  // unrolled with constant indices: m, l and acc stay in registers
    if (lane == 0) {
      warp_m[warp][g] = m[g];
      warp_l[warp][g] = l[g];
    }
#pragma unroll
    for (int e = 0; e < E; ++e) warp_acc[warp][g][lane * E + e] = acc[g][e];
  }
  __syncthreads();
  auto* out = static_cast<__nv_bfloat16*>(a.out) + b * a.out_row_stride + kh * group * kHeadDim;
  float* partial = a.partials + ((b * a.kv_heads + kh) * a.splits + blockIdx.z) * group * (kHeadDim + 2);
  for (int i = threadIdx.x; i < group * kHeadDim; i += blockDim.x) {
    const int g = i / kHeadDim, d = i % kHeadDim;
    float top = -INFINITY;
    for (int w = 0; w < kWarps; ++w) top = fmaxf(top, warp_m[w][g]);
    float sum = 0.f, value = 0.f;
    for (int w = 0; w < kWarps; ++w) {
      const float weight = warp_l[w][g] > 0.f ? __expf(warp_m[w][g] - top) : 0.f;  // a warp with no key adds nothing
      sum += warp_l[w][g] * weight;
      value += warp_acc[w][g][d] * weight;
    }
    if (a.splits == 1) {
      out[g * kHeadDim + d] = __float2bfloat16(value / sum);
    } else {
      // Unnormalized, with its maximum and sum (0: a slice with no key).
      float* p = partial + g * (kHeadDim + 2);
      p[d] = value;
      if (d == 0) {
        p[kHeadDim] = top;
        p[kHeadDim + 1] = sum;
      }
    }
  }
}

// Grid (kv_heads, batch): the splits' partial results of each query head merged.
__global__ void decode_attention_merge_kernel(DecodeAttentionArgs a) {
  const int kh = blockIdx.x, b = blockIdx.y;
  const int group = static_cast<int>(a.group), hd = static_cast<int>(a.head_dim), splits = static_cast<int>(a.splits);
  const float* base = a.partials + (b * a.kv_heads + kh) * splits * group * (hd + 2);
  auto* out = static_cast<__nv_bfloat16*>(a.out) + b * a.out_row_stride + kh * group * hd;
  for (int i = threadIdx.x; i < group * hd; i += blockDim.x) {
    const int g = i / hd, d = i % hd;
    float top = -INFINITY;
    for (int s = 0; s < splits; ++s) {
      const float* p = base + (s * group + g) * (hd + 2);
      if (p[hd + 1] > 0.f) top = fmaxf(top, p[hd]);
    }
    float sum = 0.f, value = 0.f;
    for (int s = 0; s < splits; ++s) {
      const float* p = base + (s * group + g) * (hd + 2);
      if (p[hd + 1] > 0.f) {
        const float weight = __expf(p[hd] - top);
        sum += p[hd + 1] * weight;
        value += p[d] * weight;
      }
    }
    out[g * hd + d] = __float2bfloat16(value / sum);
  }
}

// Grid (tokens, heads + 2 * kv_heads), head_dim threads: one element each
// of a query, key or value head of one token.
__global__ void rotary_cache_kernel(RotaryCacheArgs a) {
  const int t = blockIdx.x, head = blockIdx.y, d = threadIdx.x;
  const int hd = static_cast<int>(a.head_dim), heads = static_cast<int>(a.heads), kv_heads = static_cast<int>(a.kv_heads);
  const auto* x = static_cast<const __nv_bfloat16*>(a.qkv) + t * a.qkv_row_stride + head * hd;
  const int64_t slot = a.write_slots[t];
  if (head >= heads + kv_heads) {  // a value head: to the cache as it is
    static_cast<__nv_bfloat16*>(a.v_cache)[(head - heads - kv_heads) * a.cache_head_stride + slot * hd + d] = x[d];
    return;
  }
  const int64_t pos = a.positions[t];
  const float c = __bfloat162float(static_cast<const __nv_bfloat16*>(a.cos)[pos * hd + d]);
  const float s = __bfloat162float(static_cast<const __nv_bfloat16*>(a.sin_signed)[pos * hd + d]);
  const auto value = __float2bfloat16(__bfloat162float(x[d]) * c + __bfloat162float(x[(d + hd / 2) % hd]) * s);
  if (head < heads)
    static_cast<__nv_bfloat16*>(a.q_out)[(static_cast<int64_t>(t) * heads + head) * hd + d] = value;
  else
    static_cast<__nv_bfloat16*>(a.k_cache)[(head - heads) * a.cache_head_stride + slot * hd + d] = value;
}

__global__ void silu_mul_kernel(const __nv_bfloat16* gate_up, __nv_bfloat16* out, int64_t tokens, int64_t width) {
  const int64_t n = tokens * width;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i / width, f = i % width;
    const float g = __bfloat162float(gate_up[t * 2 * width + f]);
    const float u = __bfloat162float(gate_up[t * 2 * width + width + f]);
    out[i] = __float2bfloat16(g / (1.f + __expf(-g)) * u);
  }
}

void check_launch(const char* what) {
  if (const cudaError_t e = cudaGetLastError(); e != cudaSuccess)
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

}  // namespace

bool decode_attention_supported(int64_t head_dim, int64_t group) {
  return (head_dim == 32 || head_dim == 64 || head_dim == 128) && group >= 1 && group <= kMaxGroup;
}

int64_t decode_attention_splits(int64_t batch, int64_t kv_heads, int64_t max_keys) {
  // Asked once: the server uses one GPU, and an eager step asks once a layer.
  static const int sms = [] {
    int device = 0, count = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
      return 132;
    return count;
  }();
  const int64_t blocks = std::max<int64_t>(1, batch * kv_heads);
  const int64_t for_occupancy = (2 * sms + blocks - 1) / blocks, for_keys = (max_keys + 63) / 64;
  return std::max<int64_t>(1, std::min(for_occupancy, for_keys));
}

int64_t decode_attention_partials(const DecodeAttentionArgs& a) {
  return a.splits > 1 ? a.batch * a.kv_heads * a.splits * a.group * (a.head_dim + 2) : 0;
}

void launch_decode_attention(const DecodeAttentionArgs& a, void* cuda_stream) {
  if (!decode_attention_supported(a.head_dim, a.group))
    throw std::runtime_error("decode attention kernel: head_dim " + std::to_string(a.head_dim) + " with " +
                             std::to_string(a.group) + " query heads per kv head is not supported");
  if (a.splits < 1 || (a.splits > 1 && a.partials == nullptr))
    throw std::runtime_error("decode attention kernel: " + std::to_string(a.splits) + " splits need their partials");
  const dim3 grid(static_cast<unsigned>(a.kv_heads), static_cast<unsigned>(a.batch), static_cast<unsigned>(a.splits));
  auto stream = static_cast<cudaStream_t>(cuda_stream);
  switch (a.head_dim) {
    case 32: decode_attention_kernel<1><<<grid, kWarps * 32, 0, stream>>>(a); break;
    case 64: decode_attention_kernel<2><<<grid, kWarps * 32, 0, stream>>>(a); break;
    default: decode_attention_kernel<4><<<grid, kWarps * 32, 0, stream>>>(a); break;
  }
  check_launch("decode attention kernel");
  if (a.splits > 1) {
    const auto threads = static_cast<unsigned>(std::min<int64_t>(1024, (a.group * a.head_dim + 31) / 32 * 32));
    decode_attention_merge_kernel<<<dim3(grid.x, grid.y), threads, 0, stream>>>(a);
    check_launch("decode attention merge kernel");
  }
}

void launch_rotary_cache_write(const RotaryCacheArgs& a, void* cuda_stream) {
  if (a.tokens == 0) return;
  const dim3 grid(static_cast<unsigned>(a.tokens), static_cast<unsigned>(a.heads + 2 * a.kv_heads));
  rotary_cache_kernel<<<grid, static_cast<unsigned>(a.head_dim), 0, static_cast<cudaStream_t>(cuda_stream)>>>(a);
  check_launch("rotary/cache-write kernel");
}

void launch_silu_mul(const void* gate_up, void* out, int64_t tokens, int64_t width, void* cuda_stream) {
  const int64_t n = tokens * width;
  if (n == 0) return;
  const auto blocks = static_cast<unsigned>(std::min<int64_t>((n + 255) / 256, 4096));
  silu_mul_kernel<<<blocks, 256, 0, static_cast<cudaStream_t>(cuda_stream)>>>(
      static_cast<const __nv_bfloat16*>(gate_up), static_cast<__nv_bfloat16*>(out), tokens, width);
  check_launch("silu-mul kernel");
}

}  // namespace gpumix::llm
