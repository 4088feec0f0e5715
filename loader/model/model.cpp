// Hyper-parameters, validation and tensor lists of the supported architectures (see model.h).
#include "loader/model/model.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <limits>

#include "loader/error.h"
#include "loader/gguf/gguf.h"

namespace moevk {

namespace {

struct ArchName {
  Arch arch;
  std::string_view name;
};
constexpr ArchName kArchNames[] = {
    {Arch::Qwen3Moe, "qwen3moe"}, {Arch::Llama, "llama"},         {Arch::Olmoe, "olmoe"},
    {Arch::Qwen2Moe, "qwen2moe"}, {Arch::Deepseek2, "deepseek2"}, {Arch::GptOss, "gpt-oss"},
};

// Reads `<arch>.<key>` values with the right range checks.
class Keys {
 public:
  Keys(const gguf::File& f, std::string_view arch) : f_(f), prefix_(std::string(arch) + ".") {}

  std::string key(std::string_view k) const { return prefix_ + std::string(k); }

  std::optional<uint32_t> u32(std::string_view k) const {
    const std::string name = key(k);
    auto v = f_.get_uint(name);
    if (!v) return std::nullopt;
    if (*v > std::numeric_limits<uint32_t>::max())
      fail("metadata key '{}': value {} is too large", name, *v);
    return static_cast<uint32_t>(*v);
  }
  uint32_t u32_or(std::string_view k, uint32_t def) const { return u32(k).value_or(def); }
  uint32_t u32_req(std::string_view k) const {
    auto v = u32(k);
    if (!v) fail("missing key '{}'", key(k));
    return *v;
  }
  std::optional<float> f32(std::string_view k) const {
    const std::string name = key(k);
    auto v = f_.get_float(name);
    if (!v) return std::nullopt;
    if (!std::isfinite(*v)) fail("metadata key '{}': value is not finite", name);
    return static_cast<float>(*v);
  }
  float f32_or(std::string_view k, float def) const { return f32(k).value_or(def); }
  float f32_req(std::string_view k) const {
    auto v = f32(k);
    if (!v) fail("missing key '{}'", key(k));
    return *v;
  }
  bool bool_or(std::string_view k, bool def) const { return f_.get_bool(key(k)).value_or(def); }
  std::optional<std::string_view> str(std::string_view k) const { return f_.get_string(key(k)); }

 private:
  const gguf::File& f_;
  std::string prefix_;
};

void need(bool ok, std::string_view key, std::string_view what) {
  if (!ok) fail("invalid hyper-parameters: {} ({})", what, key);
}

}  // namespace

std::string_view arch_name(Arch a) {
  for (const auto& n : kArchNames)
    if (n.arch == a) return n.name;
  return "?";
}

std::optional<Arch> arch_from_name(std::string_view s) {
  for (const auto& n : kArchNames)
    if (n.name == s) return n.arch;
  return std::nullopt;
}

std::string layer_tensor_name(uint32_t il, std::string_view suffix) {
  return fmt::format("blk.{}.{}", il, suffix);
}

std::string_view expert_tensor_suffix(ExpertMat m) {
  switch (m) {
    case ExpertMat::Gate:
      return "ffn_gate_exps.weight";
    case ExpertMat::Up:
      return "ffn_up_exps.weight";
    case ExpertMat::Down:
      return "ffn_down_exps.weight";
  }
  return "?";
}

ModelDesc read_hparams(const gguf::File& f) {
  const std::string_view arch_s = f.require_string("general.architecture");
  const auto arch = arch_from_name(arch_s);
  if (!arch)
    fail(
        "unsupported architecture '{}' (general.architecture); supported: qwen3moe, llama, olmoe, "
        "qwen2moe, deepseek2, gpt-oss",
        arch_s);
  const Keys k(f, arch_s);
  ModelDesc d;
  d.arch = *arch;
  // For display only (info, bench, the C API): escaped and cut, as it comes from the file.
  if (auto n = f.get_string("general.name")) d.name = printable(*n, 256);

  d.n_layer = k.u32_req("block_count");
  d.n_embd = k.u32_req("embedding_length");
  d.n_ctx_train = k.u32_req("context_length");
  d.n_head = k.u32_req("attention.head_count");
  d.n_head_kv = k.u32_or("attention.head_count_kv", d.n_head);
  need(d.n_head > 0, k.key("attention.head_count"), "zero attention heads");
  need(d.n_embd > 0, k.key("embedding_length"), "zero embedding length");
  d.n_embd_head_k = k.u32_or("attention.key_length", d.n_embd / d.n_head);
  d.n_embd_head_v = k.u32_or("attention.value_length", d.n_embd / d.n_head);
  d.n_rot = k.u32_or("rope.dimension_count", d.n_embd_head_k);
  d.rms_eps = k.f32_req("attention.layer_norm_rms_epsilon");

  // Vocabulary: <arch>.vocab_size, else the tokenizer's token list; 0 = take it from token_embd.
  if (auto v = k.u32("vocab_size")) {
    d.n_vocab = *v;
  } else if (const auto* tok = f.find("tokenizer.ggml.tokens")) {
    if (tok->count > std::numeric_limits<uint32_t>::max())
      fail("tokenizer.ggml.tokens: {} tokens is too many", tok->count);
    d.n_vocab = static_cast<uint32_t>(tok->count);
  }

  d.n_ff = k.u32_or("feed_forward_length", 0);
  d.n_expert = k.u32_or("expert_count", 0);
  d.n_expert_used = k.u32_or("expert_used_count", 0);
  d.n_ff_exp = k.u32_or("expert_feed_forward_length", d.n_ff);

  // Rope.
  d.rope_freq_base = k.f32_or("rope.freq_base", 10000.0f);
  d.rope_type =
      (d.arch == Arch::Llama || d.arch == Arch::Deepseek2) ? RopeType::Normal : RopeType::Neox;
  {
    RopeScaling& rs = d.rope_scaling;
    const auto type = k.str("rope.scaling.type");
    float factor = k.f32_or("rope.scaling.factor", 0.0f);
    if (factor == 0.0f) {  // legacy key: linear scale as a frequency factor
      if (auto lin = k.f32("rope.scale_linear")) factor = *lin;
    }
    if (factor == 0.0f) factor = 1.0f;
    rs.factor = factor;
    if (type && *type == "yarn") {
      rs.type = RopeScalingType::Yarn;
      rs.yarn_ext_factor = 1.0f;
    } else if (type && *type != "linear" && *type != "none") {
      fail("unsupported rope scaling type '{}' ({})", *type, k.key("rope.scaling.type"));
    } else if (type && *type == "none") {
      rs.type = RopeScalingType::None;
    } else {
      rs.type = factor != 1.0f ? RopeScalingType::Linear : RopeScalingType::None;
    }
    rs.n_ctx_orig = k.u32_or("rope.scaling.original_context_length", d.n_ctx_train);
    rs.yarn_beta_fast = k.f32_or("rope.scaling.yarn_beta_fast", 32.0f);
    rs.yarn_beta_slow = k.f32_or("rope.scaling.yarn_beta_slow", 1.0f);
    rs.yarn_log_mul = k.f32_or("rope.scaling.yarn_log_multiplier", 0.0f);
    need(factor > 0.0f, k.key("rope.scaling.factor"), "rope scaling factor must be > 0");
  }

  // Per-architecture structure: what the architecture fixes, then what its metadata says.
  set_arch_structure(d);
  Routing& r = d.routing;
  switch (d.arch) {
    case Arch::Qwen3Moe:
    case Arch::Llama:
    case Arch::Olmoe:
      break;
    case Arch::Qwen2Moe:
      d.n_ff_shexp = k.u32_or("expert_shared_feed_forward_length", 0);
      d.n_expert_shared = d.n_ff_shexp > 0 ? 1 : 0;
      r.shared_gate = d.n_ff_shexp > 0;
      break;
    case Arch::Deepseek2: {
      d.n_layer_dense_lead = k.u32_or("leading_dense_block_count", 0);
      d.n_expert_shared = k.u32_or("expert_shared_count", 0);
      d.n_ff_shexp = d.n_ff_exp * d.n_expert_shared;
      d.q_lora_rank = k.u32_or("attention.q_lora_rank", 0);
      d.kv_lora_rank = k.u32_req("attention.kv_lora_rank");
      d.n_embd_head_k_mla = k.u32_or("attention.key_length_mla", d.n_embd_head_k);
      d.n_embd_head_v_mla = k.u32_or("attention.value_length_mla", d.n_embd_head_v);
      r.weights_scale = k.f32_or("expert_weights_scale", 1.0f);
      if (r.weights_scale == 0.0f) r.weights_scale = 1.0f;
      r.norm_topk = k.bool_or("expert_weights_norm", false);
      const uint32_t gf = k.u32_or("expert_gating_func", 0);
      if (gf == 0 || gf == 1) {
        r.gating = GatingFunc::Softmax;
      } else if (gf == 2) {
        r.gating = GatingFunc::Sigmoid;
        r.selection_bias = true;
      } else {
        fail("unsupported expert gating function {} ({})", gf, k.key("expert_gating_func"));
      }
      break;
    }
    case Arch::GptOss:
      d.sliding_window = k.u32_req("attention.sliding_window");
      d.swa_pattern = k.u32_or("attention.sliding_window_pattern", 2);
      break;
  }
  validate_hparams(d);
  return d;
}

void set_arch_structure(ModelDesc& d) {
  Routing& r = d.routing;
  switch (d.arch) {
    case Arch::Qwen3Moe:
      d.qk_norm = QkNorm::PerHead;
      r.norm_topk = true;
      break;
    case Arch::Llama:
      r.norm_topk = true;
      break;
    case Arch::Olmoe:
      d.qk_norm = QkNorm::Full;
      break;
    case Arch::Qwen2Moe:
      d.qkv_bias = true;
      break;
    case Arch::Deepseek2:
      r.norm_min = 6.103515625e-5f;
      break;
    case Arch::GptOss:
      d.qkv_bias = true;
      d.out_bias = true;
      d.attn_sinks = true;
      d.act = FfnAct::SwigluClamped;
      r.gating = GatingFunc::SoftmaxSelected;
      r.router_bias = true;
      break;
  }
}

void validate_hparams(const ModelDesc& d) {
  const std::string a(arch_name(d.arch));
  auto key = [&](std::string_view k) { return a + "." + std::string(k); };
  constexpr uint64_t kMaxDim = 1u << 24;  // sanity bound for any single dimension
  need(d.n_layer > 0, key("block_count"), "zero layers");
  need(d.n_layer <= 4096, key("block_count"), "too many layers");
  need(d.n_embd > 0 && d.n_embd <= kMaxDim, key("embedding_length"),
       "embedding length out of range");
  need(d.n_head > 0 && d.n_head <= 65536, key("attention.head_count"), "head count out of range");
  need(d.n_head_kv > 0, key("attention.head_count_kv"), "zero kv heads");
  need(d.n_head % d.n_head_kv == 0, key("attention.head_count_kv"),
       fmt::format("head_count {} is not a multiple of head_count_kv {}", d.n_head, d.n_head_kv));
  need(d.n_embd_head_k > 0 && d.n_embd_head_k <= 65536, key("attention.key_length"),
       "head dimension out of range (is embedding_length a multiple of head_count?)");
  need(d.n_embd_head_v > 0 && d.n_embd_head_v <= 65536, key("attention.value_length"),
       "value head dimension out of range");
  need(d.n_rot % 2 == 0, key("rope.dimension_count"), "rope dimension count must be even");
  need(uint64_t(d.n_head) * d.n_embd_head_k <= kMaxDim, key("attention.head_count"),
       "head_count x key_length too large");
  need(std::isfinite(d.rms_eps) && d.rms_eps > 0.0f, key("attention.layer_norm_rms_epsilon"),
       "epsilon must be positive");
  need(std::isfinite(d.rope_freq_base) && d.rope_freq_base > 0.0f, key("rope.freq_base"),
       "rope base must be positive");
  need(d.n_vocab <= kMaxDim * 4, key("vocab_size"), "vocabulary too large");

  if (d.is_mla()) {
    need(d.kv_lora_rank > 0 && d.kv_lora_rank <= kMaxDim, key("attention.kv_lora_rank"),
         "kv_lora_rank out of range");
    need(d.q_lora_rank <= kMaxDim, key("attention.q_lora_rank"), "q_lora_rank out of range");
    need(d.n_embd_head_k_mla > d.n_rot && d.n_embd_head_k_mla <= 65536,
         key("attention.key_length_mla"), "key_length_mla must exceed rope.dimension_count");
    need(d.n_embd_head_v_mla > 0 && d.n_embd_head_v_mla <= 65536, key("attention.value_length_mla"),
         "value_length_mla out of range");
    need(d.n_rot > 0, key("rope.dimension_count"), "MLA needs a rope part");
  } else {
    need(d.n_rot <= d.n_embd_head_k, key("rope.dimension_count"),
         fmt::format("rope dimension count {} exceeds the head dimension {}", d.n_rot,
                     d.n_embd_head_k));
  }

  if (d.n_expert == 0) {
    need(d.arch == Arch::Llama, key("expert_count"), "this architecture needs experts");
    need(d.n_ff > 0 && d.n_ff <= kMaxDim, key("feed_forward_length"), "zero FFN width");
  } else {
    need(d.n_expert <= 65536, key("expert_count"), "too many experts");
    need(d.n_expert_used > 0, key("expert_used_count"), "expert_used_count is zero");
    need(d.n_expert_used <= d.n_expert, key("expert_used_count"),
         fmt::format("expert_used_count {} exceeds expert_count {}", d.n_expert_used, d.n_expert));
    need(d.n_ff_exp > 0 && d.n_ff_exp <= kMaxDim, key("expert_feed_forward_length"),
         "zero expert FFN width");
    need(d.n_ff_shexp <= kMaxDim, key("expert_shared_feed_forward_length"),
         "shared expert width out of range");
    need(d.n_layer_dense_lead <= d.n_layer, key("leading_dense_block_count"),
         "more leading dense layers than layers");
    if (d.n_layer_dense_lead > 0)
      need(d.n_ff > 0 && d.n_ff <= kMaxDim, key("feed_forward_length"),
           "leading dense layers need a feed_forward_length");
  }
  if (d.sliding_window > 0)
    need(d.swa_pattern > 0, key("attention.sliding_window_pattern"), "zero sliding window pattern");
  const auto& rs = d.rope_scaling;
  if (rs.type == RopeScalingType::Yarn)
    need(rs.n_ctx_orig > 0, key("rope.scaling.original_context_length"),
         "YaRN needs the original context length");
}

std::vector<TensorSpec> expected_tensors(const ModelDesc& d) {
  std::vector<TensorSpec> out;
  auto add = [&](std::string name, std::initializer_list<uint64_t> ne, TensorKind kind, int32_t il,
                 bool expert = false, bool required = true) {
    TensorSpec s;
    s.name = std::move(name);
    s.n_dims = static_cast<uint32_t>(ne.size());
    size_t i = 0;
    for (uint64_t v : ne) s.ne[i++] = v;
    s.kind = kind;
    s.layer = il;
    s.expert = expert;
    s.required = required;
    out.push_back(std::move(s));
  };
  using K = TensorKind;
  const uint64_t E = d.n_embd;
  add("token_embd.weight", {E, d.n_vocab}, K::Matrix, -1);
  add("output_norm.weight", {E}, K::Norm, -1);
  add("output.weight", {E, d.n_vocab}, K::Matrix, -1, false, /*required=*/false);

  for (uint32_t il = 0; il < d.n_layer; ++il) {
    const int32_t L = static_cast<int32_t>(il);
    auto n = [&](std::string_view s) { return layer_tensor_name(il, s); };
    add(n("attn_norm.weight"), {E}, K::Norm, L);
    if (d.is_mla()) {
      const uint64_t dk = d.n_embd_head_k_mla, dv = d.n_embd_head_v_mla, H = d.n_head;
      if (d.q_lora_rank > 0) {
        add(n("attn_q_a.weight"), {E, d.q_lora_rank}, K::Matrix, L);
        add(n("attn_q_a_norm.weight"), {d.q_lora_rank}, K::Norm, L);
        add(n("attn_q_b.weight"), {d.q_lora_rank, H * dk}, K::Matrix, L);
      } else {
        add(n("attn_q.weight"), {E, H * dk}, K::Matrix, L);
      }
      add(n("attn_kv_a_mqa.weight"), {E, uint64_t(d.kv_lora_rank) + d.n_rot}, K::Matrix, L);
      add(n("attn_kv_a_norm.weight"), {d.kv_lora_rank}, K::Norm, L);
      add(n("attn_k_b.weight"), {d.mla_nope(), d.kv_lora_rank, H}, K::Matrix, L);
      add(n("attn_v_b.weight"), {d.kv_lora_rank, dv, H}, K::Matrix, L);
      add(n("attn_output.weight"), {H * dv, E}, K::Matrix, L);
    } else {
      const uint64_t q = d.q_dim(), kv = d.kv_dim(), v = d.v_dim();
      const uint64_t o = uint64_t(d.n_head) * d.n_embd_head_v;
      add(n("attn_q.weight"), {E, q}, K::Matrix, L);
      add(n("attn_k.weight"), {E, kv}, K::Matrix, L);
      add(n("attn_v.weight"), {E, v}, K::Matrix, L);
      add(n("attn_output.weight"), {o, E}, K::Matrix, L);
      if (d.qkv_bias) {
        add(n("attn_q.bias"), {q}, K::Bias, L);
        add(n("attn_k.bias"), {kv}, K::Bias, L);
        add(n("attn_v.bias"), {v}, K::Bias, L);
      }
      if (d.out_bias) add(n("attn_output.bias"), {E}, K::Bias, L);
      if (d.qk_norm == QkNorm::PerHead) {
        add(n("attn_q_norm.weight"), {d.n_embd_head_k}, K::Norm, L);
        add(n("attn_k_norm.weight"), {d.n_embd_head_k}, K::Norm, L);
      } else if (d.qk_norm == QkNorm::Full) {
        add(n("attn_q_norm.weight"), {q}, K::Norm, L);
        add(n("attn_k_norm.weight"), {kv}, K::Norm, L);
      }
      if (d.attn_sinks) add(n("attn_sinks.weight"), {d.n_head}, K::Sinks, L);
    }

    add(n(d.arch == Arch::GptOss ? "post_attention_norm.weight" : "ffn_norm.weight"), {E}, K::Norm,
        L);
    if (!d.is_moe_layer(il)) {
      add(n("ffn_gate.weight"), {E, d.n_ff}, K::Matrix, L);
      add(n("ffn_up.weight"), {E, d.n_ff}, K::Matrix, L);
      add(n("ffn_down.weight"), {d.n_ff, E}, K::Matrix, L);
      continue;
    }
    const uint64_t X = d.n_expert, F = d.n_ff_exp;
    add(n("ffn_gate_inp.weight"), {E, X}, K::Router, L);
    if (d.routing.router_bias) add(n("ffn_gate_inp.bias"), {X}, K::Bias, L);
    if (d.routing.selection_bias) add(n("exp_probs_b.bias"), {X}, K::Bias, L);
    add(n("ffn_gate_exps.weight"), {E, F, X}, K::Matrix, L, true);
    add(n("ffn_up_exps.weight"), {E, F, X}, K::Matrix, L, true);
    add(n("ffn_down_exps.weight"), {F, E, X}, K::Matrix, L, true);
    if (d.arch == Arch::GptOss) {
      add(n("ffn_gate_exps.bias"), {F, X}, K::Bias, L, true);
      add(n("ffn_up_exps.bias"), {F, X}, K::Bias, L, true);
      add(n("ffn_down_exps.bias"), {E, X}, K::Bias, L, true);
    }
    if (d.n_ff_shexp > 0) {
      const uint64_t S = d.n_ff_shexp;
      if (d.routing.shared_gate) add(n("ffn_gate_inp_shexp.weight"), {E}, K::Gate, L);
      add(n("ffn_gate_shexp.weight"), {E, S}, K::Matrix, L);
      add(n("ffn_up_shexp.weight"), {E, S}, K::Matrix, L);
      add(n("ffn_down_shexp.weight"), {S, E}, K::Matrix, L);
    }
  }
  return out;
}

namespace {

std::string shape_str(const std::array<uint64_t, 4>& ne) {
  int n = 4;
  while (n > 1 && ne[n - 1] == 1) --n;
  std::string s = "[";
  for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "]";
}

// Layer index of a "blk.N." tensor name, or nullopt.
std::optional<uint64_t> layer_of(std::string_view name) {
  if (name.substr(0, 4) != "blk.") return std::nullopt;
  uint64_t il = 0;
  const char* b = name.data() + 4;
  const char* e = name.data() + name.size();
  auto [p, ec] = std::from_chars(b, e, il);
  if (ec != std::errc() || p == b) return std::nullopt;
  return il;
}

}  // namespace

ModelDesc describe(const gguf::File& f) {
  ModelDesc d = read_hparams(f);
  const gguf::TensorInfo* emb = f.find_tensor("token_embd.weight");
  if (!emb) fail("missing tensor 'token_embd.weight'");
  if (d.n_vocab == 0) {
    if (emb->ne[1] == 0 || emb->ne[1] > std::numeric_limits<uint32_t>::max())
      fail("tensor 'token_embd.weight': bad vocabulary dimension {}", emb->ne[1]);
    d.n_vocab = static_cast<uint32_t>(emb->ne[1]);
  }
  d.tied_output = f.find_tensor("output.weight") == nullptr;

  for (const TensorSpec& s : expected_tensors(d)) {
    const gguf::TensorInfo* t = f.find_tensor(s.name);
    if (!t) {
      if (!s.required) continue;
      fail("missing tensor '{}' (expected shape {}{})", s.name, shape_str(s.ne),
           s.layer >= 0 ? fmt::format(", layer {} of block_count {}", s.layer, d.n_layer) : "");
    }
    if (t->ne != s.ne)
      fail("tensor '{}' has shape {}, expected {} from the hyper-parameters", s.name,
           shape_str(t->ne), shape_str(s.ne));
    const auto tt = type_traits(static_cast<uint32_t>(t->type));
    if (!tt || !tt->supported)
      fail("tensor '{}' has unsupported type {} ({})", s.name,
           tt ? std::string(tt->name) : std::string("?"), static_cast<uint32_t>(t->type));
    if (!row_bytes(t->type, t->ne[0]))
      fail("tensor '{}': row length {} is not a multiple of the {} block size {}", s.name, t->ne[0],
           tt->name, tt->block_size);
  }
  for (const auto& t : f.tensors()) {
    if (auto il = layer_of(t.name); il && *il >= d.n_layer)
      fail("tensor '{}' belongs to layer {} but {}.block_count is {}", t.name, *il,
           arch_name(d.arch), d.n_layer);
  }
  return d;
}

std::optional<uint64_t> expert_matrix_bytes(const ModelDesc& d, uint32_t il, ExpertMat m,
                                            GgmlType t) {
  (void)il;
  const uint64_t row_len = m == ExpertMat::Down ? d.n_ff_exp : d.n_embd;
  const uint64_t rows = m == ExpertMat::Down ? d.n_embd : d.n_ff_exp;
  auto rb = row_bytes(t, row_len);
  if (!rb) return std::nullopt;
  return *rb * rows;
}

ExpertSlab expert_slab(const gguf::File& f, const ModelDesc& d, uint32_t il, ExpertMat m) {
  if (il >= d.n_layer || !d.is_moe_layer(il))
    fail("layer {} is not an MoE layer (expert slab of {})", il, expert_tensor_suffix(m));
  const std::string name = layer_tensor_name(il, expert_tensor_suffix(m));
  const gguf::TensorInfo* t = f.find_tensor(name);
  if (!t) fail("missing tensor '{}'", name);
  if (t->ne[2] != d.n_expert || t->ne[2] == 0)
    fail("tensor '{}': {} experts, expected {}", name, t->ne[2], d.n_expert);
  ExpertSlab s;
  s.tensor = t;
  s.type = t->type;
  s.row_len = t->ne[0];
  s.rows = t->ne[1];
  s.bytes = t->n_bytes / t->ne[2];
  return s;
}

uint64_t expert_bytes(const gguf::File& f, const ModelDesc& d, uint32_t il) {
  return expert_slab(f, d, il, ExpertMat::Gate).bytes + expert_slab(f, d, il, ExpertMat::Up).bytes +
         expert_slab(f, d, il, ExpertMat::Down).bytes;
}

std::string describe_summary(const ModelDesc& d) {
  std::string s;
  auto line = [&](std::string_view k, const std::string& v) {
    s += fmt::format("{:<22} {}\n", k, v);
  };
  line("architecture", std::string(arch_name(d.arch)));
  if (!d.name.empty()) line("name", d.name);
  line("layers", std::to_string(d.n_layer));
  line("n_embd", std::to_string(d.n_embd));
  line("n_vocab", std::to_string(d.n_vocab));
  line("n_ctx_train", std::to_string(d.n_ctx_train));
  line("heads (q / kv)", fmt::format("{} / {}", d.n_head, d.n_head_kv));
  if (d.is_mla()) {
    line("MLA", fmt::format("q_lora {}, kv_lora {}, head k {} (rope {}), head v {}", d.q_lora_rank,
                            d.kv_lora_rank, d.n_embd_head_k_mla, d.n_rot, d.n_embd_head_v_mla));
  } else {
    line("head dim (k / v)", fmt::format("{} / {}", d.n_embd_head_k, d.n_embd_head_v));
  }
  line("rope", fmt::format("{} dims, base {}, {}{}", d.n_rot, d.rope_freq_base,
                           d.rope_type == RopeType::Neox ? "neox" : "normal",
                           d.rope_scaling.type == RopeScalingType::Yarn
                               ? fmt::format(", YaRN x{} (orig ctx {})", d.rope_scaling.factor,
                                             d.rope_scaling.n_ctx_orig)
                           : d.rope_scaling.type == RopeScalingType::Linear
                               ? fmt::format(", linear x{}", d.rope_scaling.factor)
                               : std::string()));
  if (d.sliding_window)
    line("sliding window", fmt::format("{} (pattern {})", d.sliding_window, d.swa_pattern));
  if (d.n_expert) {
    line("experts", fmt::format("{} used of {}, ff {}", d.n_expert_used, d.n_expert, d.n_ff_exp));
    const char* g = d.routing.gating == GatingFunc::Softmax   ? "softmax"
                    : d.routing.gating == GatingFunc::Sigmoid ? "sigmoid"
                                                              : "softmax over selected";
    line("gating", fmt::format("{}{}{}{}", g, d.routing.norm_topk ? ", renormalised" : "",
                               d.routing.selection_bias ? ", selection bias" : "",
                               d.routing.weights_scale != 1.0f
                                   ? fmt::format(", scale {}", d.routing.weights_scale)
                                   : std::string()));
    if (d.n_ff_shexp)
      line("shared experts", fmt::format("{} (ff {}){}", d.n_expert_shared, d.n_ff_shexp,
                                         d.routing.shared_gate ? ", sigmoid gate" : ""));
    if (d.n_layer_dense_lead)
      line("leading dense layers", fmt::format("{} (ff {})", d.n_layer_dense_lead, d.n_ff));
  } else {
    line("ffn", fmt::format("dense, ff {}", d.n_ff));
  }
  line("rms eps", fmt::format("{}", d.rms_eps));
  line("output", d.tied_output ? "tied to token_embd" : "output.weight");
  return s;
}

}  // namespace moevk
