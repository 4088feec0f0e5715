// moe_router: the start of an MoE block for one decoded token in one dispatch:
//   h = rms_norm(x) * norm; logits = router h (+ router bias); ids, weights = gate_topk(logits)
// where it takes three (rms_norm, matvec, gate_topk). The last workgroup to finish its logits does
// the selection, found with an atomic counter that every dispatch leaves at 0.
// Shader: moe_router.comp (selection: shaders/common/gate.glsl, shared with gate_topk.comp);
// reference: ref::rms_norm, ref::matvec, ref::gate_topk.
#pragma once

#include <cstdint>

#include "runtime/ops/gate_topk.h"
#include "runtime/ops/matvec.h"
#include "runtime/ref/gate_topk.h"
#include "runtime/vk/buffer.h"
#include "runtime/vk/recorder.h"

namespace moevk::ops {

struct MoeRouterPush {
  uint64_t data_x, data_nw, data_a, data_rbias, data_h, data_logits, data_sbias, data_ids, data_wts,
      data_count;
  uint32_t n_embd, n_expert, k, row_bytes, gating, flags, n_group, topk_group;
  float eps, norm_min, w_scale;
  uint32_t pad;
};
static_assert(sizeof(MoeRouterPush) == 128, "must match moe_router.comp's push block");

// Bytes of the counter buffer (one u32; zero it once before the first dispatch).
constexpr uint64_t kMoeRouterCounterBytes = 4;

struct MoeRouterArgs {
  vk::View x;     // [n_embd] f32: one token's residual stream
  vk::View norm;  // [n_embd] f32: the rms_norm weight (ffn_norm)
  float eps = 1e-6f;
  WeightView router;     // [n_expert][n_embd], F32, F16 or BF16
  vk::View router_bias;  // [n_expert] f32 added to the logits, or empty
  vk::View sel_bias;     // [n_expert] f32 selection bias (gate_topk's sel_bias), or empty
  vk::View h;            // out [n_embd] f32 = rms_norm(x) * norm
  vk::View logits;       // out [n_expert] f32 (router bias included)
  vk::View ids;          // out [k] i32 (selection order)
  vk::View weights;      // out [k] f32
  vk::View counter;      // [1] u32: 0 before the dispatch, left 0 after it
  uint32_t k = 0;
};

// Whether moe_router serves this router: a float weight type, gate_topk's limits (n_expert <= 256,
// k <= 16) and, on the row lanes, n_embd a multiple of 32 (else the GPU body runs).
bool moe_router_supports(const WeightView& router, uint32_t k);

void moe_router(vk::Context& ctx, vk::Recorder& rec, const ref::GateParams& p,
                const MoeRouterArgs& a, MatvecConfig cfg = {});

}  // namespace moevk::ops
