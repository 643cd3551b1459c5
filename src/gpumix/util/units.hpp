// Durations and sizes (parse_duration, parse_bytes, format_duration, ...) are
// shared with the built-in workloads: workloads/common/gpumix/units.hpp.
#pragma once

#include <cstdint>
#include <string>

#include "gpumix/units.hpp"

namespace gpumix {
// Unix nanoseconds → "2026-11-23 21:10:05" in local time; "-" for 0.
std::string format_timestamp(int64_t unix_ns);
}  // namespace gpumix
