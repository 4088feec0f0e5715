// rope op: rotary position embedding of a batch of tokens (normal or NeoX pairs, YaRN, optional
// frequency factors), with the parameters of ref::rope (runtime/ref/ops.h); optionally after a
// per-head RMS norm (qk-norm) and optionally written straight into the f16 KV cache, so that
// norm, rope and the cache store of K are one dispatch. Shader: rope.comp.
#pragma once

#include <cstdint>

#include "runtime/ops/kv_store.h"
#include "runtime/ref/ops.h"
#include "runtime/vk/buffer.h"
#include "runtime/vk/recorder.h"

namespace moevk::ops {

struct RopePush {
  uint64_t data_a, data_pos, data_ff, data_d, data_w;
  uint32_t n_tok, n_head, head_dim, n_rot;
  uint32_t stride_a, stride_d;
  float log2_theta_scale, freq_scale, ext_factor, mscale, corr_lo, corr_hi;
  uint32_t has_ff;
  float eps;
  uint32_t to_cache, n_ctx, row_stride, col0;
};
static_assert(sizeof(RopePush) == 112, "must match rope.comp's push block");

// The longest head rope.comp stages in shared memory.
constexpr uint32_t kRopeMaxHeadDim = 1024;

struct RopeShape {
  uint32_t n_tok = 1, n_head = 0, head_dim = 0;
  // Elements from one token's first head to the next token's (0: n_head * head_dim), e.g. the
  // row length of a fused QKV buffer when x is a view of its Q or K part.
  uint32_t stride_a = 0, stride_d = 0;
};

// What a rope may do besides rotating: norm each head first, and/or write the result into a KV
// cache (kv_store's layout; head h of the batch to cache head h, halves col0 .. col0 + head_dim of
// row pos[t]; positions outside the cache are skipped) instead of into d.
struct RopeExtras {
  vk::View norm;  // [head_dim] f32: x = x / sqrt(mean(x^2) + eps) * norm per head, or empty
  float eps = 0.0f;
  vk::View cache;  // f16 KV cache of `layout`, or empty (then the result goes to d)
  KvLayout layout;
  uint32_t col0 = 0;
};

// x: the tokens' heads (see RopeShape), pos: [n_tok] int32 positions, d: like x (may be x; unused
// when extras.cache is set). freq_factors: [n_rot/2] f32 dividing each pair's theta (ggml's rope
// freq_factors), or an empty View.
void rope(vk::Context& ctx, vk::Recorder& rec, const vk::View& x, const vk::View& pos,
          const vk::View& d, RopeShape shape, const ref::RopeParams& p,
          const vk::View& freq_factors = {}, const RopeExtras& extras = {});

// rope_qkv: the q rope (in place), the k rope into the K cache and the V rows into the V cache of one
// attention layer in one dispatch (rope_qkv.comp); bit for bit what rope(q), rope(k, cache) and
// kv_store(v) compute. q: [n_tok][n_head * head_dim], k: [n_tok][n_head_kv * head_dim], v:
// [n_tok][n_head_kv * dv] f32, dense; the caches have n_head_kv heads and the same n_ctx.
struct RopeQkvPush {
  uint64_t data_q, data_pos, data_ff, data_qw, data_k, data_kw, data_kc, data_v, data_vc;
  uint32_t n_tok, heads, dims, n_rot;
  float log2_theta_scale, freq_scale, ext_factor, mscale, corr_lo, corr_hi, eps;
  uint32_t n_ctx, strides, pad;
};
static_assert(sizeof(RopeQkvPush) == 128, "must match rope_qkv.comp's push block");

struct RopeQkv {
  vk::View q, k, v, pos;
  vk::View q_norm, k_norm;  // [head_dim] f32 per-head norms, or empty
  float eps = 0.0f;
  vk::View k_cache, v_cache;
  KvLayout k_layout, v_layout;
  uint32_t n_tok = 1, n_head = 0, n_head_kv = 0, head_dim = 0, dv = 0;
};
void rope_qkv(vk::Context& ctx, vk::Recorder& rec, const RopeQkv& a, const ref::RopeParams& p,
              const vk::View& freq_factors = {});

// The push block of a rope: YaRN correction dims, mscale, log2 of the frequency ratio.
RopePush rope_push(RopeShape shape, const ref::RopeParams& p);

}  // namespace moevk::ops
