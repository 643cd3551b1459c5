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
  // One decode step in two parts, so that the step's GPU time can be taken
  // around the replay alone: load() builds the step's inputs on the host and
  // queues their copy into the graph that holds them (fits(rows.size()));
  // replay() runs that graph: logits [rows.size(), vocab].
  struct Loaded {
    size_t graph = 0;
    int64_t rows = 0;
  };
  Loaded load(const std::vector<DecodeRow>& rows);
  torch::Tensor replay(const Loaded& step);
  const std::vector<int64_t>& sizes() const { return sizes_; }
  const std::vector<int64_t>& contexts() const { return contexts_; }

  // The context buckets for a context length: 256, 512, ... below it, then it.
  static std::vector<int64_t> context_buckets(int64_t max_context);

 private:
  struct Graph;
  size_t graph_for(int64_t rows, int64_t context) const;

  Model& model_;
  const BlockPool& pool_;
  std::vector<int64_t> sizes_, contexts_;
  std::vector<std::unique_ptr<Graph>> graphs_;  // size-major: graphs_[i * contexts_.size() + j]
};

}  // namespace gpumix::llm
