// CUDA graphs of the decode step (CUDA builds only, --cuda-graphs): one graph
// per batch size and context bucket, each over static inputs padded to that
// batch size and to that many keys per row (a graph needs fixed shapes),
// replayed after the step's inputs are copied in. Padding rows write to and
// read the padding block. The buckets (powers of two from 256, then the
// context length) keep a step's reads within twice the keys it needs.
#pragma once

#include "block_pool.hpp"
#include "model.hpp"
#include "step.hpp"

#include <memory>
#include <vector>

namespace gpumix::llm {

class DecodeGraphs {
 public:
  // Captures a graph for each of `sizes` and each context bucket; throws
  // std::runtime_error without CUDA.
  DecodeGraphs(Model& model, const BlockPool& pool, std::vector<int64_t> sizes);
  ~DecodeGraphs();

  // Whether a captured graph holds `rows` sequences (their longest context is
  // never beyond the context length, which the last bucket covers).
  bool fits(int64_t rows) const;
  // Logits [rows.size(), vocab] of one decode step (fits(rows.size())).
  torch::Tensor run(const std::vector<DecodeRow>& rows);
  const std::vector<int64_t>& sizes() const { return sizes_; }
  const std::vector<int64_t>& contexts() const { return contexts_; }

  // The context buckets for a context length: 256, 512, ... below it, then it.
  static std::vector<int64_t> context_buckets(int64_t max_context);

 private:
  struct Graph;
  Graph& graph_for(int64_t rows, int64_t context);

  Model& model_;
  const BlockPool& pool_;
  std::vector<int64_t> sizes_, contexts_;
  std::vector<std::unique_ptr<Graph>> graphs_;  // size-major: graphs_[i * contexts_.size() + j]
};

}  // namespace gpumix::llm
