// One served model: a ResNet prepared for inference (batch norms folded,
// bf16, channels_last) that runs the batches of a BatchQueue.
//
// On CUDA the work is a two-stage pipeline so that the GPU never waits for
// the CPU: the batcher thread copies a batch's images into pinned memory,
// queues the host-to-device copy, the replay of the CUDA graph captured for
// the smallest batch size that fits (inputs padded) and the copy back, then
// goes on to the next batch; a completion thread waits for each batch's
// event and hands the outputs to the waiting requests. Two staging slots, so
// at most two batches are in flight. uint8 inputs are normalized (ImageNet
// mean and std) on the GPU inside the graph. On the CPU one thread runs each
// batch eagerly.
#pragma once

#include "batch_queue.hpp"
#include "gpumix/kserve.hpp"

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace gpumix::serving {

struct EngineOptions {
  std::string arch = "resnet50";
  int64_t image_size = 224;
  int64_t num_classes = 1000;
  int64_t max_batch = 64;
  kserve::DataType input_type = kserve::DataType::uint8;
  bool bf16 = true;
  bool channels_last = true;
  bool cuda_graphs = true;
  std::vector<int64_t> graph_batch_sizes;  // captured sizes (max_batch is always added)
  // Asked between graph captures: true stops preparing (a SIGTERM while loading), and the engine must not serve.
  std::function<bool()> stop_preparing;
};

class Engine {
 public:
  Engine(const EngineOptions& options, const torch::Device& device);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const kserve::ModelSpec& spec() const { return spec_; }
  size_t input_bytes_per_image() const { return input_bytes_; }
  // The batch sizes with a captured graph (empty without graphs).
  const std::vector<int64_t>& graph_sizes() const { return graph_sizes_; }

  // Runs the batches of `queue` until it is closed and drained, completing
  // every job with its output (or its error).
  void serve(BatchQueue& queue);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  kserve::ModelSpec spec_;
  size_t input_bytes_ = 0;
  std::vector<int64_t> graph_sizes_;
};

}  // namespace gpumix::serving
