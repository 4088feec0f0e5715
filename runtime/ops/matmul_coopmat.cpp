#include "runtime/ops/matmul_coopmat.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <random>
#include <vector>

#include "loader/error.h"
#include "runtime/vk/pipeline.h"

namespace moevk::ops {

namespace {

constexpr uint32_t kTileRows = 64, kTileTokens = 64;  // BM, BN of matmul_coopmat.comp

// Row tiles over x, token tiles over y (the shader strides over the rest), groups over z.
void dispatch_tiles(vk::Context& ctx, vk::Recorder& rec, vk::Pipeline& p, const MatmulPush& pc,
                    uint32_t n_groups) {
  const auto& max = ctx.features().max_workgroup_count;
  const uint64_t gx = (uint64_t(pc.n_rows) + kTileRows - 1) / kTileRows;
  MOEVK_ASSERT(gx <= max[0] && n_groups <= max[2], "matmul_coopmat: too many rows or groups");
  const uint64_t gy =
      std::min<uint64_t>((uint64_t(pc.n_tok) + kTileTokens - 1) / kTileTokens, max[1]);
  rec.dispatch(p, pc, uint32_t(gx), uint32_t(gy), n_groups);
}

}  // namespace

bool coopmat_usable(vk::Context& ctx, const MatvecConfig& cfg, GgmlType t, uint32_t n_cols) {
  // cfg first: the self-check's reference runs with cfg.coopmat off and must not recurse here.
  if (!cfg.coopmat || !ctx.features().coopmat_nv || !matmul_supports(t, n_cols)) return false;
  return coopmat_guard(ctx);
}

void matmul_coopmat(vk::Context& ctx, vk::Recorder& rec, const MatvecArgs& a) {
  const WeightView& w = a.w;
  MOEVK_ASSERT(w.n_rows > 0 && w.n_cols > 0 && a.n_batch > 0, "matmul_coopmat: empty shape");
  MOEVK_ASSERT(matmul_supports(w.type, w.n_cols), "matmul_coopmat: n_cols is not a multiple of 8");
  const uint32_t rb = matvec_row_bytes(w.type, w.n_cols);
  MOEVK_ASSERT(w.data.address() % 4 == 0, "matmul_coopmat: weights must be 4-byte aligned");
  MOEVK_ASSERT(w.data.size >= uint64_t(w.n_rows) * rb, "matmul_coopmat: weight view too small");
  MOEVK_ASSERT(a.x.size >= uint64_t(a.n_batch) * w.n_cols * 4, "matmul_coopmat: x view too small");
  MOEVK_ASSERT(a.y.size >= uint64_t(a.n_batch) * w.n_rows * 4, "matmul_coopmat: y view too small");
  MOEVK_ASSERT(!a.bias || a.bias.size >= uint64_t(w.n_rows) * 4,
               "matmul_coopmat: bias view too small");
  MOEVK_ASSERT(!a.residual || a.residual.size >= uint64_t(a.n_batch) * w.n_rows * 4,
               "matmul_coopmat: residual view too small");
  MatmulPush pc{w.data.address(),
                a.x.address(),
                a.y.address(),
                a.bias ? a.bias.address() : 0,
                a.residual ? a.residual.address() : 0,
                0,
                0,
                w.n_rows,
                w.n_cols,
                rb,
                a.n_batch,
                1,
                1,
                w.n_cols,
                0,
                w.n_rows,
                0};
  vk::Pipeline& p = ctx.pipeline(matvec_variant("matmul_coopmat", w.type, false), sizeof pc, {});
  rec.annotate_bytes(uint64_t(w.n_rows) * rb);  // --profile: the matrix, once
  dispatch_tiles(ctx, rec, p, pc, 1);
}

void matmul_id_coopmat(vk::Context& ctx, vk::Recorder& rec, const MatvecIdArgs& a, vk::View route) {
  const ExpertPool& e = a.experts;
  const auto [rb, x_tok_stride, x_expert_stride] = check_expert_args(a, "matmul_id_coopmat");
  MOEVK_ASSERT(matmul_supports(e.type, e.n_cols),
               "matmul_id_coopmat: n_cols is not a multiple of 8");
  MOEVK_ASSERT(route.size >= moe_route_bytes(e.n_expert, uint64_t(a.n_tok) * a.n_used),
               "matmul_id_coopmat: route view too small");
  MatmulPush pc{e.offset,
                a.x.address(),
                a.y.address(),
                a.bias ? a.bias.address() : 0,
                0,
                route.address(),
                e.slots.address(),
                e.n_rows,
                e.n_cols,
                rb,
                a.n_tok,
                a.n_used,
                e.n_expert,
                x_tok_stride,
                x_expert_stride,
                e.n_rows,
                0};
  vk::Pipeline& p = ctx.pipeline(matvec_variant("matmul_id_coopmat", e.type, false), sizeof pc, {});
  dispatch_tiles(ctx, rec, p, pc, e.n_expert + 1);
}

namespace {

// The self-check's problem (coopmat_self_check in the header).
constexpr uint32_t kRows = 80, kCols = 264, kTok = 72;       // dense
constexpr uint32_t kExperts = 4, kUsed = 2, kGroupTok = 40;  // grouped, kRows x kCols each
constexpr uint32_t kGuard = 64;                              // floats after every output
constexpr float kUntouched = 7.0f;                           // what y holds before the run

// A host-visible buffer the GPU reads and writes by address (the check is tiny: no staging).
struct HostArray {
  vk::Buffer buf;
  HostArray(vk::Context& ctx, uint64_t bytes, const char* what)
      : buf(ctx, bytes, vk::MemoryKind::Readback, what) {}
  vk::View view(uint64_t n) const { return vk::View{&buf, 0, n}; }
  template <typename T>
  T* data() const {
    return static_cast<T*>(buf.mapped());
  }
};

// x rounded to float16 (exact for a float16 kernel), uniform in [-1, 1).
std::vector<float> f16_floats(std::mt19937_64& rng, size_t n) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v) f = fp16_to_fp32(fp32_to_fp16(u(rng)));
  return v;
}

// Compares got with want over n floats (a product of kCols terms; scale[i]: the sum of the
// magnitudes of element i's terms, bias and residual included). Both NaN (no slot) and both equal
// (untouched rows, the guard) match. Both kernels add the same exact f32 terms (float16 inputs,
// float16 x float16 products fit f32), in different orders: each sum is off by at most
// (kCols - 1) 2^-24 scale ~ 1.6e-5 scale, and tensor cores that align the addends more coarsely
// lose a few bits more; 2^-12 scale leaves a factor of 15 above the first and stays 15 times below
// what one missing or wrong term costs (on average scale / kCols = 3.8e-3 scale).
std::string compare(const float* got, const float* want, const std::vector<double>& scale,
                    uint64_t n, const char* form) {
  for (uint64_t i = 0; i < n; ++i) {
    const float g = got[i], w = want[i];
    if (std::isnan(w) && std::isnan(g)) continue;
    if (g == w) continue;
    const double tol = i < scale.size() ? std::ldexp(scale[i], -12) : 0.0;
    if (!(std::fabs(double(g) - double(w)) <= tol))
      return fmt::format("{} element {}: {} where the tiled matmul gives {}", form, i, g, w);
  }
  return "";
}

}  // namespace

SelfCheck coopmat_self_check(vk::Context& ctx, const MatmulCandidate& candidate) {
  std::mt19937_64 rng(0xC00FA7u);
  const uint32_t rb = kCols * 2;  // F16 rows
  std::vector<uint16_t> w16(uint64_t(kExperts) * kRows * kCols);
  std::vector<float> w(w16.size());
  {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (size_t i = 0; i < w16.size(); ++i) {
      w16[i] = fp32_to_fp16(u(rng));
      w[i] = fp16_to_fp32(w16[i]);
    }
  }
  // Dense: expert 0's matrix; x [kTok][kCols], bias [kRows], residual [kTok][kRows].
  const auto x = f16_floats(rng, uint64_t(kTok) * kCols);
  const auto bias = f16_floats(rng, uint64_t(kExperts) * kRows);
  const auto res = f16_floats(rng, uint64_t(kTok) * kRows);
  // Grouped: two distinct ids per token; token 5's second id is out of range (NaN rows), expert 2
  // has no slot (NaN rows), expert 3 is the CPU's (rows untouched).
  std::vector<int32_t> ids(uint64_t(kGroupTok) * kUsed);
  for (uint32_t t = 0; t < kGroupTok; ++t) {
    ids[t * kUsed] = int32_t(rng() % kExperts);
    ids[t * kUsed + 1] =
        int32_t((uint32_t(ids[t * kUsed]) + 1 + rng() % (kExperts - 1)) % kExperts);
  }
  ids[5 * kUsed + 1] = int32_t(kExperts);
  const auto gx = f16_floats(rng, uint64_t(kGroupTok) * kCols);

  const uint64_t mat = uint64_t(kRows) * rb, slot_stride = (mat + 255) / 256 * 256;
  const uint64_t n_dense = uint64_t(kTok) * kRows, n_sel = uint64_t(kGroupTok) * kUsed,
                 n_grouped = n_sel * kRows;
  HostArray dw(ctx, 2 * slot_stride, "coopmat self-check weights"),
      dx(ctx, x.size() * 4, "coopmat self-check x"), dres(ctx, res.size() * 4, "self-check res"),
      dbias(ctx, bias.size() * 4, "coopmat self-check bias"),
      dgx(ctx, gx.size() * 4, "coopmat self-check grouped x"),
      dids(ctx, ids.size() * 4, "coopmat self-check ids"),
      dslots(ctx, kExperts * 8, "coopmat self-check slots"),
      droute(ctx, moe_route_bytes(kExperts, n_sel), "coopmat self-check route");
  HostArray y_ref(ctx, (n_dense + kGuard) * 4, "self-check y"),
      y_got(ctx, (n_dense + kGuard) * 4, "self-check y"),
      g_ref(ctx, (n_grouped + kGuard) * 4, "self-check grouped y"),
      g_got(ctx, (n_grouped + kGuard) * 4, "self-check grouped y");
  // Slot 0: expert 0, slot 1: expert 1 (the pool's two slots).
  std::memcpy(dw.data<uint8_t>(), w16.data(), mat);
  std::memcpy(dw.data<uint8_t>() + slot_stride, w16.data() + uint64_t(kRows) * kCols, mat);
  std::memcpy(dx.data<float>(), x.data(), x.size() * 4);
  std::memcpy(dres.data<float>(), res.data(), res.size() * 4);
  std::memcpy(dbias.data<float>(), bias.data(), bias.size() * 4);
  std::memcpy(dgx.data<float>(), gx.data(), gx.size() * 4);
  std::memcpy(dids.data<int32_t>(), ids.data(), ids.size() * 4);
  const uint64_t slots[kExperts] = {dw.buf.address(), dw.buf.address() + slot_stride, kNoSlot,
                                    kCpuSlot};
  std::memcpy(dslots.data<uint64_t>(), slots, sizeof slots);
  for (const HostArray* y : {&y_ref, &y_got, &g_ref, &g_got})
    std::fill_n(y->data<float>(), y->buf.size() / 4, kUntouched);

  auto dense = [&](const HostArray& y) {
    MatvecArgs a;
    a.w = {dw.view(mat), GgmlType::F16, kRows, kCols};
    a.x = dx.view(x.size() * 4);
    a.y = y.view(n_dense * 4);
    a.bias = dbias.view(uint64_t(kRows) * 4);
    a.residual = dres.view(res.size() * 4);
    a.n_batch = kTok;
    return a;
  };
  auto grouped = [&](const HostArray& y) {
    MatvecIdArgs a;
    a.experts = {dslots.view(kExperts * 8), 0, slot_stride, kExperts, GgmlType::F16, kRows, kCols};
    a.ids = dids.view(ids.size() * 4);
    a.x = dgx.view(gx.size() * 4);
    a.y = y.view(n_grouped * 4);
    a.bias = dbias.view(bias.size() * 4);
    a.n_used = kUsed;
    a.n_tok = kGroupTok;
    return a;
  };
  const vk::View route = droute.view(droute.buf.size());
  {
    vk::Recorder rec(ctx);
    moe_route(ctx, rec, dids.view(ids.size() * 4), uint32_t(n_sel), kExperts, route);
    rec.barrier();
    matmul(ctx, rec, dense(y_ref));
    matmul_id(ctx, rec, grouped(g_ref), route);
    candidate.dense(ctx, rec, dense(y_got));
    candidate.grouped(ctx, rec, grouped(g_got), route);
    rec.host_barrier();
    rec.submit_and_wait();
  }

  // The magnitude of each element's terms (see compare).
  auto term_scale = [&](const float* wm, const float* xv, float b, float r) {
    double s = std::fabs(b) + std::fabs(r);
    for (uint32_t c = 0; c < kCols; ++c) s += std::fabs(double(wm[c]) * xv[c]);
    return s;
  };
  std::vector<double> dense_scale(n_dense), grouped_scale(n_grouped, 0.0);
  for (uint32_t t = 0; t < kTok; ++t)
    for (uint32_t r = 0; r < kRows; ++r)
      dense_scale[uint64_t(t) * kRows + r] =
          term_scale(&w[uint64_t(r) * kCols], &x[uint64_t(t) * kCols], bias[r], res[t * kRows + r]);
  for (uint64_t sel = 0; sel < n_sel; ++sel) {
    const int32_t e = ids[sel];
    if (e < 0 || e >= 2) continue;  // NaN or untouched rows: compared exactly
    for (uint32_t r = 0; r < kRows; ++r)
      grouped_scale[sel * kRows + r] =
          term_scale(&w[(uint64_t(e) * kRows + r) * kCols], &gx[(sel / kUsed) * kCols],
                     bias[uint64_t(e) * kRows + r], 0.0f);
  }
  std::string bad =
      compare(y_got.data<float>(), y_ref.data<float>(), dense_scale, n_dense + kGuard, "dense");
  if (bad.empty())
    bad = compare(g_got.data<float>(), g_ref.data<float>(), grouped_scale, n_grouped + kGuard,
                  "grouped");
  return {bad.empty(), bad};
}

bool coopmat_guard(vk::Context& ctx, const MatmulCandidate* candidate) {
  if (ctx.self_checked("coopmat")) return !ctx.self_checked("coopmat failed");
  ctx.mark_self_checked("coopmat");  // before the run: its reference products come back here
  const MatmulCandidate kernels{matmul_coopmat, matmul_id_coopmat};
  SelfCheck r;
  try {
    r = coopmat_self_check(ctx, candidate ? *candidate : kernels);
  } catch (const std::exception& e) {  // e.g. the driver refuses the pipeline
    r = {false, e.what()};
  }
  if (r.ok) return true;
  ctx.mark_self_checked("coopmat failed");
  ctx.switch_off_coopmat();
  std::fprintf(stderr,
               "moevk: cooperative-matrix matmul failed its self-check on %s (%s); using the tiled "
               "matmul\n",
               ctx.features().name.c_str(), r.detail.c_str());
  return false;
}

}  // namespace moevk::ops
