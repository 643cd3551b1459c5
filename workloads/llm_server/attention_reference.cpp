#include "attention_reference.hpp"

#include <cmath>
#include <limits>

namespace gpumix::llm {

torch::Tensor exact_decode_attention(const torch::Tensor& q, const torch::Tensor& k_cache,
                                     const torch::Tensor& v_cache, const torch::Tensor& key_slots,
                                     const torch::Tensor& positions) {
  const int64_t B = q.size(0), H = q.size(1), hd = q.size(2), KH = k_cache.size(0), G = H / KH;
  const int64_t C = key_slots.size(1);
  const auto rows = key_slots.reshape({-1});
  // Double precision: no TF32 or reduced-precision setting of cuBLAS reaches it.
  auto k = k_cache.index_select(1, rows).to(torch::kFloat64).view({KH, B, C, hd});
  auto v = v_cache.index_select(1, rows).to(torch::kFloat64).view({KH, B, C, hd});
  auto qf = q.to(torch::kFloat64).reshape({B, KH, G, hd}).permute({1, 0, 2, 3});  // [KH, B, G, hd]
  auto scores = torch::matmul(qf, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(hd));  // [KH, B, G, C]
  auto hidden = torch::arange(C, positions.options()).view({1, 1, 1, C}) > positions.view({1, B, 1, 1});
  scores = scores.masked_fill(hidden, -std::numeric_limits<double>::infinity());
  auto out = torch::matmul(torch::softmax(scores, -1), v);  // [KH, B, G, hd]
  return out.permute({1, 0, 2, 3}).reshape({B, H * hd}).to(torch::kFloat32);
}

}  // namespace gpumix::llm
