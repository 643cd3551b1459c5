// Joining text: the one helper for lists in messages, tables and commands.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <vector>

namespace gpumix {

// `parts` (any range of strings: a vector, a set) with `sep` between each two
// ("a, b, c").
template <class Range>
std::string join(const Range& parts, std::string_view sep) {
  return fmt::format("{}", fmt::join(parts, sep));
}

}  // namespace gpumix
