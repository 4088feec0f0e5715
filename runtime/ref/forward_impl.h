// Internal state of ref::Forward, shared by forward.cpp (embedding, layers, FFN/MoE, head) and
// forward_attn.cpp (standard and MLA attention).
#pragma once

#include <vector>

#include "loader/gguf/gguf.h"
#include "runtime/ref/forward.h"
#include "runtime/ref/ops.h"

namespace moevk::ref {

// One layer's weights: matrices stay quantised in the file; small vectors are dequantised once.
struct LayerWeights {
  std::vector<float> attn_norm, ffn_norm;
  // standard attention
  QMatrix wq, wk, wv, wo;
  std::vector<float> bq, bk, bv, bo, q_norm, k_norm, sinks;
  // MLA
  QMatrix wq_a, wq_b, wkv_a, wk_b, wv_b;
  std::vector<float> q_a_norm, kv_a_norm;
  // dense FFN
  QMatrix ffn_gate, ffn_up, ffn_down;
  // MoE
  QMatrix router, gate_exps, up_exps, down_exps;
  std::vector<float> router_b, sel_bias, gate_exps_b, up_exps_b,
      down_exps_b;  // expert biases [X][F]
  QMatrix gate_sh, up_sh, down_sh;
  std::vector<float> gate_inp_sh;
  // KV cache rows [n_ctx][k_row] / [n_ctx][v_row]
  std::vector<float> k_cache, v_cache;
};

struct Forward::Impl {
  const gguf::File* file = nullptr;
  ModelDesc d;
  uint32_t n_ctx = 0;
  uint32_t n_past = 0;
  QMatrix tok_embd, output;
  std::vector<float> output_norm;
  std::vector<LayerWeights> layers;
  uint32_t k_row = 0, v_row = 0;  // floats per cache row
  RopeParams rope_p;
  AttnParams attn_p;  // scale, heads, dims (window per layer)
  DumpFn dump;
  ForwardKernels kernels;

  void mm(const QMatrix& w, std::span<const float> x, uint32_t n_tok, std::span<float> y) const {
    if (kernels.matmul)
      kernels.matmul(w, x, n_tok, y);
    else
      matmul(w, x, n_tok, y);
  }

  void load();
  std::vector<float> eval(std::span<const int32_t> tokens, uint32_t pos0, bool last_only);

  // x [T][n_embd] -> out [T][n_embd] (forward_attn.cpp)
  void attn_standard(uint32_t il, std::span<const float> h, uint32_t T, uint32_t pos0,
                     std::span<float> out);
  void attn_mla(uint32_t il, std::span<const float> h, uint32_t T, uint32_t pos0,
                std::span<float> out);
  void ffn_dense(const QMatrix& gate, const QMatrix& up, const QMatrix& down,
                 std::span<const float> h, uint32_t T, std::span<float> out);
  void ffn_moe(uint32_t il, std::span<const float> h, uint32_t T, std::span<float> out);

  void emit(const std::string& name, std::span<const float> data, uint32_t row_len) {
    if (dump) dump(name, data, row_len);
  }
};

}  // namespace moevk::ref
