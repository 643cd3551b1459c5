// The paged KV cache's bookkeeping: fixed-size blocks of `block_size` token
// slots, handed to sequences and taken back. Block 0 is never handed out: it
// is where padded rows of a batch write (and what they read), so padding can
// never touch a sequence's keys. Torch-free; used by the engine thread only,
// except used(), which /metrics reads.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

namespace gpumix::llm {

class BlockPool {
 public:
  static constexpr int64_t kPaddingBlock = 0;

  BlockPool(int64_t blocks, int64_t block_size);

  int64_t block_size() const { return block_size_; }
  // Blocks a sequence needs to hold `tokens` tokens.
  int64_t blocks_for(int64_t tokens) const { return (tokens + block_size_ - 1) / block_size_; }
  // Blocks sequences may have (all but the padding block).
  int64_t capacity() const { return static_cast<int64_t>(total_) - 1; }
  int64_t free() const { return static_cast<int64_t>(free_.size()); }
  int64_t used() const { return used_.load(); }
  double usage() const { return capacity() > 0 ? static_cast<double>(used()) / static_cast<double>(capacity()) : 0; }

  // `n` blocks, or none (empty) when fewer are free.
  std::vector<int64_t> allocate(int64_t n);
  // Gives `blocks` back and clears it.
  void release(std::vector<int64_t>& blocks);

  // The cache row of token `position` of a sequence holding `blocks`.
  int64_t slot(const std::vector<int64_t>& blocks, int64_t position) const {
    return blocks[static_cast<size_t>(position / block_size_)] * block_size_ + position % block_size_;
  }

 private:
  int64_t block_size_;
  size_t total_;
  std::vector<int64_t> free_;
  std::atomic<int64_t> used_{0};
};

}  // namespace gpumix::llm
