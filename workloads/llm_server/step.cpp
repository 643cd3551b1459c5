#include "step.hpp"

#include <algorithm>

namespace gpumix::llm {

StepTensors build_step(const std::vector<DecodeRow>& decode, const std::vector<PrefillPart>& prefill,
                       const BlockPool& pool, torch::Device device, int64_t pad_batch, int64_t decode_context) {
  const int64_t padding_slot = BlockPool::kPaddingBlock * pool.block_size();
  std::vector<int64_t> tokens, positions, write_slots, logit_rows;
  std::vector<std::vector<int64_t>> group_slots;
  StepTensors s;

  const int64_t nd = static_cast<int64_t>(decode.size());
  if (nd > 0 || pad_batch > 0) {
    const int64_t batch = std::max(pad_batch, nd);
    int64_t C = decode_context;
    if (C == 0)
      for (const auto& r : decode) C = std::max(C, r.position + 1);
    std::vector<int64_t> slots(static_cast<size_t>(batch * C), padding_slot);
    for (int64_t b = 0; b < batch; ++b) {
      const bool real = b < nd;
      const int64_t pos = real ? decode[b].position : 0;
      tokens.push_back(real ? decode[b].token : 0);
      positions.push_back(pos);
      write_slots.push_back(real ? pool.slot(*decode[b].blocks, pos) : padding_slot);
      if (real) {
        for (int64_t c = 0; c <= pos; ++c) slots[b * C + c] = pool.slot(*decode[b].blocks, c);
        logit_rows.push_back(b);
      }
    }
    s.groups.push_back({0, batch, 1, torch::Tensor()});
    group_slots.push_back(std::move(slots));
  }
  for (const auto& p : prefill) {
    const int64_t row_begin = static_cast<int64_t>(tokens.size()), C = p.begin + p.count;
    std::vector<int64_t> slots(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) slots[c] = pool.slot(*p.blocks, c);
    for (int64_t i = 0; i < p.count; ++i) {
      const int64_t pos = p.begin + i;
      tokens.push_back((*p.prompt)[pos]);
      positions.push_back(pos);
      write_slots.push_back(slots[pos]);
    }
    if (p.last()) logit_rows.push_back(row_begin + p.count - 1);
    s.groups.push_back({row_begin, 1, p.count, torch::Tensor()});
    group_slots.push_back(std::move(slots));
  }
  const bool every_row = prefill.empty() && logit_rows.size() == tokens.size();

  // One host buffer (pinned where the device is a GPU, so the copy is
  // asynchronous), one transfer, then views.
  std::vector<const std::vector<int64_t>*> parts = {&tokens, &positions, &write_slots};
  for (const auto& g : group_slots) parts.push_back(&g);
  if (!every_row) parts.push_back(&logit_rows);
  int64_t total = 0;
  for (const auto* part : parts) total += static_cast<int64_t>(part->size());
  auto host = torch::empty({total}, torch::TensorOptions().dtype(torch::kInt64).pinned_memory(device.is_cuda()));
  int64_t* at = host.data_ptr<int64_t>();
  for (const auto* part : parts) at = std::copy(part->begin(), part->end(), at);
  s.packed = host.to(device, /*non_blocking=*/device.is_cuda());

  int64_t offset = 0;
  auto next = [&](int64_t n) {
    auto view = s.packed.narrow(0, offset, n);
    offset += n;
    return view;
  };
  const auto rows = static_cast<int64_t>(tokens.size());
  s.tokens = next(rows);
  s.positions = next(rows);
  s.write_slots = next(rows);
  for (size_t g = 0; g < s.groups.size(); ++g) {
    auto& grp = s.groups[g];
    const int64_t n = static_cast<int64_t>(group_slots[g].size());
    grp.key_slots = next(n).view({grp.batch, n / grp.batch});
  }
  if (!every_row) s.logit_rows = next(static_cast<int64_t>(logit_rows.size()));
  return s;
}

}  // namespace gpumix::llm
