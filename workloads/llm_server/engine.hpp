// The engine: one thread runs iterations over the paged KV cache with
// continuous batching. Each iteration takes new requests, drops cancelled
// ones (their blocks go back at once), admits waiting requests in arrival
// order while their blocks fit (a request reserves the blocks of its prompt
// plus max_tokens, so a running sequence never runs out), prefills at most
// --prefill-chunk prompt tokens (the rest next iteration, so decode steps are
// not starved) and decodes one token for every running sequence whose prompt
// is in the cache, all in one forward pass. Optionally (CUDA) a decode-only
// iteration replays a CUDA graph captured for the next larger batch size and
// context bucket.
#pragma once

#include "block_pool.hpp"
#include "completion.hpp"
#include "decode_graphs.hpp"
#include "model.hpp"

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <thread>

namespace gpumix::llm {

struct EngineOptions {
  int64_t max_batch = 64;       // sequences running at once
  int64_t prefill_chunk = 512;  // prompt tokens prefilled per iteration
  int64_t max_waiting = 256;    // requests waiting for admission before new ones are refused
  std::vector<int64_t> graph_batch_sizes;  // CUDA graphs of the decode step; empty: none
};

// Iterations of one kind and size: how many and their total time.
struct StepTimes {
  int64_t steps = 0;
  double total_ms = 0;  // the whole iteration: scheduling, inputs, the forward pass, sampling
  double gpu_ms = 0;    // the forward pass (or graph replay) on the GPU, from CUDA events; 0 on the CPU
  double first_ms = 0;  // the first of these iterations: one-time costs (kernel plans for a new shape)
  // The mean iteration time apart from the first (the first's when it is the only one).
  double warm_mean_ms() const { return steps > 1 ? (total_ms - first_ms) / static_cast<double>(steps - 1) : total_ms; }
};

class Engine {
 public:
  // Called on the engine thread when a completion ends well (not cancelled,
  // not failed), after it is marked finished.
  using OnFinished = std::function<void(const Completion&)>;

  Engine(Model& model, BlockPool& pool, EngineOptions options, OnFinished on_finished);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  enum class Submit { queued, full, closed };
  Submit submit(std::shared_ptr<Completion> c);
  // Wakes the engine so that it sees a cancel flag at once.
  void wake();
  // Ends the thread; completions not finished end with an error.
  void close();

  int64_t running() const { return running_count_; }
  int64_t waiting() const { return waiting_count_; }
  // Tokens generated since start, cancelled sequences' included.
  int64_t tokens_generated() const { return tokens_generated_; }
  // Decode-only iterations by batch size, prefill-only ones by prompt tokens.
  std::map<int64_t, StepTimes> decode_step_times() const;
  std::map<int64_t, StepTimes> prefill_step_times() const;
  // Whether StepTimes::gpu_ms is measured (a model on a GPU).
  bool gpu_timed() const { return forward_timer_.enabled(); }
  // Decode graph batch sizes and context buckets captured (empty without CUDA graphs).
  std::vector<int64_t> graph_sizes() const;
  std::vector<int64_t> graph_contexts() const;

 private:
  struct Sequence {
    std::shared_ptr<Completion> c;
    std::vector<int64_t> blocks;
    int64_t prefilled = 0;               // prompt tokens in the cache
    std::vector<int64_t> generated;      // the engine's copy of c->output
    std::mt19937_64 rng;
  };
  void loop();
  bool iterate();  // false when there is nothing to do
  void end(Sequence& s, const std::string& reason, const std::string& error = "");
  void emit(Sequence& s, int64_t token);

  Model& model_;
  BlockPool& pool_;
  EngineOptions opt_;
  OnFinished on_finished_;
  std::unique_ptr<DecodeGraphs> graphs_;

  mutable std::mutex mu_;  // guards incoming_, closed_, decode_times_, prefill_times_
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Completion>> incoming_;
  bool closed_ = false;
  std::map<int64_t, StepTimes> decode_times_, prefill_times_;

  // The engine thread's.
  std::deque<Sequence> waiting_;
  std::vector<Sequence> running_;
  std::atomic<int64_t> running_count_{0}, waiting_count_{0}, tokens_generated_{0};
  compat::GpuTimer forward_timer_;  // the engine thread's
  std::thread thread_;
};

}  // namespace gpumix::llm
