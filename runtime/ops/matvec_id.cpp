#include "runtime/ops/matvec_id.h"

#include <algorithm>

#include "loader/error.h"
#include "runtime/ops/quantize.h"
#include "runtime/vk/pipeline.h"

namespace moevk::ops {

ExpertLayout check_expert_args(const MatvecIdArgs& a, const char* op) {
  const ExpertPool& e = a.experts;
  MOEVK_ASSERT(e.n_rows > 0 && e.n_cols > 0 && e.n_expert > 0 && a.n_used > 0 && a.n_tok > 0,
               fmt::format("{}: empty shape", op));
  const uint32_t rb = matvec_row_bytes(e.type, e.n_cols);
  MOEVK_ASSERT(e.offset % 4 == 0, fmt::format("{}: expert matrices must be 4-byte aligned", op));
  MOEVK_ASSERT(e.offset + uint64_t(e.n_rows) * rb <= e.slot_bytes,
               fmt::format("{}: the matrix does not fit its slot", op));
  MOEVK_ASSERT(e.slots.size >= uint64_t(e.n_expert) * 8, fmt::format("{}: slot table too small", op));
  const uint64_t n_sel = uint64_t(a.n_tok) * a.n_used;
  MOEVK_ASSERT(a.ids.size >= n_sel * 4, fmt::format("{}: ids view too small", op));
  MOEVK_ASSERT(a.x.size >= (a.x_per_expert ? n_sel : a.n_tok) * e.n_cols * 4,
               fmt::format("{}: x too small", op));
  MOEVK_ASSERT(a.y.size >= n_sel * e.n_rows * 4, fmt::format("{}: y view too small", op));
  MOEVK_ASSERT(!a.bias || a.bias.size >= uint64_t(e.n_expert) * e.n_rows * 4,
               fmt::format("{}: bias view too small", op));
  MOEVK_ASSERT(n_sel * std::max(e.n_rows, e.n_cols) <= UINT32_MAX,
               fmt::format("{}: too many tokens", op));
  const uint32_t x_expert_stride =
      a.x_expert_stride ? a.x_expert_stride : (a.x_per_expert ? e.n_cols : 0);
  const uint32_t x_tok_stride =
      a.x_tok_stride ? a.x_tok_stride : (a.x_per_expert ? a.n_used * e.n_cols : e.n_cols);
  return {rb, x_tok_stride, x_expert_stride};
}

namespace {

void record(vk::Context& ctx, vk::Recorder& rec, const MatvecIdArgs& a, const GluArgs* g,
            MatvecConfig cfg) {
  const ExpertPool& e = a.experts;
  MOEVK_ASSERT(cfg.wg >= 4 * cfg.rows && (cfg.wg & (cfg.wg - 1)) == 0, "matvec_id: bad config");
  const auto [rb, x_tok_stride, x_expert_stride] = check_expert_args(a, "matvec_id");
  MatvecIdPush pc{e.offset, a.x.address(), a.y.address(), a.bias ? a.bias.address() : 0,
                  a.ids.address(), e.slots.address(), 0, 0, e.n_rows, e.n_cols, rb,
                  a.n_used, e.n_expert, x_tok_stride, x_expert_stride, 0, 0.0f, 0.0f};
  if (g) {
    MOEVK_ASSERT(glu_fusable(e, g->up), "matvec_id_glu: gate and up differ in slots, type or shape");
    MOEVK_ASSERT(!g->up_bias || g->up_bias.size >= uint64_t(e.n_expert) * e.n_rows * 4,
                 "matvec_id_glu: up bias view too small");
    pc.a2_offset = g->up.offset;
    pc.data_bias2 = g->up_bias ? g->up_bias.address() : 0;
    pc.glu = static_cast<uint32_t>(g->act);
    pc.alpha = g->alpha;
    pc.limit = g->limit;
  }
  const bool lanes = use_row_lanes(cfg, e.n_cols);
  const bool idot = a.xq && uses_int_dot(ctx, cfg, e.type, e.n_cols);
  if (idot) {  // x quantised, packed: strides in words
    const uint64_t words = q8_words(e.n_cols), n_per = a.x_vectors_per_tok();
    MOEVK_ASSERT(a.xq.size >= uint64_t(a.n_tok) * n_per * words * 4,
                 "matvec_id: xq view too small");
    pc.data_b = a.xq.address();
    pc.x_tok_stride = uint32_t(n_per * words);
    pc.x_expert_stride = n_per > 1 ? uint32_t(words) : 0;
  }
  const uint32_t rows = lanes ? cfg.lane_wg : cfg.rows;
  vk::Pipeline& p =
      lanes ? ctx.pipeline(matvec_variant("matvec_id_rows", e.type, false), sizeof pc,
                           {cfg.lane_wg, 1, cfg.lane_sg})
            : ctx.pipeline(gpu_variant(ctx, "matvec_id", e.type, cfg, idot), sizeof pc,
                           {cfg.wg, cfg.rows});
  const uint32_t gx = (e.n_rows + rows - 1) / rows;
  // --profile: each (token, selected expert) pair reads its matrix (gate and up with glu).
  rec.annotate_bytes(uint64_t(a.n_tok) * a.n_used * e.n_rows * rb * (g ? 2 : 1));
  rec.dispatch(p, pc, gx, a.n_used, a.n_tok);
}

}  // namespace

bool glu_fusable(const ExpertPool& gate, const ExpertPool& up) {
  return gate.type == up.type && gate.n_rows == up.n_rows && gate.n_cols == up.n_cols &&
         gate.n_expert == up.n_expert && gate.slots.address() == up.slots.address() &&
         up.offset % 4 == 0 &&
         up.offset + uint64_t(up.n_rows) * matvec_row_bytes(up.type, up.n_cols) <= up.slot_bytes;
}

void matvec_id(vk::Context& ctx, vk::Recorder& rec, const MatvecIdArgs& a, MatvecConfig cfg) {
  record(ctx, rec, a, nullptr, cfg);
}

void matvec_id_glu(vk::Context& ctx, vk::Recorder& rec, const MatvecIdArgs& gate, const GluArgs& g,
                   MatvecConfig cfg) {
  record(ctx, rec, gate, &g, cfg);
}

}  // namespace moevk::ops
