#include "runtime/ops/matvec.h"

#include <algorithm>
#include <cctype>

#include "loader/error.h"
#include "runtime/ops/quantize.h"
#include "runtime/vk/pipeline.h"

namespace moevk::ops {

MatvecConfig matvec_config_for(const vk::Features& f) {
  MatvecConfig c;
  if (f.type == "cpu") c = {32, 8};
  c.row_lanes = f.row_lanes;
  c.lane_sg = f.subgroup_size;
  c.storage16 = f.storage16;
  c.int_dot = f.int_dot;
  c.coopmat = f.coopmat_nv;
  return c;
}

bool use_row_lanes(const MatvecConfig& cfg, uint32_t n_cols) {
  MOEVK_ASSERT(!cfg.row_lanes || (cfg.lane_sg >= 4 && cfg.lane_sg <= 32 && 32 % cfg.lane_sg == 0 &&
                                  cfg.lane_wg % cfg.lane_sg == 0 && cfg.lane_tokens > 0),
               "row lanes: bad config");
  return cfg.row_lanes && n_cols % 32 == 0;
}

bool matvec_supports(GgmlType t) {
  auto tr = type_traits(uint32_t(t));
  return tr && tr->supported;
}

std::string matvec_variant(const char* op, GgmlType t, bool subgroup, const char* path) {
  if (!matvec_supports(t))
    fail("{}: weight type {} is not supported on the GPU", op, traits(t).name);
  std::string name = std::string(op) + "_";
  for (char c : traits(t).name) name += char(std::tolower(static_cast<unsigned char>(c)));
  name += "_f32";
  if (subgroup) name += "_subgroup";
  return name + path;
}

bool int_dot_supports(GgmlType t, uint32_t n_cols) {
  return matvec_supports(t) && t != GgmlType::F32 && t != GgmlType::F16 && t != GgmlType::BF16 &&
         n_cols % 32 == 0;
}

bool uses_int_dot(const vk::Context& ctx, const MatvecConfig& cfg, GgmlType t, uint32_t n_cols) {
  const vk::Features& f = ctx.features();
  return cfg.int_dot && f.int_dot && f.subgroup_arith && !use_row_lanes(cfg, n_cols) &&
         int_dot_supports(t, n_cols);
}

std::string gpu_variant(const vk::Context& ctx, const char* op, GgmlType t, const MatvecConfig& cfg,
                        bool int_dot) {
  const vk::Features& f = ctx.features();
  const bool s16 = cfg.storage16 && f.storage16 && f.subgroup_arith;
  MOEVK_ASSERT(!int_dot || (cfg.int_dot && f.int_dot && f.subgroup_arith), "int-dot path off here");
  const char* path = int_dot ? (s16 ? "_idot_s16" : "_idot") : (s16 ? "_s16" : "");
  return matvec_variant(op, t, f.subgroup_arith, path);
}

uint32_t matvec_row_bytes(GgmlType t, uint32_t n_cols) {
  auto rb = row_bytes(t, n_cols);
  MOEVK_ASSERT(rb && *rb <= UINT32_MAX, "matvec: n_cols is not a multiple of the block size");
  return uint32_t(*rb);
}

namespace {

// The views of a product of rows of rb bytes fit its shape (op names the caller in the message).
void check_views(const MatvecArgs& a, uint32_t rb, const char* op) {
  const WeightView& w = a.w;
  MOEVK_ASSERT(w.data.address() % 4 == 0, fmt::format("{}: weights must be 4-byte aligned", op));
  MOEVK_ASSERT(w.data.size >= uint64_t(w.n_rows) * rb, fmt::format("{}: weight view too small", op));
  MOEVK_ASSERT(a.x.size >= uint64_t(a.n_batch) * w.n_cols * 4, fmt::format("{}: x view too small", op));
  MOEVK_ASSERT(a.y.size >= uint64_t(a.n_batch) * w.n_rows * 4, fmt::format("{}: y view too small", op));
  MOEVK_ASSERT(uint64_t(a.n_batch) * std::max(w.n_rows, w.n_cols) <= UINT32_MAX,
               fmt::format("{}: batch too large", op));
  MOEVK_ASSERT(!a.bias || a.bias.size >= uint64_t(w.n_rows) * 4, fmt::format("{}: bias view too small", op));
  MOEVK_ASSERT(!a.residual || a.residual.size >= uint64_t(a.n_batch) * w.n_rows * 4,
               fmt::format("{}: residual view too small", op));
}

// The integer-dot path reads a.xq (9 words per 32 elements) in place of x.
void use_quantized_x(uint64_t& x_addr, uint32_t& x_stride, const MatvecArgs& a, const char* op) {
  MOEVK_ASSERT(a.xq.size >= uint64_t(a.n_batch) * q8_words(a.w.n_cols) * 4,
               fmt::format("{}: xq view too small", op));
  x_addr = a.xq.address();
  x_stride = q8_words(a.w.n_cols);
}

}  // namespace

void matvec(vk::Context& ctx, vk::Recorder& rec, const MatvecArgs& a, MatvecConfig cfg) {
  const WeightView& w = a.w;
  MOEVK_ASSERT(w.n_rows > 0 && w.n_cols > 0 && a.n_batch > 0, "matvec: empty shape");
  MOEVK_ASSERT(cfg.wg >= 4 * cfg.rows && (cfg.wg & (cfg.wg - 1)) == 0, "matvec: bad config");
  const uint32_t rb = matvec_row_bytes(w.type, w.n_cols);
  check_views(a, rb, "matvec");

  MatvecPush pc{w.data.address(),
                a.x.address(),
                a.y.address(),
                a.bias ? a.bias.address() : 0,
                a.residual ? a.residual.address() : 0,
                w.n_rows,
                w.n_cols,
                rb,
                a.n_batch,
                w.n_cols,
                w.n_rows,
                0,
                0};
  const bool lanes = use_row_lanes(cfg, w.n_cols);
  const bool idot = a.xq && uses_int_dot(ctx, cfg, w.type, w.n_cols);
  if (idot) use_quantized_x(pc.data_b, pc.x_stride, a, "matvec");
  const uint32_t rows = lanes ? cfg.lane_wg : cfg.rows;
  vk::Pipeline& p =
      lanes ? ctx.pipeline(matvec_variant("matvec_rows", w.type, false), sizeof pc,
                           {cfg.lane_wg, a.n_batch > 1 ? cfg.lane_tokens : 1u, cfg.lane_sg})
            : ctx.pipeline(gpu_variant(ctx, "matvec", w.type, cfg, idot), sizeof pc, {cfg.wg, cfg.rows});
  // More row groups than one dimension allows: spread them over x and y (the shader linearises).
  const uint64_t groups = (uint64_t(w.n_rows) + rows - 1) / rows;
  const uint64_t max_x = ctx.features().max_workgroup_count[0];
  const uint64_t gy = (groups + max_x - 1) / max_x;
  const uint64_t gx = (groups + gy - 1) / gy;
  rec.annotate_bytes(uint64_t(w.n_rows) * rb);  // --profile: the matrix, once
  rec.dispatch(p, pc, uint32_t(gx), uint32_t(gy));
}

bool matvec_multi_fusable(const MatvecArgs& a, const MatvecArgs& b) {
  return a.w.type == b.w.type && a.w.n_cols == b.w.n_cols && a.n_batch == b.n_batch &&
         a.x.buffer == b.x.buffer && a.x.offset == b.x.offset && !a.residual && !b.residual;
}

void matvec_multi(vk::Context& ctx, vk::Recorder& rec, const MatvecArgs* parts, uint32_t n_parts,
                  MatvecConfig cfg) {
  MOEVK_ASSERT(n_parts >= 1 && n_parts <= 3, "matvec_multi: 1 to 3 parts");
  const MatvecArgs& p0 = parts[0];
  MOEVK_ASSERT(cfg.wg >= 4 * cfg.rows && (cfg.wg & (cfg.wg - 1)) == 0, "matvec_multi: bad config");
  const uint32_t rb = matvec_row_bytes(p0.w.type, p0.w.n_cols);
  MatvecMultiPush pc{};
  pc.data_b = p0.x.address();
  pc.n_cols = p0.w.n_cols;
  pc.row_bytes = rb;
  pc.n_batch = p0.n_batch;
  const bool lanes = use_row_lanes(cfg, p0.w.n_cols);
  const bool idot = p0.xq && uses_int_dot(ctx, cfg, p0.w.type, p0.w.n_cols);
  if (idot) {
    uint32_t stride = 0;
    use_quantized_x(pc.data_b, stride, p0, "matvec_multi");
  }
  const uint32_t rows = lanes ? cfg.lane_wg : cfg.rows;
  uint64_t groups = 0, bytes = 0;
  for (uint32_t m = 0; m < n_parts; ++m) {
    const MatvecArgs& a = parts[m];
    const WeightView& w = a.w;
    MOEVK_ASSERT(matvec_multi_fusable(p0, a), "matvec_multi: parts differ in x, type or n_cols");
    MOEVK_ASSERT(w.n_rows > 0 && w.n_cols > 0 && a.n_batch > 0, "matvec_multi: empty shape");
    check_views(a, rb, "matvec_multi");
    pc.data_a[m] = w.data.address();
    pc.data_d[m] = a.y.address();
    pc.data_bias[m] = a.bias ? a.bias.address() : 0;
    pc.n_rows[m] = w.n_rows;
    groups += (uint64_t(w.n_rows) + rows - 1) / rows;
    bytes += uint64_t(w.n_rows) * rb;
  }
  vk::Pipeline& p =
      lanes ? ctx.pipeline(matvec_variant("matvec_rows_multi", p0.w.type, false), sizeof pc,
                           {cfg.lane_wg, p0.n_batch > 1 ? cfg.lane_tokens : 1u, cfg.lane_sg})
            : ctx.pipeline(gpu_variant(ctx, "matvec_multi", p0.w.type, cfg, idot), sizeof pc,
                           {cfg.wg, cfg.rows});
  const uint64_t max_x = ctx.features().max_workgroup_count[0];
  const uint64_t gy = (groups + max_x - 1) / max_x;
  const uint64_t gx = (groups + gy - 1) / gy;
  rec.annotate_bytes(bytes);  // --profile: the matrices, once
  rec.dispatch(p, pc, uint32_t(gx), uint32_t(gy));
}

}  // namespace moevk::ops
