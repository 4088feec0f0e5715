// Synthesised models: small random-weight GGUF files of every supported architecture, for tests,
// benchmarks of shapes that have no public file, and `moevk synth`.
//
// The tensors are exactly expected_tensors(desc) (output.weight included: the head is untied).
// The weights are seeded normal values: matrices N(0, 1/sqrt(row length)) so a matvec keeps the
// activation scale, token embeddings N(0, 1), norms 1 + N(0, 0.05), biases N(0, 0.02), routers
// N(0, 1/sqrt(n_embd)), attention sinks N(0, 0.5). Values depend only on (seed, tensor name,
// element index), not on the type or on the order of generation.
//
// Types: weight matrices are stored as `type`; norms, biases, routers, sinks and gates stay F32. A
// matrix whose row length is not a multiple of `type`'s block (deepseek2's 64-wide MLA rows with a
// K-quant) falls back to Q8_0 when its rows are a multiple of 32, else F16 (as llama.cpp's
// quantiser does).
//
// Tokenizer: a byte-level BPE ("gpt2") vocabulary: the 256 byte tokens (GPT-2's byte-to-unicode
// spelling), merges learned from a small built-in English text, then the special tokens
// <|endoftext|> (bos, eos), <|im_start|>, <|im_end|>; a ChatML template in tokenizer.chat_template.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "loader/model.h"
#include "loader/quants.h"

namespace moevk::synth {

struct Options {
  Arch arch = Arch::Qwen3Moe;
  uint64_t seed = 1;
  GgmlType type = GgmlType::F16;  // weight matrices
  uint32_t n_layer = 2;
  uint32_t n_embd = 256;
  uint32_t n_head = 4;
  uint32_t n_head_kv = 2;  // deepseek2 (MLA) ignores it: 1
  uint32_t head_dim = 64;
  uint32_t n_expert = 8;
  uint32_t n_expert_used = 2;
  uint32_t n_ff_exp = 256;  // one expert's width
  uint32_t n_ff = 512;      // dense FFN (deepseek2's first layer), qwen2moe's shared expert
  uint32_t n_ctx = 256;     // context_length
  uint32_t n_merges = 200;  // BPE merges (vocab = 256 + merges + 3 specials, fewer if the text
                            // runs out of pairs)
  std::string name;         // general.name (default "moevk-synth-<arch>")
};

// The tokenizer part of a synthesised model (also useful to tokenizer tests).
struct Vocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> token_types;  // 1 normal, 3 control
  std::vector<std::string> merges;   // "a b"
  uint32_t bos = 0, eos = 0, im_start = 0, im_end = 0;
  std::string pre;  // tokenizer.ggml.pre
  std::string chat_template;
};
Vocab make_vocab(const Options& o);

// The hyper-parameters the file will declare (validated with validate_hparams()).
ModelDesc make_desc(const Options& o);

// The type a tensor of the model is stored as (see the fallback rule above).
GgmlType storage_type(const TensorSpec& s, GgmlType requested);

// The whole GGUF file in memory.
std::vector<uint8_t> synth_gguf(const Options& o);

// Writes synth_gguf(o) to path through a temporary file in the same folder and a rename. Refuses
// (throws moevk::Error) when path exists and overwrite is false.
void write_synth_file(const Options& o, const std::string& path, bool overwrite);

}  // namespace moevk::synth
