#include "runtime/ops/attention.h"

#include <algorithm>

#include "loader/error.h"
#include "runtime/vk/pipeline.h"

namespace moevk::ops {

namespace {

// attention_tiled.comp's shape on this device: QT queries per workgroup, VW output words and QW q
// words per lane kept in shared memory (QW = 0: q read from data_q); BK keys per tile and CW words
// per chunk are the shader's constants.
struct TiledConfig {
  static constexpr uint32_t bk = 16, cw = 8;
  bool lanes = false;  // the subgroup-shuffle variant (USE_LANES: CPU devices, 8-lane subgroups)
  uint32_t qt = 0, vw = 0, qw = 0;
  uint32_t shared_bytes() const {
    return (vw + std::max(qw, 2u)) * qt * 8 + (lanes ? 0 : bk * cw * 8);
  }
};

// The tiled kernel's config, or qt = 0 when its shared memory does not fit the device. CPU devices
// (row lanes) with 8-lane subgroups and subgroupShuffle take one subgroup per workgroup (lane i owns
// a query and loads word i of each chunk for the others); other devices stage the chunks in shared
// memory, with the largest tile that fits. q goes to shared memory where it fits too (DeepSeek-V3's
// 576 dims do not, beside its 512 output dims, in lavapipe's 32 KiB).
TiledConfig tiled_config(const vk::Features& f, uint32_t head_dim_k, uint32_t head_dim_v) {
  TiledConfig c;
  c.lanes = f.row_lanes && f.subgroup_shuffle && f.subgroup_size == TiledConfig::cw;
  c.vw = (head_dim_v / 2 + c.cw - 1) / c.cw * c.cw;
  const uint32_t qw = (head_dim_k / 2 + c.cw - 1) / c.cw * c.cw;
  const auto fits = [&](uint32_t qt) {
    c.qt = qt;
    for (uint32_t w : {qw, 0u}) {
      c.qw = w;
      if (c.shared_bytes() <= f.max_shared_memory) return true;
    }
    return false;
  };
  if (c.lanes) {
    if (fits(c.cw)) return c;
  } else {
    for (uint32_t qt : {32u, 16u, 8u})
      if (fits(qt)) return c;
  }
  c.qt = 0;
  return c;
}

}  // namespace

void attention(vk::Context& ctx, vk::Recorder& rec, const AttentionShape& s, const vk::View& q,
               const vk::View& k, const KvLayout& kl, const vk::View& v, const KvLayout& vl,
               const vk::View& sinks, const vk::View& out, uint32_t n_tokens, uint32_t p0,
               AttentionKernel kernel) {
  constexpr uint32_t kBlock = 128;  // keys per chunk; the shader keeps 4 * kBlock output dims
  const uint32_t q_stride = s.q_stride ? s.q_stride : s.n_head * s.head_dim_k;
  MOEVK_ASSERT(n_tokens > 0 && s.n_head > 0 && kl.n_head_kv > 0 && s.n_head % kl.n_head_kv == 0,
               "attention: n_head must be a multiple of n_head_kv");
  MOEVK_ASSERT(vl.n_head_kv == kl.n_head_kv && vl.n_ctx == kl.n_ctx,
               "attention: K/V layouts differ");
  MOEVK_ASSERT(s.head_dim_k % 2 == 0 && s.head_dim_v % 2 == 0 && s.head_dim_k > 0 &&
                   s.head_dim_v > 0 && s.head_dim_k <= 1024 && s.head_dim_v <= 4 * kBlock,
               "attention: head dims must be even, k <= 1024, v <= 512");
  MOEVK_ASSERT(kl.stride % 2 == 0 && vl.stride % 2 == 0 && kl.stride >= s.head_dim_k &&
                   vl.stride >= s.head_dim_v,
               "attention: cache strides");
  MOEVK_ASSERT(uint64_t(p0) + n_tokens <= kl.n_ctx, "attention: positions beyond n_ctx");
  MOEVK_ASSERT(kl.bytes() / 4 <= UINT32_MAX && vl.bytes() / 4 <= UINT32_MAX,
               "attention: cache over 2^32 words");
  MOEVK_ASSERT(q_stride >= s.n_head * s.head_dim_k &&
                   q.size >= (uint64_t(n_tokens - 1) * q_stride + s.n_head * s.head_dim_k) * 4,
               "attention: q view too small");
  MOEVK_ASSERT(k.size >= kl.bytes() && v.size >= vl.bytes(), "attention: cache views too small");
  MOEVK_ASSERT(!sinks || sinks.size >= uint64_t(s.n_head) * 4, "attention: sinks view too small");
  MOEVK_ASSERT(out.size >= uint64_t(n_tokens) * s.n_head * s.head_dim_v * 4,
               "attention: out view too small");
  AttentionPush pc{q.address(),
                   k.address(),
                   v.address(),
                   sinks ? sinks.address() : q.address(),
                   out.address(),
                   n_tokens,
                   s.n_head,
                   kl.n_head_kv,
                   s.head_dim_k,
                   s.head_dim_v,
                   kl.stride,
                   vl.stride,
                   kl.n_ctx,
                   p0,
                   s.window,
                   q_stride,
                   sinks ? 1u : 0u,
                   s.scale,
                   0};

  const TiledConfig tc = tiled_config(ctx.features(), s.head_dim_k, s.head_dim_v);
  if (kernel == AttentionKernel::Auto) {
    const uint32_t min_tokens = tc.lanes ? 1 : kTiledAttentionMinTokens;
    kernel = n_tokens >= min_tokens && tc.qt > 0 && !ctx.options().no_tiled_attention
                 ? AttentionKernel::Tiled
                 : AttentionKernel::PerToken;
  }
  if (kernel == AttentionKernel::Tiled) {
    MOEVK_ASSERT(tc.qt > 0, "attention: the tiled kernel's shared memory does not fit the device");
    const char* variant = tc.lanes ? "attention_tiled_f16_lanes" : "attention_tiled_f16";
    rec.dispatch(ctx.pipeline(variant, sizeof pc, {tc.qt, tc.vw, tc.qw}), pc, s.n_head,
                 std::min<uint32_t>((n_tokens + tc.qt - 1) / tc.qt, 65535));
    return;
  }
  const char* variant = ctx.features().subgroup_arith ? "attention_f16_subgroup" : "attention_f16";
  rec.dispatch(ctx.pipeline(variant, sizeof pc, {kBlock}), pc, s.n_head,
               std::min<uint32_t>(n_tokens, 65535));
}

}  // namespace moevk::ops
