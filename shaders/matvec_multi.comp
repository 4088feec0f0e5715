#version 450
// matvec_multi: up to three matvec.comp products of one x in one dispatch (the q, k and v
// projections of an attention layer):
//   y_m[b][r] = sum_c W_m[r][c] * x[b][c] (+ bias_m[r]) for m < 3, r < n_rows[m], b < n_batch
// The matrices share the weight type, n_cols and row_bytes; n_rows[m] == 0 leaves m out.
//   data_a[m]: W_m; data_b: x [n_batch][n_cols] f32; data_d[m]: y_m [n_batch][n_rows[m]] f32;
//   data_bias[m]: [n_rows[m]] f32 or 0.
// Workgroup g (linearised over x and y as in matvec.comp) takes rows NUM_ROWS * g' .. of matrix m,
// where W_0 has the first ceil(n_rows[0] / NUM_ROWS) workgroups, W_1 the next, then W_2.
// Defines and spec constants as matvec.comp.  Host mirror: runtime/ops/matvec.{h,cpp} (matvec_multi).
#include "dequant_matvec.glsl"

layout(push_constant, std430) uniform PC {
  uint64_t data_a[3];
  uint64_t data_d[3];
  uint64_t data_bias[3];
  uint64_t data_b;
  uint n_rows[3];
  uint n_cols;
  uint row_bytes;
  uint n_batch;
} pc;

void main() {
  uint group = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x, m = 0u;
  for (; m < 3u; m++) {
    const uint gm = (pc.n_rows[m] + NUM_ROWS - 1u) / NUM_ROWS;
    if (group < gm) break;
    group -= gm;
  }
  if (m == 3u) return;  // the whole workgroup leaves together
#if defined(USE_INT_DOT)
  const uint x_stride = 9u * (pc.n_cols / 32u);  // data_b: x quantised by quantize_q8
#else
  const uint x_stride = pc.n_cols;
#endif
  matvec_rows(pc.data_a[m], group * NUM_ROWS, pc.n_rows[m], pc.row_bytes, pc.n_cols, pc.data_b,
              x_stride, pc.n_batch, pc.data_d[m], pc.n_rows[m], pc.data_bias[m], 0ul, RES_ADD,
              vec2(0.0));
}
