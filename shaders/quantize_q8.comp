#version 450
// quantize_q8: f32 vectors to the int8 blocks the integer-dot matvecs read (USE_INT_DOT in
// common/dequant_matvec.glsl). Vector (t, i), t < n_tok, i < n_per, starts at float
// t * tok_stride + i * per_stride of data_x and has n_cols elements (n_cols % 32 == 0); it is written
// to data_q at word (t * n_per + i) * 9 * n_cols / 32 as n_cols / 32 blocks of 9 words:
//   words 0..7: p_0 .. p_31 as int8 (little-endian, four per word), word 8: the f32 scale d,
//   with d = max|x| / 127 and p_k = roundEven(x_k / d) (all zero when the block is zero), so
//   x_k ~ d * p_k.  One invocation per block.  Host mirror: runtime/ops/quantize.{h,cpp}; reference
//   ref::quantize_q8 (runtime/ref/matvec.h).
layout(local_size_x = 64) in;
#include "buffers.glsl"

layout(push_constant, std430) uniform PC {
  FloatRef data_x;
  UintRef data_q;
  uint n_cols;
  uint n_tok;
  uint n_per;
  uint tok_stride;
  uint per_stride;
  uint pad;
} pc;

void main() {
  const uint nb = pc.n_cols / 32u, n_blocks = nb * pc.n_tok * pc.n_per;
  for (uint g = gl_GlobalInvocationID.x; g < n_blocks; g += grid_stride()) {
    const uint v = g / nb, b = g % nb, t = v / pc.n_per, i = v % pc.n_per;
    const uint x0 = t * pc.tok_stride + i * pc.per_stride + 32u * b;
    float amax = 0.0;
    for (uint k = 0; k < 32u; k++) amax = max(amax, abs(pc.data_x.v[x0 + k]));
    const float d = amax / 127.0;
    const float id = d > 0.0 ? 1.0 / d : 0.0;
    const uint q0 = 9u * g;
    for (uint w = 0; w < 8u; w++) {
      uint word = 0u;
      for (uint k = 0; k < 4u; k++) {
        const int p = int(clamp(roundEven(pc.data_x.v[x0 + 4u * w + k] * id), -127.0, 127.0));
        word |= uint(p & 0xFF) << (8u * k);
      }
      pc.data_q.v[q0 + w] = word;
    }
    pc.data_q.v[q0 + 8u] = floatBitsToUint(d);
  }
}
