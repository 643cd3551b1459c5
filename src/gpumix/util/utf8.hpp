// Reading UTF-8 one code point at a time: the mix parser's byte policy and
// the Kubernetes YAML emitter decide with it what text may pass.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace gpumix {

struct CodePoint {
  char32_t value = 0;
  size_t length = 0;  // bytes
};

// The code point starting at s[pos], or nullopt when the bytes there are not
// UTF-8: a stray continuation byte, a sequence cut short, an overlong form, a
// surrogate or a value beyond U+10FFFF.
inline std::optional<CodePoint> decode_utf8(std::string_view s, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) return CodePoint{lead, 1};
  size_t length = 0;
  char32_t value = 0, least = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2, value = lead & 0x1F, least = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, value = lead & 0x0F, least = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, value = lead & 0x07, least = 0x10000;
  } else {
    return std::nullopt;
  }
  if (pos + length > s.size()) return std::nullopt;
  for (size_t i = 1; i < length; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80) return std::nullopt;
    value = (value << 6) | (byte(pos + i) & 0x3F);
  }
  if (value < least || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return std::nullopt;
  return CodePoint{value, length};
}

// Whether all of `s` is UTF-8.
inline bool is_utf8(std::string_view s) {
  for (size_t pos = 0; pos < s.size();) {
    const auto cp = decode_utf8(s, pos);
    if (!cp) return false;
    pos += cp->length;
  }
  return true;
}

}  // namespace gpumix
