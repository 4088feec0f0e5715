#version 450
// unary: elementwise activations over n_rows rows of n_cols (row strides let a view of a wider
// buffer, e.g. the halves of a fused gate_up, be read in place; a flat vector is n_rows = 1).
//   one input:  d[r][c] = f(a[r][c])                      f = silu | gelu | sigmoid
//   two inputs: d[r][c] = f(a[r][c], b[r][c])             a = gate, b = up
//     swiglu:     silu(a) * b
//     swiglu_oai: g = min(a, limit), u = clamp(b, -limit, limit), g * sigmoid(alpha * g) * (u + 1)
//                 (gpt-oss; alpha 1.702, limit 7.0)
//   data_a [n_rows][stride_a] f32, data_b [n_rows][stride_b] f32 (two-input ops only),
//   data_d [n_rows][stride_d] f32 (may alias data_a or data_b).
// Defines: OP_SILU | OP_GELU | OP_SIGMOID | OP_SWIGLU | OP_SWIGLU_OAI | OP_COPY (strided copy).
// Host mirror: runtime/ops/unary.{h,cpp} (UnaryPush).
// Declared before the includes: grid_stride() (buffers.glsl) reads gl_WorkGroupSize, which is
// (1, 1, 1) in functions defined before this declaration.
layout(local_size_x = 256) in;
#include "buffers.glsl"

layout(push_constant, std430) uniform PC {
  FloatRef data_a;
  FloatRef data_b;
  FloatRef data_d;
  uint n_cols;
  uint n_rows;
  uint stride_a;
  uint stride_b;
  uint stride_d;
  float alpha;
  float limit;
  uint pad;
} pc;

// exp(-x) overflows to +inf for x < -88: 1 / (1 + inf) = 0 and x / inf = -0, the right limits.
float sigmoid(float x) { return 1.0 / (1.0 + exp(-x)); }
float silu(float x) { return x / (1.0 + exp(-x)); }

// ggml's GELU, the tanh approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), with
// tanh(v) = 1 - 2 / (exp(2v) + 1), which stays finite where exp(2v) overflows.
float gelu(float x) {
  const float kSqrt2OverPi = 0.79788456080286535588;
  const float kCoefA = 0.044715;
  const float v = kSqrt2OverPi * x * (1.0 + kCoefA * x * x);
  return 0.5 * x * (2.0 - 2.0 / (exp(2.0 * v) + 1.0));
}

void main() {
  const uint n = pc.n_cols * pc.n_rows;
  for (uint i = gl_GlobalInvocationID.x; i < n; i += grid_stride()) {
    const uint r = i / pc.n_cols, c = i - r * pc.n_cols;
    const float a = pc.data_a.v[r * pc.stride_a + c];
#if defined(OP_COPY)
    const float d = a;
#elif defined(OP_SILU)
    const float d = silu(a);
#elif defined(OP_GELU)
    const float d = gelu(a);
#elif defined(OP_SIGMOID)
    const float d = sigmoid(a);
#elif defined(OP_SWIGLU)
    const float d = silu(a) * pc.data_b.v[r * pc.stride_b + c];
#elif defined(OP_SWIGLU_OAI)
    const float g = min(a, pc.limit);
    const float u = clamp(pc.data_b.v[r * pc.stride_b + c], -pc.limit, pc.limit);
    const float d = g * sigmoid(pc.alpha * g) * (u + 1.0);
#else
#error "unary.comp: define OP_SILU, OP_GELU, OP_SIGMOID, OP_SWIGLU, OP_SWIGLU_OAI or OP_COPY"
#endif
    pc.data_d.v[r * pc.stride_d + c] = d;
  }
}
