#version 450
// rope: rotary position embedding of n_tok tokens of n_head heads of head_dim; the first n_rot dims
// of every head are rotated in pairs, the rest copied. Pairs: (2i, 2i+1) normal, (i, i + n_rot/2)
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
//   data_d [n_tok][stride_d] f32 (may alias data_a: each invocation rewrites only the pair it read).
// Defines: ROPE_NEOX (NeoX pairs) or none (normal pairs).   Host mirror: runtime/ops/rope.{h,cpp}.
// Declared before the includes: grid_stride() (buffers.glsl) reads gl_WorkGroupSize, which is
// (1, 1, 1) in functions defined before this declaration.
layout(local_size_x = 256) in;
#include "buffers.glsl"

layout(push_constant, std430) uniform PC {
  FloatRef data_a;
  IntRef data_pos;
  FloatRef data_ff;
  FloatRef data_d;
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
  uint pad;
} pc;

// theta - 2 pi round(theta / 2 pi), with 2 pi split in two parts (Cody-Waite) so that k * 6.28125 is
// exact for |k| < 2^16: GPU sin/cos are only accurate near [-pi, pi], and positions reach 10^5.
float reduce_angle(float theta) {
  const float k = round(theta * 0.15915494309189535);
  return (theta - k * 6.28125) - k * 0.0019353071795864769;
}

void main() {
  const uint hd2 = pc.head_dim / 2u, half_rot = pc.n_rot / 2u;
  const uint n = pc.n_tok * pc.n_head * hd2;
  for (uint idx = gl_GlobalInvocationID.x; idx < n; idx += grid_stride()) {
    const uint j = idx % hd2, th = idx / hd2, h = th % pc.n_head, t = th / pc.n_head;
    const uint src = t * pc.stride_a + h * pc.head_dim, dst = t * pc.stride_d + h * pc.head_dim;
    if (j >= half_rot) {  // past n_rot: copied as is
      const uint k = pc.n_rot + 2u * (j - half_rot);
      pc.data_d.v[dst + k] = pc.data_a.v[src + k];
      pc.data_d.v[dst + k + 1u] = pc.data_a.v[src + k + 1u];
      continue;
    }
#if defined(ROPE_NEOX)
    const uint ia = j, ib = j + half_rot;
#else
    const uint ia = 2u * j, ib = 2u * j + 1u;
#endif
    float theta_extrap = float(pc.data_pos.v[t]) * exp2(float(j) * pc.log2_theta_scale);
    if (pc.has_ff != 0u) theta_extrap /= pc.data_ff.v[j];
    float theta = pc.freq_scale * theta_extrap;
    if (pc.ext_factor != 0.0) {
      const float y = (float(j) - pc.corr_lo) / max(0.001, pc.corr_hi - pc.corr_lo);
      const float ramp = (1.0 - clamp(y, 0.0, 1.0)) * pc.ext_factor;
      theta = theta * (1.0 - ramp) + theta_extrap * ramp;
    }
    theta = reduce_angle(theta);
    const float c = cos(theta) * pc.mscale, s = sin(theta) * pc.mscale;
    const float a = pc.data_a.v[src + ia], b = pc.data_a.v[src + ib];
    pc.data_d.v[dst + ia] = a * c - b * s;
    pc.data_d.v[dst + ib] = a * s + b * c;
  }
}
