// The dynamic batcher's queue: HTTP handler threads push jobs, one batcher
// thread takes batches. Bounded (a full queue refuses at once, so overload
// becomes 503s instead of memory), at most `max_batch` images per batch, and
// an optional `max_delay` to wait for a fuller batch. Without a delay it is
// work-conserving: whatever is queued when the batcher asks is the batch, so
// batches grow by themselves while the GPU is busy and a lone request is not
// held back. No LibTorch here (unit-tested in tests/unit).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace gpumix::serving {

using Clock = std::chrono::steady_clock;

// One request's images waiting for the GPU. The handler thread owns it and
// blocks in wait() until the batcher has filled `output` and called complete().
struct Job {
  int64_t images = 1;
  const void* input = nullptr;  // images × the model's input bytes
  Clock::time_point arrived;
  Clock::time_point batched;    // set when taken into a batch
  int64_t batch_images = 0;     // size of the batch it ran in
  std::vector<float> output;    // images × the model's outputs
  std::string error;            // set instead of output when the batch failed

  void complete();
  void wait();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
};

class BatchQueue {
 public:
  struct Limits {
    int64_t max_batch = 64;         // images per batch
    int64_t max_queue = 256;        // requests waiting (not yet in a batch)
    std::chrono::microseconds max_delay{0};
  };
  explicit BatchQueue(Limits limits) : limits_(limits) {}

  enum class Push { queued, full, closed };
  // Never blocks. A job with more images than max_batch must be refused by
  // the caller beforehand (the protocol layer does).
  Push push(Job* job);

  // Blocks until a batch is due and returns it (jobs in arrival order, at
  // most max_batch images in all); returns an empty batch once closed and
  // drained.
  std::vector<Job*> next_batch();

  // No more pushes; next_batch drains what is queued, then returns empty.
  void close();

  size_t depth() const;

 private:
  Limits limits_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job*> queue_;
  int64_t queued_images_ = 0;
  bool closed_ = false;
};

}  // namespace gpumix::serving
