// Every difference between the LibTorch versions gpumix builds against lives
// here: Debian's LibTorch 1.13 (CPU only) for CI, and the LibTorch inside an
// installed PyTorch 2.x (CUDA) on GPU machines.
//
//   feature                       1.13                      2.x
//   autocast on/off, dtype        set_enabled(bool), ...    set_autocast_enabled(kCUDA, bool) (>= 2.4)
//   scaled_dot_product_attention  -- (plain formulation)    at::scaled_dot_product_attention (>= 2.0)
//   fused AdamW kernel            --                        at::_fused_adamw_ (>= 2.2 here, CUDA)
//   layer_norm, bf16 in/fp32 w    CPU: dtype error           mixed dtypes accepted
//   CUDA graphs, allocator stats  only with a CUDA build    only with a CUDA build
//
// GPUMIX_TORCH_CUDA is defined to 1 by workloads/CMakeLists.txt when the
// LibTorch found has CUDA libraries (target torch_cuda); the CUDA headers are
// installed even in CPU-only builds, so `__has_include` alone is not enough.
#pragma once

#include <torch/torch.h>
#include <torch/version.h>

#include <ATen/autocast_mode.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#define GPUMIX_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) ||         \
   (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

#if GPUMIX_TORCH_AT_LEAST(2, 0)
#define GPUMIX_HAS_SDPA 1
#else
#define GPUMIX_HAS_SDPA 0
#endif

#if GPUMIX_TORCH_AT_LEAST(2, 4)
#define GPUMIX_AUTOCAST_GENERIC_API 1
#else
#define GPUMIX_AUTOCAST_GENERIC_API 0
#endif

#if defined(GPUMIX_TORCH_CUDA) && GPUMIX_TORCH_CUDA && __has_include(<ATen/cuda/CUDAGraph.h>) && \
    __has_include(<c10/cuda/CUDACachingAllocator.h>) && __has_include(<ATen/cuda/CUDAContext.h>)
#define GPUMIX_HAS_CUDA 1
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#else
#define GPUMIX_HAS_CUDA 0
#endif

// The fused multi-tensor AdamW kernel (CUDA, fp32/bf16 params).
#if GPUMIX_HAS_CUDA && GPUMIX_TORCH_AT_LEAST(2, 2)
#define GPUMIX_HAS_FUSED_ADAMW 1
#else
#define GPUMIX_HAS_FUSED_ADAMW 0
#endif

namespace gpumix::compat {

inline std::string torch_version() { return TORCH_VERSION; }

// True when this build can run CUDA code (LibTorch with CUDA libraries).
constexpr bool built_with_cuda() { return GPUMIX_HAS_CUDA != 0; }

// ---------------------------------------------------------------- autocast

// RAII autocast region for one device type, like `with torch.autocast(...)`:
// on exit the nesting level drops and, at level 0, the cast cache is cleared
// (stale casts of updated weights must not survive an optimizer step).
class AutocastGuard {
 public:
  AutocastGuard(c10::DeviceType type, bool enabled, at::ScalarType dtype = at::kBFloat16)
      : type_(type), enabled_(enabled) {
    if (!enabled_) return;
    prev_enabled_ = is_enabled(type_);
    prev_dtype_ = get_dtype(type_);
    set_enabled(type_, true);
    set_dtype(type_, dtype);
    at::autocast::increment_nesting();
  }
  ~AutocastGuard() {
    if (!enabled_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    set_enabled(type_, prev_enabled_);
    set_dtype(type_, prev_dtype_);
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

  static void set_cache_enabled(bool on) { at::autocast::set_autocast_cache_enabled(on); }

 private:
#if GPUMIX_AUTOCAST_GENERIC_API
  static bool is_enabled(c10::DeviceType t) { return at::autocast::is_autocast_enabled(t); }
  static void set_enabled(c10::DeviceType t, bool on) { at::autocast::set_autocast_enabled(t, on); }
  static at::ScalarType get_dtype(c10::DeviceType t) { return at::autocast::get_autocast_dtype(t); }
  static void set_dtype(c10::DeviceType t, at::ScalarType d) { at::autocast::set_autocast_dtype(t, d); }
#else
  static bool is_enabled(c10::DeviceType t) {
    return t == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
  }
  static void set_enabled(c10::DeviceType t, bool on) {
    if (t == c10::DeviceType::CUDA) {
      at::autocast::set_enabled(on);
    } else {
      at::autocast::set_cpu_enabled(on);
    }
  }
  static at::ScalarType get_dtype(c10::DeviceType t) {
    return t == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype()
                                      : at::autocast::get_autocast_cpu_dtype();
  }
  static void set_dtype(c10::DeviceType t, at::ScalarType d) {
    if (t == c10::DeviceType::CUDA) {
      at::autocast::set_autocast_gpu_dtype(d);
    } else {
      at::autocast::set_autocast_cpu_dtype(d);
    }
  }
#endif

  c10::DeviceType type_;
  bool enabled_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

// --------------------------------------------------------------- attention

constexpr bool has_fused_sdpa() { return GPUMIX_HAS_SDPA != 0; }

// softmax(q k^T / sqrt(d)) v over [B, heads, S, d] tensors, no mask, with
// dropout on the attention weights when dropout_p > 0. The fused kernel
// (flash / memory-efficient attention) where LibTorch has it.
inline torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                                  const torch::Tensor& v, double dropout_p) {
#if GPUMIX_HAS_SDPA
  return at::scaled_dot_product_attention(q, k, v, {}, dropout_p, false);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
  auto probs = torch::softmax(scores, -1);
  if (dropout_p > 0) probs = torch::dropout(probs, dropout_p, /*train=*/true);
  return torch::matmul(probs, v);
#endif
}

// The same with an additive mask broadcastable to [B, heads, Sq, Sk] (0 where
// a key is visible, -inf where not; every query must see one key), no dropout.
inline torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                                  const torch::Tensor& v, const torch::Tensor& mask) {
#if GPUMIX_HAS_SDPA
  return at::scaled_dot_product_attention(q, k, v, mask, 0.0, false);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale + mask;
  return torch::matmul(torch::softmax(scores, -1), v);
#endif
}

// The same with a causal mask (query i sees keys 0..i; as many queries as
// keys): no mask tensor, so FlashAttention's kernel can take it.
inline torch::Tensor causal_scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                                         const torch::Tensor& v) {
#if GPUMIX_HAS_SDPA
  return at::scaled_dot_product_attention(q, k, v, {}, 0.0, true);
#else
  const auto n = q.size(-2);
  auto mask = torch::full({n, n}, -INFINITY, q.options()).triu(1);
  return scaled_dot_product_attention(q, k, v, mask);
#endif
}

// Keeps scaled_dot_product_attention off cuDNN's attention, which recent
// PyTorch prefers on Hopper: cuDNN builds an execution plan for every new
// shape (hundreds of milliseconds each), and a server's prompts come in every
// length. FlashAttention and the memory-efficient kernel need no plan.
inline void avoid_cudnn_attention() {
#if GPUMIX_HAS_CUDA && GPUMIX_TORCH_AT_LEAST(2, 4)
  at::globalContext().setSDPUseCuDNN(false);
#endif
}

// -------------------------------------------------------------- RMSNorm

// x / sqrt(mean(x^2) + eps) * w over the last dimension, reduced in fp32 and
// returned in x's dtype. at::rms_norm where LibTorch has it (2.4+; fused on
// CUDA in recent versions: one kernel where the composite takes eight).
inline torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& w, double eps) {
#if GPUMIX_TORCH_AT_LEAST(2, 4)
  return at::rms_norm(x, {x.size(-1)}, w, eps);
#else
  auto xf = x.to(torch::kFloat32);
  return (xf * torch::rsqrt(xf.pow(2).mean(-1, true) + eps)).to(x.scalar_type()) * w;
#endif
}

// -------------------------------------------------------------- LayerNorm

// LayerNorm of `x` with `ln`'s (fp32) weights. LibTorch 1.13's CPU autocast
// leaves layer_norm alone and its CPU kernel rejects a bf16 input with fp32
// weights; compute in the weights' dtype there (2.x handles mixed dtypes).
inline torch::Tensor layer_norm(torch::nn::LayerNorm& ln, const torch::Tensor& x) {
#if !GPUMIX_TORCH_AT_LEAST(2, 0)
  if (x.device().is_cpu() && x.scalar_type() != ln->weight.scalar_type()) {
    return ln(x.to(ln->weight.scalar_type()));
  }
#endif
  return ln(x);
}

// ------------------------------------------------------------------ AdamW

constexpr bool has_fused_adamw() { return GPUMIX_HAS_FUSED_ADAMW != 0; }

// One fused AdamW step over all tensors (state_steps already incremented).
inline void fused_adamw(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& grads,
                        const std::vector<torch::Tensor>& exp_avgs,
                        const std::vector<torch::Tensor>& exp_avg_sqs,
                        const std::vector<torch::Tensor>& state_steps, double lr, double beta1, double beta2,
                        double weight_decay, double eps) {
#if GPUMIX_HAS_FUSED_ADAMW
  const std::vector<torch::Tensor> no_max_exp_avg_sqs;
  at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, no_max_exp_avg_sqs, state_steps, lr, beta1, beta2,
                    weight_decay, eps, /*amsgrad=*/false, /*maximize=*/false);
#else
  (void)params, (void)grads, (void)exp_avgs, (void)exp_avg_sqs, (void)state_steps;
  (void)lr, (void)beta1, (void)beta2, (void)weight_decay, (void)eps;
  throw std::runtime_error("fused AdamW is not available in this LibTorch build");
#endif
}

// ------------------------------------------------------------------- CUDA

inline std::string cuda_device_name(const torch::Device& device) {
#if GPUMIX_HAS_CUDA
  if (device.is_cuda()) {
    const auto index = device.has_index() ? device.index() : at::cuda::current_device();
    return at::cuda::getDeviceProperties(index)->name;
  }
#endif
  (void)device;
  return "";
}

inline int64_t cudnn_version() {
#if GPUMIX_HAS_CUDA
  try {
    return static_cast<int64_t>(at::detail::getCUDAHooks().versionCuDNN());
  } catch (const std::exception&) {
    return 0;
  }
#else
  return 0;
#endif
}

// Peak bytes allocated by the CUDA caching allocator since the last reset.
inline int64_t cuda_peak_allocated_bytes(const torch::Device& device) {
#if GPUMIX_HAS_CUDA
  if (device.is_cuda()) {
    const auto index = device.has_index() ? device.index() : at::cuda::current_device();
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
    return stats.allocated_bytes[0].peak;  // [0] is StatType::AGGREGATE in every version
  }
#endif
  (void)device;
  return 0;
}

inline int64_t cuda_peak_reserved_bytes(const torch::Device& device) {
#if GPUMIX_HAS_CUDA
  if (device.is_cuda()) {
    const auto index = device.has_index() ? device.index() : at::cuda::current_device();
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(index);
    return stats.reserved_bytes[0].peak;
  }
#endif
  (void)device;
  return 0;
}

constexpr bool has_cuda_graphs() { return GPUMIX_HAS_CUDA != 0; }

// A memory pool id for CudaGraph::capture.
inline std::pair<uint64_t, uint64_t> new_graph_pool() {
#if GPUMIX_HAS_CUDA
  const auto id = at::cuda::graph_pool_handle();
  return {static_cast<uint64_t>(id.first), static_cast<uint64_t>(id.second)};
#else
  throw std::runtime_error("CUDA graphs are not available in this LibTorch build (no CUDA)");
#endif
}

// A captured CUDA graph of `fn` (run on a side stream, as capture requires),
// replayed on the current stream. Tensors `fn` reads and writes must stay
// alive and in place: copy new inputs into them before replay().
//
// As torch.cuda.graph: the warm-up calls run for real (on the side stream)
// before the capture, so lazily created state (cuDNN/cuBLAS handles and plans,
// gradients, autocast casts) exists first. at::cuda::CUDAGraph itself makes
// random numbers graph-safe: it registers the default CUDA generator (the one
// dropout draws from) with the capture, and each replay advances its philox
// offset, so dropout draws new masks on every replay.
class CudaGraph {
 public:
  static constexpr int kDefaultWarmup = 3;

  // Runs `fn` `warmup` times on a side stream, then captures one call. Graphs
  // given the same `pool` (from new_graph_pool) share their memory: only for
  // graphs that never replay concurrently and whose outputs are consumed
  // before another one replays.
  void capture(const std::function<void()>& fn, int warmup = kDefaultWarmup,
               std::pair<uint64_t, uint64_t> pool = {0, 0}) {
#if GPUMIX_HAS_CUDA
    // Pool streams do not synchronize with the default stream: finish the
    // work queued there (model, data) before the side stream reads it.
    torch::cuda::synchronize();
    auto stream = at::cuda::getStreamFromPool();
    {
      c10::cuda::CUDAStreamGuard guard(stream);
      for (int i = 0; i < warmup; ++i) fn();
      stream.synchronize();
      graph_ = std::make_unique<at::cuda::CUDAGraph>();
      graph_->capture_begin({pool.first, pool.second});
      fn();
      graph_->capture_end();
    }
    stream.synchronize();
#else
    (void)fn, (void)warmup, (void)pool;
    throw std::runtime_error("CUDA graphs are not available in this LibTorch build (no CUDA)");
#endif
  }

  void replay() {
#if GPUMIX_HAS_CUDA
    if (!graph_) throw std::runtime_error("CudaGraph::replay() before capture()");
    graph_->replay();
#else
    throw std::runtime_error("CUDA graphs are not available in this LibTorch build (no CUDA)");
#endif
  }

  bool captured() const {
#if GPUMIX_HAS_CUDA
    return graph_ != nullptr;
#else
    return false;
#endif
  }

 private:
#if GPUMIX_HAS_CUDA
  std::unique_ptr<at::cuda::CUDAGraph> graph_;
#endif
};

// GPU time between start() and stop() on the current stream, from CUDA
// events; elapsed_ms() waits for stop's event. Off (NaN) on the CPU.
class GpuTimer {
 public:
  explicit GpuTimer(bool enabled) {
#if GPUMIX_HAS_CUDA
    if (enabled) {
      start_ = std::make_unique<at::cuda::CUDAEvent>(cudaEventDefault);
      stop_ = std::make_unique<at::cuda::CUDAEvent>(cudaEventDefault);
    }
#else
    (void)enabled;
#endif
  }
  bool enabled() const {
#if GPUMIX_HAS_CUDA
    return start_ != nullptr;
#else
    return false;
#endif
  }
  void start() {
#if GPUMIX_HAS_CUDA
    if (start_) start_->record();
#endif
  }
  void stop() {
#if GPUMIX_HAS_CUDA
    if (stop_) stop_->record();
#endif
  }
  double elapsed_ms() {
#if GPUMIX_HAS_CUDA
    if (start_) {
      stop_->synchronize();
      return start_->elapsed_time(*stop_);
    }
#endif
    return std::nan("");
  }

 private:
#if GPUMIX_HAS_CUDA
  std::unique_ptr<at::cuda::CUDAEvent> start_, stop_;
#endif
};

}  // namespace gpumix::compat
