#version 450
// binary: elementwise d = a (op) b, with b broadcast by repetition (b has nb elements, nb divides n),
// or d = a * scale.
//   data_a [n] f32, data_b [nb] f32 (unused by scale), data_d [n] f32 (may alias data_a)
// Defines: OP_ADD | OP_MUL | OP_SCALE.   Host mirror: runtime/ops/binary.{h,cpp} (BinaryPush).
#include "buffers.glsl"

layout(local_size_x = 256) in;

layout(push_constant, std430) uniform PC {
  FloatRef data_a;
  FloatRef data_b;
  FloatRef data_d;
  uint n;
  uint nb;
  float scale;
  uint pad;
} pc;

void main() {
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += grid_stride()) {
    float a = pc.data_a.v[i];
#if defined(OP_ADD)
    pc.data_d.v[i] = a + pc.data_b.v[i % pc.nb];
#elif defined(OP_MUL)
    pc.data_d.v[i] = a * pc.data_b.v[i % pc.nb];
#elif defined(OP_SCALE)
    pc.data_d.v[i] = a * pc.scale;
#else
#error "binary.comp: define OP_ADD, OP_MUL or OP_SCALE"
#endif
  }
}
