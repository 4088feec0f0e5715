#version 450
// softmax: y[r][c] = exp(v[r][c] - m[r]) / sum_c exp(v[r][c] - m[r]), with
// v[r][c] = x[r][c] * scale (+ mask[r % mask_rows][c] when mask_rows > 0) and m[r] = max_c v[r][c]
// (max subtraction keeps exp in range). A row whose every v is -inf (fully masked) becomes zeros.
// One workgroup per row.
//   data_a [n_rows][n_cols] f32, data_b [mask_rows][n_cols] f32 additive mask/bias (e.g. -inf for
//   masked keys; read only when mask_rows > 0), data_d [n_rows][n_cols] f32 (may alias data_a).
// Defines: USE_SUBGROUP (subgroup reduction) or none (shared-memory tree).
// Spec constant 0: BLOCK_SIZE (power of two).   Host mirror: runtime/ops/softmax.{h,cpp}.
#include "buffers.glsl"

layout(constant_id = 0) const uint BLOCK_SIZE = 256;
layout(local_size_x_id = 0) in;

#include "row_reduce.glsl"

layout(push_constant, std430) uniform PC {
  FloatRef data_a;
  FloatRef data_b;
  FloatRef data_d;
  uint n_cols;
  uint n_rows;
  float scale;
  uint mask_rows;
} pc;

float value(uint base, uint mbase, uint c) {
  float v = pc.data_a.v[base + c] * pc.scale;
  if (pc.mask_rows != 0u) v += pc.data_b.v[mbase + c];
  return v;
}

void main() {
  const uint t = gl_LocalInvocationID.x;
  const float kNegInf = uintBitsToFloat(0xFF800000u);
  // Rows beyond the workgroup count are looped over (uniform per workgroup, so barriers are fine).
  for (uint row = gl_WorkGroupID.x; row < pc.n_rows; row += gl_NumWorkGroups.x) {
    const uint base = row * pc.n_cols;
    const uint mbase = pc.mask_rows != 0u ? (row % pc.mask_rows) * pc.n_cols : 0u;
    float m = kNegInf;
    for (uint c = t; c < pc.n_cols; c += BLOCK_SIZE) m = max(m, value(base, mbase, c));
    m = wg_max(m);
    // Each invocation rewrites only the elements it read, so data_d may alias data_a.
    float s = 0.0;
    for (uint c = t; c < pc.n_cols; c += BLOCK_SIZE) {
      const float e = m == kNegInf ? 0.0 : exp(value(base, mbase, c) - m);
      pc.data_d.v[base + c] = e;
      s += e;
    }
    s = wg_sum(s);
    const float inv = s > 0.0 ? 1.0 / s : 0.0;
    for (uint c = t; c < pc.n_cols; c += BLOCK_SIZE) pc.data_d.v[base + c] *= inv;
  }
}
