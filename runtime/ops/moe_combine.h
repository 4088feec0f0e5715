// moe_combine: weighted sum of the routed experts' outputs (+ gated shared expert, + residual).
// Shader: moe_combine.comp. (Per-expert biases are added by matvec_id itself.)
#pragma once

#include <cstdint>

#include "runtime/vk/buffer.h"
#include "runtime/vk/recorder.h"

namespace moevk::ops {

struct MoeCombinePush {
  uint64_t data_e, data_w, data_x, data_s, data_g, data_d, data_nw, data_h;
  uint32_t n, n_used, n_tokens, flags;
  float eps;
  uint32_t pad;
};
static_assert(sizeof(MoeCombinePush) == 88, "must match moe_combine.comp's push block");

struct MoeCombineArgs {
  vk::View experts;   // [n_tokens][n_used][n]
  vk::View weights;   // [n_tokens][n_used]
  vk::View residual;  // [n_tokens][n] or empty
  vk::View shared;    // [n_tokens][n] or empty
  vk::View shared_gate_logit;  // [n_tokens] or empty: shared scaled by sigmoid(logit)
  vk::View out;       // [n_tokens][n] (may alias residual)
  uint32_t n = 0, n_used = 0, n_tokens = 0;
  // Optional: normed [n_tokens][n] = rms_norm(out) * norm_weight (eps), the next block's input.
  vk::View norm_weight;  // [n], or empty
  vk::View normed;
  float eps = 0.0f;
};
void moe_combine(vk::Context& ctx, vk::Recorder& rec, const MoeCombineArgs& a);

}  // namespace moevk::ops
