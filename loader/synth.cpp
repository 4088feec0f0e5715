// Random-weight GGUF models of every supported architecture (see synth.h).
#include "loader/synth.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "loader/error.h"
#include "loader/gguf.h"
#include "loader/gguf_writer.h"

namespace moevk::synth {

namespace {

// ---- deterministic random numbers (not std::normal_distribution: its output is library-specific)

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  return h;
}

class Normal {
 public:
  explicit Normal(uint64_t seed) : state_(seed) {}
  float next() {
    if (have_spare_) {
      have_spare_ = false;
      return spare_;
    }
    // Box-Muller on two uniforms in (0, 1].
    const double u1 = (static_cast<double>(splitmix64(state_) >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>(splitmix64(state_) >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = static_cast<float>(r * std::sin(2.0 * M_PI * u2));
    have_spare_ = true;
    return static_cast<float>(r * std::cos(2.0 * M_PI * u2));
  }

 private:
  uint64_t state_;
  float spare_ = 0.0f;
  bool have_spare_ = false;
};

// ---- tokenizer

// GPT-2's byte-to-unicode table: printable bytes map to themselves, the others to U+0100 and up.
std::vector<std::string> byte_tokens() {
  std::vector<std::string> out(256);
  auto utf8 = [](uint32_t cp) {
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {  // cp < 0x800 for every code point used here
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
  };
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    out[b] = utf8(printable ? b : next++);
  }
  return out;
}

// Our own training text: short English prose about what the models in this project do.
constexpr std::string_view kText =
    "The model reads the prompt one token at a time and writes the next token. "
    "Each layer of the model has an attention part and a feed forward part. "
    "In a mixture of experts model the feed forward part is made of many experts, and a router "
    "chooses the few experts that see each token. The router gives every expert a score; the "
    "experts with the highest scores are used and their outputs are added with the weights of "
    "the router. Most of the weights of the model are in the experts, but each token only uses "
    "a small part of them, so the model is fast for its size. When the experts do not fit in "
    "the memory of the graphics card, the runtime keeps the experts that are used most often on "
    "the card and copies the other experts when they are needed. A good cache and a good guess "
    "of the next experts make this almost as fast as having every expert on the card. "
    "The user asks a question and the assistant answers it. The system message tells the "
    "assistant what to do. Hello! How are you today? I am fine, thank you. What is the time? "
    "It is ten past three in the afternoon. Where is the station? The station is there, near "
    "the river. There are 12 trains and 345 people; 6 of them are waiting for the 7 o'clock "
    "train. The weather is nice and the sun is shining on the water of the river.";

// Splits text into GPT-2-style words: an optional leading space followed by a run of letters, a run
// of digits or a run of other non-space characters; other spaces stand alone.
std::vector<std::string> pre_split(std::string_view text) {
  std::vector<std::string> words;
  auto cls = [](char c) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalpha(u) || c == '\'') return 0;
    if (std::isdigit(u)) return 1;
    if (c == ' ') return 3;
    return 2;
  };
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    if (text[i] == ' ' && i + 1 < text.size() && cls(text[i + 1]) != 3) ++i;
    const int c = cls(text[i]);
    while (i < text.size() && cls(text[i]) == c) {
      ++i;
      if (c == 3) break;
    }
    words.emplace_back(text.substr(start, i - start));
  }
  return words;
}

}  // namespace

Vocab make_vocab(const Options& o) {
  Vocab v;
  const std::vector<std::string> bytes = byte_tokens();
  v.tokens = bytes;

  // BPE training: words as sequences of token strings, weighted by frequency.
  std::map<std::string, int> freq;
  for (const std::string& w : pre_split(kText)) ++freq[w];
  std::vector<std::pair<std::vector<std::string>, int>> words;
  for (const auto& [w, n] : freq) {
    std::vector<std::string> pieces;
    for (char c : w) pieces.push_back(bytes[static_cast<uint8_t>(c)]);
    words.push_back({std::move(pieces), n});
  }
  std::set<std::string> known(bytes.begin(), bytes.end());
  for (uint32_t m = 0; m < o.n_merges; ++m) {
    std::map<std::pair<std::string, std::string>, int> pairs;
    for (const auto& [p, n] : words)
      for (size_t i = 0; i + 1 < p.size(); ++i) pairs[{p[i], p[i + 1]}] += n;
    // Most frequent pair; ties to the smallest pair (std::map order) for determinism.
    const std::pair<std::string, std::string>* best = nullptr;
    int best_n = 1;
    for (const auto& [pair, n] : pairs)
      if (n > best_n) best = &pair, best_n = n;
    if (!best) break;  // no pair occurs twice: stop
    const auto [a, b] = *best;
    v.merges.push_back(a + " " + b);
    // Two merges can spell the same string ("ab c" and "a bc"): one token for it.
    if (known.insert(a + b).second) v.tokens.push_back(a + b);
    for (auto& [p, n] : words) {
      std::vector<std::string> q;
      for (size_t i = 0; i < p.size(); ++i) {
        if (i + 1 < p.size() && p[i] == a && p[i + 1] == b) {
          q.push_back(a + b);
          ++i;
        } else {
          q.push_back(p[i]);
        }
      }
      p = std::move(q);
    }
  }
  v.token_types.assign(v.tokens.size(), 1);
  auto special = [&](const char* s) {
    v.tokens.emplace_back(s);
    v.token_types.push_back(3);
    return static_cast<uint32_t>(v.tokens.size() - 1);
  };
  v.bos = v.eos = special("<|endoftext|>");
  v.im_start = special("<|im_start|>");
  v.im_end = special("<|im_end|>");
  v.pre = (o.arch == Arch::Qwen3Moe || o.arch == Arch::Qwen2Moe) ? "qwen2" : "gpt-2";
  v.chat_template =
      "{% for message in messages %}"
      "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
      "{% endfor %}"
      "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  return v;
}

ModelDesc make_desc(const Options& o) {
  // Mirrors read_hparams(): the synth test checks that describe() of the written file agrees.
  ModelDesc d;
  d.arch = o.arch;
  d.name = o.name.empty() ? "moevk-synth-" + std::string(arch_name(o.arch)) : o.name;
  d.n_layer = o.n_layer;
  d.n_embd = o.n_embd;
  d.n_vocab = static_cast<uint32_t>(make_vocab(o).tokens.size());
  d.n_ctx_train = o.n_ctx;
  d.n_head = o.n_head;
  d.n_head_kv = o.n_head_kv;
  d.n_embd_head_k = o.head_dim;
  d.n_embd_head_v = o.head_dim;
  d.n_rot = o.head_dim;
  d.rms_eps = 1e-6f;
  d.n_expert = o.n_expert;
  d.n_expert_used = o.n_expert_used;
  d.n_ff_exp = o.n_ff_exp;
  d.n_ff = o.n_ff_exp;
  d.rope_freq_base = 10000.0f;
  d.rope_type =
      (o.arch == Arch::Llama || o.arch == Arch::Deepseek2) ? RopeType::Normal : RopeType::Neox;
  set_arch_structure(d);
  Routing& r = d.routing;
  switch (o.arch) {
    case Arch::Qwen3Moe:
    case Arch::Llama:
    case Arch::Olmoe:
      break;
    case Arch::Qwen2Moe:
      d.n_ff_shexp = o.n_ff;
      d.n_expert_shared = 1;
      r.shared_gate = true;
      break;
    case Arch::Deepseek2:
      d.n_head_kv = 1;
      d.n_layer_dense_lead = o.n_layer > 1 ? 1 : 0;
      d.n_ff = o.n_ff;
      d.n_expert_shared = 1;
      d.n_ff_shexp = o.n_ff_exp;
      d.q_lora_rank = o.n_embd;
      d.kv_lora_rank = o.n_embd;
      d.n_rot = o.head_dim / 2;
      d.n_embd_head_k_mla = o.head_dim + o.head_dim / 2;  // nope head_dim + rope head_dim / 2
      d.n_embd_head_v_mla = o.head_dim;
      d.n_embd_head_k = d.kv_lora_rank + d.n_rot;  // absorbed MLA: MQA over the latent
      d.n_embd_head_v = d.kv_lora_rank;
      r.gating = GatingFunc::Sigmoid;
      r.selection_bias = true;
      r.norm_topk = true;
      r.weights_scale = 2.5f;
      break;
    case Arch::GptOss:
      d.sliding_window = std::max<uint32_t>(1, std::min<uint32_t>(32, o.n_ctx / 2));
      d.swa_pattern = 2;
      d.rope_freq_base = 150000.0f;
      d.rope_scaling.type = RopeScalingType::Yarn;
      d.rope_scaling.factor = 4.0f;
      d.rope_scaling.n_ctx_orig = std::max<uint32_t>(1, o.n_ctx / 4);
      d.rope_scaling.yarn_ext_factor = 1.0f;
      break;
  }
  validate_hparams(d);
  return d;
}

GgmlType storage_type(const TensorSpec& s, GgmlType requested) {
  if (s.must_be_f32()) return GgmlType::F32;
  if (row_bytes(requested, s.ne[0])) return requested;
  if (row_bytes(GgmlType::Q8_0, s.ne[0]) && requested != GgmlType::F32 &&
      requested != GgmlType::F16 && requested != GgmlType::BF16)
    return GgmlType::Q8_0;
  return GgmlType::F16;
}

namespace {

void put_metadata(gguf::Writer& w, const ModelDesc& d, const Vocab& v) {
  const std::string a(arch_name(d.arch));
  auto k = [&](std::string_view key) { return a + "." + std::string(key); };
  w.add_string("general.architecture", a);
  w.add_string("general.name", d.name);
  w.add_u32(k("block_count"), d.n_layer);
  w.add_u32(k("context_length"), d.n_ctx_train);
  w.add_u32(k("embedding_length"), d.n_embd);
  w.add_u32(k("feed_forward_length"), d.n_ff);
  w.add_u32(k("attention.head_count"), d.n_head);
  w.add_u32(k("attention.head_count_kv"), d.n_head_kv);
  w.add_u32(k("attention.key_length"), d.n_embd_head_k);
  w.add_u32(k("attention.value_length"), d.n_embd_head_v);
  w.add_u32(k("rope.dimension_count"), d.n_rot);
  w.add_f32(k("rope.freq_base"), d.rope_freq_base);
  w.add_f32(k("attention.layer_norm_rms_epsilon"), d.rms_eps);
  w.add_u32(k("vocab_size"), d.n_vocab);
  w.add_u32(k("expert_count"), d.n_expert);
  w.add_u32(k("expert_used_count"), d.n_expert_used);
  if (d.arch != Arch::Llama && d.arch != Arch::Olmoe)
    w.add_u32(k("expert_feed_forward_length"), d.n_ff_exp);
  if (d.arch == Arch::Qwen2Moe) w.add_u32(k("expert_shared_feed_forward_length"), d.n_ff_shexp);
  if (d.arch == Arch::Deepseek2) {
    w.add_u32(k("leading_dense_block_count"), d.n_layer_dense_lead);
    w.add_u32(k("expert_shared_count"), d.n_expert_shared);
    w.add_u32(k("attention.q_lora_rank"), d.q_lora_rank);
    w.add_u32(k("attention.kv_lora_rank"), d.kv_lora_rank);
    w.add_u32(k("attention.key_length_mla"), d.n_embd_head_k_mla);
    w.add_u32(k("attention.value_length_mla"), d.n_embd_head_v_mla);
    w.add_f32(k("expert_weights_scale"), d.routing.weights_scale);
    w.add_bool(k("expert_weights_norm"), d.routing.norm_topk);
    w.add_u32(k("expert_gating_func"), 2);  // sigmoid
  }
  if (d.arch == Arch::GptOss) {
    w.add_u32(k("attention.sliding_window"), d.sliding_window);
    w.add_u32(k("attention.sliding_window_pattern"), d.swa_pattern);
    w.add_string(k("rope.scaling.type"), "yarn");
    w.add_f32(k("rope.scaling.factor"), d.rope_scaling.factor);
    w.add_u32(k("rope.scaling.original_context_length"), d.rope_scaling.n_ctx_orig);
  }

  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string("tokenizer.ggml.pre", v.pre);
  w.add_array_string("tokenizer.ggml.tokens", v.tokens);
  w.add_array_i32("tokenizer.ggml.token_type", v.token_types);
  w.add_array_string("tokenizer.ggml.merges", v.merges);
  w.add_u32("tokenizer.ggml.bos_token_id", v.bos);
  w.add_u32("tokenizer.ggml.eos_token_id", v.eos);
  w.add_u32("tokenizer.ggml.padding_token_id", v.eos);
  w.add_bool("tokenizer.ggml.add_bos_token", false);
  w.add_string("tokenizer.chat_template", v.chat_template);
}

// Mean and spread of a tensor's values by kind.
std::pair<float, float> value_scale(const TensorSpec& s) {
  switch (s.kind) {
    case TensorKind::Matrix:
      if (s.name == "token_embd.weight") return {0.0f, 1.0f};
      return {0.0f, 1.0f / std::sqrt(static_cast<float>(s.ne[0]))};
    case TensorKind::Norm:
      return {1.0f, 0.05f};
    case TensorKind::Bias:
      return {0.0f, 0.02f};
    case TensorKind::Router:
    case TensorKind::Gate:
      return {0.0f, 1.0f / std::sqrt(static_cast<float>(s.ne[0]))};
    case TensorKind::Sinks:
      return {0.0f, 0.5f};
  }
  return {0.0f, 1.0f};
}

std::vector<uint8_t> tensor_bytes(const TensorSpec& s, GgmlType type, uint64_t seed) {
  const uint64_t row_len = s.ne[0];
  const uint64_t n_rows = s.ne[1] * s.ne[2] * s.ne[3];
  const auto rb = row_bytes(type, row_len);
  MOEVK_ASSERT(rb.has_value(), "storage_type picked a type that does not fit the row");
  std::vector<uint8_t> out(*rb * n_rows);
  uint64_t state = seed ^ fnv1a(s.name);
  Normal rng(splitmix64(state));
  const auto [mean, sd] = value_scale(s);
  std::vector<float> row(row_len);
  for (uint64_t r = 0; r < n_rows; ++r) {
    for (float& x : row) x = mean + sd * rng.next();
    quantize_row(type, row.data(), out.data() + r * *rb, static_cast<int64_t>(row_len));
  }
  return out;
}

}  // namespace

std::vector<uint8_t> synth_gguf(const Options& o) {
  const auto tt = type_traits(static_cast<uint32_t>(o.type));
  if (!tt || !tt->supported)
    fail("synth: unsupported weight type id {}", static_cast<uint32_t>(o.type));
  const Vocab v = make_vocab(o);
  const ModelDesc d = make_desc(o);
  gguf::Writer w;
  put_metadata(w, d, v);
  for (const TensorSpec& s : expected_tensors(d)) {
    const GgmlType type = storage_type(s, o.type);
    w.add_tensor(s.name, type, std::span<const uint64_t>(s.ne.data(), s.n_dims),
                 tensor_bytes(s, type, o.seed));
  }
  return w.to_bytes();
}

void write_synth_file(const Options& o, const std::string& path, bool overwrite) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(path, ec) && !overwrite)
    fail("'{}' already exists; not overwriting it (pass --force to replace it)", path);
  const std::vector<uint8_t> bytes = synth_gguf(o);
  const fs::path target(path);
  const fs::path tmp =
      target.parent_path() / fmt::format(".{}.tmp-{}", target.filename().string(), getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) fail("cannot create '{}': {}", tmp.string(), std::strerror(errno));
    f.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
    f.flush();
    if (!f) {
      fs::remove(tmp, ec);
      fail("cannot write '{}' ({} bytes): {}", tmp.string(), bytes.size(), std::strerror(errno));
    }
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    std::error_code ec2;
    fs::remove(tmp, ec2);
    fail("cannot rename '{}' to '{}': {}", tmp.string(), path, ec.message());
  }
}

}  // namespace moevk::synth
