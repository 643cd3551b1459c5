// The tensors of one engine iteration, built on the host from the sequences'
// block tables and copied to the device in one transfer: decode rows first
// (one group, optionally padded to a batch size and a key count for a CUDA
// graph), then each prefill chunk as a group of its own (causal: a row sees
// the keys up to its position).
#pragma once

#include "block_pool.hpp"
#include "model.hpp"

#include <vector>

namespace gpumix::llm {

struct DecodeRow {
  int64_t token = 0, position = 0;  // the last token produced, fed at its position
  const std::vector<int64_t>* blocks = nullptr;
};

struct PrefillPart {
  const std::vector<int64_t>* prompt = nullptr;
  int64_t begin = 0, count = 0;  // prompt[begin, begin + count) this iteration
  const std::vector<int64_t>* blocks = nullptr;
  bool last() const { return begin + count == static_cast<int64_t>(prompt->size()); }
};

// `pad_batch` >= decode.size() rows in the decode group reading
// `decode_context` keys each (0: as many as the longest row needs). Padding
// rows write to and read from the padding block. logit_rows: the decode rows
// and the last row of every prefill part that ends its prompt, in that order;
// undefined when that is every row (decode only, no padding).
StepTensors build_step(const std::vector<DecodeRow>& decode, const std::vector<PrefillPart>& prefill,
                       const BlockPool& pool, torch::Device device, int64_t pad_batch = 0, int64_t decode_context = 0);

}  // namespace gpumix::llm
