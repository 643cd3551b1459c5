#include "model.hpp"

#include "attention_reference.hpp"
#include "fused_kernels.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace gpumix::llm {

std::map<std::string, torch::Tensor> Model::seeded_weights(const ModelConfig& config, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  std::map<std::string, torch::Tensor> w;
  for (const auto& spec : weight_layout(config)) {
    torch::Tensor t;
    if (spec.shape.size() == 1) {
      t = torch::ones(spec.shape);  // norm weights
    } else {
      // Every matrix N(0, 1/in_features): activations stay of order one and
      // the layers outweigh the token's own embedding in the residual stream,
      // so greedy decoding follows the context instead of repeating the last
      // token (as unit-variance tied embeddings make it do).
      t = torch::randn(spec.shape, gen, torch::TensorOptions().dtype(torch::kFloat32));
      t.mul_(1.0 / std::sqrt(static_cast<double>(spec.shape[1])));
    }
    w.emplace(spec.name, std::move(t));
  }
  return w;
}

int64_t Model::cache_bytes_per_token(const ModelConfig& c, torch::ScalarType dtype) {
  return 2 * c.layers * c.kv_heads * c.head_dim() * static_cast<int64_t>(c10::elementSize(dtype));
}

Model::Model(const ModelConfig& config, const std::map<std::string, torch::Tensor>& weights, torch::Device device,
             torch::ScalarType dtype, int64_t cache_rows)
    : config_(config), device_(device), dtype_(dtype) {
  const auto to = torch::TensorOptions().device(device).dtype(dtype);
  auto get = [&](const std::string& name) { return weights.at(name).to(to).contiguous(); };
  embed_ = get("model.embed_tokens.weight");
  norm_ = get("model.norm.weight");
  head_ = config.tied_embeddings ? embed_ : get("lm_head.weight");
  for (int64_t i = 0; i < config.layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    auto cat = [&](std::initializer_list<const char*> names) {
      std::vector<torch::Tensor> parts;
      for (const char* n : names) parts.push_back(weights.at(p + n));
      return torch::cat(parts, 0).to(to).contiguous();
    };
    Layer l;
    l.attn_norm = get(p + "input_layernorm.weight");
    l.wqkv = cat({"self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight"});
    l.wo = get(p + "self_attn.o_proj.weight");
    l.mlp_norm = get(p + "post_attention_layernorm.weight");
    l.w_gate_up = cat({"mlp.gate_proj.weight", "mlp.up_proj.weight"});
    l.w_down = get(p + "mlp.down_proj.weight");
    layers_.push_back(std::move(l));
  }
  // Rotary tables in fp32, then the model's dtype: [max_context, head_dim].
  const int64_t hd = config.head_dim();
  auto inv_freq = torch::pow(config.rope_theta, torch::arange(0, hd, 2, torch::kFloat64) / static_cast<double>(hd))
                      .reciprocal();
  auto freqs = torch::outer(torch::arange(config.max_context, torch::kFloat64), inv_freq);
  auto emb = torch::cat({freqs, freqs}, -1);
  cos_ = emb.cos().to(to);
  // rotate_half(x) * sin == roll(x, half) * [-sin, sin]: one kernel fewer.
  auto sin = emb.sin();
  sin.narrow(1, 0, hd / 2).neg_();
  sin_signed_ = sin.to(to);
  cache_ = torch::zeros({config.layers, 2, config.kv_heads, cache_rows, hd}, to);
}

torch::Tensor Model::rms_norm(const torch::Tensor& x, const torch::Tensor& w) const {
  return compat::rms_norm(x, w, config_.norm_eps);
}

torch::Tensor Model::rotate(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin_signed) const {
  return x * cos + torch::roll(x, {x.size(-1) / 2}, {-1}) * sin_signed;
}

torch::Tensor Model::attention(const torch::Tensor& q, const torch::Tensor& k_cache, const torch::Tensor& v_cache,
                               const torch::Tensor& positions, const std::vector<AttentionGroup>& groups,
                               const std::vector<torch::Tensor>& masks) const {
  const int64_t H = config_.heads, KH = config_.kv_heads, hd = config_.head_dim(), G = H / KH;
  std::vector<torch::Tensor> outs;
  for (size_t i = 0; i < groups.size(); ++i) {
    const auto& g = groups[i];
    const int64_t B = g.batch, Q = g.queries;
    if (Q == 1) {
      outs.push_back(fused_ ? decode_fused(q, k_cache, v_cache, positions, g)
                                    : decode_gathered(q, k_cache, v_cache, masks[i], g));
      continue;
    }
    // Prefill: compute-bound; SDPA over kv heads repeated per query head
    // (kv head i serves query heads [i*G, (i+1)*G)). A chunk after the first
    // sees the prompt's earlier keys too: a mask.
    const int64_t C = g.key_slots.size(1);
    auto expand = [&](const torch::Tensor& cache) {
      auto per_seq = cache.index_select(1, g.key_slots.reshape({-1})).view({KH, B, C, hd}).transpose(0, 1);
      return G == 1 ? per_seq : per_seq.repeat_interleave(G, 1);  // [B, H, C, hd]
    };
    auto qs = q.narrow(0, g.row_begin, B * Q).view({B, Q, H, hd}).transpose(1, 2);
    // A prompt's first chunk sees only itself: causal, no mask (FlashAttention).
    auto o = C == Q ? compat::causal_scaled_dot_product_attention(qs, expand(k_cache), expand(v_cache))
                    : compat::scaled_dot_product_attention(qs, expand(k_cache), expand(v_cache), masks[i]);
    outs.push_back(o.transpose(1, 2).reshape({B * Q, H * hd}));
  }
  return outs.size() == 1 ? outs[0] : torch::cat(outs, 0);
}

torch::Tensor Model::visibility_mask(const torch::Tensor& positions, const AttentionGroup& g) const {
  const int64_t C = g.key_slots.size(1);
  auto position = positions.narrow(0, g.row_begin, g.batch * g.queries).view({g.batch, 1, g.queries, 1});
  auto key = torch::arange(C, positions.options()).view({1, 1, 1, C});
  return torch::full({g.batch, 1, g.queries, C}, -INFINITY, cache_.options()).masked_fill_(key <= position, 0);
}

// The G query heads of a kv head read its gathered keys once, as a batched
// matrix product over (kv head, sequence). SDPA with a mask and grouped heads
// falls back to its math kernel, which first repeats K and V G times: G times
// the bytes of the step's largest read.
torch::Tensor Model::decode_gathered(const torch::Tensor& q, const torch::Tensor& k_cache, const torch::Tensor& v_cache,
                                     const torch::Tensor& mask, const AttentionGroup& g) const {
  const int64_t H = config_.heads, KH = config_.kv_heads, hd = config_.head_dim(), G = H / KH;
  const int64_t B = g.batch, C = g.key_slots.size(1);
  // [KH * B, C, hd], contiguous: the cache is head-major, so one gather.
  auto k = k_cache.index_select(1, g.key_slots.reshape({-1})).view({KH * B, C, hd});
  auto v = v_cache.index_select(1, g.key_slots.reshape({-1})).view({KH * B, C, hd});
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  auto qh = (q.narrow(0, g.row_begin, B) * scale).view({B, KH, G, hd}).transpose(0, 1).reshape({KH * B, G, hd});
  auto scores = torch::bmm(qh, k.transpose(1, 2)).view({KH, B, G, C}) + mask.view({1, B, 1, C});
  auto p = torch::softmax(scores, -1, torch::kFloat32).to(dtype_);
  auto o = torch::bmm(p.view({KH * B, G, C}), v);  // [KH * B, G, hd]
  return o.view({KH, B, G, hd}).transpose(0, 1).reshape({B, H * hd});
}

torch::Tensor Model::decode_fused(const torch::Tensor& q, const torch::Tensor& k_cache, const torch::Tensor& v_cache,
                                  const torch::Tensor& positions, const AttentionGroup& g) const {
#if GPUMIX_LLM_FUSED_KERNELS && GPUMIX_HAS_CUDA
  const int64_t H = config_.heads, hd = config_.head_dim();
  auto qg = q.narrow(0, g.row_begin, g.batch);  // [B, H, hd], rows strided
  auto pos = positions.narrow(0, g.row_begin, g.batch).contiguous();
  auto slots = g.key_slots.contiguous();
  auto out = torch::empty({g.batch, H * hd}, q.options());
  DecodeAttentionArgs a;
  a.q = qg.data_ptr();
  a.q_row_stride = qg.stride(0);
  a.k_cache = k_cache.data_ptr();
  a.v_cache = v_cache.data_ptr();
  a.cache_head_stride = k_cache.stride(0);
  a.key_slots = slots.data_ptr<int64_t>();
  a.slots_row_stride = slots.stride(0);
  a.positions = pos.data_ptr<int64_t>();
  a.out = out.data_ptr();
  a.out_row_stride = out.stride(0);
  a.batch = g.batch;
  a.kv_heads = config_.kv_heads;
  a.group = H / config_.kv_heads;
  a.head_dim = hd;
  a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  // The splits from the longest row the step can hold: fixed per CUDA graph.
  a.splits = decode_attention_splits(g.batch, config_.kv_heads, slots.size(1));
  torch::Tensor partials;
  if (a.splits > 1) {
    partials = torch::empty({decode_attention_partials(a)}, q.options().dtype(torch::kFloat32));
    a.partials = partials.data_ptr<float>();
  }
  launch_decode_attention(a, at::cuda::getCurrentCUDAStream().stream());
  return out;
#else
  (void)q, (void)k_cache, (void)v_cache, (void)positions, (void)g;
  throw std::logic_error("decode_fused: " + fused_kernels_unusable());
#endif
}

std::string Model::fused_kernels_unusable() const {
#if GPUMIX_LLM_FUSED_KERNELS && GPUMIX_HAS_CUDA
  if (!device_.is_cuda()) return "the fused kernels run on a GPU (device " + device_.str() + ")";
  if (dtype_ != torch::kBFloat16) return "the fused kernels are bf16 only";
  if (!decode_attention_supported(config_.head_dim(), config_.heads / config_.kv_heads))
    return "the decode attention kernel handles head sizes 32, 64 and 128 with at most 8 query heads per kv head";
  return "";
#else
  return "this build has no fused kernels (they need a CUDA LibTorch and nvcc)";
#endif
}

double Model::FusedDifferences::largest() const {
  return std::max({decode_attention, rotary_cache_write, silu_mul});
}

Model::FusedDifferences Model::fused_kernels_difference() {
  // |fused - reference| / (1 + |reference|): bf16 rounds to 2^-8 of the value.
  auto max_difference = [](const torch::Tensor& fused, const torch::Tensor& reference) {
    auto r = reference.to(torch::kFloat32);
    return ((fused.to(torch::kFloat32) - r).abs() / (r.abs() + 1)).max().item<double>();
  };
  FusedDifferences d;
  const int64_t H = config_.heads, KH = config_.kv_heads, hd = config_.head_dim();
  const auto i64 = torch::TensorOptions().dtype(torch::kInt64).device(device_);
  // Random keys and values in the rows of blocks beyond the padding block,
  // each sequence over its own rows, with a different context length each;
  // batches from 1 to 48 take from 33 splits of the keys (on 132
  // multiprocessors) to none, as serving does.
  auto k_cache = cache_[0][0], v_cache = cache_[0][1];
  auto saved_k = k_cache.clone(), saved_v = v_cache.clone();
  k_cache.normal_();
  v_cache.normal_();
  for (const auto& [batch, most_keys] : std::vector<std::pair<int64_t, int64_t>>{
           {1, 4000}, {3, 1000}, {8, 1000}, {16, 1000}, {48, 1000}}) {
    // Rows keys .. (batch + 1) * keys - 1 must exist.
    const int64_t keys = std::min<int64_t>(most_keys, cache_.size(3) / (batch + 1));
    auto slots = torch::arange(batch * keys, i64).view({batch, keys}) + keys;  // rows past the first `keys`
    auto positions = (keys - 1) - (torch::arange(batch, i64) * 7919) % keys;  // the first sequence sees every key
    AttentionGroup g{0, batch, 1, slots};
    auto q = torch::randn({batch, H, hd}, cache_.options());
    // Both against the exact result: where the two differ, it says which is off.
    const auto exact = exact_decode_attention(q, k_cache, v_cache, slots, positions);
    const double difference = max_difference(decode_fused(q, k_cache, v_cache, positions, g), exact);
    d.decode_attention_torch = std::max(
        d.decode_attention_torch,
        max_difference(decode_gathered(q, k_cache, v_cache, visibility_mask(positions, g), g), exact));
    if (difference >= d.decode_attention) {
      d.decode_attention = difference;
      d.attention_batch = batch;
#if GPUMIX_LLM_FUSED_KERNELS && GPUMIX_HAS_CUDA
      d.attention_splits = decode_attention_splits(batch, KH, keys);
#endif
    }
  }
  k_cache.copy_(saved_k);
  v_cache.copy_(saved_v);
  // 40 tokens at scattered positions into two scratch caches.
  {
    const int64_t T = 40, rows = 64;
    auto qkv = torch::randn({T, (H + 2 * KH) * hd}, cache_.options());
    auto positions = (torch::arange(T, i64) * 131) % config_.max_context;
    auto slots = torch::randperm(rows, i64).narrow(0, 0, T);
    auto cos = cos_.index_select(0, positions).unsqueeze(1), sin = sin_signed_.index_select(0, positions).unsqueeze(1);
    std::vector<torch::Tensor> q, k, v;
    for (bool fused : {false, true}) {
      auto k_cache = torch::zeros({KH, rows, hd}, cache_.options()), v_cache = torch::zeros_like(k_cache);
      q.push_back(rotate_and_cache(qkv, cos, sin, positions, slots, k_cache, v_cache, fused));
      k.push_back(k_cache);
      v.push_back(v_cache);
    }
    d.rotary_cache_write = std::max({max_difference(q[0], q[1]), max_difference(k[0], k[1]), max_difference(v[0], v[1])});
  }
  {
    auto gate_up = torch::randn({40, 2 * config_.ffn}, cache_.options());
    d.silu_mul = max_difference(swiglu(gate_up, false), swiglu(gate_up, true));
  }
  return d;
}

torch::Tensor Model::rotate_and_cache(const torch::Tensor& qkv, const torch::Tensor& cos, const torch::Tensor& sin,
                                      const torch::Tensor& positions, const torch::Tensor& write_slots,
                                      const torch::Tensor& k_cache, const torch::Tensor& v_cache, bool fused) const {
  const int64_t T = qkv.size(0), H = config_.heads, KH = config_.kv_heads, hd = config_.head_dim();
  if (!fused) {
    // Queries and keys rotated together: [T, H + KH, hd].
    auto qk = rotate(qkv.narrow(1, 0, (H + KH) * hd).view({T, H + KH, hd}), cos, sin);
    auto v = qkv.narrow(1, (H + KH) * hd, KH * hd).view({T, KH, hd});
    k_cache.index_copy_(1, write_slots, qk.narrow(1, H, KH).transpose(0, 1));
    v_cache.index_copy_(1, write_slots, v.transpose(0, 1));
    return qk.narrow(1, 0, H);
  }
#if GPUMIX_LLM_FUSED_KERNELS && GPUMIX_HAS_CUDA
  auto q = torch::empty({T, H, hd}, qkv.options());
  RotaryCacheArgs a;
  a.qkv = qkv.data_ptr();
  a.qkv_row_stride = qkv.stride(0);
  a.cos = cos_.data_ptr();
  a.sin_signed = sin_signed_.data_ptr();
  a.positions = positions.data_ptr<int64_t>();
  a.write_slots = write_slots.data_ptr<int64_t>();
  a.q_out = q.data_ptr();
  a.k_cache = k_cache.data_ptr();
  a.v_cache = v_cache.data_ptr();
  a.cache_head_stride = k_cache.stride(0);
  a.tokens = T;
  a.heads = H;
  a.kv_heads = KH;
  a.head_dim = hd;
  launch_rotary_cache_write(a, at::cuda::getCurrentCUDAStream().stream());
  return q;
#else
  throw std::logic_error("rotate_and_cache: " + fused_kernels_unusable());
#endif
}

torch::Tensor Model::swiglu(const torch::Tensor& gate_up, bool fused) const {
  const int64_t F = config_.ffn;
  if (!fused) return torch::silu(gate_up.narrow(1, 0, F)) * gate_up.narrow(1, F, F);
#if GPUMIX_LLM_FUSED_KERNELS && GPUMIX_HAS_CUDA
  auto out = torch::empty({gate_up.size(0), F}, gate_up.options());
  launch_silu_mul(gate_up.data_ptr(), out.data_ptr(), gate_up.size(0), F, at::cuda::getCurrentCUDAStream().stream());
  return out;
#else
  throw std::logic_error("swiglu: " + fused_kernels_unusable());
#endif
}

torch::Tensor Model::forward(const StepTensors& s) {
  auto x = embed_.index_select(0, s.tokens);
  // The rotary tables at the step's positions (the fused kernel reads the whole tables).
  torch::Tensor cos, sin;
  if (!fused_) {
    cos = cos_.index_select(0, s.positions).unsqueeze(1);
    sin = sin_signed_.index_select(0, s.positions).unsqueeze(1);
  }
  // The groups' masks, once a step: every layer reads them (the decode kernel needs none).
  std::vector<torch::Tensor> masks;
  for (const auto& g : s.groups)
    masks.push_back(g.queries == 1 && fused_ ? torch::Tensor() : visibility_mask(s.positions, g));
  for (size_t l = 0; l < layers_.size(); ++l) {
    const auto& L = layers_[l];
    auto k_cache = cache_[static_cast<int64_t>(l)][0], v_cache = cache_[static_cast<int64_t>(l)][1];
    auto q = rotate_and_cache(torch::linear(rms_norm(x, L.attn_norm), L.wqkv), cos, sin, s.positions, s.write_slots,
                              k_cache, v_cache, fused_);
    // Residual adds inside the matrix products (addmm: x + a @ w^T).
    x = torch::addmm(x, attention(q, k_cache, v_cache, s.positions, s.groups, masks), L.wo.t());
    x = torch::addmm(x, swiglu(torch::linear(rms_norm(x, L.mlp_norm), L.w_gate_up), fused_), L.w_down.t());
  }
  if (s.logit_rows.defined()) x = x.index_select(0, s.logit_rows);
  return torch::linear(rms_norm(x, norm_), head_).to(torch::kFloat32);
}

}  // namespace gpumix::llm
