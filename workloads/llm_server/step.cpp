#include "step.hpp"

#include <algorithm>
#include <limits>

namespace gpumix::llm {

namespace {

torch::Tensor longs(const std::vector<int64_t>& v, torch::Device device) {
  return torch::from_blob(const_cast<int64_t*>(v.data()), {static_cast<int64_t>(v.size())}, torch::kInt64)
      .to(device, /*non_blocking=*/false, /*copy=*/true);
}

}  // namespace

StepTensors build_step(const std::vector<DecodeRow>& decode, const std::vector<PrefillPart>& prefill,
                       const BlockPool& pool, torch::Device device, torch::ScalarType dtype, int64_t pad_batch,
                       int64_t decode_context) {
  constexpr float kHidden = -std::numeric_limits<float>::infinity();
  const int64_t padding_slot = BlockPool::kPaddingBlock * pool.block_size();
  std::vector<int64_t> tokens, positions, write_slots, logit_rows;
  std::vector<std::pair<std::vector<int64_t>, std::vector<float>>> host_groups;  // key slots, mask
  StepTensors s;

  const int64_t nd = static_cast<int64_t>(decode.size());
  if (nd > 0 || pad_batch > 0) {
    const int64_t batch = std::max(pad_batch, nd);
    int64_t C = decode_context;
    if (C == 0)
      for (const auto& r : decode) C = std::max(C, r.position + 1);
    std::vector<int64_t> slots(static_cast<size_t>(batch * C), padding_slot);
    std::vector<float> mask(static_cast<size_t>(batch * C), kHidden);
    for (int64_t b = 0; b < batch; ++b) {
      const bool real = b < nd;
      const int64_t pos = real ? decode[b].position : 0;
      tokens.push_back(real ? decode[b].token : 0);
      positions.push_back(pos);
      write_slots.push_back(real ? pool.slot(*decode[b].blocks, pos) : padding_slot);
      for (int64_t c = 0; c <= pos; ++c) {
        if (real) slots[b * C + c] = pool.slot(*decode[b].blocks, c);
        mask[b * C + c] = 0;
      }
      if (real) logit_rows.push_back(b);
    }
    s.groups.push_back({0, batch, 1, torch::Tensor(), torch::Tensor()});
    host_groups.emplace_back(std::move(slots), std::move(mask));
  }
  for (const auto& p : prefill) {
    const int64_t row_begin = static_cast<int64_t>(tokens.size()), C = p.begin + p.count;
    std::vector<int64_t> slots(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) slots[c] = pool.slot(*p.blocks, c);
    std::vector<float> mask(static_cast<size_t>(p.count * C), kHidden);
    for (int64_t i = 0; i < p.count; ++i) {
      const int64_t pos = p.begin + i;
      tokens.push_back((*p.prompt)[pos]);
      positions.push_back(pos);
      write_slots.push_back(slots[pos]);
      std::fill(mask.begin() + i * C, mask.begin() + i * C + pos + 1, 0.0f);
    }
    if (p.last()) logit_rows.push_back(row_begin + p.count - 1);
    s.groups.push_back({row_begin, 1, p.count, torch::Tensor(), torch::Tensor()});
    host_groups.emplace_back(std::move(slots), std::move(mask));
  }

  s.tokens = longs(tokens, device);
  s.positions = longs(positions, device);
  s.write_slots = longs(write_slots, device);
  for (size_t g = 0; g < s.groups.size(); ++g) {
    auto& grp = s.groups[g];
    const int64_t C = static_cast<int64_t>(host_groups[g].first.size()) / grp.batch;
    grp.key_slots = longs(host_groups[g].first, device).view({grp.batch, C});
    grp.mask = torch::from_blob(host_groups[g].second.data(), {grp.batch, 1, grp.queries, C}, torch::kFloat32)
                   .to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
  }
  if (!prefill.empty() || static_cast<int64_t>(logit_rows.size()) != static_cast<int64_t>(tokens.size()))
    s.logit_rows = longs(logit_rows, device);
  return s;
}

}  // namespace gpumix::llm
