#include "decode_graphs.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

// An NVTX range around each replay, "decode-b<rows>", so that a profiler can
// take the decode steps of one batch size (ncu --nvtx --nvtx-include decode-b1/).
// Header-only; costs nothing unless a profiler is attached.
#if GPUMIX_HAS_CUDA && __has_include(<nvtx3/nvToolsExt.h>)
#include <nvtx3/nvToolsExt.h>
#define GPUMIX_NVTX 1
#else
#define GPUMIX_NVTX 0
#endif

namespace gpumix::llm {

struct DecodeGraphs::Graph {
  StepTensors in;        // static inputs the graph reads
  torch::Tensor logits;  // static output, [batch, vocab]
  compat::CudaGraph graph;
};

std::vector<int64_t> DecodeGraphs::context_buckets(int64_t max_context) {
  std::vector<int64_t> buckets;
  for (int64_t c = 256; c < max_context; c *= 2) buckets.push_back(c);
  buckets.push_back(max_context);
  return buckets;
}

DecodeGraphs::DecodeGraphs(Model& model, const BlockPool& pool, std::vector<int64_t> sizes)
    : model_(model), pool_(pool), sizes_(std::move(sizes)), contexts_(context_buckets(model.config().max_context)) {
  if (!compat::has_cuda_graphs() || !model.device().is_cuda())
    throw std::runtime_error("CUDA graphs need a CUDA device and a LibTorch built with CUDA");
  std::sort(sizes_.begin(), sizes_.end());
  sizes_.erase(std::unique(sizes_.begin(), sizes_.end()), sizes_.end());
  const auto pool_id = compat::new_graph_pool();
  // Largest first: the smaller graphs reuse its memory from the shared pool.
  graphs_.resize(sizes_.size() * contexts_.size());
  for (size_t k = graphs_.size(); k-- > 0;) {
    graphs_[k] = std::make_unique<Graph>();
    auto& g = *graphs_[k];
    // Every row a padding row; each step's rows are copied in before its replay.
    g.in = build_step({}, {}, pool_, model_.device(), sizes_[k / contexts_.size()], contexts_[k % contexts_.size()]);
    g.in.logit_rows = torch::Tensor();
    g.graph.capture([&] { g.logits = model_.forward(g.in); }, compat::CudaGraph::kDefaultWarmup, pool_id);
  }
}

DecodeGraphs::~DecodeGraphs() = default;

bool DecodeGraphs::fits(int64_t rows) const { return !sizes_.empty() && rows <= sizes_.back(); }

size_t DecodeGraphs::graph_for(int64_t rows, int64_t context) const {
  const size_t i = static_cast<size_t>(std::lower_bound(sizes_.begin(), sizes_.end(), rows) - sizes_.begin());
  const size_t j = static_cast<size_t>(std::lower_bound(contexts_.begin(), contexts_.end(), context) - contexts_.begin());
  if (i == sizes_.size() || j == contexts_.size())
    throw std::logic_error("no decode graph holds " + std::to_string(rows) + " rows of " + std::to_string(context) + " keys");
  return i * contexts_.size() + j;
}

DecodeGraphs::Loaded DecodeGraphs::load(const std::vector<DecodeRow>& rows) {
  int64_t context = 0;
  for (const auto& r : rows) context = std::max(context, r.position + 1);
  const Loaded step{graph_for(static_cast<int64_t>(rows.size()), context), static_cast<int64_t>(rows.size())};
  auto& g = *graphs_[step.graph];
  auto fresh = build_step(rows, {}, pool_, model_.device(), g.in.tokens.size(0), g.in.groups[0].key_slots.size(1));
  // The same layout up to the logit rows, which the graph does not read.
  g.in.packed.copy_(fresh.packed.narrow(0, 0, g.in.packed.size(0)));
  return step;
}

torch::Tensor DecodeGraphs::replay(const Loaded& step) {
  auto& g = *graphs_[step.graph];
#if GPUMIX_NVTX
  nvtxRangePushA(("decode-b" + std::to_string(g.in.tokens.size(0))).c_str());
#endif
  g.graph.replay();
#if GPUMIX_NVTX
  nvtxRangePop();
#endif
  return g.logits.narrow(0, 0, step.rows);
}

}  // namespace gpumix::llm
