#version 450
// get_rows: embedding lookup with dequantisation, d[t][c] = dequant(table row ids[t])[c] for
// t < n_tok, c < n_cols. A table row is n_cols elements in ggml blocks of the table's type, rows
// row_bytes apart (the address is 64-bit: tables can pass 4 GiB). An id outside [0, n_table_rows)
// gives a row of zeros (nothing is read out of bounds).
//   data_a: table [n_table_rows] rows (address), data_ids [n_tok] int32,
//   data_d [n_tok][stride_d] f32.
// Each invocation takes 8 consecutive elements through dequant8 (common/dequant.glsl); QK == 1
// types (F32/F16/BF16) take the n_cols % 8 tail element by element with dequant1.
// Defines: TYPE_<ggml type> (common/dequant.glsl).   Host mirror: runtime/ops/get_rows.{h,cpp}.
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
// Declared before the includes: grid_stride() (buffers.glsl) reads gl_WorkGroupSize, which is
// (1, 1, 1) in functions defined before this declaration.
layout(local_size_x = 256) in;
#include "dequant.glsl"

layout(push_constant, std430) uniform PC {
  uint64_t data_a;
  IntRef data_ids;
  FloatRef data_d;
  uint n_cols;
  uint n_tok;
  uint row_bytes;
  uint n_table_rows;
  uint stride_d;
  uint pad;
} pc;

void main() {
  const uint n_units = pc.n_cols / 8u;
#if QK == 1
  const uint per_tok = n_units + (pc.n_cols - n_units * 8u);
#else
  const uint per_tok = n_units;  // n_cols is a multiple of QK, so of 8
#endif
  const uint n = pc.n_tok * per_tok;
  for (uint idx = gl_GlobalInvocationID.x; idx < n; idx += grid_stride()) {
    const uint t = idx / per_tok, u = idx - t * per_tok;
    const uint dst = t * pc.stride_d;
    const int id = pc.data_ids.v[t];
    const bool valid = id >= 0 && uint(id) < pc.n_table_rows;
    const uint64_t row = pc.data_a + uint64_t(valid ? uint(id) : 0u) * pc.row_bytes;
    UintRef a = UintRef(row & ~uint64_t(3));
    const uint off = uint(row & uint64_t(3));
    if (u < n_units) {
      const uint e = u * 8u;
      vec4 lo = vec4(0.0), hi = vec4(0.0);
      if (valid) dequant8(a, off + (e / QK) * TYPE_SIZE, e % QK, lo, hi);
      for (uint k = 0; k < 4u; ++k) {
        pc.data_d.v[dst + e + k] = lo[k];
        pc.data_d.v[dst + e + 4u + k] = hi[k];
      }
    } else {
#if QK == 1
      const uint c = n_units * 8u + (u - n_units);
      pc.data_d.v[dst + c] = valid ? dequant1(a, off + c * TYPE_SIZE) : 0.0;
#endif
    }
  }
}
