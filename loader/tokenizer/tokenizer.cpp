#include "loader/tokenizer/tokenizer.h"

#include <algorithm>
#include <cctype>

#include "loader/error.h"
#include "loader/tokenizer/tokenizer_regex.h"
#include "loader/tokenizer/unicode.h"

namespace moevk {

namespace {

// The split patterns llama.cpp uses for each pre-tokenizer (facts from llama-vocab.cpp; the
// case-insensitive contractions are spelled out as llama.cpp does).
std::vector<std::string> pre_patterns(PreTokenizer pre) {
  const std::string gpt2 =
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
  const std::string contractions = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
  switch (pre) {
    case PreTokenizer::kLlama3:
      return {contractions +
              "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
              "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    case PreTokenizer::kQwen2:
      return {contractions +
              "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
              "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    case PreTokenizer::kDeepseekLlm:
      return {
          "[\r\n]",
          "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-"
          "Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-"
          "Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u1F7Dᾀ-ᾴᾶ-ᾼ\u1FBEῂ-ῄῆ-ῌῐ-\u1FD3ῖ-\u1FDBῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ\u212A-"
          "ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-"
          "ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ\U00010400-\U0001044f𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-"
          "𐳲𑢠-𑣟𞤀-𞥃]+",
          "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
          "\\s+$",
          "[一-龥ࠀ-一가-퟿]+",
          "\\p{N}+",
      };
    case PreTokenizer::kDeepseekCoder:
      return {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"};
    case PreTokenizer::kDeepseek3:
      return {
          "\\p{N}{1,3}",
          "[一-龥぀-ゟ゠-ヿ]+",
          "[!\"#$%&'()*+,\\-./"
          ":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
          "| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
      };
    case PreTokenizer::kGpt4o: {
      // [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] and [\p{Ll}\p{Lm}\p{Lo}\p{M}] approximated with lookaheads
      // exactly as llama.cpp does.
      const std::string upper = "((?=[\\p{L}])([^a-z]))", lower = "((?=[\\p{L}])([^A-Z]))";
      return {"[^\\r\\n\\p{L}\\p{N}]?" + upper + "*" + lower + "+" + contractions + "?" +
              "|[^\\r\\n\\p{L}\\p{N}]?" + upper + "+" + lower + "*" + contractions + "?" +
              "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"};
    }
    case PreTokenizer::kGpt2:
      return {gpt2};
    case PreTokenizer::kFalcon:
      return {"[\\p{P}\\$\\+<=>\\^~\\|`]+", gpt2, "[0-9][0-9][0-9]"};
    case PreTokenizer::kStarcoder:
      return {"\\p{N}", gpt2};
    case PreTokenizer::kDefault:
      return {"[\\p{P}\\$\\+<=>\\^~\\|]+", gpt2, "\\p{N}+", "[0-9][0-9][0-9]"};
  }
  return {gpt2};
}

struct Fragment {
  TokenId token;  // kNoToken for raw text
  size_t offset, length;
};

bool is_space_byte(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// [begin, end) lies inside one of the sorted, disjoint markup ranges.
bool inside_markup(std::span<const TextRange> markup, size_t begin, size_t end) {
  auto it = std::upper_bound(markup.begin(), markup.end(), begin,
                             [](size_t b, const TextRange& r) { return b < r.end; });
  return it != markup.end() && it->begin <= begin && end <= it->end;
}

// Splits raw-text fragments at occurrences of special-token texts (llama.cpp's
// tokenizer_st_partition): longest tokens first, honouring lstrip/rstrip attributes.
// With `markup` (tokenize_marked), every special token matches only inside a markup range.
std::vector<Fragment> partition(const Vocab& vocab, std::string_view text, bool parse_special,
                                const std::span<const TextRange>* markup) {
  std::vector<Fragment> frags{{kNoToken, 0, text.size()}};
  for (TokenId id : vocab.special_tokens()) {
    const uint32_t attr = vocab.attr(id);
    const bool control = attr & (kAttrControl | kAttrUnknown);
    if (!parse_special && control) continue;
    const bool restricted = markup != nullptr;  // every special token, user-defined ones too
    const std::string_view tok = vocab.text(id);
    std::vector<Fragment> next;
    next.reserve(frags.size());
    for (const Fragment& fr : frags) {
      if (fr.token != kNoToken) {
        next.push_back(fr);
        continue;
      }
      size_t base = fr.offset, len = fr.length;
      for (;;) {
        size_t match = text.substr(0, base + len).find(tok, base);
        while (restricted && match != std::string_view::npos &&
               !inside_markup(*markup, match, match + tok.size()))
          match = text.substr(0, base + len).find(tok, match + 1);
        if (match == std::string_view::npos) {
          next.push_back({kNoToken, base, len});
          break;
        }
        if (match > base) {
          size_t left_len = match - base;
          if (attr & kAttrLstrip)
            while (left_len > 0 && is_space_byte(text[base + left_len - 1])) --left_len;
          if (left_len > 0) next.push_back({kNoToken, base, left_len});
        }
        next.push_back({id, 0, 0});
        const size_t end = match + tok.size();
        if (end >= base + len) break;
        size_t right = end, right_len = base + len - end;
        if (attr & kAttrRstrip)
          while (right_len > 0 && is_space_byte(text[right])) ++right, --right_len;
        if (right_len == 0) break;
        base = right, len = right_len;
      }
    }
    frags = std::move(next);
  }
  return frags;
}

}  // namespace

Tokenizer::Tokenizer(Vocab vocab) : vocab_(std::move(vocab)) {
  if (vocab_.type() == VocabType::kBpe)
    for (const std::string& p : pre_patterns(vocab_.pre_tokenizer())) patterns_.emplace_back(p);
}

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

std::vector<TokenId> Tokenizer::tokenize(std::string_view text, bool add_special,
                                         bool parse_special) const {
  return tokenize_impl(text, add_special, parse_special, nullptr);
}

std::vector<TokenId> Tokenizer::tokenize_marked(std::string_view text, std::span<const TextRange> markup,
                                                bool add_special) const {
  for (size_t i = 0; i < markup.size(); ++i)
    if (markup[i].begin > markup[i].end || markup[i].end > text.size() ||
        (i > 0 && markup[i].begin < markup[i - 1].end))
      fail("tokenize_marked: markup range {} [{}, {}) is out of order or outside the text ({} bytes)", i,
           markup[i].begin, markup[i].end, text.size());
  return tokenize_impl(text, add_special, true, &markup);
}

std::vector<TokenId> Tokenizer::tokenize_impl(std::string_view text, bool add_special, bool parse_special,
                                              const std::span<const TextRange>* markup) const {
  std::vector<TokenId> out;
  std::vector<Fragment> frags;
  if (!text.empty()) frags = partition(vocab_, text, parse_special, markup);
  if (add_special && vocab_.add_bos()) out.push_back(vocab_.bos());
  if (vocab_.type() == VocabType::kSpm) {
    bool prev_special = true;  // a space prefix goes before the first text
    for (const Fragment& fr : frags) {
      if (fr.token != kNoToken) {
        out.push_back(fr.token);
        prev_special = true;
        continue;
      }
      std::string piece;
      if (vocab_.add_space_prefix() && prev_special) piece = " ";
      piece += text.substr(fr.offset, fr.length);
      tokenize_spm(piece, out);
      prev_special = false;
    }
  } else {
    for (const Fragment& fr : frags) {
      if (fr.token != kNoToken) {
        out.push_back(fr.token);
      } else {
        tokenize_bpe(text.substr(fr.offset, fr.length), out);
      }
    }
  }
  if (add_special && vocab_.add_eos()) out.push_back(vocab_.eos());
  return out;
}

std::string Tokenizer::token_to_piece(TokenId id, bool special) const {
  const uint32_t attr = vocab_.attr(id);
  const std::string_view text = vocab_.text(id);
  if (attr & (kAttrControl | kAttrUnknown)) return special ? std::string(text) : std::string();
  if (attr & kAttrUserDefined) return std::string(text);
  if (vocab_.type() == VocabType::kSpm) {
    if (attr & kAttrByte) return std::string(1, static_cast<char>(vocab_.token_byte(id)));
    if (attr & kAttrNormal) {
      std::string out;
      out.reserve(text.size());
      for (size_t i = 0; i < text.size(); ++i) {
        if (text.compare(i, 3, "\xE2\x96\x81") == 0) {  // U+2581 "▁" stands for a space
          out += ' ';
          i += 2;
        } else {
          out += text[i];
        }
      }
      return out;
    }
    return std::string();
  }
  if (!(attr & kAttrNormal)) return std::string();
  // Byte-level BPE: each code point of the token text stands for one byte.
  std::string out;
  for (uint32_t cp : unicode::decode_utf8(text)) {
    const int b = unicode::cp_to_byte(cp);
    if (b >= 0) {
      out += static_cast<char>(b);
    } else {
      unicode::append_utf8(out, cp);  // not a byte character: keep it as text
    }
  }
  return out;
}

std::string Tokenizer::detokenize(const std::vector<TokenId>& ids, bool special) const {
  std::string out;
  bool strip_space = vocab_.add_space_prefix();
  for (TokenId id : ids) {
    std::string piece = token_to_piece(id, special);
    if (strip_space && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
    strip_space = false;
    out += piece;
  }
  return out;
}

std::string StreamDecoder::push(TokenId id) {
  held_ += tokenizer_->token_to_piece(id, special_);
  const size_t n = unicode::complete_utf8_prefix(held_);
  std::string out = held_.substr(0, n);
  held_.erase(0, n);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = std::move(held_);
  held_.clear();
  return out;
}

}  // namespace moevk
