#include "runtime/ops/moe_combine.h"

#include "runtime/ops/dispatch.h"
#include "runtime/vk/pipeline.h"

namespace moevk::ops {

void moe_combine(vk::Context& ctx, vk::Recorder& rec, const MoeCombineArgs& a) {
  const uint64_t rows = uint64_t(a.n_tokens) * a.n * 4;
  MOEVK_ASSERT(a.experts.size >= rows * a.n_used && a.weights.size >= uint64_t(a.n_tokens) * a.n_used * 4 &&
                   a.out.size >= rows,
               "moe_combine: views too small");
  MOEVK_ASSERT(!a.residual || a.residual.size >= rows, "moe_combine: residual too small");
  MOEVK_ASSERT(!a.shared || a.shared.size >= rows, "moe_combine: shared too small");
  MOEVK_ASSERT(!a.shared_gate_logit || a.shared, "moe_combine: a shared gate needs a shared expert");
  const bool norm = bool(a.norm_weight);
  MOEVK_ASSERT(!norm || (a.norm_weight.size >= uint64_t(a.n) * 4 && a.normed.size >= rows),
               "moe_combine: norm views too small");
  uint32_t flags = (a.residual ? 1u : 0u) | (a.shared ? 2u : 0u) | (a.shared_gate_logit ? 4u : 0u) |
                   (norm ? 8u : 0u);
  auto addr = [&](const vk::View& v) { return v ? v.address() : a.out.address(); };
  MoeCombinePush pc{a.experts.address(), a.weights.address(), addr(a.residual), addr(a.shared),
                    addr(a.shared_gate_logit), a.out.address(), addr(a.norm_weight), addr(a.normed),
                    a.n, a.n_used, a.n_tokens, flags, a.eps, 0};
  // The norm needs a token's whole row in one workgroup.
  rec.dispatch(ctx.pipeline("moe_combine_f32", sizeof pc), pc, norm ? 1 : groups_1d(a.n, 256, 64),
               a.n_tokens);
}

}  // namespace moevk::ops
