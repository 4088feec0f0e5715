// Model descriptions: the hyper-parameters of the six supported MoE architectures read from GGUF
// metadata (with llama.cpp's defaults), the routing variant, and the complete list of tensors a
// file must hold. describe() validates a file against that list; expected_tensors() alone (no file)
// is what `moevk synth` uses to build random models.
//
// Architectures (GGUF `general.architecture`):
//   qwen3moe  per-head Q/K RMSNorm, NeoX rope, softmax -> top-k -> renormalise
//   llama     Mixtral (experts in ffn_*_exps), normal rope, softmax -> top-k -> renormalise
//   olmoe     Q/K RMSNorm over the whole q/k vectors, NeoX rope, softmax -> top-k, no
//   renormalisation qwen2moe  QKV bias, softmax -> top-k (no renorm), shared expert scaled by
//   sigmoid(gate_shexp . x) deepseek2 MLA attention, leading dense layers, sigmoid gating +
//   selection bias, shared experts gpt-oss   biases, attention sinks, sliding window on alternating
//   layers, YaRN, softmax over the
//             selected top-k logits, clamped SwiGLU
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loader/quants/quants.h"

namespace moevk {

namespace gguf {
class File;
struct TensorInfo;
}  // namespace gguf

enum class Arch { Qwen3Moe, Llama, Olmoe, Qwen2Moe, Deepseek2, GptOss };

std::string_view arch_name(Arch a);                      // GGUF spelling: "qwen3moe", "gpt-oss"...
std::optional<Arch> arch_from_name(std::string_view s);  // nullopt for unsupported architectures

enum class RopeType { Normal, Neox };  // Normal: pairs (2i, 2i+1); Neox: pairs (i, i + n_rot/2)

enum class RopeScalingType { None, Linear, Yarn };

struct RopeScaling {
  RopeScalingType type = RopeScalingType::None;
  float factor = 1.0f;      // rope.scaling.factor (freq_scale = 1 / factor)
  uint32_t n_ctx_orig = 0;  // rope.scaling.original_context_length (default: context_length)
  float yarn_beta_fast = 32.0f;
  float yarn_beta_slow = 1.0f;
  float yarn_ext_factor = 0.0f;  // 1 for YaRN, 0 otherwise (llama.cpp's default)
  float yarn_attn_factor = 1.0f;
  float yarn_log_mul = 0.0f;  // rope.scaling.yarn_log_multiplier (deepseek2), 0 when absent
};

// How the router's logits become expert ids and weights.
enum class GatingFunc {
  Softmax,  // p = softmax(logits over all experts); select top-k of p; weights = p[selected]
  Sigmoid,  // p = sigmoid(logits); select top-k of p + selection bias; weights = p[selected]
  SoftmaxSelected,  // gpt-oss: select top-k of logits (+ router bias); weights = softmax(selected)
};

enum class FfnAct {
  Swiglu,         // silu(gate) * up
  SwigluClamped,  // gpt-oss: g = min(gate, limit), u = clamp(up, -limit, limit), g*sigmoid(alpha
                  // g)*(u+1)
};

enum class QkNorm {
  None,
  PerHead,  // qwen3moe: RMSNorm over each head's head_dim, weight [head_dim]
  Full,     // olmoe: RMSNorm over the whole q (k) vector, weight [q_dim] ([kv_dim])
};

struct Routing {
  GatingFunc gating = GatingFunc::Softmax;
  bool norm_topk = false;       // renormalise the selected weights to sum 1
  float norm_min = 0.0f;        // denominator clamp when renormalising (deepseek2: 6.103515625e-5)
  float weights_scale = 1.0f;   // multiply the selected weights (deepseek2: expert_weights_scale)
  bool selection_bias = false;  // exp_probs_b.bias added for selection only (deepseek2)
  bool router_bias = false;     // ffn_gate_inp.bias added to the logits (gpt-oss)
  bool shared_gate = false;  // qwen2moe: shared expert output scaled by sigmoid(gate_inp_shexp . x)
};

struct ModelDesc {
  Arch arch = Arch::Llama;
  std::string name;  // general.name (may be empty), printable(): control characters escaped, cut at 256

  // Sizes.
  uint32_t n_layer = 0;
  uint32_t n_embd = 0;
  uint32_t n_vocab = 0;
  uint32_t n_ctx_train = 0;
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t n_embd_head_k = 0;  // attention.key_length (default n_embd / n_head)
  uint32_t n_embd_head_v = 0;  // attention.value_length (default n_embd / n_head)
  uint32_t n_rot = 0;          // rope.dimension_count (default n_embd_head_k; deepseek2: rope part)
  float rms_eps = 1e-5f;

  // FFN / experts.
  uint32_t n_ff = 0;        // dense FFN width (feed_forward_length; deepseek2 leading layers)
  uint32_t n_ff_exp = 0;    // one expert's width (expert_feed_forward_length, else n_ff)
  uint32_t n_ff_shexp = 0;  // shared expert width (all shared experts together), 0 = none
  uint32_t n_expert = 0;    // 0 = dense model (llama only)
  uint32_t n_expert_used = 0;
  uint32_t n_expert_shared = 0;     // deepseek2: expert_shared_count; qwen2moe: 1
  uint32_t n_layer_dense_lead = 0;  // deepseek2: leading_dense_block_count
  Routing routing;
  FfnAct act = FfnAct::Swiglu;
  float swiglu_alpha = 1.702f;  // gpt-oss clamped SwiGLU
  float swiglu_limit = 7.0f;

  // Attention.
  QkNorm qk_norm = QkNorm::None;
  bool qkv_bias = false;           // attn_{q,k,v}.bias
  bool out_bias = false;           // attn_output.bias (gpt-oss)
  bool attn_sinks = false;         // attn_sinks.weight [n_head] (gpt-oss)
  uint32_t sliding_window = 0;     // 0 = none
  uint32_t swa_pattern = 0;        // layer il is SWA when il % swa_pattern < swa_pattern - 1
  uint32_t q_lora_rank = 0;        // deepseek2 (0: plain attn_q)
  uint32_t kv_lora_rank = 0;       // deepseek2
  uint32_t n_embd_head_k_mla = 0;  // deepseek2: q/k head dim incl. rope part (key_length_mla)
  uint32_t n_embd_head_v_mla = 0;  // deepseek2: v head dim (value_length_mla)

  // Rope.
  RopeType rope_type = RopeType::Normal;
  float rope_freq_base = 10000.0f;
  RopeScaling rope_scaling;

  bool tied_output = false;  // no output.weight: the head reuses token_embd

  // Derived.
  bool is_mla() const { return arch == Arch::Deepseek2; }
  bool is_moe_layer(uint32_t il) const { return n_expert > 0 && il >= n_layer_dense_lead; }
  bool is_swa_layer(uint32_t il) const {
    return sliding_window > 0 && swa_pattern > 0 && il % swa_pattern < swa_pattern - 1;
  }
  float freq_scale() const {
    return rope_scaling.type == RopeScalingType::None ? 1.0f : 1.0f / rope_scaling.factor;
  }
  uint32_t q_dim() const { return n_head * n_embd_head_k; }      // non-MLA
  uint32_t kv_dim() const { return n_head_kv * n_embd_head_k; }  // non-MLA (k; v uses head_v)
  uint32_t v_dim() const { return n_head_kv * n_embd_head_v; }
  uint32_t attn_out_dim() const {  // input width of attn_output
    return is_mla() ? n_head * n_embd_head_v_mla : n_head * n_embd_head_v;
  }
  uint32_t mla_nope() const { return n_embd_head_k_mla - n_rot; }
  // Width of the FFN of layer il (dense or one expert).
  uint32_t layer_ff(uint32_t il) const { return is_moe_layer(il) ? n_ff_exp : n_ff; }
};

// What a tensor is, for synthesis (value ranges) and for the rule that routers, norms, biases and
// sinks stay F32 in every file.
enum class TensorKind {
  Matrix,  // a weight matrix (quantisable): embeddings, projections, experts, output
  Norm,    // RMSNorm weight (values near 1)
  Bias,    // additive bias (F32)
  Router,  // ffn_gate_inp.weight (F32 in llama.cpp's files)
  Sinks,   // attn_sinks.weight (F32)
  Gate,    // ffn_gate_inp_shexp.weight (F32 vector)
};

enum class ExpertMat { Gate = 0, Up = 1, Down = 2 };

struct TensorSpec {
  std::string name;                        // "blk.3.ffn_up_exps.weight"
  std::array<uint64_t, 4> ne{1, 1, 1, 1};  // ggml order, unused dims 1
  uint32_t n_dims = 1;
  bool required = true;
  bool expert = false;  // ffn_*_exps (weights or biases): ne[n_dims-1] == n_expert
  TensorKind kind = TensorKind::Matrix;
  int32_t layer = -1;  // -1 for global tensors
  bool must_be_f32() const { return kind != TensorKind::Matrix; }
};

// Every tensor the model uses (required or optional), in a stable order: token_embd, output_norm,
// output, then each layer's tensors.
std::vector<TensorSpec> expected_tensors(const ModelDesc& d);

// Reads and checks the hyper-parameters (no tensors). moevk::Error naming the key on a missing or
// inconsistent value, or an unsupported architecture.
ModelDesc read_hparams(const gguf::File& f);

// Sets what the architecture alone fixes (Q/K norm, biases, sinks, activation, gating variant);
// read_hparams() then adds what the metadata says, and `moevk synth` builds on the same base.
void set_arch_structure(ModelDesc& d);

// Checks hyper-parameter consistency (expert_used_count <= expert_count, non-zero heads, GQA
// divisibility, rope dims, ...). Throws moevk::Error naming the key. Called by read_hparams.
void validate_hparams(const ModelDesc& d);

// read_hparams + checks every expected tensor: present when required, exact shape, supported type,
// F32 where llama.cpp keeps F32 (norms, biases, routers, sinks may also be F16/BF16: any supported
// type is accepted). Sets tied_output. Throws moevk::Error naming the tensor.
ModelDesc describe(const gguf::File& f);

// Name helpers.
std::string layer_tensor_name(uint32_t il, std::string_view suffix);  // "blk.<il>.<suffix>"
std::string_view expert_tensor_suffix(ExpertMat m);                   // "ffn_gate_exps.weight"...

// Bytes of one expert's matrix (gate/up/down) of layer il when stored as type t (one contiguous
// slab of the ffn_*_exps tensor); nullopt when the row length is not a multiple of t's block size.
std::optional<uint64_t> expert_matrix_bytes(const ModelDesc& d, uint32_t il, ExpertMat m,
                                            GgmlType t);

// Where one expert's matrix lies in a file: the tensor, its type, the slab's byte offset relative
// to the tensor's data and the slab's size. Throws when the tensor is missing or il is not an MoE
// layer.
struct ExpertSlab {
  const gguf::TensorInfo* tensor;
  GgmlType type;
  uint64_t rows;     // output rows of one expert
  uint64_t row_len;  // elements per row
  uint64_t bytes;    // bytes of one expert
  uint64_t offset(uint32_t expert) const { return bytes * expert; }
};
ExpertSlab expert_slab(const gguf::File& f, const ModelDesc& d, uint32_t il, ExpertMat m);

// Bytes of gate + up + down of one expert of layer il in file f.
uint64_t expert_bytes(const gguf::File& f, const ModelDesc& d, uint32_t il);

// A one-line-per-field human summary (for `moevk info`).
std::string describe_summary(const ModelDesc& d);

}  // namespace moevk
