// CUDA graphs of the decode step (CUDA builds only; untested on a GPU so far,
// off unless --cuda-graphs): one graph per batch size, each over static
// inputs padded to that batch size and to --max-context keys per row (a
// graph needs fixed shapes), replayed after the step's inputs are copied in.
// Padding rows write to and read the padding block. Reading every row's keys
// up to the context length costs memory bandwidth at long contexts: measure
// before turning it on.
#pragma once

#include "block_pool.hpp"
#include "model.hpp"
#include "step.hpp"

#include <memory>
#include <vector>

namespace gpumix::llm {

class DecodeGraphs {
 public:
  // Captures a graph for each of `sizes`; throws std::runtime_error without CUDA.
  DecodeGraphs(Model& model, const BlockPool& pool, std::vector<int64_t> sizes);
  ~DecodeGraphs();

  // The smallest captured batch size holding `rows`, 0 when none does.
  int64_t size_for(int64_t rows) const;
  // Logits [rows.size(), vocab] of one decode step (size_for(rows) > 0).
  torch::Tensor run(const std::vector<DecodeRow>& rows);
  const std::vector<int64_t>& sizes() const { return sizes_; }

 private:
  struct Graph;
  Model& model_;
  const BlockPool& pool_;
  std::vector<int64_t> sizes_;
  std::vector<std::unique_ptr<Graph>> graphs_;
};

}  // namespace gpumix::llm
