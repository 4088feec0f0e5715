#version 450
// attention: softmax(q k^T * scale [+ sink]) v over an f16 KV cache, for a batch of n_tokens queries
// at positions p0 .. p0+n_tokens-1 (decode: n_tokens = 1; prefill: causal over the batch).
// One workgroup per (head, token); keys in chunks of BLOCK_SIZE with an online softmax: each
// invocation scores one key of the chunk, the chunk max / sum are workgroup reductions, then each
// invocation accumulates two output dims per word (up to 4 * BLOCK_SIZE dims) over the chunk.
//   data_q     [n_tokens][q_stride] f32: head h at data_q[t*q_stride + h*head_dim_k + i]
//   data_k     K cache [n_head_kv][n_ctx][k_stride] f16 in uint words (kv_store.comp writes it)
//   data_v     V cache [n_head_kv][n_ctx][v_stride] f16 (may be data_k: MLA's V is K's first dims)
//   data_sinks [n_head] f32 (FLAG_SINKS: gpt-oss, an extra logit in the softmax denominator)
//   data_d     [n_tokens][n_head][head_dim_v] f32
// Head h uses kv head h / (n_head / n_head_kv). Token t at qpos = p0 + t sees keys j <= qpos, and with
// window > 0 only those with qpos - j < window. head_dim_k/v and the strides are even.
// Spec constant 0: BLOCK_SIZE (power of two). Defines: USE_SUBGROUP (subgroup reductions) or none
// (shared-memory tree). Host mirror: runtime/ops/attention.{h,cpp}; reference ref::attention.
#include "buffers.glsl"

layout(constant_id = 0) const uint BLOCK_SIZE = 128;
layout(local_size_x_id = 0) in;

#include "row_reduce.glsl"

layout(push_constant, std430) uniform PC {
  FloatRef data_q;
  UintRef data_k;
  UintRef data_v;
  FloatRef data_sinks;
  FloatRef data_d;
  uint n_tokens;
  uint n_head;
  uint n_head_kv;
  uint head_dim_k;
  uint head_dim_v;
  uint k_stride;
  uint v_stride;
  uint n_ctx;
  uint p0;
  uint window;
  uint q_stride;
  uint flags;
  float scale;
  uint pad;
} pc;

const uint FLAG_SINKS = 1u;
const uint MAX_DK = 1024u;
const float NEG_BIG = -3.0e38;  // finite: exp(NEG_BIG - m) = 0 without inf - inf

shared float s_q[MAX_DK];
shared float s_p[BLOCK_SIZE];

void attend(uint h, uint t) {
  const uint lid = gl_LocalInvocationID.x;
  const uint hk = h / (pc.n_head / pc.n_head_kv);
  const uint qpos = pc.p0 + t;
  const uint end = qpos + 1u;
  const uint first = (pc.window > 0u && end > pc.window) ? end - pc.window : 0u;
  const uint q0 = t * pc.q_stride + h * pc.head_dim_k;
  for (uint i = lid; i < pc.head_dim_k; i += BLOCK_SIZE) s_q[i] = pc.data_q.v[q0 + i];
  barrier();

  const bool sinks = (pc.flags & FLAG_SINKS) != 0u;
  float m = sinks ? pc.data_sinks.v[h] : NEG_BIG;  // running max
  float l = sinks ? 1.0 : 0.0;                      // running denominator (the sink's exp(0))
  vec2 acc[4] = vec2[4](vec2(0.0), vec2(0.0), vec2(0.0), vec2(0.0));
  const uint kw = pc.head_dim_k / 2u, vw = pc.head_dim_v / 2u;
  const uint k_head = hk * pc.n_ctx * (pc.k_stride / 2u);  // word offsets
  const uint v_head = hk * pc.n_ctx * (pc.v_stride / 2u);

  for (uint c0 = first; c0 < end; c0 += BLOCK_SIZE) {
    const uint j = c0 + lid;
    float s = NEG_BIG;
    if (j < end) {
      const uint row = k_head + j * (pc.k_stride / 2u);
      float d = 0.0;
      for (uint w = 0u; w < kw; ++w) {
        const vec2 k = unpackHalf2x16(pc.data_k.v[row + w]);
        d += s_q[2u * w] * k.x + s_q[2u * w + 1u] * k.y;
      }
      s = d * pc.scale;
    }
    const float m_new = max(m, wg_max(s));
    const float alpha = exp(m - m_new);
    const float p = j < end ? exp(s - m_new) : 0.0;
    s_p[lid] = p;
    l = l * alpha + wg_sum(p);  // wg_sum's barriers also publish s_p
    m = m_new;
    const uint n_in = min(BLOCK_SIZE, end - c0);
    for (uint r = 0u; r < 4u; ++r) {
      const uint w = lid + r * BLOCK_SIZE;
      if (w >= vw) break;
      vec2 a = acc[r] * alpha;
      uint vrow = v_head + c0 * (pc.v_stride / 2u) + w;
      for (uint jj = 0u; jj < n_in; ++jj, vrow += pc.v_stride / 2u)
        a += s_p[jj] * unpackHalf2x16(pc.data_v.v[vrow]);
      acc[r] = a;
    }
    // The next chunk's reductions start with a barrier: s_p is not overwritten while read.
  }

  const uint o = (t * pc.n_head + h) * pc.head_dim_v;
  for (uint r = 0u; r < 4u; ++r) {
    const uint w = lid + r * BLOCK_SIZE;
    if (w >= vw) break;
    const vec2 out_v = acc[r] / l;
    pc.data_d.v[o + 2u * w] = out_v.x;
    pc.data_d.v[o + 2u * w + 1u] = out_v.y;
  }
  barrier();  // s_q is rewritten by the next token
}

void main() {
  for (uint t = gl_WorkGroupID.y; t < pc.n_tokens; t += gl_NumWorkGroups.y) attend(gl_WorkGroupID.x, t);
}
