#include "runtime/ops/attention.h"

#include <algorithm>

#include "loader/error.h"
#include "runtime/vk/pipeline.h"

namespace moevk::ops {

void attention(vk::Context& ctx, vk::Recorder& rec, const AttentionShape& s, const vk::View& q,
               const vk::View& k, const KvLayout& kl, const vk::View& v, const KvLayout& vl,
               const vk::View& sinks, const vk::View& out, uint32_t n_tokens, uint32_t p0) {
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
  const char* variant = ctx.features().subgroup_arith ? "attention_f16_subgroup" : "attention_f16";
  rec.dispatch(ctx.pipeline(variant, sizeof pc, {kBlock}), pc, s.n_head,
               std::min<uint32_t>(n_tokens, 65535));
}

}  // namespace moevk::ops
