// The llm-server's exact decode attention (the start check's reference)
// against attention written out as loops in double precision: grouped query
// heads, keys scattered over the cache's rows, each sequence seeing a
// different number of them.
#include "llm_server/attention_reference.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace {

TEST(ExactDecodeAttention, MatchesAttentionWrittenAsLoops) {
  torch::manual_seed(7);
  const int64_t B = 3, KH = 2, G = 3, H = KH * G, hd = 4, C = 5, rows = 20;
  auto q = torch::randn({B, H, hd});
  auto k_cache = torch::randn({KH, rows, hd}), v_cache = torch::randn({KH, rows, hd});
  auto slots = torch::randperm(rows, torch::kInt64).narrow(0, 0, B * C).view({B, C});
  auto positions = torch::tensor(std::vector<int64_t>{4, 0, 2});  // all keys, one key, three keys
  auto out = gpumix::llm::exact_decode_attention(q, k_cache, v_cache, slots, positions);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{B, H * hd}));
  ASSERT_EQ(out.scalar_type(), torch::kFloat32);

  auto qa = q.accessor<float, 3>();
  auto ka = k_cache.accessor<float, 3>(), va = v_cache.accessor<float, 3>();
  auto sa = slots.accessor<int64_t, 2>();
  auto pa = positions.accessor<int64_t, 1>();
  auto oa = out.accessor<float, 2>();
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      const int64_t kh = h / G;
      std::vector<double> w;
      double top = -INFINITY, sum = 0;
      for (int64_t c = 0; c <= pa[b]; ++c) {
        double s = 0;
        for (int64_t e = 0; e < hd; ++e) s += double(qa[b][h][e]) * ka[kh][sa[b][c]][e];
        w.push_back(s / std::sqrt(double(hd)));
        top = std::max(top, w.back());
      }
      for (auto& x : w) sum += (x = std::exp(x - top));
      for (int64_t e = 0; e < hd; ++e) {
        double o = 0;
        for (int64_t c = 0; c <= pa[b]; ++c) o += w[c] / sum * va[kh][sa[b][c]][e];
        EXPECT_NEAR(oa[b][h * hd + e], o, 1e-5) << "sequence " << b << ", head " << h << ", element " << e;
      }
    }
  }
  // A sequence that sees one key returns that key's value row.
  EXPECT_TRUE(torch::allclose(out[1].view({H, hd})[0], v_cache[0][slots[1][0].item<int64_t>()]));
}

TEST(ExactDecodeAttention, Bf16InputsGiveTheSameFp32Output) {
  torch::manual_seed(8);
  auto q = torch::randn({2, 4, 8}).to(torch::kBFloat16);
  auto k = torch::randn({2, 16, 8}).to(torch::kBFloat16), v = torch::randn({2, 16, 8}).to(torch::kBFloat16);
  auto slots = torch::arange(8, torch::kInt64).view({2, 4});
  auto positions = torch::tensor(std::vector<int64_t>{3, 1});
  auto bf16 = gpumix::llm::exact_decode_attention(q, k, v, slots, positions);
  auto fp32 = gpumix::llm::exact_decode_attention(q.to(torch::kFloat32), k.to(torch::kFloat32),
                                                  v.to(torch::kFloat32), slots, positions);
  EXPECT_EQ(bf16.scalar_type(), torch::kFloat32);
  EXPECT_TRUE(torch::equal(bf16, fp32));  // the inputs widen exactly; all arithmetic is in double
}

}  // namespace
