#include "loader/tokenizer/vocab.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <set>

#include "loader/error.h"

namespace moevk {

namespace {

constexpr std::string_view kKeyModel = "tokenizer.ggml.model";
constexpr std::string_view kKeyPre = "tokenizer.ggml.pre";
constexpr std::string_view kKeyTokens = "tokenizer.ggml.tokens";
constexpr std::string_view kKeyScores = "tokenizer.ggml.scores";
constexpr std::string_view kKeyTypes = "tokenizer.ggml.token_type";
constexpr std::string_view kKeyMerges = "tokenizer.ggml.merges";

// GGUF token types (tokenizer.ggml.token_type) -> attributes.
uint32_t attr_from_type(int64_t t) {
  switch (t) {
    case 1:
      return kAttrNormal;
    case 2:
      return kAttrUnknown;
    case 3:
      return kAttrControl;
    case 4:
      return kAttrUserDefined;
    case 5:
      return kAttrUnused;
    case 6:
      return kAttrByte;
    default:
      return kAttrUndefined;
  }
}

PreTokenizer pre_from_name(std::string_view n, bool& ignore_merges, bool& add_bos) {
  auto any = [&](std::initializer_list<std::string_view> names) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  if (any({"llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0",
           "lfm2"})) {
    ignore_merges = true;
    add_bos = true;
    return PreTokenizer::kLlama3;
  }
  if (n == "deepseek-llm") return PreTokenizer::kDeepseekLlm;
  if (n == "deepseek-coder") return PreTokenizer::kDeepseekCoder;
  if (n == "deepseek-v3") return PreTokenizer::kDeepseek3;
  if (n == "falcon") return PreTokenizer::kFalcon;
  if (n == "starcoder" || n == "refact" || n == "command-r" || n == "smollm" || n == "codeshell" ||
      n == "exaone" || n == "minerva-7b")
    return PreTokenizer::kStarcoder;
  if (any({"gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de",
           "a.x-4.0", "mellum", "jina-v1-en", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais",
           "exaone4", "trillion", "granite-docling"}))
    return PreTokenizer::kGpt2;
  if (any({"qwen2", "deepseek-r1-qwen", "kormo", "stablelm2", "megrez", "hunyuan"}))
    return PreTokenizer::kQwen2;
  if (any({"llama3", "dbrx", "smaug-bpe", "glm4", "chatglm-bpe"})) return PreTokenizer::kLlama3;
  if (n == "gpt-4o" || n == "llama4" || n == "minimax-m2") return PreTokenizer::kGpt4o;
  if (n.empty() || n == "default") return PreTokenizer::kDefault;
  fail("unsupported BPE pre-tokenizer '{}' (key '{}')", n, kKeyPre);
}

}  // namespace

Vocab Vocab::load(const std::string& gguf_path) { return from_gguf(gguf::File::open(gguf_path)); }

Vocab Vocab::from_gguf(const gguf::File& f) {
  Vocab v;
  const std::string_view model = f.require_string(kKeyModel);
  if (model == "llama") {
    v.type_ = VocabType::kSpm;
    v.bos_ = 1, v.eos_ = 2, v.unk_ = 0;
    v.add_space_prefix_ = true;
    v.add_bos_ = true;
  } else if (model == "gpt2") {
    v.type_ = VocabType::kBpe;
    v.bos_ = 11, v.eos_ = 11;  // llama.cpp's defaults when the ids are not given
  } else {
    fail("unsupported tokenizer model '{}' (key '{}'): expected 'llama' or 'gpt2'", model,
         kKeyModel);
  }
  v.pre_name_ = std::string(f.get_string(kKeyPre).value_or(""));
  if (v.type_ == VocabType::kBpe) v.pre_ = pre_from_name(v.pre_name_, v.ignore_merges_, v.add_bos_);
  if (auto b = f.get_bool("tokenizer.ggml.add_space_prefix")) v.add_space_prefix_ = *b;

  // Tokens, scores, types.
  auto texts = f.get_string_array(kKeyTokens);
  if (!texts) fail("missing key '{}'", kKeyTokens);
  if (texts->empty()) fail("key '{}' is an empty array", kKeyTokens);
  if (texts->size() > static_cast<size_t>(INT32_MAX)) fail("key '{}': too many tokens", kKeyTokens);
  const size_t n = texts->size();
  auto scores = f.get_float_array(kKeyScores);
  if (scores && scores->size() != n)
    fail("key '{}' has {} entries but '{}' has {}", kKeyScores, scores->size(), kKeyTokens, n);
  auto types = f.get_int_array(kKeyTypes);
  if (types && types->size() != n)
    fail("key '{}' has {} entries but '{}' has {}", kKeyTypes, types->size(), kKeyTokens, n);
  size_t n_bytes = 0;
  for (std::string_view t : *texts) n_bytes += t.size();
  v.texts_.reserve(n, n_bytes);
  v.scores_.resize(n);
  v.attrs_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::string_view t = (*texts)[i];
    if (t.empty()) {
      v.texts_.add("[EMPTY_" + std::to_string(i) + "]");
    } else {
      v.texts_.add(t);  // a later duplicate wins, as in llama.cpp
    }
    v.scores_[i] = scores ? static_cast<float>((*scores)[i]) : 0.0f;
    v.attrs_[i] = types ? attr_from_type((*types)[i]) : kAttrNormal;
  }

  // BPE merges "left right" -> rank (the first occurrence keeps its rank), keyed by the symbol
  // ids of their two sides: a token's id, or for a side that is not a token an id past the tokens,
  // so that merges through such intermediate texts still apply.
  if (v.type_ == VocabType::kBpe) {
    auto merges = f.get_string_array(kKeyMerges);
    if (!merges) fail("missing key '{}' (required by tokenizer model 'gpt2')", kKeyMerges);
    if (merges->size() > static_cast<size_t>(INT32_MAX) / 4)  // symbol ids must fit in int32
      fail("key '{}': too many merges ({})", kKeyMerges, merges->size());
    v.merges_.reserve(merges->size());
    // In blocks, so that the lookups of a block overlap their memory accesses.
    constexpr size_t kBlock = 512;
    std::array<std::string_view, 2 * kBlock> sides;  // left, right of each merge
    std::array<TokenId, 2 * kBlock> ids;
    std::array<PairTable::Entry, kBlock> entries;
    const auto symbol = [&](size_t k) {
      if (ids[k] != kNoToken) return ids[k];
      const TokenId id = v.texts_.find(sides[k]);  // added by an earlier merge of the block?
      return id != kNoToken ? id : v.texts_.add(sides[k]);
    };
    for (size_t first = 0; first < merges->size(); first += kBlock) {
      const size_t count = std::min(kBlock, merges->size() - first);
      for (size_t k = 0; k < count; ++k) {
        const std::string_view m = (*merges)[first + k];
        const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string_view::npos;
        if (sp == std::string_view::npos)
          fail("key '{}': entry {} has no space: '{}'", kKeyMerges, first + k, m);
        sides[2 * k] = m.substr(0, sp);
        sides[2 * k + 1] = m.substr(sp + 1);
      }
      v.texts_.find(std::span(sides).first(2 * count), ids);
      for (size_t k = 0; k < count; ++k)
        entries[k] = {symbol(2 * k), symbol(2 * k + 1), static_cast<int32_t>(first + k)};
      v.merges_.insert(std::span(entries).first(count));
    }
  }

  // Special token ids.
  auto read_id = [&](std::string_view key, TokenId& id) {
    if (auto x = f.get_uint(key)) {
      if (*x >= n) fail("key '{}' = {} is outside the vocabulary of {} tokens", key, *x, n);
      id = static_cast<TokenId>(*x);
    }
  };
  read_id("tokenizer.ggml.bos_token_id", v.bos_);
  read_id("tokenizer.ggml.eos_token_id", v.eos_);
  read_id("tokenizer.ggml.eot_token_id", v.eot_);
  read_id("tokenizer.ggml.eom_token_id", v.eom_);
  read_id("tokenizer.ggml.unknown_token_id", v.unk_);
  read_id("tokenizer.ggml.padding_token_id", v.pad_);
  read_id("tokenizer.ggml.fim_pad_token_id", v.fim_pad_);
  read_id("tokenizer.ggml.fim_rep_token_id", v.fim_rep_);
  read_id("tokenizer.ggml.fim_sep_token_id", v.fim_sep_);
  if (auto b = f.get_bool("tokenizer.ggml.add_bos_token")) v.add_bos_ = *b;
  if (auto b = f.get_bool("tokenizer.ggml.add_eos_token")) v.add_eos_ = *b;
  // Defaults that point past a small vocabulary are dropped rather than used.
  for (TokenId* id : {&v.bos_, &v.eos_, &v.unk_})
    if (*id >= static_cast<TokenId>(n)) *id = kNoToken;
  if (v.add_bos_ && v.bos_ == kNoToken)
    fail("'tokenizer.ggml.add_bos_token' is set but there is no BOS token id");
  if (v.add_eos_ && v.eos_ == kNoToken)
    fail("'tokenizer.ggml.add_eos_token' is set but there is no EOS token id");

  v.detect_special_tokens();

  // Per-model attribute fixes (llama.cpp): Phi-3 strips whitespace right of its special tokens.
  std::string name(f.get_string("general.name").value_or(""));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (name.find("phi-3") != std::string::npos || name.find("phi3") != std::string::npos) {
    for (TokenId id : v.special_) v.attrs_[id] |= kAttrRstrip;
    if (TokenId id = v.find("</s>"); id != kNoToken) v.attrs_[id] |= kAttrRstrip;
    for (const char* t : {"<unk>", "<s>", "<|endoftext|>"})
      if (TokenId id = v.find(t); id != kNoToken) v.attrs_[id] &= ~kAttrRstrip;
  }
  return v;
}

void Vocab::detect_special_tokens() {
  // Tokens found by their text when the metadata does not name them (llama.cpp's lists). The first
  // listed text present wins, which makes the choice deterministic.
  auto mark_control = [&](TokenId id) {
    if (!(attrs_[id] & kAttrControl)) attrs_[id] = kAttrControl;
  };
  auto detect = [&](TokenId& id, std::initializer_list<std::string_view> texts) {
    if (id != kNoToken) return;
    for (std::string_view t : texts) {
      if (TokenId found = find(t); found != kNoToken) {
        id = found;
        mark_control(found);
        return;
      }
    }
  };
  detect(eot_,
         {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
          "<|end_of_text|>", "<EOT>", "_<EOT>", "<｜end▁of▁sentence｜>", "<end_of_utterance>"});
  detect(eom_, {"<|eom_id|>"});
  detect(fim_pad_, {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>"});
  detect(fim_rep_, {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"});
  detect(fim_sep_, {"<|file_sep|>"});
  // Fill-in-the-middle markers are control tokens whatever the file says (deepseek-coder's are
  // user-defined in its GGUF): typed as text they stay text unless special parsing is on.
  TokenId fim_pre = kNoToken, fim_suf = kNoToken, fim_mid = kNoToken;
  detect(fim_pre, {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>"});
  detect(fim_suf, {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>"});
  detect(fim_mid, {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>"});

  std::set<TokenId> eog;
  for (TokenId id : {fim_pad_, fim_rep_, fim_sep_})
    if (id != kNoToken) eog.insert(id);
  for (std::string_view t : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>",
                             "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>",
                             "<|end_of_text|>", "<end_of_utterance>", "</s>"}) {
    if (TokenId id = find(t); id != kNoToken) {
      eog.insert(id);
      mark_control(id);
    }
  }
  // gpt-oss: these are always rendered (user-defined, not control).
  for (std::string_view t : {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"})
    if (TokenId id = find(t); id != kNoToken) attrs_[id] = kAttrUserDefined;
  for (TokenId id : {eos_, eot_, eom_})
    if (id != kNoToken) eog.insert(id);
  // o200k_harmony: with <|return|> and <|call|> present, <|end|> ends a message, not generation.
  const TokenId ret = find("<|return|>"), call = find("<|call|>"), end = find("<|end|>");
  if (ret != kNoToken && call != kNoToken && end != kNoToken && eog.count(ret) && eog.count(call) &&
      eog.count(end)) {
    eog.erase(end);
    attrs_[end] = kAttrUserDefined;
  }
  eog_.assign(eog.begin(), eog.end());

  special_.clear();
  for (TokenId id = 0; id < n_vocab(); ++id)
    if (attrs_[id] & (kAttrControl | kAttrUserDefined | kAttrUnknown)) special_.push_back(id);
  std::stable_sort(special_.begin(), special_.end(),
                   [&](TokenId a, TokenId b) { return texts_[a].size() > texts_[b].size(); });
}

void Vocab::fail_bad_id(TokenId id) const {
  fail("token id {} is outside the vocabulary of {} tokens", id, n_vocab());
}

bool Vocab::is_eog(TokenId id) const { return std::binary_search(eog_.begin(), eog_.end(), id); }

TokenId Vocab::find(std::string_view text) const {
  const TokenId id = texts_.find(text);
  return id < n_vocab() ? id : kNoToken;  // ids past the tokens are merge parts
}

TokenId Vocab::byte_token(uint8_t byte) const {
  static const char* hex = "0123456789ABCDEF";
  const char buf[7] = {'<', '0', 'x', hex[byte >> 4], hex[byte & 15], '>', 0};
  if (TokenId id = find(buf); id != kNoToken) return id;
  return find(std::string(1, static_cast<char>(byte)));
}

uint8_t Vocab::token_byte(TokenId id) const {
  const std::string_view t = text(id);
  unsigned value = 0;
  // The hex digits are read as far as they go ("<0x1G>" is 1), as llama.cpp's strtol does.
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>' ||
      std::from_chars(t.data() + 3, t.data() + 5, value, 16).ptr == t.data() + 3)
    fail("token {} '{}' is not a byte token", id, t);
  return static_cast<uint8_t>(value);
}

}  // namespace moevk
