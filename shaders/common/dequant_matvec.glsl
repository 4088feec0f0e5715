// The body shared by matvec.comp and matvec_id.comp: NUM_ROWS weight rows of one workgroup times up to
// n_batch f32 vectors, over the dequant.glsl interface, reduced with subgroupAdd (USE_SUBGROUP) or a
// shared-memory tree (fallback; the workgroup size must then be a power of two).
//   Spec constants: 0 = workgroup size (local_size_x), 1 = NUM_ROWS (rows per workgroup).
// Each invocation takes units of 8 consecutive weights (unit u = elements 8u .. 8u+7 of a row), so
// neighbouring invocations read neighbouring bytes; batch vectors are taken BATCH_TILE at a time.
// USE_INT_DOT (quantised types): x arrives quantised to int8 (quantize_q8.comp) and each unit is two
// packed integer dot products through the type's qunit8 (common/dequant_int8.glsl).
// USE_STORAGE16: the weight bytes are read with 16-bit loads (common/buffers.glsl).
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#if defined(USE_SUBGROUP)
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "dequant.glsl"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const uint NUM_ROWS = 2;
#define BATCH_TILE 4u

shared float red_sh[NUM_ROWS * BATCH_TILE * gl_WorkGroupSize.x];
float acc[NUM_ROWS * BATCH_TILE];

// Sums acc over the workgroup; afterwards invocation k < NUM_ROWS * BATCH_TILE holds the total of
// acc[k] in the return value.
float reduce_acc() {
  const uint tid = gl_LocalInvocationID.x, nk = NUM_ROWS * BATCH_TILE;
#if defined(USE_SUBGROUP)
  for (uint k = 0; k < nk; k++) {
    float s = subgroupAdd(acc[k]);
    if (gl_SubgroupInvocationID == 0u) red_sh[gl_SubgroupID * nk + k] = s;
  }
  barrier();
  float total = 0.0;
  if (tid < nk)
    for (uint g = 0; g < gl_NumSubgroups; g++) total += red_sh[g * nk + tid];
  barrier();  // red_sh is reused by the next batch tile
  return total;
#else
  const uint wg = gl_WorkGroupSize.x;
  for (uint k = 0; k < nk; k++) red_sh[k * wg + tid] = acc[k];
  barrier();
  for (uint s = wg / 2u; s > 0u; s >>= 1) {
    if (tid < s)
      for (uint k = 0; k < nk; k++) red_sh[k * wg + tid] += red_sh[k * wg + tid + s];
    barrier();
  }
  float total = tid < nk ? red_sh[tid * wg] : 0.0;
  barrier();
  return total;
#endif
}

#include "combine.glsl"

// y[b][row0 + r] = dot(W[row0 + r], x[b]) (+ bias[row0 + r]) for r < min(NUM_ROWS, n_rows - row0),
// b < n_batch. W rows are row_bytes apart starting at address a_addr (row row0 included: the caller
// passes the address of row 0); x[b] at x_addr + 4*b*x_stride; y[b] at y_addr + 4*b*y_stride;
// bias_addr == 0: no bias. res_addr != 0 combines the result v with res[b] (same indexing as y;
// may alias y: each element is read and written by the same invocation): res_mode RES_ADD:
// v + res; RES_SWIGLU: silu(res) * v; RES_SWIGLU_OAI: gpt-oss's clamped form with act = (alpha,
// limit).
void matvec_rows(uint64_t a_addr, uint row0, uint n_rows, uint row_bytes, uint n_cols,
                 uint64_t x_addr, uint x_stride, uint n_batch, uint64_t y_addr, uint y_stride,
                 uint64_t bias_addr, uint64_t res_addr, uint res_mode, vec2 act) {
  const uint tid = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
  const uint nr = min(NUM_ROWS, n_rows - row0);
  const uint64_t first = a_addr + uint64_t(row0) * row_bytes;
  UintRef a = UintRef(first & ~uint64_t(3));
  const uint off0 = uint(first & uint64_t(3));
  FloatRef x = FloatRef(x_addr);
  const uint n_units = n_cols / 8u;  // QK == 1 types do the tail (n_cols % 8) element by element
#if defined(USE_INT_DOT)
  // x holds the vectors quantised by quantize_q8.comp: per 32 elements, 8 words of int8 then the
  // f32 scale (9 words); x_stride counts words. The activation sum (for the weights' offset dm.y)
  // is taken once per unit and shared by the rows.
  UintRef xq = UintRef(x_addr);
  for (uint b0 = 0; b0 < n_batch; b0 += BATCH_TILE) {
    const uint nb = min(BATCH_TILE, n_batch - b0);
    for (uint k = 0; k < NUM_ROWS * BATCH_TILE; k++) acc[k] = 0.0;
    for (uint u = tid; u < n_units; u += wg) {
      const uint e = u * 8u, blk = e / QK, ie = e % QK;
      const uint xw = 9u * (u >> 2);
      uvec2 xv[BATCH_TILE];
      float xd[BATCH_TILE], xs[BATCH_TILE];
      for (uint b = 0; b < BATCH_TILE; b++) {
        if (b < nb) {
          const uint xi = (b0 + b) * x_stride + xw;
          xv[b] = uvec2(xq.v[xi + 2u * (u & 3u)], xq.v[xi + 2u * (u & 3u) + 1u]);
          xd[b] = uintBitsToFloat(xq.v[xi + 8u]);
          xs[b] = xd[b] * float(sdot8(xv[b], uvec2(0x01010101u)));
        }
      }
      for (uint r = 0; r < NUM_ROWS; r++) {
        if (r < nr) {
          uvec2 q;
          vec2 dm;
          qunit8(a, off0 + r * row_bytes + blk * TYPE_SIZE, ie, q, dm);
          for (uint b = 0; b < BATCH_TILE; b++)
            if (b < nb) acc[r * BATCH_TILE + b] += dm.x * xd[b] * float(sdot8(q, xv[b])) + dm.y * xs[b];
        }
      }
    }
#else
  for (uint b0 = 0; b0 < n_batch; b0 += BATCH_TILE) {
    const uint nb = min(BATCH_TILE, n_batch - b0);
    for (uint k = 0; k < NUM_ROWS * BATCH_TILE; k++) acc[k] = 0.0;
    for (uint u = tid; u < n_units; u += wg) {
      const uint e = u * 8u, blk = e / QK, ie = e % QK;
      vec4 xl[BATCH_TILE], xh[BATCH_TILE];
      for (uint b = 0; b < BATCH_TILE; b++) {
        if (b < nb) {
          const uint xi = (b0 + b) * x_stride + e;
          xl[b] = vec4(x.v[xi], x.v[xi + 1u], x.v[xi + 2u], x.v[xi + 3u]);
          xh[b] = vec4(x.v[xi + 4u], x.v[xi + 5u], x.v[xi + 6u], x.v[xi + 7u]);
        }
      }
      for (uint r = 0; r < NUM_ROWS; r++) {
        if (r < nr) {
          vec4 lo, hi;
          dequant8(a, off0 + r * row_bytes + blk * TYPE_SIZE, ie, lo, hi);
          for (uint b = 0; b < BATCH_TILE; b++)
            if (b < nb) acc[r * BATCH_TILE + b] += dot(lo, xl[b]) + dot(hi, xh[b]);
        }
      }
    }
#endif
#if QK == 1
    for (uint c = n_units * 8u + tid; c < n_cols; c += wg)
      for (uint r = 0; r < nr; r++) {
        const float w = dequant1(a, off0 + r * row_bytes + c * TYPE_SIZE);
        for (uint b = 0; b < nb; b++) acc[r * BATCH_TILE + b] += w * x.v[(b0 + b) * x_stride + c];
      }
#endif
    const float total = reduce_acc();
    if (tid < NUM_ROWS * BATCH_TILE) {
      const uint r = tid / BATCH_TILE, b = tid % BATCH_TILE;
      if (r < nr && b < nb) {
        float v = total;
        if (bias_addr != 0ul) v += FloatRef(bias_addr).v[row0 + r];
        const uint yi = (b0 + b) * y_stride + row0 + r;
        if (res_addr != 0ul) v = combine(v, FloatRef(res_addr).v[yi], res_mode, act);
        FloatRef(y_addr).v[yi] = v;
      }
    }
  }
}
