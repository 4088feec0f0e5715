#version 450
// matmul_coopmat: matmul.comp's tiled product of prefill on cooperative matrices
// (VK_NV_cooperative_matrix, the extension Debian's glslang compiles). The contract is
// matmul.comp's, word for word: the same push block, the dense and MATMUL_ID (grouped by expert)
// forms, NaN rows for a pair with no slot or an invalid id, a group whose slot is 1 (kCpuSlot)
// skipped, bias, residual (may be y itself). Only the arithmetic differs: weights and activations
// are rounded to float16 before they are multiplied (products and sums stay f32), so results differ
// from matmul.comp's by that rounding (2^-10 |w x| per term at most; the bound is derived in
// tests/ops/test_matmul_coopmat.cpp).
//   Dense: y[t][r] = sum_c W[r][c] * x[t][c] (+ bias[r]) (+ res[t][r]), strides as matmul.comp.
//   MATMUL_ID: workgroup z = group g (moe_route.comp's groups), as matmul.comp.
// Tile: BM = 64 weight rows x BN = 64 tokens per workgroup of 4 subgroups of 32; subgroup s owns
// the 32 x 32 quarter (rows 32 (s % 2), tokens 32 (s / 2)) as 2 x 2 accumulators of 16 x 16 (f32).
// Per step of BK = 32 columns the workgroup dequantises the weight tile (dequant8) and reads the
// token tile into shared memory as float16, then each subgroup runs 2 x 2 x 2 16x16x16
// multiply-adds. At the end the accumulators go through shared memory, so bias, residual and the
// grouped scatter are applied per element as in matmul.comp. n_cols must be a multiple of 8 (the K
// tail of a step is zero-filled). Workgroup x = row tile, y = token tile (striding by
// gl_NumWorkGroups.y tiles), z = group.
// Needs (ops::coopmat_usable checks): a subgroup-scope 16x16x16 f16 x f16 -> f32 entry of
// vkGetPhysicalDeviceCooperativeMatrixPropertiesNV, shaderFloat16, vulkanMemoryModel (glslang
// declares the Vulkan memory model for cooperative matrices), subgroup size 32, 27.6 KiB of shared
// memory.
// Defines: TYPE_<ggml type>, MATMUL_ID.  Host mirror: runtime/ops/matmul_coopmat.{h,cpp}.
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_memory_scope_semantics : require  // gl_ScopeSubgroup
#extension GL_NV_cooperative_matrix : require
#include "dequant.glsl"

#define WG 128u
#define BM 64u
#define BN 64u
#define BK 32u
#define AS (BK + 8u)  // row stride of the float16 tiles (80 bytes: rows stay 16-byte aligned)
#define CS (BM + 4u)  // column stride of the f32 result tile (272 bytes)
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

shared float16_t a_sh[BM * AS];  // [row][column of the step]: the weights (matrix A, row-major)
shared float16_t b_sh[BN * AS];  // [token][column of the step]: x (matrix B, column-major)
shared float c_sh[BN * CS];      // [token][row]: the f32 products (column-major)

// The pair behind column c of this group (dense: the token itself).
uint entry(uint begin, uint c) {
#if defined(MATMUL_ID)
  return UintRef(pc.data_route).v[pc.n_expert + 2u + begin + c];
#else
  return c;
#endif
}

// The address of x for column c of the group, or 0 past its end.
uint64_t x_address(uint begin, uint count, uint c) {
  if (c >= count) return 0ul;
  const uint sel = entry(begin, c);
  const uint t = sel / pc.n_used, i = sel % pc.n_used;
  return pc.data_b + 4ul * (uint64_t(t) * pc.x_tok_stride + uint64_t(i) * pc.x_expert_stride);
}

// 8 columns from e of x at x_addr (zeros where x_addr is 0 or past n_cols) into row n of b_sh.
void load_x8(uint64_t x_addr, uint e, uint n, uint k) {
  vec4 lo = vec4(0.0), hi = vec4(0.0);
  if (x_addr != 0ul && e < pc.n_cols) {
    FloatRef x = FloatRef(x_addr);
    lo = vec4(x.v[e], x.v[e + 1u], x.v[e + 2u], x.v[e + 3u]);
    hi = vec4(x.v[e + 4u], x.v[e + 5u], x.v[e + 6u], x.v[e + 7u]);
  }
  for (uint q = 0; q < 4u; q++) {
    b_sh[n * AS + k + q] = float16_t(lo[q]);
    b_sh[n * AS + k + 4u + q] = float16_t(hi[q]);
  }
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
  const uint64_t first = slot + pc.data_a + uint64_t(row0) * pc.row_bytes;  // row row0
  UintRef a = UintRef(first & ~uint64_t(3));
  const uint off0 = uint(first & uint64_t(3));
  const uint64_t bias = pc.data_bias == 0ul ? 0ul : pc.data_bias + uint64_t(g) * pc.n_rows * 4ul;
  // This subgroup's quarter of the tile.
  const uint wr = 32u * (gl_SubgroupID % 2u), wn = 32u * (gl_SubgroupID / 2u);
  // This invocation's two units of the token tile: tokens bn and bn + 32, 8 columns from bk.
  const uint bn = tid / 4u, bk = (tid % 4u) * 8u;

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
    const uint64_t x0 = x_address(begin, count, c0 + bn);
    const uint64_t x1 = x_address(begin, count, c0 + bn + 32u);
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> acc[2][2];
    for (uint i = 0; i < 2u; i++)
      for (uint j = 0; j < 2u; j++) acc[i][j] = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);

    for (uint k0 = 0; k0 < pc.n_cols; k0 += BK) {
      // Weights: BM rows x BK columns as units of 8; unit u = row u / 4, columns (u % 4) * 8 ..
      for (uint u = tid; u < BM * BK / 8u; u += WG) {
        const uint m = u / 4u, kq = (u % 4u) * 8u, r = row0 + m, e = k0 + kq;
        vec4 lo = vec4(0.0), hi = vec4(0.0);
        if (r < pc.n_rows && e < pc.n_cols)
          dequant8(a, off0 + m * pc.row_bytes + (e / QK) * TYPE_SIZE, e % QK, lo, hi);
        for (uint q = 0; q < 4u; q++) {
          a_sh[m * AS + kq + q] = float16_t(lo[q]);
          a_sh[m * AS + kq + 4u + q] = float16_t(hi[q]);
        }
      }
      load_x8(x0, k0 + bk, bn, bk);
      load_x8(x1, k0 + bk, bn + 32u, bk);
      barrier();
      for (uint kk = 0; kk < BK; kk += 16u) {
        fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> ma[2], mb[2];
        for (uint i = 0; i < 2u; i++)
          coopMatLoadNV(ma[i], a_sh, (wr + 16u * i) * AS + kk, AS, false);
        for (uint j = 0; j < 2u; j++)
          coopMatLoadNV(mb[j], b_sh, (wn + 16u * j) * AS + kk, AS, true);
        for (uint i = 0; i < 2u; i++)
          for (uint j = 0; j < 2u; j++) acc[i][j] = coopMatMulAddNV(ma[i], mb[j], acc[i][j]);
      }
      barrier();
    }
    for (uint i = 0; i < 2u; i++)
      for (uint j = 0; j < 2u; j++)
        coopMatStoreNV(acc[i][j], c_sh, (wn + 16u * j) * CS + wr + 16u * i, CS, true);
    barrier();
    for (uint k = tid; k < BM * BN; k += WG) {
      const uint m = k % BM, n = k / BM, r = row0 + m, c = c0 + n;
      if (r >= pc.n_rows || c >= count) continue;
      const uint64_t y_off = 4ul * uint64_t(entry(begin, c)) * pc.y_stride;
      float v = c_sh[n * CS + m];
      if (bias != 0ul) v += FloatRef(bias).v[r];
      if (pc.data_res != 0ul) v += FloatRef(pc.data_res + y_off).v[r];
      FloatRef(pc.data_d + y_off).v[r] = v;
    }
    barrier();  // c_sh is read before the next tile's products are stored
  }
}
