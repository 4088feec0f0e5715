// Vocabulary from GGUF tokenizer metadata (tokenizer.ggml.*), with llama.cpp's defaults, token
// attributes and end-of-generation detection. Tokenizing lives in loader/tokenizer.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "loader/gguf.h"

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
  int32_t n_vocab() const { return static_cast<int32_t>(tokens_.size()); }

  // Token data; moevk::Error for an id outside [0, n_vocab).
  const std::string& text(TokenId id) const { return at(id).text; }
  float score(TokenId id) const { return at(id).score; }
  uint32_t attr(TokenId id) const { return at(id).attr; }
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

  // BPE merge rank of (left, right); -1 when they do not merge.
  int bpe_rank(std::string_view left, std::string_view right) const;
  // SPM byte-fallback token <0xXX> (or the one-byte token); kNoToken when neither exists.
  TokenId byte_token(uint8_t byte) const;
  // The byte an SPM <0xXX> token stands for.
  uint8_t token_byte(TokenId id) const;

  // Special tokens in the order the special-token splitter tries them (longest text first).
  const std::vector<TokenId>& special_tokens() const { return special_; }

 private:
  struct Token {
    std::string text;
    float score = 0.0f;
    uint32_t attr = kAttrNormal;
  };
  const Token& at(TokenId id) const;
  void detect_special_tokens();

  VocabType type_ = VocabType::kSpm;
  PreTokenizer pre_ = PreTokenizer::kDefault;
  std::string pre_name_;
  std::vector<Token> tokens_;
  std::unordered_map<std::string, TokenId> by_text_;
  std::unordered_map<std::string, int> merges_;  // "left right" -> rank
  TokenId bos_ = kNoToken, eos_ = kNoToken, eot_ = kNoToken, eom_ = kNoToken, unk_ = kNoToken,
          pad_ = kNoToken;
  TokenId fim_pad_ = kNoToken, fim_rep_ = kNoToken, fim_sep_ = kNoToken;
  std::vector<TokenId> eog_;
  std::vector<TokenId> special_;
  bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = false, ignore_merges_ = false;
};

}  // namespace moevk
