// A comma-separated list of positive integers, such as the batch sizes that
// get a CUDA graph (`--graph-batch-sizes 1,2,4,8`): BadArgument naming the
// option and the item otherwise.
#pragma once

#include "gpumix/cli.hpp"

#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

namespace gpumix::wl {

inline std::vector<int64_t> parse_size_list(const std::string& option, const std::string& text) {
  std::vector<int64_t> sizes;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      const long long v = std::stoll(item, &used);
      if (used != item.size() || v < 1) throw std::invalid_argument(item);
      sizes.push_back(v);
    } catch (const std::exception&) {
      throw BadArgument(option + ": '" + item + "' is not a positive integer (expected e.g. 1,2,4,8)");
    }
  }
  return sizes;
}

}  // namespace gpumix::wl
