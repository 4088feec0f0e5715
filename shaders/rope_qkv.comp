#version 450
// rope_qkv: the three cache-side steps of a decode/prefill attention layer in one dispatch, each
// exactly as its own op computes it:
//   q heads:  rope(norm(q)) in place (rope.comp, into d == a);
//   k heads:  rope(norm(k)) into the f16 K cache (rope.comp with to_cache);
//   v heads:  v -> the f16 V cache (kv_store.comp).
// The rope formulas are in rope.comp's header; the host folds them into the same push fields.
//   data_q [n_tok][n_head * head_dim] f32, roped in place; data_qw [head_dim] f32 q norm, or 0;
//   data_k [n_tok][n_head_kv * head_dim] f32; data_kw [head_dim] f32 k norm, or 0;
//   data_v [n_tok][n_head_kv * dv] f32;
//   data_kc, data_vc: caches [n_head_kv][n_ctx][k_stride or v_stride] f16 (kv_store.comp's
//     layout, halves 0 ..), row pos[t]; a position outside [0, n_ctx) is skipped;
//   data_pos [n_tok] int32, data_ff [n_rot/2] f32 frequency factors or 0.
// heads = n_head | n_head_kv << 16, dims = head_dim | dv << 16, strides = k_stride | v_stride << 16.
// One workgroup per head: g = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; g < n_tok *
// n_head: q head g % n_head of token g / n_head; then n_tok * n_head_kv k heads, then as many v
// heads, the same way. head_dim <= MAX_HEAD_DIM.
// Defines: ROPE_NEOX (NeoX pairs) or none (normal pairs).   Host mirror: runtime/ops/rope.{h,cpp}
// (rope_qkv).
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
layout(local_size_x = 64) in;
#include "buffers.glsl"

#define WG 64u
#define MAX_HEAD_DIM 1024u

layout(push_constant, std430) uniform PC {
  uint64_t data_q;
  uint64_t data_pos;
  uint64_t data_ff;
  uint64_t data_qw;
  uint64_t data_k;
  uint64_t data_kw;
  uint64_t data_kc;
  uint64_t data_v;
  uint64_t data_vc;
  uint n_tok;
  uint heads;
  uint dims;
  uint n_rot;
  float log2_theta_scale;
  float freq_scale;
  float ext_factor;
  float mscale;
  float corr_lo;
  float corr_hi;
  float eps;
  uint n_ctx;
  uint strides;
  uint pad;
} pc;

shared float head_sh[MAX_HEAD_DIM];
shared float red_sh[WG];

#include "rope.glsl"

void main() {
  uint g = gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
  const uint tid = gl_LocalInvocationID.x;
  const uint n_head = pc.heads & 0xFFFFu, n_head_kv = pc.heads >> 16;
  const uint head_dim = pc.dims & 0xFFFFu, dv = pc.dims >> 16;
  const uint nq = pc.n_tok * n_head, nkv = pc.n_tok * n_head_kv;
  if (g >= nq + 2u * nkv) return;  // the whole workgroup leaves together
  if (g >= nq + nkv) {  // a V head: kv_store
    g -= nq + nkv;
    const uint h = g % n_head_kv, t = g / n_head_kv;
    const int pos = IntRef(pc.data_pos).v[t];
    if (pos < 0 || uint(pos) >= pc.n_ctx) return;
    FloatRef v = FloatRef(pc.data_v);
    UintRef cache = UintRef(pc.data_vc);
    const uint src = t * n_head_kv * dv + h * dv;
    const uint dst = (h * pc.n_ctx + uint(pos)) * (pc.strides >> 16) / 2u;
    for (uint w = tid; w < dv / 2u; w += WG)
      cache.v[dst + w] = packHalf2x16(vec2(v.v[src + 2u * w], v.v[src + 2u * w + 1u]));
    return;
  }
  const bool is_q = g < nq;  // uniform over the workgroup
  if (!is_q) g -= nq;
  const uint nh = is_q ? n_head : n_head_kv, h = g % nh, t = g / nh;
  const float ss = rope_stage_head(FloatRef(is_q ? pc.data_q : pc.data_k), (t * nh + h) * head_dim,
                                   head_dim, tid);
  const uint64_t w = is_q ? pc.data_qw : pc.data_kw;
  if (w != 0ul) rope_norm_head(ss, FloatRef(w), pc.eps, head_dim, tid);
  barrier();
  const int pos = IntRef(pc.data_pos).v[t];
  rope_rotate_head(pos, pc.n_rot, pc.log2_theta_scale, pc.data_ff, pc.freq_scale, pc.ext_factor,
                   pc.corr_lo, pc.corr_hi, pc.mscale, tid);
  barrier();
  if (is_q) {
    FloatRef d = FloatRef(pc.data_q);
    const uint dst = (t * n_head + h) * head_dim;
    for (uint i = tid; i < head_dim; i += WG) d.v[dst + i] = head_sh[i];
  } else if (pos >= 0 && uint(pos) < pc.n_ctx) {
    rope_store_halves(UintRef(pc.data_kc), (h * pc.n_ctx + uint(pos)) * (pc.strides & 0xFFFFu) / 2u,
                      head_dim, tid);
  }
}
