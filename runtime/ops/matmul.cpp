#include "runtime/ops/matmul.h"

#include <algorithm>

#include "loader/error.h"
#include "runtime/vk/pipeline.h"

namespace moevk::ops {

namespace {

constexpr uint32_t kTileRows = 64, kTileTokens = 32;  // BM, BN of matmul.comp

// Row tiles over x, token tiles over y (the shader strides over the rest), groups over z.
void dispatch_tiles(vk::Context& ctx, vk::Recorder& rec, vk::Pipeline& p, const MatmulPush& pc,
                    uint32_t n_groups) {
  const auto& max = ctx.features().max_workgroup_count;
  const uint64_t gx = (uint64_t(pc.n_rows) + kTileRows - 1) / kTileRows;
  MOEVK_ASSERT(gx <= max[0] && n_groups <= max[2], "matmul: too many rows or groups");
  const uint64_t gy = std::min<uint64_t>((uint64_t(pc.n_tok) + kTileTokens - 1) / kTileTokens, max[1]);
  rec.dispatch(p, pc, uint32_t(gx), uint32_t(gy), n_groups);
}

// "_s16" where cfg and the device allow 16-bit weight loads (MatvecConfig::storage16).
const char* s16_path(const vk::Context& ctx, const MatvecConfig& cfg) {
  return cfg.storage16 && ctx.features().storage16 ? "_s16" : "";
}

}  // namespace

bool matmul_supports(GgmlType t, uint32_t n_cols) {
  return matvec_supports(t) && n_cols % 8 == 0 && row_bytes(t, n_cols).has_value();
}

uint64_t moe_route_bytes(uint32_t n_expert, uint64_t n_sel) {
  return 4 * (uint64_t(n_expert) + 2 + n_sel);
}

void moe_route(vk::Context& ctx, vk::Recorder& rec, vk::View ids, uint32_t n_sel, uint32_t n_expert,
               vk::View route) {
  MOEVK_ASSERT(n_sel > 0 && n_expert > 0, "moe_route: empty shape");
  MOEVK_ASSERT(n_expert <= kMaxRouteExperts, "moe_route: more than 1024 experts");
  MOEVK_ASSERT(ids.size >= uint64_t(n_sel) * 4, "moe_route: ids view too small");
  MOEVK_ASSERT(route.size >= moe_route_bytes(n_expert, n_sel), "moe_route: route view too small");
  MoeRoutePush pc{ids.address(), route.address(), n_sel, n_expert};
  rec.dispatch(ctx.pipeline("moe_route", sizeof pc, {}), pc, 1);
}

void matmul(vk::Context& ctx, vk::Recorder& rec, const MatvecArgs& a, const MatvecConfig& cfg) {
  const WeightView& w = a.w;
  MOEVK_ASSERT(w.n_rows > 0 && w.n_cols > 0 && a.n_batch > 0, "matmul: empty shape");
  MOEVK_ASSERT(matmul_supports(w.type, w.n_cols), "matmul: n_cols is not a multiple of 8");
  const uint32_t rb = matvec_row_bytes(w.type, w.n_cols);
  MOEVK_ASSERT(w.data.address() % 4 == 0, "matmul: weights must be 4-byte aligned");
  MOEVK_ASSERT(w.data.size >= uint64_t(w.n_rows) * rb, "matmul: weight view too small");
  MOEVK_ASSERT(a.x.size >= uint64_t(a.n_batch) * w.n_cols * 4, "matmul: x view too small");
  MOEVK_ASSERT(a.y.size >= uint64_t(a.n_batch) * w.n_rows * 4, "matmul: y view too small");
  MOEVK_ASSERT(!a.bias || a.bias.size >= uint64_t(w.n_rows) * 4, "matmul: bias view too small");
  MOEVK_ASSERT(!a.residual || a.residual.size >= uint64_t(a.n_batch) * w.n_rows * 4,
               "matmul: residual view too small");
  MatmulPush pc{w.data.address(), a.x.address(), a.y.address(), a.bias ? a.bias.address() : 0,
                a.residual ? a.residual.address() : 0, 0, 0, w.n_rows, w.n_cols, rb, a.n_batch, 1, 1, w.n_cols, 0, w.n_rows, 0};
  vk::Pipeline& p = ctx.pipeline(matvec_variant("matmul", w.type, false, s16_path(ctx, cfg)), sizeof pc, {});
  rec.annotate_bytes(uint64_t(w.n_rows) * rb);  // --profile: the matrix, once
  dispatch_tiles(ctx, rec, p, pc, 1);
}

void matmul_id(vk::Context& ctx, vk::Recorder& rec, const MatvecIdArgs& a, vk::View route,
               const MatvecConfig& cfg) {
  const ExpertPool& e = a.experts;
  const auto [rb, x_tok_stride, x_expert_stride] = check_expert_args(a, "matmul_id");
  MOEVK_ASSERT(matmul_supports(e.type, e.n_cols), "matmul_id: n_cols is not a multiple of 8");
  MOEVK_ASSERT(route.size >= moe_route_bytes(e.n_expert, uint64_t(a.n_tok) * a.n_used),
               "matmul_id: route view too small");
  MatmulPush pc{e.offset, a.x.address(), a.y.address(), a.bias ? a.bias.address() : 0,
                0, route.address(), e.slots.address(), e.n_rows, e.n_cols, rb,
                a.n_tok, a.n_used, e.n_expert, x_tok_stride, x_expert_stride, e.n_rows, 0};
  if (use_row_lanes(cfg, e.n_cols)) {  // x = row group, y = tiles of lane_tokens pairs, z = group
    vk::Pipeline& p = ctx.pipeline(matvec_variant("matmul_id_rows", e.type, false), sizeof pc,
                                   {cfg.lane_wg, cfg.lane_tokens, cfg.lane_sg});
    const auto& max = ctx.features().max_workgroup_count;
    const uint64_t gx = (uint64_t(e.n_rows) + cfg.lane_wg - 1) / cfg.lane_wg;
    MOEVK_ASSERT(gx <= max[0] && e.n_expert + 1 <= max[2], "matmul_id: too many rows or groups");
    const uint64_t gy =
        std::min<uint64_t>((uint64_t(a.n_tok) + cfg.lane_tokens - 1) / cfg.lane_tokens, max[1]);
    rec.dispatch(p, pc, uint32_t(gx), uint32_t(gy), e.n_expert + 1);
    return;
  }
  vk::Pipeline& p =
      ctx.pipeline(matvec_variant("matmul_id", e.type, false, s16_path(ctx, cfg)), sizeof pc, {});
  dispatch_tiles(ctx, rec, p, pc, e.n_expert + 1);
}

}  // namespace moevk::ops
