#include "block_pool.hpp"

#include <stdexcept>

namespace gpumix::llm {

BlockPool::BlockPool(int64_t blocks, int64_t block_size) : block_size_(block_size), total_(static_cast<size_t>(blocks)) {
  if (blocks < 2 || block_size < 1) throw std::invalid_argument("a block pool needs 2 blocks and a positive block size");
  // Highest first so that allocate() pops the lowest: block tables read in order.
  for (int64_t b = blocks - 1; b > kPaddingBlock; --b) free_.push_back(b);
}

std::vector<int64_t> BlockPool::allocate(int64_t n) {
  if (n > free()) return {};
  std::vector<int64_t> out(free_.end() - n, free_.end());
  free_.resize(free_.size() - static_cast<size_t>(n));
  used_ += n;
  return out;
}

void BlockPool::release(std::vector<int64_t>& blocks) {
  used_ -= static_cast<int64_t>(blocks.size());
  free_.insert(free_.end(), blocks.begin(), blocks.end());
  blocks.clear();
}

}  // namespace gpumix::llm
