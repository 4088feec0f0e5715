#include "runtime/sched/size.h"

#include <cctype>
#include <cmath>
#include <string>

#include "loader/error.h"

namespace moevk::sched {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// Power of 1024 of a unit spelling, or -1 when unknown.
int unit_shift(std::string_view unit) {
  const std::string u = lower(unit);
  if (u.empty() || u == "b") return 0;
  static constexpr std::string_view kLetters = "kmgt";
  if (u.size() > 3) return -1;
  const size_t i = kLetters.find(u[0]);
  if (i == std::string_view::npos) return -1;
  const std::string_view rest = std::string_view(u).substr(1);
  if (rest.empty() || rest == "b" || rest == "ib") return static_cast<int>(10 * (i + 1));
  return -1;
}

}  // namespace

uint64_t parse_size(std::string_view text) {
  std::string_view s = text;
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  if (s.empty()) fail("invalid size '{}': empty (expected e.g. 6G, 512M, 1.5GiB or 123456)", text);
  if (s.front() == '-') fail("invalid size '{}': negative", text);
  if (s.front() == '+') s.remove_prefix(1);

  // Whole part, optional fraction.
  size_t i = 0;
  uint64_t whole = 0;
  bool whole_overflow = false;
  size_t n_digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    const uint64_t d = static_cast<uint64_t>(s[i] - '0');
    whole_overflow |= whole > (UINT64_MAX - d) / 10;
    whole = whole * 10 + d;  // meaningless once it overflowed, and then never used
    ++i;
    ++n_digits;
  }
  std::string_view frac;
  if (i < s.size() && s[i] == '.') {
    const size_t start = ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    frac = s.substr(start, i - start);
    n_digits += frac.size();
  }
  if (n_digits == 0)
    fail("invalid size '{}': no number (expected e.g. 6G, 512M, 1.5GiB or 123456)", text);
  std::string_view unit = s.substr(i);
  while (!unit.empty() && is_blank(unit.front())) unit.remove_prefix(1);
  const int shift = unit_shift(unit);
  if (shift < 0)
    fail(
        "invalid size '{}': unknown unit '{}' (use B, K, M, G, T; KiB/MiB/GiB/TiB and KB/MB/GB/TB "
        "mean the same binary units)",
        text, unit);
  if (whole_overflow || (shift > 0 && whole > (UINT64_MAX >> shift)))
    fail("invalid size '{}': too large", text);

  uint64_t bytes = whole << shift;
  bool frac_nonzero = false;
  for (char c : frac) frac_nonzero |= c != '0';
  if (frac_nonzero) {
    if (shift == 0) fail("invalid size '{}': a number of bytes must be whole", text);
    // Fraction of the unit, exact for up to 19 digits: floor(0.f * 2^shift).
    std::string digits(frac.substr(0, 18));
    uint64_t num = std::stoull(digits);
    uint64_t den = 1;
    for (size_t k = 0; k < digits.size(); ++k) den *= 10;
    const unsigned __int128 part = (static_cast<unsigned __int128>(num) << shift) / den;
    if (bytes > UINT64_MAX - static_cast<uint64_t>(part))
      fail("invalid size '{}': too large", text);
    bytes += static_cast<uint64_t>(part);
  }
  return bytes;
}

std::string format_size(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  int u = 0;
  double v = static_cast<double>(bytes);
  while (v >= 1024.0 && u < 6) {
    v /= 1024.0;
    ++u;
  }
  return fmt::format("{:.2f} {}", v, kUnits[u]);
}

}  // namespace moevk::sched
