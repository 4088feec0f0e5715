#include "runtime/ops/moe_router.h"

#include "loader/error.h"
#include "runtime/vk/pipeline.h"

namespace moevk::ops {

bool moe_router_supports(const WeightView& router, uint32_t k) {
  const GgmlType t = router.type;
  return (t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16) && router.n_rows > 0 &&
         router.n_rows <= kGateMaxExpert && router.n_cols > 0 && k > 0 && k <= kGateMaxK &&
         k <= router.n_rows;
}

void moe_router(vk::Context& ctx, vk::Recorder& rec, const ref::GateParams& p,
                const MoeRouterArgs& a, MatvecConfig cfg) {
  const WeightView& w = a.router;
  const uint32_t E = w.n_cols, X = w.n_rows, K = a.k;
  MOEVK_ASSERT(moe_router_supports(w, K), "moe_router: unsupported router type or shape");
  MOEVK_ASSERT(p.n_group >= 1 && p.n_group <= kGateMaxGroup && X % p.n_group == 0 &&
                   p.topk_group >= 1 && p.topk_group <= p.n_group &&
                   (p.n_group == 1 || X / p.n_group >= 2),
               "moe_router: bad expert groups");
  const uint32_t rb = matvec_row_bytes(w.type, E);
  MOEVK_ASSERT(w.data.address() % 4 == 0 && w.data.size >= uint64_t(X) * rb,
               "moe_router: router view too small or unaligned");
  MOEVK_ASSERT(a.x.size >= E * 4ull && a.norm.size >= E * 4ull && a.h.size >= E * 4ull,
               "moe_router: x, norm or h view too small");
  MOEVK_ASSERT(a.logits.size >= X * 4ull && (!a.router_bias || a.router_bias.size >= X * 4ull) &&
                   (!a.sel_bias || a.sel_bias.size >= X * 4ull),
               "moe_router: logits or bias view too small");
  MOEVK_ASSERT(a.ids.size >= K * 4ull && a.weights.size >= K * 4ull,
               "moe_router: ids or weights view too small");
  MOEVK_ASSERT(a.counter.size >= kMoeRouterCounterBytes && a.counter.address() % 4 == 0,
               "moe_router: counter view too small");
  const uint32_t gating = gating_code(p.gating);
  // gate.glsl's GATE_FLAG_BIAS (1) and GATE_FLAG_NORM (2); moe_router.comp's FLAG_ROUTER_BIAS (8).
  const uint32_t flags = (a.sel_bias ? 1u : 0u) | (p.norm ? 2u : 0u) | (a.router_bias ? 8u : 0u);
  const uint64_t unused = a.logits.address();  // a valid address where a flag is off
  MoeRouterPush pc{a.x.address(),
                   a.norm.address(),
                   w.data.address(),
                   a.router_bias ? a.router_bias.address() : unused,
                   a.h.address(),
                   a.logits.address(),
                   a.sel_bias ? a.sel_bias.address() : unused,
                   a.ids.address(),
                   a.weights.address(),
                   a.counter.address(),
                   E,
                   X,
                   K,
                   rb,
                   gating,
                   flags,
                   p.n_group,
                   p.topk_group,
                   a.eps,
                   p.norm_min,
                   p.weights_scale,
                   0};
  const bool lanes = use_row_lanes(cfg, E);
  MOEVK_ASSERT(lanes ? (cfg.lane_wg & (cfg.lane_wg - 1)) == 0
                     : cfg.wg >= 4 && (cfg.wg & (cfg.wg - 1)) == 0 && cfg.rows >= 1,
               "moe_router: bad config (the workgroup size must be a power of two)");
  // Row lanes: a row per invocation (the subgroup reductions they need come with the row lanes).
  // GPUs: cfg.rows rows per workgroup of cfg.wg invocations.
  const uint32_t rows = lanes ? cfg.lane_wg : cfg.rows;
  vk::Pipeline& pl =
      lanes ? ctx.pipeline(matvec_variant("moe_router_rows", w.type, false), sizeof pc,
                           {cfg.lane_wg, 1u, cfg.lane_sg})
            : ctx.pipeline(matvec_variant("moe_router", w.type, ctx.features().subgroup_arith),
                           sizeof pc, {cfg.wg, cfg.rows});
  rec.annotate_bytes(uint64_t(X) * rb);  // --profile: the router matrix, once
  rec.dispatch(pl, pc, (X + rows - 1) / rows);
}

}  // namespace moevk::ops
