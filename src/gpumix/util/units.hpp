// Parsing of the human quantities a mix file uses: durations ("90s", "2m",
// "500ms", or a plain number of seconds) and byte sizes ("8GiB", "512MB").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gpumix {

using Duration = std::chrono::nanoseconds;

// nullopt when `text` is not a duration; negative values are returned as
// negative so the caller can say "must not be negative" rather than "bad".
std::optional<Duration> parse_duration(std::string_view text);

// Bytes; decimal (KB, MB, GB, TB) and binary (KiB, MiB, GiB, TiB) units, "B"
// or no unit for bytes; "K", "M", "G", "T" alone are binary, as in MPS limits.
std::optional<int64_t> parse_bytes(std::string_view text);

// "1.5s", "250ms", "2m30s": compact, for messages and tables.
std::string format_duration(Duration d);
// "8.0 GiB"
std::string format_bytes(int64_t bytes);

double to_seconds(Duration d);

}  // namespace gpumix

namespace gpumix {
// Unix nanoseconds → "2026-11-23 21:10:05" in local time; "-" for 0.
std::string format_timestamp(int64_t unix_ns);
}  // namespace gpumix
