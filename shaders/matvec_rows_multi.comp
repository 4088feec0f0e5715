#version 450
// matvec_rows_multi: matvec_multi.comp's products (up to three matrices of one type and n_cols
// times one x, e.g. q, k and v) in row-lane form, each row as matvec_rows.comp computes it:
//   y_m[b][r] = sum_c W_m[r][c] * x[b][c] (+ bias_m[r]) for m < 3, r < n_rows[m], b < n_batch
// Workgroup g (linearised over x and y) takes rows of W_0 for its first ceil(n_rows[0] / workgroup
// size) values, then of W_1, then of W_2; invocation k owns row g' * workgroup size + k.
// Buffers as matvec_multi.comp. n_cols a multiple of STEP. Spec constants as matvec_rows.comp.
// Host mirror: runtime/ops/matvec.{h,cpp} (matvec_multi).
#include "row_lanes.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TN = 1;

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
    const uint gm = (pc.n_rows[m] + gl_WorkGroupSize.x - 1u) / gl_WorkGroupSize.x;
    if (group < gm) break;
    group -= gm;
  }
  if (m == 3u) return;  // the whole workgroup leaves together
  const uint n_rows = pc.n_rows[m];
  const uint r = group * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  const uint64_t data_d = pc.data_d[m], data_bias = pc.data_bias[m];
  UintRef a;
  uint off0;
  row_ref(pc.data_a[m], r, n_rows, pc.row_bytes, a, off0);
  for (uint b0 = 0; b0 < pc.n_batch; b0 += TN) {
    float acc[TN];
    for (uint t = 0; t < TN; t++) acc[t] = 0.0;
    for (uint e = 0; e < pc.n_cols; e += STEP) {
      vec4 w[NW];
      unpack_step(a, off0 + block_off(e), in_block(e), w);
      for (uint t = 0; t < min(TN, pc.n_batch - b0); t++) {
        float xv[XV_MAX];
        load_x(pc.data_b + 4ul * (uint64_t(b0 + t) * pc.n_cols + e), xv);
        acc[t] += dot_step(w, xv);
      }
    }
    if (r < n_rows)
      for (uint t = 0; t < TN; t++) {
        if (b0 + t >= pc.n_batch) break;
        float v = acc[t];
        if (data_bias != 0ul) v += FloatRef(data_bias).v[r];
        FloatRef(data_d).v[(b0 + t) * n_rows + r] = v;
      }
  }
}
