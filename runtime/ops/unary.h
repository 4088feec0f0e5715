// unary ops: silu, gelu, sigmoid (one input) and swiglu, gpt-oss's clamped swiglu (gate, up).
// Shader: unary.comp.
#pragma once

#include <cstdint>

#include "runtime/vk/buffer.h"
#include "runtime/vk/recorder.h"

namespace moevk::ops {

struct UnaryPush {
  uint64_t data_a, data_b, data_d;
  uint32_t n_cols, n_rows;
  uint32_t stride_a, stride_b, stride_d;
  float alpha, limit;
  uint32_t pad;
};
static_assert(sizeof(UnaryPush) == 56, "must match unary.comp's push block");

// The shape of an elementwise op: n_rows rows of n_cols, each operand with its own row stride in
// elements (0 = n_cols, i.e. contiguous). A flat vector of n is {n, 1}.
struct UnaryShape {
  uint32_t n_cols = 0, n_rows = 1;
  uint32_t stride_a = 0, stride_b = 0, stride_d = 0;
};

// d = f(a) with f = silu | gelu (ggml's tanh approximation) | sigmoid. d may be a.
void silu(vk::Context& ctx, vk::Recorder& rec, const vk::View& a, const vk::View& d,
          UnaryShape shape);
void gelu(vk::Context& ctx, vk::Recorder& rec, const vk::View& a, const vk::View& d,
          UnaryShape shape);
void sigmoid(vk::Context& ctx, vk::Recorder& rec, const vk::View& a, const vk::View& d,
             UnaryShape shape);
// d = a (a strided copy: gathers or scatters rows between buffers of different row widths).
void copy(vk::Context& ctx, vk::Recorder& rec, const vk::View& a, const vk::View& d,
          UnaryShape shape);
// d = silu(gate) * up. d may be gate or up.
void swiglu(vk::Context& ctx, vk::Recorder& rec, const vk::View& gate, const vk::View& up,
            const vk::View& d, UnaryShape shape);
// gpt-oss: g = min(gate, limit), u = clamp(up, -limit, limit), d = g * sigmoid(alpha g) * (u + 1).
void swiglu_oai(vk::Context& ctx, vk::Recorder& rec, const vk::View& gate, const vk::View& up,
                const vk::View& d, UnaryShape shape, float alpha = 1.702f, float limit = 7.0f);

}  // namespace moevk::ops
