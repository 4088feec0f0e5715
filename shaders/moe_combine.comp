#version 450
// moe_combine: the end of an MoE block, fused in one pass per token:
//   data_d[t][i] = (HAS_RES ? data_x[t][i] : 0)
//                + sum_j data_w[t][j] * data_e[t][j][i]                   (routed experts)
//                + (HAS_SHARED ? gate(t) * data_s[t][i] : 0)               (shared expert)
//   gate(t) = SHARED_GATE ? sigmoid(data_g[t]) : 1                         (qwen2moe's gated shared expert)
//   NORM: also data_h[t][i] = data_d[t][i] / sqrt(mean_i(data_d[t][i]^2) + eps) * data_nw[i], the
//   next block's normed input (rms_norm.comp's formula), so that norm needs no dispatch of its own.
// Buffers: data_e [n_tokens][n_used][n] f32, data_w [n_tokens][n_used] f32, data_x/data_s/data_d
// [n_tokens][n] f32, data_g [n_tokens] f32, data_nw [n] f32, data_h [n_tokens][n] f32. Flags in
// pc.flags: 1 HAS_RES, 2 HAS_SHARED, 4 SHARED_GATE, 8 NORM (then one workgroup per token: x = 1).
// The expert sum runs in selection order, as the CPU reference does.
// Host mirror: runtime/ops/moe_combine.{h,cpp} (MoeCombinePush).
#include "buffers.glsl"

layout(local_size_x = 256) in;

layout(push_constant, std430) uniform PC {
  FloatRef data_e;
  FloatRef data_w;
  FloatRef data_x;
  FloatRef data_s;
  FloatRef data_g;
  FloatRef data_d;
  FloatRef data_nw;
  FloatRef data_h;
  uint n;
  uint n_used;
  uint n_tokens;
  uint flags;
  float eps;
  uint pad;
} pc;

shared float red_sh[256];

void main() {
  const uint t = gl_WorkGroupID.y;
  float gate = 1.0;
  if ((pc.flags & 4u) != 0u) gate = 1.0 / (1.0 + exp(-pc.data_g.v[t]));
  float ss = 0.0;
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += grid_stride()) {
    float acc = 0.0;
    for (uint j = 0; j < pc.n_used; ++j)
      acc += pc.data_w.v[t * pc.n_used + j] * pc.data_e.v[(t * pc.n_used + j) * pc.n + i];
    if ((pc.flags & 2u) != 0u) acc += gate * pc.data_s.v[t * pc.n + i];
    if ((pc.flags & 1u) != 0u) acc += pc.data_x.v[t * pc.n + i];
    pc.data_d.v[t * pc.n + i] = acc;
    ss += acc * acc;
  }
  if ((pc.flags & 8u) == 0u) return;  // uniform: the flag is the same for every invocation
  const uint tid = gl_LocalInvocationID.x;
  red_sh[tid] = ss;
  barrier();
  for (uint s = 128u; s > 0u; s >>= 1) {
    if (tid < s) red_sh[tid] += red_sh[tid + s];
    barrier();
  }
  const float scale = inversesqrt(red_sh[0] / float(pc.n) + pc.eps);
  // The same invocations read back the elements they wrote above.
  for (uint i = tid; i < pc.n; i += 256u)
    pc.data_h.v[t * pc.n + i] = pc.data_d.v[t * pc.n + i] * scale * pc.data_nw.v[i];
}
