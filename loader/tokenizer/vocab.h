// Vocabulary from GGUF tokenizer metadata (tokenizer.ggml.*), with llama.cpp's defaults, token
// attributes and end-of-generation detection. Tokenizing lives in loader/tokenizer/tokenizer.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "loader/gguf/gguf.h"
#include "loader/tokenizer/vocab_tables.h"

namespace moevk {

using TokenId = int32_t;
inline constexpr TokenId kNoToken = -1;

enum class VocabType { kSpm, kBpe };  // tokenizer.ggml.model "llama" / "gpt2"

// BPE pre-tokenizer families (tokenizer.ggml.pre); each selects a list of split patterns.
enum class PreTokenizer {
  kDefault,
  kLlama3,
  kDeepseekLlm,
  kDeepseekCoder,
  kDeepseek3,
  kGpt2,
  kQwen2,
  kGpt4o,
  kFalcon,
  kStarcoder,
};

// Token attributes (llama.cpp's llama_token_attr bits).
enum TokenAttr : uint32_t {
  kAttrUndefined = 0,
  kAttrUnknown = 1u << 0,
  kAttrUnused = 1u << 1,
  kAttrNormal = 1u << 2,
  kAttrControl = 1u << 3,
  kAttrUserDefined = 1u << 4,
  kAttrByte = 1u << 5,
  kAttrLstrip = 1u << 7,
  kAttrRstrip = 1u << 8,
};

class Vocab {
 public:
  // moevk::Error naming the key when tokenizer metadata is missing, mistyped or inconsistent.
  static Vocab from_gguf(const gguf::File& file);
  static Vocab load(const std::string& gguf_path);

  VocabType type() const { return type_; }
  PreTokenizer pre_tokenizer() const { return pre_; }
  const std::string& pre_name() const { return pre_name_; }
  int32_t n_vocab() const { return static_cast<int32_t>(attrs_.size()); }

  // Token data; moevk::Error for an id outside [0, n_vocab).
  std::string_view text(TokenId id) const { return texts_[check(id)]; }
  float score(TokenId id) const { return scores_[check(id)]; }
  uint32_t attr(TokenId id) const { return attrs_[check(id)]; }
  bool is_control(TokenId id) const { return attr(id) & kAttrControl; }
  bool is_byte(TokenId id) const { return attr(id) & kAttrByte; }
  // Control, user-defined or unknown: the tokens that parse_special splits out of text.
  bool is_special(TokenId id) const {
    return attr(id) & (kAttrControl | kAttrUserDefined | kAttrUnknown);
  }
  bool is_eog(TokenId id) const;

  // Exact text lookup (the token's stored text); kNoToken when absent.
  TokenId find(std::string_view text) const;

  TokenId bos() const { return bos_; }
  TokenId eos() const { return eos_; }
  TokenId eot() const { return eot_; }
  TokenId eom() const { return eom_; }
  TokenId unk() const { return unk_; }
  TokenId pad() const { return pad_; }
  // End-of-generation ids (EOS, EOT, EOM, <|im_end|>, <|return|>, ...), ascending.
  const std::vector<TokenId>& eog_ids() const { return eog_; }

  bool add_bos() const { return add_bos_; }
  bool add_eos() const { return add_eos_; }
  bool add_space_prefix() const { return add_space_prefix_; }
  bool ignore_merges() const { return ignore_merges_; }

  // BPE merges work on symbol ids: a token's id, or for a text that a merge names but that is not
  // a token, an id >= n_vocab() (never output). kNoToken for a text that is neither.
  TokenId bpe_symbol(std::string_view text) const { return texts_.find(text); }
  // BPE merge rank of two symbols; -1 when they do not merge (or either is kNoToken).
  int bpe_rank(TokenId left, TokenId right) const {
    return left < 0 || right < 0 ? -1 : merges_.find(left, right);
  }
  // SPM byte-fallback token <0xXX> (or the one-byte token); kNoToken when neither exists.
  TokenId byte_token(uint8_t byte) const;
  // The byte an SPM <0xXX> token stands for.
  uint8_t token_byte(TokenId id) const;

  // Special tokens in the order the special-token splitter tries them (longest text first).
  const std::vector<TokenId>& special_tokens() const { return special_; }

 private:
  // `id` when it is a token id; moevk::Error otherwise.
  TokenId check(TokenId id) const {
    if (id < 0 || id >= n_vocab()) fail_bad_id(id);
    return id;
  }
  [[noreturn]] void fail_bad_id(TokenId id) const;
  void detect_special_tokens();

  VocabType type_ = VocabType::kSpm;
  PreTokenizer pre_ = PreTokenizer::kDefault;
  std::string pre_name_;
  // Ids [0, n_vocab) are the tokens; ids past them are merge parts that are not tokens.
  TextTable texts_;
  std::vector<float> scores_;    // [n_vocab]
  std::vector<uint32_t> attrs_;  // [n_vocab] TokenAttr bits
  PairTable merges_;             // (left symbol, right symbol) -> rank
  TokenId bos_ = kNoToken, eos_ = kNoToken, eot_ = kNoToken, eom_ = kNoToken, unk_ = kNoToken,
          pad_ = kNoToken;
  TokenId fim_pad_ = kNoToken, fim_rep_ = kNoToken, fim_sep_ = kNoToken;
  std::vector<TokenId> eog_;
  std::vector<TokenId> special_;
  bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = false, ignore_merges_ = false;
};

}  // namespace moevk
