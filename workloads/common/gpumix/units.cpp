#include "gpumix/units.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <string>

namespace gpumix {
namespace {

// Splits "12.5GiB" into 12.5 and "GiB"; nullopt without a leading number.
std::optional<std::pair<double, std::string_view>> split_number(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || !std::isfinite(value)) return std::nullopt;
  std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.front()))) unit.remove_prefix(1);
  return std::make_pair(value, unit);
}

}  // namespace

std::optional<Duration> parse_duration(std::string_view text, BareNumber bare) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  auto [value, unit] = *parts;
  if (unit.empty() && bare == BareNumber::refused) return std::nullopt;
  double seconds_per_unit;
  if (unit.empty() || unit == "s") seconds_per_unit = 1;
  else if (unit == "ms") seconds_per_unit = 1e-3;
  else if (unit == "us") seconds_per_unit = 1e-6;
  else if (unit == "m" || unit == "min") seconds_per_unit = 60;
  else if (unit == "h") seconds_per_unit = 3600;
  else return std::nullopt;
  double ns = value * seconds_per_unit * 1e9;
  if (std::fabs(ns) > 9e18) return std::nullopt;
  return Duration(static_cast<int64_t>(std::llround(ns)));
}

std::optional<std::string> duration_error(std::string_view text) {
  const std::string quoted = "'" + std::string(text) + "'";
  const auto d = parse_duration(text, BareNumber::seconds);
  if (!d) return "expected a duration (e.g. 500ms, 10s, 2m), got " + quoted;
  if (d->count() < 0) return "must not be negative, got " + quoted;
  if (!parse_duration(text, BareNumber::refused))
    return quoted + " has no unit: write a duration such as " + std::string(text) + "s, 500ms or 2m";
  return std::nullopt;
}

std::optional<int64_t> parse_bytes(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  auto [value, unit] = *parts;
  double scale;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "KB") scale = 1e3;
  else if (unit == "MB") scale = 1e6;
  else if (unit == "GB") scale = 1e9;
  else if (unit == "TB") scale = 1e12;
  else if (unit == "K" || unit == "KiB") scale = 1024.0;
  else if (unit == "M" || unit == "MiB") scale = 1024.0 * 1024;
  else if (unit == "G" || unit == "GiB") scale = 1024.0 * 1024 * 1024;
  else if (unit == "T" || unit == "TiB") scale = 1024.0 * 1024 * 1024 * 1024;
  else return std::nullopt;
  double bytes = value * scale;
  if (std::fabs(bytes) > 9e18) return std::nullopt;
  return static_cast<int64_t>(std::llround(bytes));
}

std::string format_duration(Duration d) {
  double s = to_seconds(d);
  char buf[32];
  if (std::fabs(s) < 1) std::snprintf(buf, sizeof buf, "%.0fms", s * 1e3);
  else if (std::fabs(s) < 120) std::snprintf(buf, sizeof buf, "%.3gs", s);
  else {
    // Round to whole seconds first: 179.6 s is "3m00s", not "2m60s".
    long long total = std::llround(std::fabs(s));
    std::snprintf(buf, sizeof buf, "%s%lldm%02llds", s < 0 ? "-" : "", total / 60, total % 60);
  }
  return buf;
}

std::string format_bytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (std::fabs(v) >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

double to_seconds(Duration d) { return static_cast<double>(d.count()) / 1e9; }

}  // namespace gpumix
