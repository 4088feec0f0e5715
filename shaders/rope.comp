#version 450
// rope: rotary position embedding of n_tok tokens of n_head heads of head_dim, optionally after a
// per-head RMS norm and optionally stored straight into the f16 KV cache. The first n_rot dims of
// every head are rotated in pairs, the rest copied. Pairs: (2i, 2i+1) normal, (i, i + n_rot/2)
// NeoX; pair i of token t turns by theta_i(pos[t]), ggml's rope_yarn:
//   theta_extrap = pos * base^(-2i/n_rot) / freq_factor[i]
//   theta_interp = freq_scale * theta_extrap
//   ext_factor == 0: theta = theta_interp
//   else:            ramp = (1 - clamp((i - corr_lo) / max(0.001, corr_hi - corr_lo), 0, 1)) * ext_factor
//                    theta = theta_interp * (1 - ramp) + theta_extrap * ramp
//   (a, b) -> (a cos - b sin, a sin + b cos) * mscale
// The host folds base into log2_theta_scale = -2 log2(base) / n_rot, YaRN's correction dims into
// corr_lo/corr_hi and attn_factor (times 1 + 0.1 ln(1/freq_scale) under YaRN) into mscale.
//   data_a [n_tok][stride_a] f32 (token t's heads at t * stride_a, head h at + h * head_dim),
//   data_pos [n_tok] int32, data_ff [n_rot/2] f32 (read only when has_ff),
//   data_w [head_dim] f32 or 0: first x = x / sqrt(mean(x^2) + eps) * w over each head (qk-norm),
//   to_cache == 0: data_d [n_tok][stride_d] f32 (may alias data_a: a head is staged in shared
//     memory before it is written);
//   to_cache == 1: data_d is a KV cache (kv_store.comp's layout: [n_head][n_ctx][row_stride] f16,
//     halves col0 ..), row pos[t]; a position outside [0, n_ctx) is skipped.
// One workgroup per (token, head): g = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x,
// head g % n_head of token g / n_head. head_dim <= MAX_HEAD_DIM.
// Defines: ROPE_NEOX (NeoX pairs) or none (normal pairs).   Host mirror: runtime/ops/rope.{h,cpp}.
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
layout(local_size_x = 64) in;
#include "buffers.glsl"

#define WG 64u
#define MAX_HEAD_DIM 1024u

layout(push_constant, std430) uniform PC {
  uint64_t data_a;
  uint64_t data_pos;
  uint64_t data_ff;
  uint64_t data_d;
  uint64_t data_w;
  uint n_tok;
  uint n_head;
  uint head_dim;
  uint n_rot;
  uint stride_a;
  uint stride_d;
  float log2_theta_scale;
  float freq_scale;
  float ext_factor;
  float mscale;
  float corr_lo;
  float corr_hi;
  uint has_ff;
  float eps;
  uint to_cache;
  uint n_ctx;
  uint row_stride;
  uint col0;
} pc;

shared float head_sh[MAX_HEAD_DIM];
shared float red_sh[WG];

#include "rope.glsl"

void main() {
  const uint g = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
  if (g >= pc.n_tok * pc.n_head) return;  // the whole workgroup leaves together
  const uint tid = gl_LocalInvocationID.x, h = g % pc.n_head, t = g / pc.n_head;
  const float ss = rope_stage_head(FloatRef(pc.data_a), t * pc.stride_a + h * pc.head_dim,
                                   pc.head_dim, tid);
  if (pc.data_w != 0ul)  // uniform: every invocation takes the same branch
    rope_norm_head(ss, FloatRef(pc.data_w), pc.eps, pc.head_dim, tid);
  barrier();
  const int pos = IntRef(pc.data_pos).v[t];
  rope_rotate_head(pos, pc.n_rot, pc.log2_theta_scale, pc.has_ff != 0u ? pc.data_ff : 0ul,
                   pc.freq_scale, pc.ext_factor, pc.corr_lo, pc.corr_hi, pc.mscale, tid);
  barrier();
  if (pc.to_cache == 0u) {
    FloatRef d = FloatRef(pc.data_d);
    const uint dst = t * pc.stride_d + h * pc.head_dim;
    for (uint i = tid; i < pc.head_dim; i += WG) d.v[dst + i] = head_sh[i];
  } else if (pos >= 0 && uint(pos) < pc.n_ctx) {
    rope_store_halves(UintRef(pc.data_d), ((h * pc.n_ctx + uint(pos)) * pc.row_stride + pc.col0) / 2u,
                      pc.head_dim, tid);
  }
}
