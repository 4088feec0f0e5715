#version 450
// rms_norm: y[r][c] = x[r][c] / sqrt(mean_c(x[r][c]^2) + eps) * w[c], over n_rows rows of n_cols
// (one workgroup per row; per-head Q/K norm is n_cols = head_dim, n_rows = n_tok * n_head).
//   data_a [n_rows][n_cols] f32, data_b [n_cols] f32 weight (read only when has_weight),
//   data_d [n_rows][n_cols] f32 (may alias data_a: each invocation rewrites only what it read).
// Defines: USE_SUBGROUP (subgroup reduction) or none (shared-memory tree).
// Spec constant 0: BLOCK_SIZE (power of two).   Host mirror: runtime/ops/rms_norm.{h,cpp}.
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
  float eps;
  uint has_weight;
} pc;

void main() {
  const uint t = gl_LocalInvocationID.x;
  // Rows beyond the workgroup count are looped over (uniform per workgroup, so barriers are fine).
  for (uint row = gl_WorkGroupID.x; row < pc.n_rows; row += gl_NumWorkGroups.x) {
    const uint base = row * pc.n_cols;
    float ss = 0.0;
    for (uint c = t; c < pc.n_cols; c += BLOCK_SIZE) {
      const float v = pc.data_a.v[base + c];
      ss += v * v;
    }
    ss = wg_sum(ss);
    const float s = inversesqrt(ss / float(pc.n_cols) + pc.eps);
    for (uint c = t; c < pc.n_cols; c += BLOCK_SIZE) {
      const float w = pc.has_weight != 0u ? pc.data_b.v[c] : 1.0;
      pc.data_d.v[base + c] = pc.data_a.v[base + c] * s * w;
    }
  }
}
