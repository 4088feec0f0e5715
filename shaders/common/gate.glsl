// The MoE router's expert selection for one token, run by one workgroup (llama.cpp's
// build_moe_ffn); shared by gate_topk.comp (logits from memory) and moe_router.comp (logits it
// computed itself).
//   probs  = softmax(logits) | sigmoid(logits) | logits                    (gating 0 | 1 | 2)
//   score  = probs + bias (GATE_FLAG_BIAS: deepseek2's exp_probs_b, selection only)
//   groups = n_group > 1: only the topk_group groups with the largest sum of their top-2 scores
//            stay selectable (DeepSeek-V3); the rest get score -inf
//   ids    = the k best scores, descending, ties to the lowest index (rank of every expert =
//            number of experts that beat it: deterministic, no sort). Scores compare as
//            order_key(): NaN lowest (below -inf), -0 == +0; a total order, so the ranks are a
//            permutation and every id is written and in [0, n) whatever the logits hold.
//   weights = probs[ids] (softmax over them for gating 2), / max(sum, norm_min) (GATE_FLAG_NORM),
//            * w_scale
// Limits: n <= 256, k <= 16, n_group <= 64 (host: ops::kGateMaxExpert, kGateMaxK, kGateMaxGroup).
// The includer includes buffers.glsl (it has no include guard) and row_reduce.glsl (wg_max, wg_sum,
// with BLOCK_SIZE: a power of two, the workgroup size) first, then fills gate_probs[i] with the
// logits for i = lid, lid + BLOCK_SIZE, ... (lid = gl_LocalInvocationID.x: gate_select's
// invocations read back what they wrote, so it needs no barrier before it). Reference:
// runtime/ref/gate_topk.

const uint GATE_FLAG_BIAS = 1u, GATE_FLAG_NORM = 2u, GATE_FLAG_PROBS = 4u;
const uint GATE_MAX_EXPERT = 256u, GATE_MAX_K = 16u, GATE_MAX_GROUP = 64u;

shared float gate_probs[GATE_MAX_EXPERT];
shared float gate_score[GATE_MAX_EXPERT];
shared float gate_group[GATE_MAX_GROUP];
shared uint gate_keep[GATE_MAX_GROUP];
shared uint gate_key[GATE_MAX_EXPERT];
shared int gate_ids[GATE_MAX_K];

struct GateSetup {
  uint n;  // n_expert
  uint k;
  uint gating;
  uint flags;  // GATE_FLAG_*
  uint n_group;
  uint topk_group;
  float norm_min;
  float w_scale;
};

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
bool beats(float sa, uint a, float sb, uint b) {
  return beats_key(order_key(sa), a, order_key(sb), b);
}

// Token t's selection from the logits in gate_probs: ids to data_ids[t * k ..], weights to
// data_d[t * k ..], the probabilities to data_probs[t * n ..] (GATE_FLAG_PROBS). data_bias: [n] f32
// (read under GATE_FLAG_BIAS). Every invocation of the workgroup calls it (it has barriers); shared
// memory may be reused once it returns.
void gate_select(GateSetup g, uint t, FloatRef data_bias, IntRef data_ids, FloatRef data_d,
                 FloatRef data_probs) {
  const uint n = g.n, lid = gl_LocalInvocationID.x;
  float lmax = -3.0e38;
  for (uint i = lid; i < n; i += BLOCK_SIZE) lmax = max(lmax, gate_probs[i]);
  if (g.gating == 0u) {  // softmax over all experts
    const float m = wg_max(lmax);
    float lsum = 0.0;
    for (uint i = lid; i < n; i += BLOCK_SIZE) {
      float e = exp(gate_probs[i] - m);
      gate_probs[i] = e;
      lsum += e;
    }
    const float inv = 1.0 / wg_sum(lsum);
    for (uint i = lid; i < n; i += BLOCK_SIZE) gate_probs[i] *= inv;
  } else if (g.gating == 1u) {  // sigmoid
    for (uint i = lid; i < n; i += BLOCK_SIZE) gate_probs[i] = 1.0 / (1.0 + exp(-gate_probs[i]));
  }
  for (uint i = lid; i < n; i += BLOCK_SIZE) {
    float p = gate_probs[i];
    if ((g.flags & GATE_FLAG_PROBS) != 0u) data_probs.v[t * n + i] = p;
    gate_score[i] = (g.flags & GATE_FLAG_BIAS) != 0u ? p + data_bias.v[i] : p;
  }
  barrier();

  if (g.n_group > 1u) {  // keep the topk_group best groups (by the sum of their top-2 scores)
    const uint gs = n / g.n_group;
    for (uint q = lid; q < g.n_group; q += BLOCK_SIZE) {  // the two best of the group (gs >= 2)
      uint i1 = q * gs, i2 = q * gs + 1u;
      if (beats(gate_score[i2], i2, gate_score[i1], i1)) {
        i1 = i2;
        i2 = q * gs;
      }
      for (uint i = q * gs + 2u; i < (q + 1u) * gs; ++i) {
        if (beats(gate_score[i], i, gate_score[i1], i1)) {
          i2 = i1;
          i1 = i;
        } else if (beats(gate_score[i], i, gate_score[i2], i2)) {
          i2 = i;
        }
      }
      gate_group[q] = gate_score[i1] + gate_score[i2];
    }
    barrier();
    for (uint q = lid; q < g.n_group; q += BLOCK_SIZE) {
      uint rank = 0u;
      for (uint o = 0u; o < g.n_group; ++o)
        rank += beats(gate_group[o], o, gate_group[q], q) ? 1u : 0u;
      gate_keep[q] = rank < g.topk_group ? 1u : 0u;
    }
    barrier();
    for (uint i = lid; i < n; i += BLOCK_SIZE)
      if (gate_keep[i / gs] == 0u) gate_score[i] = uintBitsToFloat(0xFF800000u);  // -inf
    barrier();
  }

  for (uint i = lid; i < n; i += BLOCK_SIZE) gate_key[i] = order_key(gate_score[i]);
  barrier();
  for (uint i = lid; i < n; i += BLOCK_SIZE) {
    const uint key = gate_key[i];
    uint rank = 0u;
    for (uint o = 0u; o < n; ++o) rank += beats_key(gate_key[o], o, key, i) ? 1u : 0u;
    if (rank < g.k) gate_ids[rank] = int(i);
  }
  barrier();

  if (lid == 0u) {
    const uint k = g.k;
    float w[GATE_MAX_K];
    for (uint j = 0u; j < k; ++j) w[j] = gate_probs[gate_ids[j]];
    if (g.gating == 2u) {  // softmax over the selected logits (gate_ids[0] holds the largest)
      const float m = w[0];
      float sum = 0.0;
      for (uint j = 0u; j < k; ++j) {
        w[j] = exp(w[j] - m);
        sum += w[j];
      }
      for (uint j = 0u; j < k; ++j) w[j] /= sum;
    }
    if ((g.flags & GATE_FLAG_NORM) != 0u) {
      float sum = 0.0;
      for (uint j = 0u; j < k; ++j) sum += w[j];
      sum = max(sum, g.norm_min);
      for (uint j = 0u; j < k; ++j) w[j] /= sum;
    }
    for (uint j = 0u; j < k; ++j) {
      data_ids.v[t * k + j] = gate_ids[j];
      data_d.v[t * k + j] = w[j] * g.w_scale;
    }
  }
  barrier();  // shared memory is reused by the next token
}
