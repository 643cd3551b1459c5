// One completion request as the HTTP handler and the engine share it: what
// was asked (fixed at submission), the tokens produced so far and how it
// ended (under `mu`, signalled on `cv`), and a cancel flag the handler sets
// when its client goes away. Torch-free.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace gpumix::llm {

using Clock = std::chrono::steady_clock;

struct Completion {
  // The request.
  std::vector<int64_t> prompt;
  int64_t max_tokens = 16;
  double temperature = 1.0;  // 0: greedy
  uint64_t seed = 0;
  bool ignore_eos = false;
  Clock::time_point arrived;

  // What the engine produced (guarded by mu).
  std::mutex mu;
  std::condition_variable cv;
  std::vector<int64_t> output;
  bool finished = false;
  std::string finish_reason;  // length | stop
  std::string error;          // set when the engine failed it (finished too)
  Clock::time_point first_token, finished_at;

  std::atomic<bool> cancelled{false};

  // Waits until there are more than `seen` tokens or the completion ended.
  void wait_beyond(size_t seen) {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return finished || output.size() > seen; });
  }
};

}  // namespace gpumix::llm
