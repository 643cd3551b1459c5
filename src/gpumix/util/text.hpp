// Joining text: the one helper for lists in messages, tables and commands.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>
#include <vector>

namespace gpumix {

// `parts` with `sep` between each two ("a, b, c").
inline std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  return fmt::format("{}", fmt::join(parts, sep));
}

}  // namespace gpumix
