#include "decode_graphs.hpp"

#include <algorithm>
#include <stdexcept>

namespace gpumix::llm {

struct DecodeGraphs::Graph {
  StepTensors in;       // static inputs the graph reads
  torch::Tensor logits;  // static output, [batch, vocab]
  compat::CudaGraph graph;
};

DecodeGraphs::DecodeGraphs(Model& model, const BlockPool& pool, std::vector<int64_t> sizes)
    : model_(model), pool_(pool), sizes_(std::move(sizes)) {
  if (!compat::has_cuda_graphs() || !model.device().is_cuda())
    throw std::runtime_error("CUDA graphs need a CUDA device and a LibTorch built with CUDA");
  std::sort(sizes_.begin(), sizes_.end());
  sizes_.erase(std::unique(sizes_.begin(), sizes_.end()), sizes_.end());
  const auto pool_id = compat::new_graph_pool();
  // Largest first: the smaller graphs reuse its memory from the shared pool.
  graphs_.resize(sizes_.size());
  for (size_t i = sizes_.size(); i-- > 0;) {
    graphs_[i] = std::make_unique<Graph>();
    auto& g = *graphs_[i];
    // Every row a padding row; each step's rows are copied in before its replay.
    g.in = build_step({}, {}, pool_, model_.device(), model_.dtype(), sizes_[i], model_.config().max_context);
    g.in.logit_rows = torch::Tensor();
    g.graph.capture([&] { g.logits = model_.forward(g.in); }, compat::CudaGraph::kDefaultWarmup, pool_id);
  }
}

DecodeGraphs::~DecodeGraphs() = default;

int64_t DecodeGraphs::size_for(int64_t rows) const {
  for (auto s : sizes_)
    if (s >= rows) return s;
  return 0;
}

torch::Tensor DecodeGraphs::run(const std::vector<DecodeRow>& rows) {
  const int64_t size = size_for(static_cast<int64_t>(rows.size()));
  auto& g = *graphs_[static_cast<size_t>(std::find(sizes_.begin(), sizes_.end(), size) - sizes_.begin())];
  auto fresh = build_step(rows, {}, pool_, model_.device(), model_.dtype(), size, model_.config().max_context);
  g.in.tokens.copy_(fresh.tokens);
  g.in.positions.copy_(fresh.positions);
  g.in.write_slots.copy_(fresh.write_slots);
  g.in.groups[0].key_slots.copy_(fresh.groups[0].key_slots);
  g.in.groups[0].mask.copy_(fresh.groups[0].mask);
  g.graph.replay();
  return g.logits.narrow(0, 0, static_cast<int64_t>(rows.size()));
}

}  // namespace gpumix::llm
