// A small backtracking regex engine over code points for the BPE pre-tokenizer patterns, and the
// split that llama.cpp applies with them (unicode_regex_split).
//
// Supported syntax (ECMAScript semantics, leftmost alternative wins, greedy quantifiers):
// alternation, (...), (?:...), (?=...), (?!...), classes [...] / [^...] with ranges and the escapes
// \s \S \d \r \n \t \p{L} \p{N} \p{P} \p{S} \p{M}, quantifiers * + ? {m} {m,} {m,n}, and $.
//
// Category semantics follow llama.cpp exactly: a pattern that names a \p{..} category runs over a
// "collapsed" text where every non-ASCII code point becomes one marker per category (non-ASCII
// whitespace becomes \v), and \p{X} matches that marker or the ASCII members of X. Patterns without
// categories run over the code points, with non-ASCII whitespace mapped to \v.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace moevk::tok {

class Regex {
 public:
  explicit Regex(std::string_view pattern);  // moevk::Error on unsupported syntax
  ~Regex();
  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;

  // Whether the pattern runs over collapsed text (it names a \p{..} category).
  bool uses_categories() const;
  // Leftmost non-empty match in text[from, n); false when none.
  bool search(const uint32_t* text, size_t n, size_t from, size_t& match_pos,
              size_t& match_len) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The code points a pattern sees: collapsed (categories) or not; see the header comment.
std::vector<uint32_t> regex_view(const std::vector<uint32_t>& cps, bool collapsed);

// Splits text as llama.cpp does: each pattern in turn refines the pieces (matches and the unmatched
// text between them both become pieces). Returns piece lengths in code points of `cps`.
std::vector<size_t> regex_split(const std::vector<uint32_t>& cps,
                                const std::vector<Regex>& patterns);

}  // namespace moevk::tok
