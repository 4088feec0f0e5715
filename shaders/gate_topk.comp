#version 450
// gate_topk: the MoE router's expert selection, one workgroup per token (llama.cpp's build_moe_ffn).
//   probs  = softmax(logits) | sigmoid(logits) | logits                    (pc.gating 0 | 1 | 2)
//   score  = probs + data_bias (FLAG_BIAS: deepseek2's exp_probs_b, selection only)
//   groups = n_group > 1: only the topk_group groups with the largest sum of their top-2 scores
//            stay selectable (DeepSeek-V3); the rest get score -inf
//   ids    = the k best scores, descending, ties to the lowest index (rank of every expert =
//            number of experts that beat it: deterministic, no sort). Scores compare as
//            order_key(): NaN lowest (below -inf), -0 == +0; a total order, so the ranks are a
//            permutation and every id is written and in [0, n_expert) whatever the logits hold.
//   weights = probs[ids] (softmax over them for gating 2), / max(sum, norm_min) (FLAG_NORM), * w_scale
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

const uint FLAG_BIAS = 1u, FLAG_NORM = 2u, FLAG_PROBS = 4u;
const uint MAX_EXPERT = 256u, MAX_K = 16u, MAX_GROUP = 64u;

shared float s_probs[MAX_EXPERT];
shared float s_score[MAX_EXPERT];
shared float s_group[MAX_GROUP];
shared uint s_keep[MAX_GROUP];
shared uint s_key[MAX_EXPERT];
shared int s_ids[MAX_K];

// Scores as unsigned keys in score order: NaN lowest (below -inf), -0 == +0. Integer compares
// keep NaN well defined on every driver. Host mirror: ref::score_order_key.
uint order_key(float s) {
  uint u = floatBitsToUint(s);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0u;
  if ((u & 0x7FFFFFFFu) == 0u) u = 0u;
  return (u & 0x80000000u) != 0u ? ~u : (u | 0x80000000u);
}

// a beats b: larger key, ties to the lower index.
bool beats_key(uint ka, uint a, uint kb, uint b) { return ka > kb || (ka == kb && a < b); }
bool beats(float sa, uint a, float sb, uint b) { return beats_key(order_key(sa), a, order_key(sb), b); }

void route(uint t) {
  const uint n = pc.n_expert, lid = gl_LocalInvocationID.x;
  const uint row = t * n;
  float lmax = -3.0e38;
  for (uint i = lid; i < n; i += BLOCK_SIZE) {
    float x = pc.data_a.v[row + i];
    s_probs[i] = x;
    lmax = max(lmax, x);
  }
  if (pc.gating == 0u) {  // softmax over all experts
    const float m = wg_max(lmax);
    float lsum = 0.0;
    for (uint i = lid; i < n; i += BLOCK_SIZE) {
      float e = exp(s_probs[i] - m);
      s_probs[i] = e;
      lsum += e;
    }
    const float inv = 1.0 / wg_sum(lsum);
    for (uint i = lid; i < n; i += BLOCK_SIZE) s_probs[i] *= inv;
  } else if (pc.gating == 1u) {  // sigmoid
    for (uint i = lid; i < n; i += BLOCK_SIZE) s_probs[i] = 1.0 / (1.0 + exp(-s_probs[i]));
  }
  for (uint i = lid; i < n; i += BLOCK_SIZE) {
    float p = s_probs[i];
    if ((pc.flags & FLAG_PROBS) != 0u) pc.data_probs.v[row + i] = p;
    s_score[i] = (pc.flags & FLAG_BIAS) != 0u ? p + pc.data_bias.v[i] : p;
  }
  barrier();

  if (pc.n_group > 1u) {  // keep the topk_group best groups (by the sum of their top-2 scores)
    const uint gs = n / pc.n_group;
    for (uint g = lid; g < pc.n_group; g += BLOCK_SIZE) {  // the two best of the group (gs >= 2)
      uint i1 = g * gs, i2 = g * gs + 1u;
      if (beats(s_score[i2], i2, s_score[i1], i1)) {
        i1 = i2;
        i2 = g * gs;
      }
      for (uint i = g * gs + 2u; i < (g + 1u) * gs; ++i) {
        if (beats(s_score[i], i, s_score[i1], i1)) {
          i2 = i1;
          i1 = i;
        } else if (beats(s_score[i], i, s_score[i2], i2)) {
          i2 = i;
        }
      }
      s_group[g] = s_score[i1] + s_score[i2];
    }
    barrier();
    for (uint g = lid; g < pc.n_group; g += BLOCK_SIZE) {
      uint rank = 0u;
      for (uint o = 0u; o < pc.n_group; ++o) rank += beats(s_group[o], o, s_group[g], g) ? 1u : 0u;
      s_keep[g] = rank < pc.topk_group ? 1u : 0u;
    }
    barrier();
    for (uint i = lid; i < n; i += BLOCK_SIZE)
      if (s_keep[i / gs] == 0u) s_score[i] = uintBitsToFloat(0xFF800000u);  // -inf
    barrier();
  }

  for (uint i = lid; i < n; i += BLOCK_SIZE) s_key[i] = order_key(s_score[i]);
  barrier();
  for (uint i = lid; i < n; i += BLOCK_SIZE) {
    const uint key = s_key[i];
    uint rank = 0u;
    for (uint o = 0u; o < n; ++o) rank += beats_key(s_key[o], o, key, i) ? 1u : 0u;
    if (rank < pc.k) s_ids[rank] = int(i);
  }
  barrier();

  if (lid == 0u) {
    const uint k = pc.k;
    float w[MAX_K];
    for (uint j = 0u; j < k; ++j) w[j] = s_probs[s_ids[j]];
    if (pc.gating == 2u) {  // softmax over the selected logits (s_ids[0] holds the largest)
      const float m = w[0];
      float sum = 0.0;
      for (uint j = 0u; j < k; ++j) {
        w[j] = exp(w[j] - m);
        sum += w[j];
      }
      for (uint j = 0u; j < k; ++j) w[j] /= sum;
    }
    if ((pc.flags & FLAG_NORM) != 0u) {
      float sum = 0.0;
      for (uint j = 0u; j < k; ++j) sum += w[j];
      sum = max(sum, pc.norm_min);
      for (uint j = 0u; j < k; ++j) w[j] /= sum;
    }
    for (uint j = 0u; j < k; ++j) {
      pc.data_ids.v[t * k + j] = s_ids[j];
      pc.data_d.v[t * k + j] = w[j] * pc.w_scale;
    }
  }
  barrier();  // shared memory is reused by the next token
}

void main() {
  for (uint t = gl_WorkGroupID.x; t < pc.n_tokens; t += gl_NumWorkGroups.x) route(t);
}
