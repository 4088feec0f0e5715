#version 450
// matvec_rows: matvec.comp's product in row-lane form (common/row_lanes.glsl), for CPU devices:
//   y[b][r] = sum_c W[r][c] * x[b][c] (+ bias[r]) (+ res[b][r]) for r < n_rows, b < n_batch
// with the same push block as matvec.comp (host: runtime/ops/matvec.{h,cpp}). Invocation k of
// workgroup g (linearised over x and y as in matvec.comp) owns row g * workgroup size + k; the batch
// goes TN vectors at a time, so one pass over the row serves TN tokens (prefill on CPU devices runs
// here, not in matmul.comp). n_cols must be a multiple of STEP (32; 64 for Q4_K/Q5_K, whose rows are whole 256-blocks).
// Spec constants: 0 = workgroup size (rows per workgroup, a multiple of SG), 1 = TN (vectors per
// pass), 2 = SG (row_lanes.glsl).
#include "row_lanes.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TN = 1;

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
  const uint r = group * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  if (group * gl_WorkGroupSize.x >= pc.n_rows) return;  // the whole workgroup leaves together
  UintRef a;
  uint off0;
  row_ref(pc.data_a, r, pc.n_rows, pc.row_bytes, a, off0);
  for (uint b0 = 0; b0 < pc.n_batch; b0 += TN) {
    float acc[TN];
    for (uint t = 0; t < TN; t++) acc[t] = 0.0;
    for (uint e = 0; e < pc.n_cols; e += STEP) {
      vec4 w[NW];
      unpack_step(a, off0 + block_off(e), in_block(e), w);
      // A uniform trip count, not a mask: on a CPU device masked-off iterations cost as much as live ones.
      for (uint t = 0; t < min(TN, pc.n_batch - b0); t++) {
        float xv[XV_MAX];
        load_x(pc.data_b + 4ul * (uint64_t(b0 + t) * pc.x_stride + e), xv);
        acc[t] += dot_step(w, xv);
      }
    }
    if (r < pc.n_rows)
      for (uint t = 0; t < TN; t++) {
        if (b0 + t >= pc.n_batch) break;
        float v = acc[t];
        if (pc.data_bias != 0ul) v += FloatRef(pc.data_bias).v[r];
        const uint yi = (b0 + t) * pc.y_stride + r;
        if (pc.data_res != 0ul) v += FloatRef(pc.data_res).v[yi];
        FloatRef(pc.data_d).v[yi] = v;
      }
  }
}
