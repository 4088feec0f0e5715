// Per-tensor types of synthesised models (see synth.h): the rule llama.cpp's quantiser applies for
// the file types the presets use, restated here from src/llama-quant.cpp
// (llama_tensor_get_type_impl and tensor_type_fallback, ggml-org/llama.cpp, 2025):
//
// Only matrices are quantised: names ending in "weight", not norms, not the router
// (ffn_gate_inp); everything 1-D stays as converted (F32 here).
//
// Q4_K_M (default Q4_K):
//   - output.weight: Q6_K (Q8_0 when its rows are not a multiple of Q6_K's 256-wide block).
//   - token_embd.weight: Q4_K (the head is untied, so the embedding gets no special case).
//   - attn_v.weight of layer il: Q6_K when il is one of the "more bits" layers of n_layer: the
//     first eighth, the last eighth, and every third layer in between (il - n/8 = 2, 5, 8, ...);
//     Q4_K otherwise. A model with exactly 8 experts (Mixtral) takes Q8_0 for attn_v and attn_k in
//     every layer, and Q5_K for attn_output.
//   - every ffn_down* tensor of layer il (ffn_down, ffn_down_exps, ffn_down_shexp): Q6_K in the
//     same "more bits" layers, Q4_K otherwise.
//   - everything else: Q4_K.
// MXFP4_MOE: 3-D expert tensors (ffn_*_exps) MXFP4; every other matrix Q8_0, output included.
//
// Fallback when the row length is not a multiple of the chosen type's block (deepseek2's 128-wide
// attn_k_b rows, the 1408-wide expert rows of qwen2moe and deepseek2): Q4_K -> Q5_0,
// Q5_K -> Q5_1, Q6_K -> Q8_0, (Q2_K, Q3_K -> Q4_0; IQ4_XS -> IQ4_NL); F16 when even that does
// not fit.
#include <string>
#include <string_view>

#include "loader/model/synth.h"

namespace moevk::synth {

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// llama.cpp's "use more bits" layers: the first and last eighth and every third one between.
bool more_bits(int il, int n) { return il < n / 8 || il >= 7 * n / 8 || (il - n / 8) % 3 == 2; }

GgmlType fit(GgmlType t, uint64_t row_len) {
  if (row_bytes(t, row_len)) return t;
  GgmlType f = GgmlType::F16;
  switch (t) {
    case GgmlType::Q4_K:
      f = GgmlType::Q5_0;
      break;
    case GgmlType::Q5_K:
      f = GgmlType::Q5_1;
      break;
    case GgmlType::Q6_K:
      f = GgmlType::Q8_0;
      break;
    case GgmlType::Q2_K:
    case GgmlType::Q3_K:
      f = GgmlType::Q4_0;
      break;
    case GgmlType::IQ4_XS:
      f = GgmlType::IQ4_NL;
      break;
    default:
      break;
  }
  return row_bytes(f, row_len) ? f : GgmlType::F16;
}

GgmlType q4_k_m(const TensorSpec& s, const ModelDesc& d) {
  const std::string_view name = s.name;
  const bool mixtral_like = d.n_expert == 8;
  const int il = s.layer, n = static_cast<int>(d.n_layer);
  if (name == "output.weight")
    return row_bytes(GgmlType::Q6_K, s.ne[0]) ? GgmlType::Q6_K : GgmlType::Q8_0;
  if (ends_with(name, ".attn_v.weight")) {
    if (mixtral_like) return GgmlType::Q8_0;
    return more_bits(il, n) ? GgmlType::Q6_K : GgmlType::Q4_K;
  }
  if (ends_with(name, ".attn_k.weight") && mixtral_like) return GgmlType::Q8_0;
  if (ends_with(name, ".attn_output.weight") && mixtral_like) return GgmlType::Q5_K;
  if (name.find(".ffn_down") != std::string_view::npos && more_bits(il, n)) return GgmlType::Q6_K;
  return GgmlType::Q4_K;
}

}  // namespace

std::string_view mix_name(TypeMix m) {
  switch (m) {
    case TypeMix::Uniform:
      return "uniform";
    case TypeMix::Q4_K_M:
      return "q4_k_m";
    case TypeMix::MXFP4_MOE:
      return "mxfp4_moe";
  }
  return "?";
}

GgmlType mix_type(const TensorSpec& s, const ModelDesc& d, const Options& o) {
  if (s.must_be_f32()) return GgmlType::F32;
  switch (o.mix) {
    case TypeMix::Uniform:
      return storage_type(s, o.type);
    case TypeMix::Q4_K_M:
      return fit(q4_k_m(s, d), s.ne[0]);
    case TypeMix::MXFP4_MOE:
      return fit(s.expert && s.n_dims == 3 ? GgmlType::MXFP4 : GgmlType::Q8_0, s.ne[0]);
  }
  return storage_type(s, o.type);
}

}  // namespace moevk::synth
