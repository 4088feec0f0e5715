// CPU reference forward pass of the six supported architectures: fp32 activations, double
// accumulation, weights dequantised row by row from the GGUF bytes. The oracle for the GPU path
// and the `--backend cpu` engine of `moevk logits`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "loader/model/model.h"
#include "runtime/ref/ops.h"

namespace moevk::gguf {
class File;
}

namespace moevk::ref {

// Receives intermediate tensors of each eval() batch, named as in the oracle dumps
// (../shared/oracle/dumps/<model>-F16/index.json): "ffn_inp-L", "l_out-L", "ffn_moe_logits-L",
// "ffn_moe_probs-L" (gpt-oss: the biased logits), "ffn_moe_probs_biased-L" (deepseek2: + selection
// bias), "ffn_moe_out-L" (routed experts only), "result_norm"; data is [n_tok][row_len] row-major.
// "ffn_moe_logits-L" is the router output before any router bias.
// "ffn_moe_topk-L" is passed as floats holding the expert ids.
using DumpFn =
    std::function<void(const std::string& name, std::span<const float> data, uint32_t row_len)>;

// The routed experts of one MoE layer (or a dense FFN as one expert): gate and up are
// [n_expert * n_ff] rows of n_embd, down [n_expert * n_embd] rows of n_ff; biases (gpt-oss)
// [n_expert][n_ff] / [n_expert][n_embd] or empty. act: SwiGLU, or gpt-oss's clamped variant with
// alpha and limit.
// A tensor of the file as a matrix (all dimensions past ne[0] folded into rows), reading the
// file's mapping; vector_of dequantises it to floats. Errors name a missing or malformed tensor.
QMatrix matrix_of(const gguf::File& f, const std::string& name);
std::vector<float> vector_of(const gguf::File& f, const std::string& name);

struct ExpertWeights {
  QMatrix gate, up, down;
  std::span<const float> gate_b, up_b, down_b;
  uint32_t n_expert = 0, n_ff = 0, n_embd = 0;
  FfnAct act = FfnAct::Swiglu;
  float alpha = 1.702f, limit = 7.0f;
};
// out[t] = sum over j < n_used with ids[t][j] >= 0 of weights[t][j] * down(act(gate x[t], up x[t]))
// of expert ids[t][j] (0 for a token without ids); x [n_tok][n_embd], out [n_tok][n_embd]. Experts
// are summed in ascending id order. Double accumulation.
void expert_ffn(const ExpertWeights& w, std::span<const float> x, uint32_t n_tok, uint32_t n_used,
                std::span<const int32_t> ids, std::span<const float> weights, std::span<float> out);

// The products a Forward runs, replaceable: `--backend cpu` plugs in runtime/cpu's kernels. Empty
// members use the reference (ref::matmul, ref::expert_ffn).
struct ForwardKernels {
  std::function<void(const QMatrix& w, std::span<const float> x, uint32_t n_tok,
                     std::span<float> y)>
      matmul;
  std::function<void(const ExpertWeights& w, std::span<const float> x, uint32_t n_tok,
                     uint32_t n_used, std::span<const int32_t> ids, std::span<const float> weights,
                     std::span<float> out)>
      experts;
};

class Forward {
 public:
  // The file must outlive the Forward (weights are read from its mapping). n_ctx 0: context_length.
  explicit Forward(const gguf::File& f, uint32_t n_ctx = 0);
  Forward(const gguf::File& f, const ModelDesc& d, uint32_t n_ctx = 0);
  ~Forward();
  Forward(Forward&&) noexcept;
  Forward& operator=(Forward&&) noexcept;

  const ModelDesc& desc() const;
  uint32_t n_ctx() const;
  uint32_t n_past() const;  // positions held by the KV cache

  // Evaluates tokens at positions start_pos, start_pos+1, ... (start_pos <= n_past(); the cache is
  // truncated to start_pos first) and returns logits [tokens.size()][n_vocab], one row per token.
  // moevk::Error for a token id outside the vocabulary or a position past n_ctx.
  std::vector<float> eval(std::span<const int32_t> tokens, uint32_t start_pos);
  // The same, with logits [1][n_vocab] of the last token only when last_only (the head is skipped
  // for the others).
  std::vector<float> eval(std::span<const int32_t> tokens, uint32_t start_pos, bool last_only);

  void reset();  // empty the KV cache
  void set_dump(DumpFn fn);
  void set_kernels(ForwardKernels k);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace moevk::ref
