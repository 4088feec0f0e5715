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

// theta - 2 pi round(theta / 2 pi), with 2 pi split in two parts (Cody-Waite) so that k * 6.28125 is
// exact for |k| < 2^16: GPU sin/cos are only accurate near [-pi, pi], and positions reach 10^5.
float reduce_angle(float theta) {
  const float k = round(theta * 0.15915494309189535);
  return (theta - k * 6.28125) - k * 0.0019353071795864769;
}

void main() {
  const uint g = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
  if (g >= pc.n_tok * pc.n_head) return;  // the whole workgroup leaves together
  const uint tid = gl_LocalInvocationID.x, h = g % pc.n_head, t = g / pc.n_head;
  FloatRef a = FloatRef(pc.data_a);
  const uint src = t * pc.stride_a + h * pc.head_dim;
  float ss = 0.0;
  for (uint i = tid; i < pc.head_dim; i += WG) {
    const float v = a.v[src + i];
    head_sh[i] = v;
    ss += v * v;
  }
  if (pc.data_w != 0ul) {  // uniform: every invocation takes the same branch
    red_sh[tid] = ss;
    barrier();
    for (uint s = WG / 2u; s > 0u; s >>= 1) {
      if (tid < s) red_sh[tid] += red_sh[tid + s];
      barrier();
    }
    const float scale = inversesqrt(red_sh[0] / float(pc.head_dim) + pc.eps);
    FloatRef w = FloatRef(pc.data_w);
    for (uint i = tid; i < pc.head_dim; i += WG) head_sh[i] = head_sh[i] * scale * w.v[i];
  }
  barrier();
  const int pos = IntRef(pc.data_pos).v[t];
  const uint half_rot = pc.n_rot / 2u;
  for (uint j = tid; j < half_rot; j += WG) {
#if defined(ROPE_NEOX)
    const uint ia = j, ib = j + half_rot;
#else
    const uint ia = 2u * j, ib = 2u * j + 1u;
#endif
    float theta_extrap = float(pos) * exp2(float(j) * pc.log2_theta_scale);
    if (pc.has_ff != 0u) theta_extrap /= FloatRef(pc.data_ff).v[j];
    float theta = pc.freq_scale * theta_extrap;
    if (pc.ext_factor != 0.0) {
      const float y = (float(j) - pc.corr_lo) / max(0.001, pc.corr_hi - pc.corr_lo);
      const float ramp = (1.0 - clamp(y, 0.0, 1.0)) * pc.ext_factor;
      theta = theta * (1.0 - ramp) + theta_extrap * ramp;
    }
    theta = reduce_angle(theta);
    const float c = cos(theta) * pc.mscale, s = sin(theta) * pc.mscale;
    const float x0 = head_sh[ia], x1 = head_sh[ib];
    head_sh[ia] = x0 * c - x1 * s;
    head_sh[ib] = x0 * s + x1 * c;
  }
  barrier();
  if (pc.to_cache == 0u) {
    FloatRef d = FloatRef(pc.data_d);
    const uint dst = t * pc.stride_d + h * pc.head_dim;
    for (uint i = tid; i < pc.head_dim; i += WG) d.v[dst + i] = head_sh[i];
  } else if (pos >= 0 && uint(pos) < pc.n_ctx) {
    UintRef cache = UintRef(pc.data_d);
    const uint dst = ((h * pc.n_ctx + uint(pos)) * pc.row_stride + pc.col0) / 2u;
    for (uint w = tid; w < pc.head_dim / 2u; w += WG)
      cache.v[dst + w] = packHalf2x16(vec2(head_sh[2u * w], head_sh[2u * w + 1u]));
  }
}
