#version 450
// matvec_id: the expert matvec. For token t < n_tok and selected expert i < n_used:
//   id = data_ids[t][i], W = the expert matrix at data_slots[id] + a_offset,
//   y[t][i][r] = sum_c W[r][c] * x(t, i)[c] (+ bias[id][r])
//   data_ids [n_tok][n_used] int32 (written on the GPU by the gating shader)
//   data_slots [n_expert] uint64 (two words): expert id -> address of its slot, in VRAM or in host
//     memory (resident and streamed experts alike; only the table changes). 0 (no slot) or an id
//     outside [0, n_expert): y = NaN, so a scheduling bug shows instead of reading a stale expert.
//     1 (kCpuSlot): the CPU computes this expert's rows; the dispatch leaves y untouched for it.
//   a_offset: where this matrix starts inside a slot (a slot holds gate, up and down of one expert);
//     the matrix is n_rows rows of n_cols elements, row_bytes apart (raw GGUF)
//   data_b: x(t, i) at data_b + 4 * (t * x_tok_stride + i * x_expert_stride) floats: x_expert_stride
//     = 0 shares one vector between the experts (gate/up), n_cols gives one per expert (down)
//   data_d: y [n_tok][n_used][n_rows] f32; data_bias: [n_expert][n_rows] f32 or 0
//   glu != 0 (gate, up and the activation in one dispatch): a_offset is the gate matrix and a2_offset
//     the up matrix (same slots, type and shape), data_bias2 up's bias; y = act(gate + bias) * (up +
//     bias2) with act silu (glu 1) or gpt-oss's clamped form (glu 2: alpha, limit)
// Workgroups: x = row group (NUM_ROWS rows each), y = i (selected expert), z = t.
// Defines: TYPE_<ggml type>, USE_SUBGROUP.  Spec constants: 0 = workgroup size, 1 = rows per
// workgroup.  Host mirror: runtime/ops/matvec_id.{h,cpp}.
#include "dequant_matvec.glsl"

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
  const uint row0 = gl_WorkGroupID.x * NUM_ROWS;
  const uint i = gl_WorkGroupID.y, t = gl_WorkGroupID.z;
  if (row0 >= pc.n_rows) return;
  const uint sel = t * pc.n_used + i;
  const int id = IntRef(pc.data_ids).v[sel];
  const uint64_t y_addr = pc.data_d + uint64_t(sel) * pc.n_rows * 4ul;
  const uint64_t slot = id >= 0 && uint(id) < pc.n_expert ? expert_slot_address(pc.data_slots, uint(id)) : 0ul;
  if (slot == 1ul) return;  // computed on the CPU: its rows arrive by a copy
  if (slot == 0ul) {
    const uint nr = min(NUM_ROWS, pc.n_rows - row0);
    if (gl_LocalInvocationID.x < nr)
      FloatRef(y_addr).v[row0 + gl_LocalInvocationID.x] = uintBitsToFloat(0x7FC00000u);
    return;
  }
  const uint64_t bias = pc.data_bias == 0ul ? 0ul : pc.data_bias + uint64_t(id) * pc.n_rows * 4ul;
  const uint64_t x_addr =
      pc.data_b + 4ul * (uint64_t(t) * pc.x_tok_stride + uint64_t(i) * pc.x_expert_stride);
  matvec_rows(slot + pc.a_offset, row0, pc.n_rows, pc.row_bytes, pc.n_cols,
              x_addr, 0, 1, y_addr, 0, bias, 0ul, RES_ADD, vec2(0.0));
  if (pc.glu != 0u) {  // y holds gate + bias: the same invocations now combine it with up
    const uint64_t bias2 =
        pc.data_bias2 == 0ul ? 0ul : pc.data_bias2 + uint64_t(id) * pc.n_rows * 4ul;
    matvec_rows(slot + pc.a2_offset, row0, pc.n_rows, pc.row_bytes,
                pc.n_cols, x_addr, 0, 1, y_addr, 0, bias2, y_addr,
                pc.glu == 1u ? RES_SWIGLU : RES_SWIGLU_OAI, vec2(pc.alpha, pc.limit));
  }
}
