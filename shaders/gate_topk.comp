#version 450
// gate_topk: the MoE router's expert selection, one workgroup per token (llama.cpp's build_moe_ffn).
// The selection itself (gating, selection bias, expert groups, top-k, weight normalisation and
// scale) is common/gate.glsl's gate_select, shared with moe_router.comp (the decode path that
// computes the logits in the same dispatch); FLAG_* below are its GATE_FLAG_*.
// Buffers: data_a [n_tokens][n_expert] f32 logits, data_bias [n_expert] f32, data_ids [n_tokens][k]
// i32, data_d [n_tokens][k] f32 weights, data_probs [n_tokens][n_expert] f32 (FLAG_PROBS).
// Limits: n_expert <= 256, k <= 16, n_group <= 64. Spec constant 0: BLOCK_SIZE (power of two).
// Defines: USE_SUBGROUP (reductions with subgroup arithmetic; otherwise a shared-memory tree).
// Host mirror: runtime/ops/gate_topk.{h,cpp} (GateTopkPush); reference runtime/ref/gate_topk.
#include "buffers.glsl"

layout(constant_id = 0) const uint BLOCK_SIZE = 128;
layout(local_size_x_id = 0) in;

#include "row_reduce.glsl"

layout(push_constant, std430) uniform PC {
  FloatRef data_a;
  FloatRef data_bias;
  IntRef data_ids;
  FloatRef data_d;
  FloatRef data_probs;
  uint n_expert;
  uint k;
  uint n_tokens;
  uint gating;
  uint flags;
  uint n_group;
  uint topk_group;
  float norm_min;
  float w_scale;
  uint pad;
} pc;

#include "gate.glsl"

void main() {
  const GateSetup g = GateSetup(pc.n_expert, pc.k, pc.gating, pc.flags, pc.n_group, pc.topk_group,
                                pc.norm_min, pc.w_scale);
  for (uint t = gl_WorkGroupID.x; t < pc.n_tokens; t += gl_NumWorkGroups.x) {
    for (uint i = gl_LocalInvocationID.x; i < pc.n_expert; i += BLOCK_SIZE)
      gate_probs[i] = pc.data_a.v[t * pc.n_expert + i];
    gate_select(g, t, pc.data_bias, pc.data_ids, pc.data_d, pc.data_probs);
  }
}
