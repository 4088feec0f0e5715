// attention op: causal multi-head attention of n_tokens queries (positions p0 ..) over the f16 KV
// cache (layout: runtime/ops/kv_store.h). GQA, per-head sinks, sliding window, K/V head dims that
// differ (MLA). Shader: attention.comp; reference: ref::attention (runtime/ref/ops.h).
#pragma once

#include <cstdint>

#include "runtime/ops/kv_store.h"
#include "runtime/vk/buffer.h"
#include "runtime/vk/recorder.h"

namespace moevk::ops {

struct AttentionPush {
  uint64_t data_q, data_k, data_v, data_sinks, data_d;
  uint32_t n_tokens, n_head, n_head_kv, head_dim_k, head_dim_v, k_stride, v_stride, n_ctx, p0,
      window, q_stride, flags;
  float scale;
  uint32_t pad;
};
static_assert(sizeof(AttentionPush) == 96, "must match attention.comp's push block");

struct AttentionShape {
  uint32_t n_head = 0;
  uint32_t head_dim_k = 0;  // even, <= 1024
  uint32_t head_dim_v = 0;  // even, <= 512
  float scale = 1.0f;       // usually 1/sqrt(head_dim_k)
  uint32_t window = 0;      // 0: none; else keys with qpos - pos < window
  uint32_t q_stride = 0;    // floats per token of q (0: n_head * head_dim_k)
};

// Which kernel runs: attention.comp (one workgroup per (head, token), its invocations over the keys)
// or attention_tiled.comp (one workgroup per (head, tile of tokens), each K/V word read once per
// tile). Auto takes the tiled kernel from kTiledAttentionMinTokens tokens on (CPU devices with the
// subgroup-shuffle variant: from one token, measured faster on lavapipe even for decode) unless
// MOEVK_DISABLE=tiled_attention; the tests force each.
enum class AttentionKernel { Auto, PerToken, Tiled };
constexpr uint32_t kTiledAttentionMinTokens = 16;  // GPUs: not measured yet (no GPU session)

// q: [n_tokens][q_stride] f32; k, v: caches with layouts kl, vl (same n_head_kv and n_ctx; v may be
// a view of k with vl.stride = kl.stride); sinks: [n_head] f32 or an empty View;
// out: [n_tokens][n_head][head_dim_v] f32. Query t is at position p0 + t < n_ctx and sees the cache
// positions 0 .. p0 + t, which must have been written.
void attention(vk::Context& ctx, vk::Recorder& rec, const AttentionShape& s, const vk::View& q,
               const vk::View& k, const KvLayout& kl, const vk::View& v, const KvLayout& vl,
               const vk::View& sinks, const vk::View& out, uint32_t n_tokens, uint32_t p0,
               AttentionKernel kernel = AttentionKernel::Auto);

}  // namespace moevk::ops
