#include "gpumix/k8s/names.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstdint>

#include "gpumix/util/errors.hpp"

namespace gpumix::k8s {
namespace {

// Hand-written scanners, not std::regex: its matching recurses once per
// character and overflows the stack on the long strings a mix may hold.
// ASCII only, whatever the locale.
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || is_digit(c); }

template <class Pred>
bool all_of(std::string_view s, Pred pred) {
  for (char c : s)
    if (!pred(c)) return false;
  return true;
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool is_label_shape(std::string_view s) {
  return !s.empty() && is_lower_alnum(s.front()) && is_lower_alnum(s.back()) &&
         all_of(s, [](char c) { return is_lower_alnum(c) || c == '-'; });
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool is_name_part(std::string_view s) {
  return !s.empty() && is_alnum(s.front()) && is_alnum(s.back()) &&
         all_of(s, [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

// The digits at the front of `s`, consumed; how many.
size_t take_digits(std::string_view& s) {
  size_t n = 0;
  while (n < s.size() && is_digit(s[n])) ++n;
  s.remove_prefix(n);
  return n;
}

}  // namespace

bool is_dns1123_label(std::string_view s, size_t max) { return s.size() <= max && s.size() <= 63 && is_label_shape(s); }

bool is_dns1123_subdomain(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (size_t start = 0;;) {
    const size_t dot = s.find('.', start);
    if (!is_label_shape(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool is_qualified_name(std::string_view s) {
  const auto slash = s.find('/');
  std::string_view n = s;
  if (slash != std::string_view::npos) {
    if (!is_dns1123_subdomain(s.substr(0, slash))) return false;
    n = s.substr(slash + 1);
  }
  return n.size() <= 63 && is_name_part(n);
}

bool is_label_value(std::string_view s) { return s.empty() || (s.size() <= 63 && is_name_part(s)); }

bool is_env_name(std::string_view s) {
  auto ok = [](char c) { return is_alpha(c) || c == '-' || c == '.' || c == '_'; };
  return !s.empty() && ok(s.front()) && all_of(s, [&](char c) { return ok(c) || is_digit(c); });
}

bool is_config_map_key(std::string_view s) {
  return !s.empty() && s.size() <= 253 && all_of(s, [](char c) { return is_alnum(c) || c == '-' || c == '.' || c == '_'; });
}

// [+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?
bool is_quantity(std::string_view s) {
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) s.remove_prefix(1);
  const size_t whole = take_digits(s);
  size_t fraction = 0;
  if (!s.empty() && s.front() == '.') {
    s.remove_prefix(1);
    fraction = take_digits(s);
  }
  if (whole == 0 && fraction == 0) return false;
  if (s.empty()) return true;
  constexpr std::string_view kBinary = "KMGTPE", kDecimal = "numkMGTPE";
  if (s.size() == 2 && s[1] == 'i' && kBinary.find(s[0]) != std::string_view::npos) return true;
  if (s.size() == 1 && kDecimal.find(s[0]) != std::string_view::npos) return true;
  if (s.front() != 'e' && s.front() != 'E') return false;
  s.remove_prefix(1);
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) s.remove_prefix(1);
  return take_digits(s) > 0 && s.empty();
}

std::string dns1123_label(std::string_view text, size_t max, std::string_view what) {
  std::string out;
  for (char c : text) {
    if (is_alnum(c)) {
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.empty())
    throw InputError(std::string(what) + " '" + std::string(text) +
                     "': has no letter or digit to make a Kubernetes name from");
  if (out.size() > max) {
    uint32_t h = 2166136261u;  // FNV-1a: stable across platforms and runs
    for (char c : text) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
    out.resize(max - 9);
    while (!out.empty() && out.back() == '-') out.pop_back();
    out += fmt::format("-{:08x}", h);
  }
  return out;
}

}  // namespace gpumix::k8s
