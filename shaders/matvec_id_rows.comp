#version 450
// matvec_id_rows: matvec_id.comp's expert product in row-lane form (common/row_lanes.glsl), for CPU
// devices. Same push block, slot table, NaN rows for a missing slot, kCpuSlot skip and glu fusion as
// matvec_id.comp (whose header documents them; host: runtime/ops/matvec_id.{h,cpp}). Workgroups: x =
// row group (one row per invocation), y = i (selected expert), z = t. n_cols must be a multiple of STEP (32; 64 for Q4_K/Q5_K, whose rows are whole 256-blocks).
// Spec constants: 0 = workgroup size (rows per workgroup, a multiple of SG), 2 = SG (row_lanes.glsl).
#include "row_lanes.glsl"

layout(local_size_x_id = 0) in;

layout(push_constant, std430) uniform PC {
  uint64_t a_offset;
  uint64_t data_b;
  uint64_t data_d;
  uint64_t data_bias;
  uint64_t data_ids;
  uint64_t data_slots;
  uint64_t a2_offset;
  uint64_t data_bias2;
  uint n_rows;
  uint n_cols;
  uint row_bytes;
  uint n_used;
  uint n_expert;
  uint x_tok_stride;
  uint x_expert_stride;
  uint glu;
  float alpha;
  float limit;
} pc;

void main() {
  const uint r = gl_WorkGroupID.x * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  const uint i = gl_WorkGroupID.y, t = gl_WorkGroupID.z;
  if (gl_WorkGroupID.x * gl_WorkGroupSize.x >= pc.n_rows) return;
  const uint sel = t * pc.n_used + i;
  const int id = IntRef(pc.data_ids).v[sel];
  FloatRef y = FloatRef(pc.data_d + uint64_t(sel) * pc.n_rows * 4ul);
  const uint64_t slot = id >= 0 && uint(id) < pc.n_expert ? expert_slot_address(pc.data_slots, uint(id)) : 0ul;
  if (slot == 1ul) return;  // computed on the CPU: its rows arrive by a copy
  if (slot == 0ul) {
    if (r < pc.n_rows) y.v[r] = uintBitsToFloat(0x7FC00000u);
    return;
  }
  const uint64_t x_addr =
      pc.data_b + 4ul * (uint64_t(t) * pc.x_tok_stride + uint64_t(i) * pc.x_expert_stride);
  UintRef a, a2;
  uint off0, off2;
  row_ref(slot + pc.a_offset, r, pc.n_rows, pc.row_bytes, a, off0);
  row_ref(slot + pc.a2_offset, r, pc.n_rows, pc.row_bytes, a2, off2);
  float acc = 0.0, acc2 = 0.0;
  for (uint e = 0; e < pc.n_cols; e += STEP) {
    vec4 w[NW];
    float xv[XV_MAX];
    load_x(x_addr + 4ul * e, xv);
    unpack_step(a, off0 + block_off(e), in_block(e), w);
    acc += dot_step(w, xv);
    if (pc.glu != 0u) {
      unpack_step(a2, off2 + block_off(e), in_block(e), w);
      acc2 += dot_step(w, xv);
    }
  }
  if (r >= pc.n_rows) return;
  const uint64_t bias_at = 4ul * (uint64_t(id) * pc.n_rows + r);  // bias [n_expert][n_rows]
  if (pc.data_bias != 0ul) acc += FloatRef(pc.data_bias + bias_at).v[0];
  if (pc.glu != 0u) {
    if (pc.data_bias2 != 0ul) acc2 += FloatRef(pc.data_bias2 + bias_at).v[0];
    acc = combine(acc2, acc, pc.glu == 1u ? RES_SWIGLU : RES_SWIGLU_OAI, vec2(pc.alpha, pc.limit));
  }
  y.v[r] = acc;
}
