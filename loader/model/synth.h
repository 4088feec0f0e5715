// Synthesised models: random-weight GGUF files of every supported architecture, for tests,
// benchmarks of shapes that have no public file (full size included), and `moevk synth`.
//
// The tensors are exactly expected_tensors(desc) (output.weight included: the head is untied).
// The weights are seeded, approximately normal values: matrices N(0, 1/sqrt(row length)) so a
// matvec keeps the activation scale, token embeddings N(0, 1), norms 1 + N(0, 0.05), biases
// N(0, 0.02), routers N(0, 1/sqrt(n_embd)), attention sinks N(0, 0.5). A value is the sum of four
// 16-bit uniforms of one splitmix64 output (Irwin-Hall: unit variance, |z| <= 3.47), and element k
// of a tensor uses output k of a stream seeded by (seed, tensor name): values depend only on (seed,
// tensor name, element index), not on the type, the thread count or the order of generation.
//
// Types: norms, biases, routers, sinks and gates stay F32. With TypeMix::Uniform every weight
// matrix is stored as `type` (quantised from those values); a matrix whose row length is not a
// multiple of `type`'s block (deepseek2's 64-wide MLA rows with a K-quant) falls back to Q8_0 when
// its rows are a multiple of 32, else F16. The other mixes pick a type per tensor the way
// llama.cpp's quantiser does for that file type (mix_type(), synth_mix.cpp).
//
// Presets (synth_preset.cpp): the Options of real models, full depth and real vocabulary size.
//
// Tokenizer: a byte-level BPE ("gpt2") vocabulary: the 256 byte tokens (GPT-2's byte-to-unicode
// spelling), merges learned from a small built-in English text, then the special tokens
// <|endoftext|> (bos, eos), <|im_start|>, <|im_end|>, then (when n_vocab asks for more) padding
// tokens "[PAD<id>]" of type 5 (unused, as llama.cpp's converter pads real vocabularies): no merge
// makes them and they detokenize to "". A ChatML template in tokenizer.chat_template.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loader/model/model.h"
#include "loader/quants/quants.h"

namespace moevk::synth {

// How the weight matrices get their types.
enum class TypeMix {
  Uniform,   // every matrix is Options::type (with the fallback above)
  Q4_K_M,    // llama.cpp's Q4_K_M: Q4_K, with Q6_K for output, some attn_v and ffn_down
  MXFP4_MOE  // llama.cpp's MXFP4_MOE: expert tensors MXFP4, every other matrix Q8_0
};

struct Options {
  Arch arch = Arch::Qwen3Moe;
  uint64_t seed = 1;
  GgmlType type = GgmlType::F16;  // weight matrices (TypeMix::Uniform)
  TypeMix mix = TypeMix::Uniform;
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
                            // runs out of pairs: about 140 at most)
  uint32_t n_vocab = 0;     // total vocabulary size, padded with unused tokens; 0: no padding
  uint32_t n_threads = 0;   // weight generation threads (0: all cores); the bytes do not
                            // depend on it
  std::string name;         // general.name (default "moevk-synth-<arch>")
  // Routing locality (0: none, the routers see unrelated random rows). S > 0 gives every token
  // embedding a shared component c * sqrt(n_embd) * u (u: a seeded unit vector; c = min(1, S) / 2,
  // relative to the random part's length) and every router row e of layer l, its own component
  // along u removed, a component b * u whose logit contribution is about -S * ln(1 + rank_l(e))
  // (centred), rank_l a seeded permutation per layer: the softmax then favours a few experts per
  // layer, a Zipf-like popularity of exponent ~S softened by the random part of the logits
  // (spread ~1). Reuse between consecutive tokens follows from the popularity. Measured on KJV
  // text at the demo model's shape (top 1/8 of the experts' share of uses, lru hits with a quarter
  // of the experts): S 0: 23%, 35%; 0.3: 31%, 39%; 1: 59%, 72%; 2: 76%, 91% (docs/performance.md,
  // "Real routing").
  double routing_skew = 0;

  // What a real model has where the defaults derive a value from the shape (presets set them;
  // the defaults leave every file as it was).
  float rms_eps = 1e-6f;
  float rope_freq_base = 0;                 // 0: 10000 (gpt-oss 150000)
  std::optional<RopeScaling> rope_scaling;  // nullopt: none (gpt-oss: YaRN x4 over n_ctx / 4)
  uint32_t sliding_window = 0;              // gpt-oss; 0: min(32, n_ctx / 2)
  // deepseek2 (MLA; head_dim is the no-rope q/k part and v, the rope part is head_dim / 2).
  std::optional<uint32_t> q_lora_rank;  // nullopt: n_embd; 0: no q compression (attn_q)
  uint32_t kv_lora_rank = 0;            // 0: n_embd
  uint32_t n_expert_shared = 0;         // 0: 1 shared expert (n_ff_exp wide each)
  std::optional<Routing> routing;       // nullopt: the architecture's (deepseek2: sigmoid + bias)
};

// The tokenizer part of a synthesised model (also useful to tokenizer tests).
struct Vocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> token_types;  // 1 normal, 3 control, 5 unused (padding)
  std::vector<std::string> merges;   // "a b"
  uint32_t bos = 0, eos = 0, im_start = 0, im_end = 0;
  std::string pre;  // tokenizer.ggml.pre
  std::string chat_template;
};
// moevk::Error when o.n_vocab is non-zero but smaller than the unpadded vocabulary.
Vocab make_vocab(const Options& o);

// The hyper-parameters the file will declare (validated with validate_hparams()).
ModelDesc make_desc(const Options& o);

// The type a tensor of the model is stored as with TypeMix::Uniform (see the fallback rule above).
GgmlType storage_type(const TensorSpec& s, GgmlType requested);

// The type a tensor of model d is stored as under o.mix (o.type for TypeMix::Uniform).
GgmlType mix_type(const TensorSpec& s, const ModelDesc& d, const Options& o);
// "uniform", "q4_k_m", "mxfp4_moe".
std::string_view mix_name(TypeMix m);

// A real model's shape and type mix (synth_preset.cpp): `options` at full depth with the real
// vocabulary size; `--layers`, `--vocab`, `--ctx` and `--type` change a copy.
struct Preset {
  std::string_view name;     // "qwen3-30b-a3b"
  std::string_view summary;  // one line for `moevk synth --help`
  Options options;
};
const std::vector<Preset>& presets();
const Preset* find_preset(std::string_view name);  // nullptr when unknown

// Receives the file in order, piece after piece.
using Sink = std::function<void(std::span<const uint8_t>)>;
// Told the bytes handed to the sink so far and the file's total size, after each piece.
using Progress = std::function<void(uint64_t done, uint64_t total)>;

// Generates the GGUF file into sink: o.n_threads threads quantise chunks of rows while the calling
// thread hands finished chunks to the sink in file order; a bounded number of chunks (a few MiB
// each) is in memory at a time. An exception from the sink stops the workers and propagates.
void stream_gguf(const Options& o, const Sink& sink, const Progress& progress = nullptr);

// The whole GGUF file in memory (small models).
std::vector<uint8_t> synth_gguf(const Options& o);

// Streams the file to path through a temporary file in the same folder and a rename. Refuses
// (throws moevk::Error) when path exists and overwrite is false; removes the temporary file when
// writing fails.
void write_synth_file(const Options& o, const std::string& path, bool overwrite,
                      const Progress& progress = nullptr);

}  // namespace moevk::synth
