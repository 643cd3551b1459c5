#include "gpumix/spec/mode_variant.hpp"

#include <fmt/format.h>

#include <charconv>
#include <vector>

#include "gpumix/spec/sharing_mode.hpp"

namespace gpumix::spec {

namespace {

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const size_t end = text.find(sep, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

std::optional<int> integer_in(std::string_view text, int lo, int hi) {
  int v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) return std::nullopt;
  return v;
}

// MPS reads its limits in MiB ("8192M"); so does the label.
std::string pinned_text(int64_t bytes) { return std::to_string((bytes + (1 << 20) - 1) >> 20) + "M"; }

}  // namespace

std::string_view base_mode_name(std::string_view label) { return label.substr(0, label.find('[')); }

std::optional<ModeVariant> parse_mode_variant(std::string_view label, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<ModeVariant> {
    if (error) *error = why;
    return std::nullopt;
  };
  ModeVariant v;
  v.base = std::string(base_mode_name(label));
  const SharingMode* mode = find_sharing_mode(v.base);
  if (!mode) return fail("unknown mode '" + v.base + "'");
  if (v.base.size() == label.size()) return v;
  if (!mode->settings_in_name)
    return fail("mode '" + v.base + "' takes no settings in brackets (only " +
                fmt::format("{}", fmt::join(mode_names([](const SharingMode& m) { return m.settings_in_name; }), ", ")) +
                " does)");
  if (label.back() != ']') return fail("'" + std::string(label) + "': the settings end with ']'");
  const auto inside = label.substr(v.base.size() + 1, label.size() - v.base.size() - 2);
  if (inside.empty()) return fail("'" + std::string(label) + "': empty brackets (leave them out for the mix's own settings)");
  for (const auto item : split(inside, ',')) {
    const auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == item.size())
      return fail("'" + std::string(item) + "' in '" + std::string(label) + "': expected WORKLOAD=PERCENT, WORKLOAD.priority=0|1 or WORKLOAD.pinned=SIZE");
    const auto key = item.substr(0, eq), value = item.substr(eq + 1);
    const auto dot = key.find('.');
    const std::string workload(key.substr(0, dot));
    const auto setting = dot == std::string_view::npos ? std::string_view("sm_percent") : key.substr(dot + 1);
    MpsOptions& o = v.mps[workload];
    auto twice = [&] { return fail("'" + std::string(label) + "' sets " + workload + "'s " + std::string(setting) + " twice"); };
    if (setting == "sm_percent") {
      if (o.sm_percent) return twice();
      o.sm_percent = integer_in(value, 1, 100);
      if (!o.sm_percent) return fail("'" + std::string(item) + "': the SM percentage is a whole number from 1 to 100");
    } else if (setting == "priority") {
      if (o.priority) return twice();
      o.priority = integer_in(value, 0, 1);
      if (!o.priority) return fail("'" + std::string(item) + "': the priority is 0 (normal) or 1 (below normal)");
    } else if (setting == "pinned") {
      if (o.pinned_memory_limit) return twice();
      o.pinned_memory_limit = parse_bytes(value);
      if (!o.pinned_memory_limit || *o.pinned_memory_limit <= 0)
        return fail("'" + std::string(item) + "': the pinned memory limit is a size (\"8192M\", \"8GiB\")");
    } else {
      return fail("'" + std::string(item) + "': unknown setting '" + std::string(setting) + "' (priority, pinned)");
    }
  }
  return v;
}

std::string variant_label(const ModeVariant& v) {
  if (!v.configured()) return v.base;
  std::vector<std::string> items;
  for (const auto& [w, o] : v.mps) {
    if (o.sm_percent) items.push_back(w + "=" + std::to_string(*o.sm_percent));
    if (o.priority) items.push_back(w + ".priority=" + std::to_string(*o.priority));
    if (o.pinned_memory_limit) items.push_back(w + ".pinned=" + pinned_text(*o.pinned_memory_limit));
  }
  return v.base + "[" + fmt::format("{}", fmt::join(items, ",")) + "]";
}

std::optional<std::string> variant_workload_problem(const ModeVariant& v, const Mix& mix) {
  for (const auto& [name, _] : v.mps) {
    const Workload* w = mix.find(name);
    if (!w) return "no workload named '" + name + "'";
    if (w->role == Role::client) return "'" + name + "' is a load generator (role client): it has no MPS settings";
  }
  return std::nullopt;
}

std::vector<std::string> split_mode_list(std::string_view text) {
  std::vector<std::string> modes(1);
  int depth = 0;
  for (char c : text) {
    if (c == ',' && depth == 0) {
      modes.emplace_back();
      continue;
    }
    depth += c == '[' ? 1 : c == ']' && depth > 0 ? -1 : 0;
    modes.back() += c;
  }
  return modes;
}

MpsOptions with_overrides(const MpsOptions& own, const MpsOptions& over) {
  MpsOptions o = own;
  if (over.sm_percent) o.sm_percent = over.sm_percent;
  if (over.priority) o.priority = over.priority;
  if (over.pinned_memory_limit) o.pinned_memory_limit = over.pinned_memory_limit;
  return o;
}

bool operator==(const MpsOptions& a, const MpsOptions& b) {
  return a.sm_percent == b.sm_percent && a.pinned_memory_limit == b.pinned_memory_limit && a.priority == b.priority &&
         a.weight == b.weight;
}
bool operator==(const ModeVariant& a, const ModeVariant& b) { return a.base == b.base && a.mps == b.mps; }

}  // namespace gpumix::spec
