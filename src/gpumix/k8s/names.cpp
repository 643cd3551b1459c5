#include "gpumix/k8s/names.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstdint>
#include <regex>

#include "gpumix/util/errors.hpp"

namespace gpumix::k8s {
namespace {

bool matches(std::string_view s, const std::regex& re) { return std::regex_match(s.begin(), s.end(), re); }

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

}  // namespace

bool is_dns1123_label(std::string_view s, size_t max) {
  static const std::regex re("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  return !s.empty() && s.size() <= max && s.size() <= 63 && matches(s, re);
}

bool is_dns1123_subdomain(std::string_view s) {
  static const std::regex re("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  return !s.empty() && s.size() <= 253 && matches(s, re);
}

bool is_qualified_name(std::string_view s) {
  static const std::regex name("([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]");
  const auto slash = s.find('/');
  std::string_view n = s;
  if (slash != std::string_view::npos) {
    if (!is_dns1123_subdomain(s.substr(0, slash))) return false;
    n = s.substr(slash + 1);
  }
  return !n.empty() && n.size() <= 63 && matches(n, name);
}

bool is_label_value(std::string_view s) {
  static const std::regex re("(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?");
  return s.size() <= 63 && matches(s, re);
}

bool is_env_name(std::string_view s) {
  static const std::regex re("[-._a-zA-Z][-._a-zA-Z0-9]*");
  return !s.empty() && matches(s, re);
}

bool is_config_map_key(std::string_view s) {
  static const std::regex re("[-._a-zA-Z0-9]+");
  return !s.empty() && s.size() <= 253 && matches(s, re);
}

bool is_quantity(std::string_view s) {
  static const std::regex re("[+-]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?[0-9]+))?");
  return !s.empty() && matches(s, re);
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
