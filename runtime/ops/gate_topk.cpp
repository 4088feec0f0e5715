#include "runtime/ops/gate_topk.h"

#include <algorithm>

#include "loader/error.h"
#include "runtime/vk/pipeline.h"

namespace moevk::ops {

uint32_t gating_code(GatingFunc g) {
  switch (g) {
    case GatingFunc::Sigmoid:
      return 1;
    case GatingFunc::SoftmaxSelected:
      return 2;
    case GatingFunc::Softmax:
      break;
  }
  return 0;
}

void gate_topk(vk::Context& ctx, vk::Recorder& rec, const ref::GateParams& p,
               const vk::View& logits, const vk::View& sel_bias, const vk::View& ids,
               const vk::View& weights, const vk::View& probs, uint32_t n_tokens, uint32_t n_expert,
               uint32_t k) {
  MOEVK_ASSERT(n_tokens > 0 && n_expert > 0 && n_expert <= kGateMaxExpert && k > 0 &&
                   k <= kGateMaxK && k <= n_expert,
               "gate_topk: unsupported shape");
  MOEVK_ASSERT(p.n_group >= 1 && p.n_group <= kGateMaxGroup && n_expert % p.n_group == 0 &&
                   p.topk_group >= 1 && p.topk_group <= p.n_group &&
                   (p.n_group == 1 || n_expert / p.n_group >= 2),
               "gate_topk: bad expert groups");
  const uint64_t nl = uint64_t(n_tokens) * n_expert * 4, nk = uint64_t(n_tokens) * k * 4;
  MOEVK_ASSERT(logits.size >= nl && ids.size >= nk && weights.size >= nk,
               "gate_topk: views too small");
  MOEVK_ASSERT(!sel_bias || sel_bias.size >= uint64_t(n_expert) * 4,
               "gate_topk: bias view too small");
  MOEVK_ASSERT(!probs || probs.size >= nl, "gate_topk: probs view too small");
  const uint32_t gating = gating_code(p.gating);
  const uint32_t flags = (sel_bias ? 1u : 0u) | (p.norm ? 2u : 0u) | (probs ? 4u : 0u);
  GateTopkPush pc{logits.address(),
                  sel_bias ? sel_bias.address() : logits.address(),
                  ids.address(),
                  weights.address(),
                  probs ? probs.address() : logits.address(),
                  n_expert,
                  k,
                  n_tokens,
                  gating,
                  flags,
                  p.n_group,
                  p.topk_group,
                  p.norm_min,
                  p.weights_scale,
                  0};
  // Block: a power of two in [32, 128]; the rank loop is O(n_expert^2 / block).
  uint32_t block = 32;
  while (block < 128 && block < n_expert) block *= 2;
  const char* variant = ctx.features().subgroup_arith ? "gate_topk_f32_subgroup" : "gate_topk_f32";
  rec.dispatch(ctx.pipeline(variant, sizeof pc, {block}), pc, std::min<uint32_t>(n_tokens, 65535));
}

}  // namespace moevk::ops
