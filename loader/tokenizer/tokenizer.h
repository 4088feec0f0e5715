// Text <-> token ids for GGUF vocabularies, matching llama.cpp: SentencePiece-style merges
// ("llama") and byte-level BPE with the pre-tokenizer of tokenizer.ggml.pre ("gpt2").
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <span>

#include "loader/gguf/gguf.h"
#include "loader/text_range.h"
#include "loader/tokenizer/vocab.h"

namespace moevk {

namespace tok {
class Regex;
}

class Tokenizer {
 public:
  explicit Tokenizer(Vocab vocab);
  static Tokenizer from_gguf(const gguf::File& file) { return Tokenizer(Vocab::from_gguf(file)); }
  static Tokenizer load(const std::string& gguf_path) { return Tokenizer(Vocab::load(gguf_path)); }
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  const Vocab& vocab() const { return vocab_; }

  // add_special: add BOS/EOS where the vocabulary asks for them (add_bos_token/add_eos_token).
  // parse_special: text equal to a control token's text becomes that token. User-defined tokens
  // are always split out, as llama.cpp does.
  std::vector<TokenId> tokenize(std::string_view text, bool add_special, bool parse_special) const;
  // Like tokenize with parse_special, but a special token's text (control, user-defined or unknown:
  // Vocab::is_special) becomes that token only where it lies wholly inside one of `markup` (sorted,
  // disjoint byte ranges of `text`); elsewhere it is plain text. Chat prompts pass the template's own
  // markup, so message contents never make special tokens (gpt-oss's <|start|> and phi-3's <|user|>
  // are user-defined tokens). Plain text is tokenized across range boundaries as if `text` were one
  // string.
  std::vector<TokenId> tokenize_marked(std::string_view text, std::span<const TextRange> markup,
                                       bool add_special) const;

  // The bytes one token stands for. Control/unknown tokens give "" unless `special`.
  std::string token_to_piece(TokenId id, bool special = false) const;
  // The concatenated pieces; for SPM vocabularies with add_space_prefix the leading space of the
  // first piece is dropped (the inverse of the space tokenize() adds).
  std::string detokenize(const std::vector<TokenId>& ids, bool special = false) const;

 private:
  std::vector<TokenId> tokenize_impl(std::string_view text, bool add_special, bool parse_special,
                                     const std::span<const TextRange>* markup) const;
  void tokenize_spm(std::string_view text, std::vector<TokenId>& out) const;
  void tokenize_bpe(std::string_view text, std::vector<TokenId>& out) const;

  Vocab vocab_;
  std::vector<tok::Regex> patterns_;  // BPE pre-tokenizer
};

// Incremental detokenizer for streaming output: push() returns only complete UTF-8 sequences and
// holds back a multi-byte character split across tokens until its last byte arrives.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool special = false)
      : tokenizer_(&tokenizer), special_(special) {}
  std::string push(TokenId id);
  // Whatever is still held back (an incomplete sequence), and resets.
  std::string flush();
  bool pending() const { return !held_.empty(); }

 private:
  const Tokenizer* tokenizer_;
  bool special_;
  std::string held_;
};

}  // namespace moevk
