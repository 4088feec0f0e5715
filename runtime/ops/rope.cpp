#include "runtime/ops/rope.h"

#include <algorithm>
#include <cmath>

#include "loader/error.h"
#include "runtime/vk/pipeline.h"

namespace moevk::ops {

RopePush rope_push(RopeShape s, const ref::RopeParams& p) {
  if (s.stride_a == 0) s.stride_a = s.n_head * s.head_dim;
  if (s.stride_d == 0) s.stride_d = s.n_head * s.head_dim;
  RopePush pc{};
  pc.n_tok = s.n_tok;
  pc.n_head = s.n_head;
  pc.head_dim = s.head_dim;
  pc.n_rot = p.n_rot;
  pc.stride_a = s.stride_a;
  pc.stride_d = s.stride_d;
  const double base = p.freq_base;
  pc.log2_theta_scale = static_cast<float>(-2.0 * std::log2(base) / p.n_rot);
  pc.freq_scale = p.freq_scale;
  pc.ext_factor = p.ext_factor;
  double mscale = p.attn_factor;
  if (p.ext_factor != 0.0f) {
    // ggml_rope_yarn_corr_dims: the dims whose wavelength spans beta_fast / beta_slow rotations
    // over the original context bound the ramp between extrapolation and interpolation.
    auto corr_dim = [&](double beta) {
      return p.n_rot * std::log(double(p.n_ctx_orig) / (beta * 2.0 * M_PI)) /
             (2.0 * std::log(base));
    };
    pc.corr_lo = static_cast<float>(std::max(0.0, std::floor(corr_dim(p.beta_fast))));
    pc.corr_hi =
        static_cast<float>(std::min(double(p.n_rot) - 1.0, std::ceil(corr_dim(p.beta_slow))));
    mscale *= 1.0 + 0.1 * std::log(1.0 / p.freq_scale);
  }
  pc.mscale = static_cast<float>(mscale);
  return pc;
}

void rope(vk::Context& ctx, vk::Recorder& rec, const vk::View& x, const vk::View& pos,
          const vk::View& d, RopeShape shape, const ref::RopeParams& p,
          const vk::View& freq_factors, const RopeExtras& extras) {
  RopePush pc = rope_push(shape, p);
  MOEVK_ASSERT(pc.n_tok > 0 && pc.n_head > 0 && pc.head_dim > 0 && pc.head_dim % 2 == 0,
               "rope: bad shape");
  MOEVK_ASSERT(p.n_rot > 0 && p.n_rot % 2 == 0 && p.n_rot <= pc.head_dim, "rope: bad n_rot");
  MOEVK_ASSERT(p.ext_factor == 0.0f || (p.n_ctx_orig > 0 && p.freq_scale > 0.0f),
               "rope: YaRN needs n_ctx_orig and freq_scale");
  const uint64_t head_span = uint64_t(pc.n_head) * pc.head_dim;
  MOEVK_ASSERT(pc.stride_a >= head_span && pc.stride_d >= head_span, "rope: stride below heads");
  const uint64_t a_bytes = (uint64_t(pc.n_tok - 1) * pc.stride_a + head_span) * 4;
  const uint64_t d_bytes = (uint64_t(pc.n_tok - 1) * pc.stride_d + head_span) * 4;
  MOEVK_ASSERT(a_bytes / 4 <= UINT32_MAX && d_bytes / 4 <= UINT32_MAX,
               "rope: more than 2^32 elements");
  MOEVK_ASSERT(pc.head_dim <= kRopeMaxHeadDim, "rope: head_dim over 1024");
  MOEVK_ASSERT(x.size >= a_bytes && (extras.cache || d.size >= d_bytes), "rope: x or d view too small");
  MOEVK_ASSERT(pos.size >= uint64_t(pc.n_tok) * 4, "rope: pos view too small");
  MOEVK_ASSERT(!freq_factors || freq_factors.size >= uint64_t(p.n_rot / 2) * 4,
               "rope: freq_factors view too small");
  pc.data_a = x.address();
  pc.data_pos = pos.address();
  pc.data_ff = freq_factors ? freq_factors.address() : x.address();
  pc.has_ff = freq_factors ? 1u : 0u;
  if (extras.norm) {
    MOEVK_ASSERT(extras.norm.size >= uint64_t(pc.head_dim) * 4, "rope: norm weight view too small");
    pc.data_w = extras.norm.address();
    pc.eps = extras.eps;
  }
  if (extras.cache) {
    const KvLayout& l = extras.layout;
    MOEVK_ASSERT(l.n_head_kv == pc.n_head && extras.cache.size >= l.bytes(),
                 "rope: the cache does not match the heads");
    MOEVK_ASSERT(extras.col0 % 2 == 0 && l.stride % 2 == 0 && extras.col0 + pc.head_dim <= l.stride,
                 "rope: cache columns out of the row");
    pc.data_d = extras.cache.address();
    pc.to_cache = 1;
    pc.n_ctx = l.n_ctx;
    pc.row_stride = l.stride;
    pc.col0 = extras.col0;
  } else {
    pc.data_d = d.address();
  }
  const char* variant = p.type == RopeType::Neox ? "rope_f32_neox" : "rope_f32";
  // One workgroup per (token, head), spread over x and y past one dimension's limit.
  const uint64_t groups = uint64_t(pc.n_tok) * pc.n_head;
  const uint64_t max_x = ctx.features().max_workgroup_count[0];
  const uint64_t gy = (groups + max_x - 1) / max_x;
  const uint64_t gx = (groups + gy - 1) / gy;
  rec.dispatch(ctx.pipeline(variant, sizeof pc), pc, uint32_t(gx), uint32_t(gy));
}

void rope_qkv(vk::Context& ctx, vk::Recorder& rec, const RopeQkv& a, const ref::RopeParams& p,
              const vk::View& freq_factors) {
  const RopePush r = rope_push({a.n_tok, a.n_head, a.head_dim}, p);
  MOEVK_ASSERT(a.n_tok > 0 && a.n_head > 0 && a.n_head_kv > 0 && a.head_dim % 2 == 0 &&
                   a.head_dim > 0 && a.dv > 0 && a.dv % 2 == 0,
               "rope_qkv: bad shape");
  MOEVK_ASSERT(a.n_head < 65536 && a.n_head_kv < 65536 && a.head_dim <= kRopeMaxHeadDim &&
                   a.dv < 65536,
               "rope_qkv: heads or dims over the packed fields");
  MOEVK_ASSERT(p.n_rot > 0 && p.n_rot % 2 == 0 && p.n_rot <= a.head_dim, "rope_qkv: bad n_rot");
  MOEVK_ASSERT(p.ext_factor == 0.0f || (p.n_ctx_orig > 0 && p.freq_scale > 0.0f),
               "rope_qkv: YaRN needs n_ctx_orig and freq_scale");
  const KvLayout &kl = a.k_layout, &vl = a.v_layout;
  MOEVK_ASSERT(kl.n_head_kv == a.n_head_kv && vl.n_head_kv == a.n_head_kv && kl.n_ctx == vl.n_ctx,
               "rope_qkv: the caches do not match the heads");
  MOEVK_ASSERT(kl.stride % 2 == 0 && vl.stride % 2 == 0 && a.head_dim <= kl.stride &&
                   a.dv <= vl.stride && kl.stride < 65536 && vl.stride < 65536,
               "rope_qkv: cache rows");
  MOEVK_ASSERT(kl.bytes() / 4 <= UINT32_MAX && vl.bytes() / 4 <= UINT32_MAX,
               "rope_qkv: cache over 2^32 words");
  const uint64_t nq = uint64_t(a.n_tok) * a.n_head * a.head_dim;
  const uint64_t nk = uint64_t(a.n_tok) * a.n_head_kv * a.head_dim;
  const uint64_t nv = uint64_t(a.n_tok) * a.n_head_kv * a.dv;
  MOEVK_ASSERT(nq <= UINT32_MAX && nk <= UINT32_MAX && nv <= UINT32_MAX,
               "rope_qkv: more than 2^32 elements");
  MOEVK_ASSERT(a.q.size >= nq * 4 && a.k.size >= nk * 4 && a.v.size >= nv * 4 &&
                   a.pos.size >= uint64_t(a.n_tok) * 4 && a.k_cache.size >= kl.bytes() &&
                   a.v_cache.size >= vl.bytes(),
               "rope_qkv: a view is too small");
  MOEVK_ASSERT((!a.q_norm || a.q_norm.size >= uint64_t(a.head_dim) * 4) &&
                   (!a.k_norm || a.k_norm.size >= uint64_t(a.head_dim) * 4),
               "rope_qkv: norm weight view too small");
  MOEVK_ASSERT(!freq_factors || freq_factors.size >= uint64_t(p.n_rot / 2) * 4,
               "rope_qkv: freq_factors view too small");
  RopeQkvPush pc{};
  pc.data_q = a.q.address();
  pc.data_pos = a.pos.address();
  pc.data_ff = freq_factors ? freq_factors.address() : 0;
  pc.data_qw = a.q_norm ? a.q_norm.address() : 0;
  pc.data_k = a.k.address();
  pc.data_kw = a.k_norm ? a.k_norm.address() : 0;
  pc.data_kc = a.k_cache.address();
  pc.data_v = a.v.address();
  pc.data_vc = a.v_cache.address();
  pc.n_tok = a.n_tok;
  pc.heads = a.n_head | a.n_head_kv << 16;
  pc.dims = a.head_dim | a.dv << 16;
  pc.n_rot = r.n_rot;
  pc.log2_theta_scale = r.log2_theta_scale;
  pc.freq_scale = r.freq_scale;
  pc.ext_factor = r.ext_factor;
  pc.mscale = r.mscale;
  pc.corr_lo = r.corr_lo;
  pc.corr_hi = r.corr_hi;
  pc.eps = a.eps;
  pc.n_ctx = kl.n_ctx;
  pc.strides = kl.stride | vl.stride << 16;
  const char* variant = p.type == RopeType::Neox ? "rope_qkv_f32_neox" : "rope_qkv_f32";
  // One workgroup per q, k and v head of every token, spread over x and y past x's limit.
  const uint64_t groups = uint64_t(a.n_tok) * (a.n_head + 2ull * a.n_head_kv);
  const uint64_t max_x = ctx.features().max_workgroup_count[0];
  const uint64_t gy = (groups + max_x - 1) / max_x;
  const uint64_t gx = (groups + gy - 1) / gy;
  MOEVK_ASSERT(gy <= ctx.features().max_workgroup_count[1], "rope_qkv: too many heads");
  rec.dispatch(ctx.pipeline(variant, sizeof pc), pc, uint32_t(gx), uint32_t(gy));
}

}  // namespace moevk::ops
