#include "gpumix/k8s/yaml_text.hpp"

#include <fmt/format.h>

#include <regex>

#include "gpumix/util/errors.hpp"
#include "gpumix/util/utf8.hpp"

namespace gpumix::k8s {
namespace {

using Json = nlohmann::ordered_json;

// A plain scalar a YAML 1.1 or 1.2 reader would take for a null, a boolean,
// a number, a time or a merge key: a short word, or a string made only of
// the characters of numbers below, which the regex decides (it is slow, and
// its matching recurses per character, so a long one is quoted unasked), or
// a date (2001-12-14) or time stamp starting with one.
bool reads_as_non_string(std::string_view s) {
  constexpr size_t kLongest = 64, kLongestWord = 5;  // FALSE
  const bool number_like = s.find_first_not_of("0123456789_+-.:eExXoObBabcdefABCDEFinfINFNa") == std::string_view::npos;
  if (s.size() > kLongest && number_like) return true;
  if (s.size() >= 8 && s.find_first_not_of("0123456789") == 4 && s[4] == '-') return true;
  if (s.size() > kLongest || (s.size() > kLongestWord && !number_like)) return false;
  static const std::regex non_string(
      "|~|null|Null|NULL|[yY]|[nN]|yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|"
      "[-+]?[0-9][0-9_]*(\\.[0-9_]*)?([eE][-+]?[0-9]+)?|[-+]?\\.[0-9]+([eE][-+]?[0-9]+)?|[-+]?0[xX][0-9a-fA-F_]+|"
      "[-+]?0[oO]?[0-7_]+|[-+]?0[bB][01_]+|[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)|[-+]?[0-9]+(:[0-5]?[0-9])+(\\.[0-9_]*)?|=|<<");
  return std::regex_match(s.begin(), s.end(), non_string);
}

bool is_plain(std::string_view s) {
  if (s.empty() || s.front() == ' ' || s.back() == ' ' || s.back() == ':') return false;
  for (char c : s)
    if (c < 0x20 || c > 0x7E) return false;  // printable ASCII only: no tab, break or anything to escape
  // Indicators that start something else; '-' only before a space ("- x" is a list).
  if (std::string_view("?:,[]{}#&*!|>'\"%@`").find(s.front()) != std::string_view::npos) return false;
  if (s.front() == '-' && (s.size() == 1 || s[1] == ' ')) return false;
  if (s.substr(0, 3) == "---" || s.substr(0, 3) == "...") return false;  // document markers
  if (s.find(": ") != std::string_view::npos || s.find(" #") != std::string_view::npos) return false;
  return !reads_as_non_string(s);
}

// Characters a literal block carries as they are: tab, line feed and the
// printable ones that no reader takes for a line break (YAML 1.1 readers
// such as go-yaml break lines at U+0085, U+2028 and U+2029; CR would become LF).
bool is_literal_char(char32_t c) {
  return c == '\t' || c == '\n' || (c >= 0x20 && c <= 0x7E) || (c >= 0xA0 && c <= 0xD7FF && c != 0x2028 && c != 0x2029) ||
         (c >= 0xE000 && c <= 0xFFFD && c != 0xFEFF) || (c >= 0x10000 && c <= 0x10FFFF);
}

// The code points of `s`; throws for bytes that are not UTF-8.
template <class F>
void for_each_code_point(std::string_view s, F&& f) {
  for (size_t pos = 0; pos < s.size();) {
    const auto cp = decode_utf8(s, pos);
    if (!cp)
      throw InputError(fmt::format("a value holds the byte 0x{:02X} (at byte {}), which is not UTF-8: YAML cannot carry it",
                                   static_cast<unsigned char>(s[pos]), pos));
    f(cp->value, s.substr(pos, cp->length));
    pos += cp->length;
  }
}

std::string double_quoted(std::string_view s) {
  std::string out = "\"";
  for_each_code_point(s, [&](char32_t c, std::string_view bytes) {
    switch (c) {
      case '"': out += "\\\""; return;
      case '\\': out += "\\\\"; return;
      case '\n': out += "\\n"; return;
      case '\t': out += "\\t"; return;
      case '\r': out += "\\r"; return;
      default: break;
    }
    if (c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0xA0))
      out += fmt::format("\\x{:02X}", static_cast<unsigned>(c));
    else if (c == 0x2028 || c == 0x2029 || c == 0xFEFF || c == 0xFFFE || c == 0xFFFF)
      out += fmt::format("\\u{:04X}", static_cast<unsigned>(c));
    else
      out += bytes;
  });
  return out + "\"";
}

// A literal block whose indicator ('|' of a value or '-' of a list entry)
// is in column `parent`: its lines are indented by parent + 2, which the
// indentation indicator `2` states when the first line would not show it
// (leading spaces, a tab, which libyaml refuses there, or an empty line).
std::string literal(std::string_view s, size_t parent) {
  const size_t last = s.find_last_not_of('\n');
  const size_t trailing_breaks = last == std::string_view::npos ? s.size() : s.size() - last - 1;
  std::string out = "|";
  if (s.front() == ' ' || s.front() == '\t' || s.front() == '\n') out += '2';
  if (trailing_breaks == 0) out += '-';                                           // strip: no final break
  if (trailing_breaks > 1 || last == std::string_view::npos) out += '+';          // keep: all of them
  out += '\n';
  const std::string indent(parent + 2, ' ');
  std::string_view rest = s;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    const auto line = rest.substr(0, nl);
    if (!line.empty()) out += indent;
    out += line;
    out += '\n';
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  }
  return out;
}

// A scalar after "key:" or "-" in column `parent`, with its line break.
std::string scalar(const Json& j, size_t parent, bool may_be_block) {
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    switch (string_style(s)) {
      case StringStyle::plain: return s + "\n";
      case StringStyle::literal:
        if (may_be_block) return literal(s, parent);
        [[fallthrough]];
      case StringStyle::double_quoted: return double_quoted(s) + "\n";
    }
  }
  if (j.is_boolean()) return j.get<bool>() ? "true\n" : "false\n";
  if (j.is_number_unsigned()) return std::to_string(j.get<uint64_t>()) + "\n";
  if (j.is_number_integer()) return std::to_string(j.get<int64_t>()) + "\n";
  if (j.is_number_float()) return fmt::format("{}\n", j.get<double>());
  if (j.is_object()) return "{}\n";  // only empty collections get here
  if (j.is_array()) return "[]\n";
  return "null\n";
}

void sequence(std::string& out, const Json& j, size_t indent, bool first_inline);

void mapping(std::string& out, const Json& j, size_t indent, bool first_inline) {
  bool first = true;
  for (const auto& [key, value] : j.items()) {
    if (!first || !first_inline) out.append(indent, ' ');
    first = false;
    auto key_text = scalar(Json(key), indent, false);
    key_text.pop_back();
    out += key_text + ":";
    if (value.is_object() && !value.empty()) {
      out += '\n';
      mapping(out, value, indent + 2, false);
    } else if (value.is_array() && !value.empty()) {
      out += '\n';
      sequence(out, value, indent + 2, false);
    } else {
      out += ' ' + scalar(value, indent, true);
    }
  }
}

void sequence(std::string& out, const Json& j, size_t indent, bool first_inline) {
  bool first = true;
  for (const auto& value : j) {
    if (!first || !first_inline) out.append(indent, ' ');
    first = false;
    out += "- ";
    if (value.is_object() && !value.empty())
      mapping(out, value, indent + 2, true);
    else if (value.is_array() && !value.empty())
      sequence(out, value, indent + 2, true);
    else
      out += scalar(value, indent, true);
  }
}

}  // namespace

StringStyle string_style(std::string_view s) {
  if (is_plain(s)) return StringStyle::plain;
  if (s.find('\n') == std::string_view::npos) return StringStyle::double_quoted;
  bool printable = true;
  for_each_code_point(s, [&](char32_t c, std::string_view) { printable = printable && is_literal_char(c); });
  return printable ? StringStyle::literal : StringStyle::double_quoted;
}

std::string to_yaml(const nlohmann::ordered_json& document) {
  std::string out;
  if (document.is_object() && !document.empty())
    mapping(out, document, 0, false);
  else if (document.is_array() && !document.empty())
    sequence(out, document, 0, false);
  else
    out = scalar(document, 0, false);
  return out;
}

}  // namespace gpumix::k8s
