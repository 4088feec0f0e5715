// gate_topk op: router logits -> top-k expert ids and weights, one workgroup per token.
// Shader: gate_topk.comp; reference: runtime/ref/gate_topk (same GateParams).
#pragma once

#include <cstdint>

#include "runtime/ref/gate_topk.h"
#include "runtime/vk/buffer.h"
#include "runtime/vk/recorder.h"

namespace moevk::ops {

struct GateTopkPush {
  uint64_t data_a, data_bias, data_ids, data_d, data_probs;
  uint32_t n_expert, k, n_tokens, gating, flags, n_group, topk_group;
  float norm_min, w_scale;
  uint32_t pad;
};
static_assert(sizeof(GateTopkPush) == 80, "must match gate_topk.comp's push block");

constexpr uint32_t kGateMaxExpert = 256, kGateMaxK = 16, kGateMaxGroup = 64;

// The gating function as shaders/common/gate.glsl numbers it (0 softmax, 1 sigmoid, 2 softmax over
// the selected); gate_topk and moe_router push it.
uint32_t gating_code(GatingFunc g);

// logits: [n_tokens][n_expert] f32; sel_bias: [n_expert] f32 or an empty View (no selection bias);
// ids: [n_tokens][k] i32 (selection order); weights: [n_tokens][k] f32;
// probs: [n_tokens][n_expert] f32 gating probabilities, or an empty View (not written).
void gate_topk(vk::Context& ctx, vk::Recorder& rec, const ref::GateParams& p,
               const vk::View& logits, const vk::View& sel_bias, const vk::View& ids,
               const vk::View& weights, const vk::View& probs, uint32_t n_tokens, uint32_t n_expert,
               uint32_t k);

}  // namespace moevk::ops
