#version 450
// attention_tiled: the tiled form of attention.comp (same inputs, same result up to rounding):
// softmax(q k^T * scale [+ sink]) v over an f16 KV cache for n_tokens queries at positions
// p0 .. p0+n_tokens-1 (long prompts; on CPU devices every batch, decode too).
// One workgroup per (head, tile of QT consecutive tokens); invocation `lane` owns the query of token
// tile0 + lane and keeps its own online softmax (running max m, denominator l) and its output row in
// shared memory (s_acc, one column per lane: no invocation reads another's). The keys the tile sees
// are walked BK at a time; each K/V word of a key tile is read from the cache once per workgroup and
// used by all QT queries:
//   USE_LANES (CPU devices with 8-lane subgroups): the workgroup is one subgroup of QT = CW = 8 lanes;
//     lane i loads word i of each chunk of a key row and the others take it by subgroupShuffle with
//     a constant lane. On lavapipe every memory load is a loop over the lanes (one scalar load each,
//     even at one address) and so is subgroupBroadcast (it looks for the first active lane), while
//     a shuffle by a constant folds into one register permute: measured, the broadcast form of this
//     kernel ran 7x slower;
//   none: the chunk (BK keys x CW = 8 words) is staged in shared memory by the whole workgroup and
//     every invocation reads it from there (any workgroup size, no subgroup ops).
// Scores and weights of a key tile stay in registers: the q chunk read per lane serves BK keys, the
// output chunk read per lane serves BK values. The lane's q is copied to shared memory (s_q) once
// per tile of queries when it fits (QW > 0), else read from data_q per key tile; s_q and s_acc are
// read as vec4 (on lavapipe each load is a loop over the lanes, whatever its width: measured, q
// reads from data_q per key tile took 2/3 of the kernel's time). Key tiles start at multiples of BK
// (keys before the tile's first visible one are masked and not loaded), so a query's result does
// not depend on which tokens share its workgroup: a batch and a re-evaluation of part of it agree
// to the bit.
//   data_q     [n_tokens][q_stride] f32: head h at data_q[t*q_stride + h*head_dim_k + i]
//   data_k     K cache [n_head_kv][n_ctx][k_stride] f16 in uint words (kv_store.comp writes it)
//   data_v     V cache [n_head_kv][n_ctx][v_stride] f16 (may be data_k: MLA's V is K's first dims)
//   data_sinks [n_head] f32 (FLAG_SINKS: gpt-oss, an extra logit in the softmax denominator)
//   data_d     [n_tokens][n_head][head_dim_v] f32
// Masks as attention.comp: token t (qpos = p0 + t) sees keys j <= qpos, with window > 0 only those
// with qpos - j < window. The workgroup reads only keys some token of its tile sees, so unwritten
// cache rows are never loaded. head_dim_k/v and the strides are even.
// Spec constants: 0 QT (queries per workgroup = workgroup size; USE_LANES: the subgroup size, 8),
// 1 VW (output words per lane in s_acc: head_dim_v / 2 rounded up to CW), 2 QW (q words per lane
// in s_q: head_dim_k / 2 rounded up to CW, or 0: q read from data_q).
// Host mirror: runtime/ops/attention.{h,cpp} (AttentionPush, shared with attention.comp);
// reference ref::attention.
#include "buffers.glsl"

#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint QT = 8;
layout(constant_id = 1) const uint VW = 32;
layout(constant_id = 2) const uint QW = 32;
layout(local_size_x_id = 0) in;

// Keys per tile and words per chunk are compile-time constants: the loops over them are unrolled
// at build time, so s[], p[] and kv[] are indexed by constants and live in registers (an array
// indexed by a loop variable becomes per-lane memory on lavapipe: measured 1.3x slower).
const uint BK = 16u;
const uint CW = 8u;
#ifdef USE_LANES
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#endif

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
const float NEG_BIG = -3.0e38;  // finite: exp(NEG_BIG - m) = 0 without inf - inf

shared vec4 s_acc[VW / 2u * QT];  // [word pair][lane]: this lane's output, four dims per vec4
shared vec4 s_q[(QW > 0u ? QW : 2u) / 2u * QT];  // [word pair][lane]: this lane's q
#ifndef USE_LANES
shared vec2 s_kv[BK * CW];   // [key][word]: the staged chunk of a key tile
#endif

// Word w (of kw) of key row j of a cache head (`base`: word offset of the head, `rw`: words per
// row), zero past the row's end and outside the workgroup's keys [j_first, j_end).
vec2 kv_word(UintRef data, uint base, uint rw, uint j, uint j_first, uint j_end, uint w, uint kw) {
  return (j >= j_first && j < j_end && w < kw) ? unpackHalf2x16(data.v[base + j * rw + w])
                                               : vec2(0.0);
}

// Element i of the chunk word of key jj (every lane sees the same value).
#ifdef USE_LANES
#define CHUNK(jj, i) subgroupShuffle(kv[jj], i)
#else
#define CHUNK(jj, i) s_kv[(jj) * CW + (i)]
#endif

// Loads words c*CW .. c*CW+CW-1 of keys kt .. kt+BK-1: into kv[] (lane i holds word i) or s_kv.
#ifdef USE_LANES
#define LOAD_CHUNK(data, base, rw, c, kw)                                                      \
  [[unroll]] for (uint jj = 0u; jj < BK; ++jj)                                                            \
    kv[jj] = kv_word(data, base, rw, kt + jj, k_first, k_end, (c) * CW + lane, kw);
#else
#define LOAD_CHUNK(data, base, rw, c, kw)                                                      \
  barrier(); /* the previous chunk's readers are done */                                        \
  for (uint x = lane; x < BK * CW; x += QT)                                                    \
    s_kv[x] = kv_word(data, base, rw, kt + x / CW, k_first, k_end, (c) * CW + x % CW, kw);      \
  barrier();
#endif

void main() {
  const uint lane = gl_LocalInvocationID.x;
  const uint h = gl_WorkGroupID.x;
  const uint hk = h / (pc.n_head / pc.n_head_kv);
  const uint kw = pc.head_dim_k / 2u, vw = pc.head_dim_v / 2u;
  const uint krw = pc.k_stride / 2u, vrw = pc.v_stride / 2u;  // words per cache row
  const uint k_head = hk * pc.n_ctx * krw, v_head = hk * pc.n_ctx * vrw;
  const bool sinks = (pc.flags & FLAG_SINKS) != 0u;
#ifdef USE_LANES
  vec2 kv[BK];
#endif

  for (uint tile0 = gl_WorkGroupID.y * QT; tile0 < pc.n_tokens; tile0 += gl_NumWorkGroups.y * QT) {
    // This lane's token (lanes past n_tokens compute the last token's row and do not store it: they
    // still take part in the broadcasts and barriers) and the keys the whole tile sees.
    const uint t = min(tile0 + lane, pc.n_tokens - 1u);
    const uint qpos = pc.p0 + t;
    const uint l_end = qpos + 1u;
    const uint l_first = (pc.window > 0u && l_end > pc.window) ? l_end - pc.window : 0u;
    const uint k_end = pc.p0 + min(tile0 + QT, pc.n_tokens);  // last token's qpos + 1
    const uint first0 = pc.p0 + tile0 + 1u;                    // first token's qpos + 1
    const uint k_first = (pc.window > 0u && first0 > pc.window) ? first0 - pc.window : 0u;
    const uint q0 = t * pc.q_stride + h * pc.head_dim_k;

    float m = sinks ? pc.data_sinks.v[h] : NEG_BIG;  // running max
    float l = sinks ? 1.0 : 0.0;                      // running denominator (the sink's exp(0))
    for (uint w = 0u; w < VW / 2u; ++w) s_acc[w * QT + lane] = vec4(0.0);
    // q, zero past head_dim_k (the chunks' padding words then add 0). Only this lane reads it.
    for (uint w = 0u; w < QW / 2u; ++w) {
      vec4 x = vec4(0.0);
      [[unroll]] for (uint e = 0u; e < 4u; ++e)
        if (4u * w + e < pc.head_dim_k) x[e] = pc.data_q.v[q0 + 4u * w + e];
      s_q[w * QT + lane] = x;
    }

    for (uint kt = k_first / BK * BK; kt < k_end; kt += BK) {
      // s[jj] = q . k[kt + jj], one chunk of CW words (2 CW dims) at a time.
      float s[BK];
      [[unroll]] for (uint jj = 0u; jj < BK; ++jj) s[jj] = 0.0;
      for (uint c = 0u; c * CW < kw; ++c) {
        LOAD_CHUNK(pc.data_k, k_head, krw, c, kw)
        [[unroll]] for (uint i = 0u; i < CW; i += 2u) {  // words i, i + 1: dims 4 (c CW + i) ..
          const uint w = c * CW + i;
          vec4 qv = vec4(0.0);
          if (QW > 0u) {
            qv = s_q[w / 2u * QT + lane];
          } else {
            [[unroll]] for (uint e = 0u; e < 4u; ++e)
              if (2u * w + e < pc.head_dim_k) qv[e] = pc.data_q.v[q0 + 2u * w + e];
          }
          [[unroll]] for (uint jj = 0u; jj < BK; ++jj)
            s[jj] += dot(qv, vec4(CHUNK(jj, i), CHUNK(jj, i + 1u)));
        }
      }
      // Online softmax over the tile, this lane's mask.
      float m_new = m;
      [[unroll]] for (uint jj = 0u; jj < BK; ++jj) {
        const uint j = kt + jj;
        s[jj] = (j >= l_first && j < l_end) ? s[jj] * pc.scale : NEG_BIG;
        m_new = max(m_new, s[jj]);
      }
      const float alpha = exp(m - m_new);
      float p[BK];
      float sum = 0.0;
      [[unroll]] for (uint jj = 0u; jj < BK; ++jj) {
        p[jj] = s[jj] > NEG_BIG ? exp(s[jj] - m_new) : 0.0;
        sum += p[jj];
      }
      l = l * alpha + sum;
      m = m_new;
      // out = out * alpha + sum_jj p[jj] v[kt + jj], one chunk of CW words at a time.
      for (uint c = 0u; c * CW < vw; ++c) {
        LOAD_CHUNK(pc.data_v, v_head, vrw, c, vw)
        [[unroll]] for (uint i = 0u; i < CW; i += 2u) {
          const uint a_i = (c * CW + i) / 2u * QT + lane;
          vec4 a = s_acc[a_i] * alpha;
          [[unroll]] for (uint jj = 0u; jj < BK; ++jj)
            a += p[jj] * vec4(CHUNK(jj, i), CHUNK(jj, i + 1u));
          s_acc[a_i] = a;
        }
      }
    }

    if (tile0 + lane < pc.n_tokens) {
      const uint o = (t * pc.n_head + h) * pc.head_dim_v;
      for (uint w = 0u; w < vw; w += 2u) {
        vec4 out_v = s_acc[w / 2u * QT + lane] / l;
#ifdef USE_LANES
        // A subgroup that is not the whole workgroup (the host's promise broken) writes NaN, never
        // a silently wrong row.
        if (gl_SubgroupSize != QT) out_v = vec4(uintBitsToFloat(0x7FC00000u));
#endif
        pc.data_d.v[o + 2u * w] = out_v.x;
        pc.data_d.v[o + 2u * w + 1u] = out_v.y;
        if (w + 1u < vw) {
          pc.data_d.v[o + 2u * w + 2u] = out_v.z;
          pc.data_d.v[o + 2u * w + 3u] = out_v.w;
        }
      }
    }
  }
}
