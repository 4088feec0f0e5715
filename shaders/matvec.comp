#version 450
// matvec: y[b][r] = sum_c W[r][c] * x[b][c] (+ bias[r]) (+ res[b][r]) for r < n_rows, b < n_batch.
//   data_a: W, n_rows rows of n_cols elements in ggml blocks of the weight type, row_bytes apart
//   data_b: x [n_batch][x_stride] f32; data_d: y [n_batch][y_stride] f32; data_bias: [n_rows] f32 or 0
//   data_res: the residual [n_batch][y_stride] f32 or 0; it may be y itself (each element is read
//   and written by the same invocation), which fuses "x += W h" into one dispatch
// Workgroup g = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x takes rows NUM_ROWS*g ..
// (the host splits more than 65535 groups over x and y).
// Defines: TYPE_<ggml type> (common/dequant.glsl), USE_SUBGROUP (subgroupAdd reduction).
// Spec constants: 0 = workgroup size, 1 = rows per workgroup.  Host mirror: runtime/ops/matvec.{h,cpp}.
#include "dequant_matvec.glsl"

layout(push_constant, std430) uniform PC {
  uint64_t data_a;
  uint64_t data_b;
  uint64_t data_d;
  uint64_t data_bias;
  uint64_t data_res;
  uint n_rows;
  uint n_cols;
  uint row_bytes;
  uint n_batch;
  uint x_stride;
  uint y_stride;
  uint pad0;
  uint pad1;
} pc;

void main() {
  const uint group = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
  const uint row0 = group * NUM_ROWS;
  if (row0 >= pc.n_rows) return;  // the whole workgroup leaves together
  matvec_rows(pc.data_a, row0, pc.n_rows, pc.row_bytes, pc.n_cols, pc.data_b, pc.x_stride,
              pc.n_batch, pc.data_d, pc.y_stride, pc.data_bias, pc.data_res, RES_ADD, vec2(0.0));
}
