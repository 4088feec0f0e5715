// Plain CPU reference ops: naive loops, double accumulation, fp32 storage. They define what every
// GPU op computes (the shader tests compare against them) and build the CPU forward pass
// (forward.h). Vectors are float spans; a batch of T vectors of length n is T*n floats, row-major.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "loader/model/model.h"
#include "loader/quants/quants.h"

namespace moevk::ref {

// Runs fn(begin, end) over [0, n) split across up to max_threads std::threads (1 = inline).
// Work below min_per_thread items per thread stays on the calling thread.
void parallel_for(uint64_t n, const std::function<void(uint64_t, uint64_t)>& fn,
                  uint64_t min_per_thread = 16);
// Threads parallel_for uses (default: hardware concurrency, at least 1); 1 makes everything serial.
void set_num_threads(unsigned n);
unsigned num_threads();

// A matrix of n_rows rows of row_len elements stored in GGUF blocks of type `type` (a ggml 2-D
// view; a 3-D expert tensor is n_expert * rows rows). Rows are dequantised on the fly with
// dequantize_row.
struct QMatrix {
  GgmlType type = GgmlType::F32;
  const uint8_t* data = nullptr;
  uint64_t row_len = 0;    // ne[0]
  uint64_t n_rows = 0;     // ne[1] (* ne[2] ...)
  uint64_t row_bytes = 0;  // bytes of one row

  // Rows [row0, row0 + n) as a matrix of their own (e.g. one expert, one head).
  QMatrix rows(uint64_t row0, uint64_t n) const;
  void dequant_row(uint64_t r, float* out) const;
};
// A QMatrix over plain floats (tests).
QMatrix f32_matrix(std::span<const float> w, uint64_t row_len);

// y[t][r] = sum_c W[r][c] * x[t][c] for t < n_tok (x: n_tok * row_len, y: n_tok * n_rows).
// Each weight row is dequantised once per call; accumulation in double; threads over rows.
void matmul(const QMatrix& w, std::span<const float> x, uint32_t n_tok, std::span<float> y);
inline void matvec(const QMatrix& w, std::span<const float> x, std::span<float> y) {
  matmul(w, x, 1, y);
}

// y = x / sqrt(mean(x^2) + eps) * w over each row of length n (x and y may alias); w empty = 1.
void rms_norm(std::span<const float> x, std::span<const float> w, float eps, uint32_t n,
              std::span<float> y);
// x[t][i] += b[i] over each row of length b.size().
void add_bias(std::span<float> x, std::span<const float> b);

// Rotary position embedding of one token's vector of n_head heads of head_dim each; rotates the
// first n_rot dims of every head. Normal: pairs (2i, 2i+1); Neox: pairs (i, i + n_rot/2). theta_i =
// pos * base^(-2i/n_rot); YaRN (ext_factor > 0) mixes interpolated (freq_scale * theta) and
// extrapolated theta with ggml's ramp over corr dims, and scales cos/sin by mscale.
struct RopeParams {
  uint32_t n_rot = 0;
  RopeType type = RopeType::Normal;
  float freq_base = 10000.0f;
  float freq_scale = 1.0f;  // 1 / scaling factor
  float ext_factor = 0.0f;  // 1 for YaRN
  float attn_factor = 1.0f;
  float beta_fast = 32.0f;
  float beta_slow = 1.0f;
  uint32_t n_ctx_orig = 0;
};
RopeParams rope_params(const ModelDesc& d);  // n_rot, type, base and scaling of a model
void rope(std::span<float> x, uint32_t n_head, uint32_t head_dim, int64_t pos, const RopeParams& p);

// In-place softmax of x (max-subtracted, double sums).
void softmax(std::span<float> x);
float sigmoid(float x);
float silu(float x);

// The scores' order as unsigned keys (larger key = better): NaN lowest (below -inf), -0 == +0.
// gate_topk.comp's order_key is the same function.
uint32_t score_order_key(float s);
// ids = the indices of the ids.size() best scores, best first (score_order_key; ties: lowest index).
// Defined for every input: NaN ranks lowest, so the ids are always distinct and in range.
void top_k(std::span<const float> scores, std::span<int32_t> ids);

// Router: logits [n_expert] (router bias already added) -> ids[k] (selection order) and weights[k].
// sel_bias (deepseek2's exp_probs_b) is added for selection only; empty when unused. probs_out
// (optional, n_expert) receives the gating probabilities (softmax / sigmoid; logits for gpt-oss).
void route(const Routing& r, std::span<const float> logits, std::span<const float> sel_bias,
           std::span<int32_t> ids, std::span<float> weights, std::span<float> probs_out = {});

// out[i] = silu(gate[i]) * up[i]
void swiglu(std::span<const float> gate, std::span<const float> up, std::span<float> out);
// gpt-oss: g = min(gate, limit), u = clamp(up, -limit, limit), out = g * sigmoid(alpha g) * (u + 1)
void swiglu_clamped(std::span<const float> gate, std::span<const float> up, float alpha,
                    float limit, std::span<float> out);

// Causal attention of one query at position pos over a KV cache holding positions 0..pos:
// k_cache row p = n_head_kv * head_dim_k floats, v_cache row p = n_head_kv * head_dim_v floats.
// Query head h uses kv head h / (n_head / n_head_kv). window > 0 keeps keys with pos - p < window.
// sinks (n_head, may be empty): an extra logit per head in the softmax denominator.
struct AttnParams {
  uint32_t n_head = 0;
  uint32_t n_head_kv = 0;
  uint32_t head_dim_k = 0;
  uint32_t head_dim_v = 0;
  float scale = 1.0f;
  uint32_t window = 0;
};
void attention(std::span<const float> q, std::span<const float> k_cache,
               std::span<const float> v_cache, int64_t pos, const AttnParams& p,
               std::span<const float> sinks, std::span<float> out);

}  // namespace moevk::ref
