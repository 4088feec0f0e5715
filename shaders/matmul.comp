#version 450
// matmul: the tiled matrix product of prefill. Weights are dequantised once per tile into shared
// memory and reused by BN tokens (the matvec reads each weight row once per 4 tokens).
//   Dense (no MATMUL_ID): y[t][r] = sum_c W[r][c] * x[t][c] (+ bias[r]) (+ res[t][r]) for t < n_tok,
//     r < n_rows; x[t] at data_b + 4 * t * x_tok_stride floats, y[t] at data_d + 4 * t * y_stride,
//     res (or 0) indexed as y and may be y itself (read and written by the same invocation).
//   MATMUL_ID (experts grouped by the router): workgroup z = group g. Groups g < n_expert hold the
//     (token, selected expert) pairs routed to expert g, group n_expert the pairs with an invalid id
//     (written by moe_route.comp into data_route: offsets [n_expert + 2], then entries [n_sel], each
//     entry sel = t * n_used + i). Expert g's matrix starts data_a bytes into its slot,
//     whose address is data_slots[g] (uint64 as two words, 0 = no slot); x(t, i) at data_b + 4 * (t * x_tok_stride + i * x_expert_stride)
//     floats, y(sel) at data_d + 4 * sel * y_stride, bias [n_expert][n_rows] (or 0). A pair with no
//     slot or an invalid id gets NaN rows, as in matvec_id; a group whose slot is 1 (kCpuSlot: the
//     CPU computes that expert) is skipped and its rows stay as they were.
// Tile: BM weight rows x BN tokens per workgroup of 128 invocations, BK columns per step; each
// invocation accumulates TM x TN outputs in f32. Workgroup x = row tile, y = token tile (striding
// over the group by gl_NumWorkGroups.y tiles), z = group. n_cols must be a multiple of 8.
// Defines: TYPE_<ggml type>, MATMUL_ID.  Host mirror: runtime/ops/matmul.{h,cpp}.
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#include "dequant.glsl"

#define WG 128u
#define BM 64u
#define BN 32u
#define BK 32u
#define TM 4u
#define TN 4u
#define BMP (BM + 1u)  // padded strides: no bank conflicts on the tile stores
#define BNP (BN + 1u)
layout(local_size_x = 128) in;

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

shared float a_sh[BK * BMP];
shared float b_sh[BK * BNP];

// The pair behind column c of this group (dense: the token itself).
uint entry(uint begin, uint c) {
#if defined(MATMUL_ID)
  return UintRef(pc.data_route).v[pc.n_expert + 2u + begin + c];
#else
  return c;
#endif
}

void main() {
  const uint tid = gl_LocalInvocationID.x;
  const uint row0 = gl_WorkGroupID.x * BM;
  const uint g = gl_WorkGroupID.z;
#if defined(MATMUL_ID)
  const uint begin = UintRef(pc.data_route).v[g];
  const uint count = UintRef(pc.data_route).v[g + 1u] - begin;
  const uint64_t slot = g < pc.n_expert ? expert_slot_address(pc.data_slots, g) : 0ul;
  const bool no_slot = slot == 0ul;
  if (slot == 1ul) return;  // uniform over the workgroup (one group per z), before any barrier
#else
  const uint begin = 0u, count = pc.n_tok;
  const uint64_t slot = 0ul;
  const bool no_slot = false;
#endif
  const uint tr = tid % 16u, tc = tid / 16u;  // this invocation's rows tr + 16 i, columns tc + 8 j
  const uint64_t first =
      slot + pc.data_a + uint64_t(row0) * pc.row_bytes;  // row row0
  UintRef a = UintRef(first & ~uint64_t(3));
  const uint off0 = uint(first & uint64_t(3));
  const uint64_t bias = pc.data_bias == 0ul ? 0ul : pc.data_bias + uint64_t(g) * pc.n_rows * 4ul;

  for (uint c0 = gl_WorkGroupID.y * BN; c0 < count; c0 += gl_NumWorkGroups.y * BN) {
    if (no_slot) {  // uniform over the workgroup: no barrier is skipped unevenly
      for (uint k = tid; k < BM * BN; k += WG) {
        const uint r = row0 + k % BM, c = c0 + k / BM;
        if (r < pc.n_rows && c < count)
          FloatRef(pc.data_d + 4ul * uint64_t(entry(begin, c)) * pc.y_stride).v[r] =
              uintBitsToFloat(0x7FC00000u);
      }
      continue;
    }
    // This invocation's slice of the token tile: column bn, 8 elements from bk.
    const uint bn = tid / 4u, bk = (tid % 4u) * 8u;
    uint64_t x_addr = 0ul;
    if (c0 + bn < count) {
      const uint sel = entry(begin, c0 + bn);
      const uint t = sel / pc.n_used, i = sel % pc.n_used;
      x_addr = pc.data_b + 4ul * (uint64_t(t) * pc.x_tok_stride + uint64_t(i) * pc.x_expert_stride);
    }
    float acc[TM * TN];
    for (uint k = 0; k < TM * TN; k++) acc[k] = 0.0;

    for (uint k0 = 0; k0 < pc.n_cols; k0 += BK) {
      // Weights: BM rows x BK columns as units of 8; unit u = row u / 4, columns (u % 4) * 8 ..
      for (uint u = tid; u < BM * BK / 8u; u += WG) {
        const uint m = u / 4u, kq = (u % 4u) * 8u, r = row0 + m, e = k0 + kq;
        vec4 lo = vec4(0.0), hi = vec4(0.0);
        if (r < pc.n_rows && e < pc.n_cols)
          dequant8(a, off0 + m * pc.row_bytes + (e / QK) * TYPE_SIZE, e % QK, lo, hi);
        for (uint q = 0; q < 4u; q++) {
          a_sh[(kq + q) * BMP + m] = lo[q];
          a_sh[(kq + 4u + q) * BMP + m] = hi[q];
        }
      }
      // Tokens: BN columns x BK elements, one unit of 8 per invocation.
      {
        const uint e = k0 + bk;
        vec4 lo = vec4(0.0), hi = vec4(0.0);
        if (x_addr != 0ul && e < pc.n_cols) {
          FloatRef x = FloatRef(x_addr);
          lo = vec4(x.v[e], x.v[e + 1u], x.v[e + 2u], x.v[e + 3u]);
          hi = vec4(x.v[e + 4u], x.v[e + 5u], x.v[e + 6u], x.v[e + 7u]);
        }
        for (uint q = 0; q < 4u; q++) {
          b_sh[(bk + q) * BNP + bn] = lo[q];
          b_sh[(bk + 4u + q) * BNP + bn] = hi[q];
        }
      }
      barrier();
      for (uint k = 0; k < BK; k++) {
        float av[TM], bv[TN];
        for (uint i = 0; i < TM; i++) av[i] = a_sh[k * BMP + tr + 16u * i];
        for (uint j = 0; j < TN; j++) bv[j] = b_sh[k * BNP + tc + 8u * j];
        for (uint i = 0; i < TM; i++)
          for (uint j = 0; j < TN; j++) acc[i * TN + j] += av[i] * bv[j];
      }
      barrier();
    }
    for (uint j = 0; j < TN; j++) {
      const uint c = c0 + tc + 8u * j;
      if (c >= count) continue;
      const uint64_t y_off = 4ul * uint64_t(entry(begin, c)) * pc.y_stride;
      FloatRef y = FloatRef(pc.data_d + y_off);
      for (uint i = 0; i < TM; i++) {
        const uint r = row0 + tr + 16u * i;
        if (r < pc.n_rows) {
          float v = acc[i * TN + j];
          if (bias != 0ul) v += FloatRef(bias).v[r];
          if (pc.data_res != 0ul) v += FloatRef(pc.data_res + y_off).v[r];
          y.v[r] = v;
        }
      }
    }
  }
}
