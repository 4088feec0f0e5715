#version 450
// moe_router: the start of an MoE block for one token (decode) in one dispatch, where it takes
// three (rms_norm, the router matvec, gate_topk):
//   h      = x / sqrt(mean(x^2) + eps) * data_nw               (rms_norm.comp's formula)
//   logits = W h (+ data_rbias, FLAG_ROUTER_BIAS)               (W: the router, n_expert rows)
//   ids, weights = common/gate.glsl's gate_select(logits)       (gate_topk.comp's selection)
// Every workgroup computes the sum of squares of x itself (x is one row of n_embd floats), writes
// its share of h (h[c] for c = group * BLOCK_SIZE + lid, stepping by all the workgroups'
// invocations) and the logits of its rows, computed on x * scale * data_nw, the same expression as
// h. Then it counts itself in on data_count; the last workgroup to arrive reads every logit back,
// selects the experts and resets the counter to 0 for the next dispatch. Publication: the logits
// are written and read through a coherent reference; each invocation's memoryBarrierBuffer()
// orders its writes before the workgroup's barrier() and the count, and the last workgroup's
// memoryBarrierBuffer() orders the count before its reads (the release/acquire pattern of
// single-pass reductions in the GLSL memory model; no Vulkan memory model feature needed).
// Buffers: data_x [n_embd] f32, data_nw [n_embd] f32, data_a [n_expert] rows of row_bytes (F32,
// F16 or BF16), data_rbias [n_expert] f32, data_h [n_embd] f32, data_logits [n_expert] f32,
// data_sbias [n_expert] f32 (selection bias, GATE_FLAG_BIAS), data_ids [k] i32, data_wts [k] f32,
// data_count [1] u32 (0 before the dispatch, 0 after it).
// Bodies: ROW_LANES (CPU devices, common/row_lanes.glsl): invocation lid of workgroup g owns row
// g * BLOCK_SIZE + lid (n_embd a multiple of 32). Otherwise (GPUs): workgroup g owns rows
// g * ROWS .. + ROWS, its invocations split the columns and reduce (USE_SUBGROUP: subgroup sums).
// Spec constants: 0 = BLOCK_SIZE (workgroup size, a power of two), 1 = ROWS (GPU body), 2 = SG
// (ROW_LANES). Defines: TYPE_F32 | TYPE_F16 | TYPE_BF16, ROW_LANES, USE_SUBGROUP.
// Host mirror: runtime/ops/moe_router.{h,cpp} (MoeRouterPush); reference: ref::rms_norm,
// ref::matvec, ref::gate_topk.
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#ifdef ROW_LANES
#include "row_lanes.glsl"
#else
#include "dequant.glsl"
#endif

layout(constant_id = 0) const uint BLOCK_SIZE = 64;
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint ROWS = 1;

#include "row_reduce.glsl"
#include "gate.glsl"

layout(buffer_reference, std430, buffer_reference_align = 4) coherent buffer CoherentFloatRef {
  float v[];
};
layout(buffer_reference, std430, buffer_reference_align = 4) coherent buffer CounterRef {
  uint v[];
};

layout(push_constant, std430) uniform PC {
  FloatRef data_x;
  FloatRef data_nw;
  uint64_t data_a;
  FloatRef data_rbias;
  FloatRef data_h;
  CoherentFloatRef data_logits;
  FloatRef data_sbias;
  IntRef data_ids;
  FloatRef data_wts;
  CounterRef data_count;
  uint n_embd;
  uint n_expert;
  uint k;
  uint row_bytes;
  uint gating;
  uint flags;  // GATE_FLAG_BIAS, GATE_FLAG_NORM (gate.glsl), FLAG_ROUTER_BIAS
  uint n_group;
  uint topk_group;
  float eps;
  float norm_min;
  float w_scale;
  uint pad;
} pc;

const uint FLAG_ROUTER_BIAS = 8u;

shared uint s_last;

// h[c], as every workgroup computes it (the logits use the same value as the h it writes).
float normed(uint c, float scale) { return pc.data_x.v[c] * scale * pc.data_nw.v[c]; }

void write_logit(uint r, float v) {
  if ((pc.flags & FLAG_ROUTER_BIAS) != 0u) v += pc.data_rbias.v[r];
  pc.data_logits.v[r] = v;
}

#ifdef ROW_LANES
// Row r = group * BLOCK_SIZE + lid of W times h; the subgroup shares h as row_lanes.glsl's load_x
// shares x (lane l computes elements e + SG * j + l).
void logits(uint group, float scale) {
  const uint r = group * BLOCK_SIZE + gl_LocalInvocationID.x;
  UintRef a;
  uint off0;
  row_ref(pc.data_a, r, pc.n_expert, pc.row_bytes, a, off0);
  float acc = 0.0;
  for (uint e = 0; e < pc.n_embd; e += STEP) {
    vec4 w[NW];
    unpack_step(a, off0 + block_off(e), in_block(e), w);
    float xv[XV_MAX];
    for (uint j = 0; j < XV; j++)  // a subgroup of another size than SG gets NaN, as in load_x
      xv[j] = gl_SubgroupSize == SG ? normed(e + SG * j + gl_SubgroupInvocationID, scale)
                                    : uintBitsToFloat(0x7FC00000u);
    acc += dot_step(w, xv);
  }
  if (r < pc.n_expert) write_logit(r, acc);
}
#else
// Rows group * ROWS .. + ROWS of W times h: the invocations split the columns, then one workgroup
// sum per row. Rows past n_expert read the last row (not written).
void logits(uint group, float scale) {
  UintRef a = UintRef(pc.data_a);
  const uint r0 = group * ROWS;
  float acc[ROWS];
  for (uint i = 0; i < ROWS; i++) acc[i] = 0.0;
  for (uint c = gl_LocalInvocationID.x; c < pc.n_embd; c += BLOCK_SIZE) {
    const float h = normed(c, scale);
    for (uint i = 0; i < ROWS; i++) {
      const uint r = min(r0 + i, pc.n_expert - 1u);
      acc[i] += dequant1(a, r * pc.row_bytes + c * TYPE_SIZE) * h;
    }
  }
  for (uint i = 0; i < ROWS; i++) {
    const float v = wg_sum(acc[i]);
    if (gl_LocalInvocationID.x == 0u && r0 + i < pc.n_expert) write_logit(r0 + i, v);
  }
}
#endif

void main() {
  const uint lid = gl_LocalInvocationID.x, group = gl_WorkGroupID.x, n = pc.n_embd;
  float ss = 0.0;
  for (uint c = lid; c < n; c += BLOCK_SIZE) {
    const float v = pc.data_x.v[c];
    ss += v * v;
  }
  const float scale = inversesqrt(wg_sum(ss) / float(n) + pc.eps);
  for (uint c = group * BLOCK_SIZE + lid; c < n; c += gl_NumWorkGroups.x * BLOCK_SIZE)
    pc.data_h.v[c] = normed(c, scale);
  logits(group, scale);

  // Count this workgroup in once all its logits are written; the last one selects.
  memoryBarrierBuffer();
  barrier();
  if (lid == 0u) s_last = atomicAdd(pc.data_count.v[0], 1u) == gl_NumWorkGroups.x - 1u ? 1u : 0u;
  barrier();
  if (s_last == 0u) return;  // uniform: every invocation read the same shared value
  memoryBarrierBuffer();
  for (uint i = lid; i < pc.n_expert; i += BLOCK_SIZE) gate_probs[i] = pc.data_logits.v[i];
  if (lid == 0u) pc.data_count.v[0] = 0u;  // all workgroups counted: ready for the next dispatch
  const uint gate_flags = pc.flags & (GATE_FLAG_BIAS | GATE_FLAG_NORM);
  const GateSetup g = GateSetup(pc.n_expert, pc.k, pc.gating, gate_flags, pc.n_group, pc.topk_group,
                                pc.norm_min, pc.w_scale);
  gate_select(g, 0u, pc.data_sbias, pc.data_ids, pc.data_wts, pc.data_wts);
}
