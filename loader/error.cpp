#include "loader/error.h"

#include <cstdint>

namespace moevk {

std::string printable(std::string_view s, size_t max_bytes, bool keep_newlines) {
  std::string out;
  size_t i = 0;
  while (i < s.size() && out.size() < max_bytes) {
    const auto c = static_cast<uint8_t>(s[i]);
    // The length of a well-formed UTF-8 sequence at i (no overlong forms, surrogates or C1 controls,
    // which some terminals obey), or 0.
    size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (n > 1) {
      if (i + n > s.size()) n = 0;
      for (size_t k = 1; k < n; ++k)
        if ((static_cast<uint8_t>(s[i + k]) & 0xC0) != 0x80) n = 0;
    }
    if (n > 1) {
      uint32_t cp = c & (0x7F >> n);
      for (size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3F);
      const uint32_t min = n == 2 ? 0xA0 : n == 3 ? 0x800 : 0x10000;  // 0x80-0x9F: C1 controls
      if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) n = 0;
    }
    if (n == 1 && ((c >= 0x20 && c != 0x7F) || (keep_newlines && (c == '\n' || c == '\t')))) {
      out += static_cast<char>(c);
    } else if (n > 1) {
      out.append(s.substr(i, n));
    } else {
      out += c == '\n' ? std::string("\\n") : fmt::format("\\x{:02x}", c);
      n = 1;
    }
    i += n;
  }
  if (i < s.size()) out += fmt::format("... ({} bytes in all)", s.size());
  return out;
}

}  // namespace moevk
