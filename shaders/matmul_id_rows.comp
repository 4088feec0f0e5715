#version 450
// matmul_id_rows: matmul.comp's grouped expert product (MATMUL_ID) in row-lane form
// (common/row_lanes.glsl), for CPU devices: same push block, route, slot table, NaN rows and kCpuSlot
// skip as matmul.comp (whose header documents them; host: runtime/ops/matmul.{h,cpp}). Workgroups:
// x = row group (one row per invocation), y = tile of TN pairs of the group (striding over the group
// by gl_NumWorkGroups.y tiles), z = group. One pass over a row serves TN (token, expert) pairs.
// n_cols must be a multiple of STEP (32; 64 for Q4_K/Q5_K, whose rows are whole 256-blocks). Spec constants: 0 = workgroup size (a multiple of SG), 1 = TN,
// 2 = SG (row_lanes.glsl).
#include "row_lanes.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint TN = 8;

layout(push_constant, std430) uniform PC {
  uint64_t data_a;
  uint64_t data_b;
  uint64_t data_d;
  uint64_t data_bias;
  uint64_t data_res;
  uint64_t data_route;
  uint64_t data_slots;
  uint n_rows;
  uint n_cols;
  uint row_bytes;
  uint n_tok;
  uint n_used;
  uint n_expert;
  uint x_tok_stride;
  uint x_expert_stride;
  uint y_stride;
  uint pad0;
} pc;

// Entry k of the route: the pair sel = t * n_used + i; x(t, i)'s address. (Read where used, not kept
// in arrays: a private array loses the compiler's knowledge that every lane holds the same value.)
uint entry(uint k) { return UintRef(pc.data_route).v[pc.n_expert + 2u + k]; }
uint64_t x_addr(uint sel) {
  return pc.data_b + 4ul * (uint64_t(sel / pc.n_used) * pc.x_tok_stride +
                            uint64_t(sel % pc.n_used) * pc.x_expert_stride);
}

void main() {
  const uint r = gl_WorkGroupID.x * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  const uint g = gl_WorkGroupID.z;
  if (gl_WorkGroupID.x * gl_WorkGroupSize.x >= pc.n_rows) return;
  UintRef route = UintRef(pc.data_route);
  const uint begin = route.v[g], count = route.v[g + 1u] - begin;
  const uint64_t slot = g < pc.n_expert ? expert_slot_address(pc.data_slots, g) : 0ul;
  if (slot == 1ul) return;  // computed on the CPU: its rows arrive by a copy
  UintRef a;
  uint off0;
  row_ref(slot + pc.data_a, r, pc.n_rows, pc.row_bytes, a, off0);
  for (uint c0 = gl_WorkGroupID.y * TN; c0 < count; c0 += gl_NumWorkGroups.y * TN) {
    float acc[TN];
    for (uint t = 0; t < TN; t++) acc[t] = slot == 0ul ? uintBitsToFloat(0x7FC00000u) : 0.0;
    if (slot != 0ul)
      for (uint e = 0; e < pc.n_cols; e += STEP) {
        vec4 w[NW];
        unpack_step(a, off0 + block_off(e), in_block(e), w);
        // A uniform trip count, not a mask: on a CPU device masked-off iterations cost as much as
        // live ones, and a group holds ~n_tok * n_used / n_expert pairs, often fewer than TN.
        for (uint t = 0; t < min(TN, count - c0); t++) {
          float xv[XV_MAX];
          load_x(x_addr(entry(begin + c0 + t)) + 4ul * e, xv);
          acc[t] += dot_step(w, xv);
        }
      }
    if (r < pc.n_rows)
      for (uint t = 0; t < TN; t++) {
        if (c0 + t >= count) break;
        float v = acc[t];
        if (pc.data_bias != 0ul) v += FloatRef(pc.data_bias + 4ul * (uint64_t(g) * pc.n_rows + r)).v[0];
        FloatRef(pc.data_d + 4ul * uint64_t(entry(begin + c0 + t)) * pc.y_stride).v[r] = v;
      }
  }
}
