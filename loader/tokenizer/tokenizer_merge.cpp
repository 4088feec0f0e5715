// The merge loops of the two tokenizer families (llama.cpp's llm_tokenizer_spm_session and
// llm_tokenizer_bpe_session semantics) and the BPE pre-tokenizer split.
#include <queue>

#include "loader/error.h"
#include "loader/tokenizer/tokenizer.h"
#include "loader/tokenizer/tokenizer_regex.h"
#include "loader/tokenizer/unicode.h"

namespace moevk {

namespace {

// A span of the working string in a doubly linked list; n == 0 once merged into its left
// neighbour. A symbol only ever grows by taking in its right neighbour, so a pair whose two
// lengths still add up to what they were is unchanged. `id`: BPE only, Vocab::bpe_symbol of the
// span's text.
struct Symbol {
  int prev, next;
  size_t offset, n;
  TokenId id = kNoToken;
};

std::vector<Symbol> split_chars(std::string_view s) {
  std::vector<Symbol> syms;
  for (size_t off = 0; off < s.size();) {
    const size_t len = std::min(unicode::utf8_len(static_cast<uint8_t>(s[off])), s.size() - off);
    const int idx = static_cast<int>(syms.size());
    syms.push_back({idx - 1, off + len == s.size() ? -1 : idx + 1, off, len});
    off += len;
  }
  return syms;
}

void merge_right_into_left(std::vector<Symbol>& syms, int left, int right) {
  Symbol& l = syms[left];
  Symbol& r = syms[right];
  l.n += r.n;
  r.n = 0;
  l.next = r.next;
  if (r.next >= 0) syms[r.next].prev = left;
}

}  // namespace

void Tokenizer::tokenize_spm(std::string_view raw, std::vector<TokenId>& out) const {
  // Spaces become U+2581 "▁".
  std::string text;
  text.reserve(raw.size() * 3);
  for (char c : raw) {
    if (c == ' ') {
      text += "\xE2\x96\x81";
    } else {
      text += c;
    }
  }
  std::vector<Symbol> syms = split_chars(text);

  // Highest score first; among equal scores the leftmost pair.
  struct Bigram {
    int left, right;
    float score;
    size_t size;
  };
  const auto worse = [](const Bigram& a, const Bigram& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
  const auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string_view pair(text.data() + syms[left].offset, syms[left].n + syms[right].n);
    const TokenId id = vocab_.find(pair);
    if (id == kNoToken) return;
    queue.push({left, right, vocab_.score(id), pair.size()});
  };
  for (int i = 1; i < static_cast<int>(syms.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    const Symbol& l = syms[b.left];
    const Symbol& r = syms[b.right];
    if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale
    merge_right_into_left(syms, b.left, b.right);
    try_add(syms[b.left].prev, b.left);
    try_add(b.left, syms[b.left].next);
  }

  for (int i = syms.empty() ? -1 : 0; i != -1; i = syms[i].next) {
    const std::string_view piece(text.data() + syms[i].offset, syms[i].n);
    const TokenId id = vocab_.find(piece);
    if (id != kNoToken) {
      out.push_back(id);
      continue;
    }
    // Byte fallback: <0xXX> per byte.
    for (char c : piece) {
      TokenId bt = vocab_.byte_token(static_cast<uint8_t>(c));
      if (bt == kNoToken) bt = vocab_.unk();
      if (bt == kNoToken)
        fail("SPM vocabulary has no byte token <0x{:02X}> and no unknown token",
             static_cast<uint8_t>(c));
      out.push_back(bt);
    }
  }
}

void Tokenizer::tokenize_bpe(std::string_view raw, std::vector<TokenId>& out) const {
  const std::vector<uint32_t> cps = unicode::decode_utf8(raw);
  const std::vector<size_t> lengths = tok::regex_split(cps, patterns_);

  struct Bigram {
    int left, right;
    int rank;
    size_t size;  // bytes of the merged text
  };
  const auto worse = [](const Bigram& a, const Bigram& b) {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  };

  size_t start = 0;
  std::string utf8, word;
  for (size_t len : lengths) {
    // The word's UTF-8 bytes, each mapped to its printable byte character.
    utf8.clear();
    for (size_t i = start; i < start + len; ++i) unicode::append_utf8(utf8, cps[i]);
    start += len;
    word.clear();
    for (char c : utf8) unicode::append_utf8(word, unicode::byte_to_cp(static_cast<uint8_t>(c)));
    if (word.empty()) continue;

    if (vocab_.ignore_merges()) {
      if (TokenId id = vocab_.find(word); id != kNoToken) {
        out.push_back(id);
        continue;
      }
    }

    std::vector<Symbol> syms = split_chars(word);
    std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
    const auto sym_text = [&](int i) {
      return std::string_view(word.data() + syms[i].offset, syms[i].n);
    };
    for (int i = 0; i < static_cast<int>(syms.size()); ++i)
      syms[i].id = vocab_.bpe_symbol(sym_text(i));
    const auto try_add = [&](int left, int right) {
      if (left < 0 || right < 0) return;
      const int rank = vocab_.bpe_rank(syms[left].id, syms[right].id);
      if (rank < 0) return;
      queue.push({left, right, rank, syms[left].n + syms[right].n});
    };
    for (int i = 1; i < static_cast<int>(syms.size()); ++i) try_add(i - 1, i);

    while (!queue.empty()) {
      const Bigram b = queue.top();
      queue.pop();
      const Symbol& l = syms[b.left];
      const Symbol& r = syms[b.right];
      if (l.n == 0 || r.n == 0 || l.n + r.n != b.size) continue;  // stale
      merge_right_into_left(syms, b.left, b.right);
      syms[b.left].id = vocab_.bpe_symbol(sym_text(b.left));
      try_add(syms[b.left].prev, b.left);
      try_add(b.left, syms[b.left].next);
    }

    for (int i = 0; i != -1; i = syms[i].next) {
      const std::string_view piece = sym_text(i);
      const TokenId id = syms[i].id;
      if (id != kNoToken && id < vocab_.n_vocab()) {  // ids past the tokens are not output
        out.push_back(id);
        continue;
      }
      for (char c : piece) {  // llama.cpp's fallback: single-byte tokens where they exist
        const TokenId bt = vocab_.find(std::string_view(&c, 1));
        if (bt != kNoToken) out.push_back(bt);
      }
    }
  }
}

}  // namespace moevk
