// The human quantities gpumix and its built-in workloads read and write:
// durations ("500ms", "30s", "2m", "1h") and byte sizes ("8GiB", "512MB").
// One parser for the mix file, gpumix's options and every built-in's
// arguments (docs/cli.md), so that a duration means the same everywhere.
// Torch-free and dependency-free: the workloads link it (gpumix_units).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gpumix {

using Duration = std::chrono::nanoseconds;

// Whether a number without a unit is a duration (in seconds). The mix file's
// fields take one (docs/mix-spec.md); options and built-in arguments refuse
// it, so that `30` is never read as 30 steps by one program and 30 s by
// another (docs/cli.md).
enum class BareNumber { seconds, refused };

// nullopt when `text` is not a duration; negative values are returned as
// negative so the caller can say "must not be negative" rather than "bad".
// Units: us, ms, s, m or min, h.
std::optional<Duration> parse_duration(std::string_view text, BareNumber bare = BareNumber::seconds);

// Why `text` is not a duration with a unit that is >= 0 (an option's or a
// built-in argument's value), for a message "NAME: <why>"; nullopt when it
// is one.
std::optional<std::string> duration_error(std::string_view text);

// Bytes; decimal (KB, MB, GB, TB) and binary (KiB, MiB, GiB, TiB) units, "B"
// or no unit for bytes; "K", "M", "G", "T" alone are binary, as in MPS limits.
std::optional<int64_t> parse_bytes(std::string_view text);

// "1.5s", "250ms", "2m30s": compact, for messages and tables.
std::string format_duration(Duration d);
// "8.0 GiB"
std::string format_bytes(int64_t bytes);

double to_seconds(Duration d);

}  // namespace gpumix
