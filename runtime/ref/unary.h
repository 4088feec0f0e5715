// CPU reference of the activations runtime/ref/ops.h lacks (oracle of unary.comp; silu, sigmoid,
// swiglu and swiglu_clamped are in ops.h).
#pragma once

#include <span>

namespace moevk::ref {

// ggml's GELU (tanh approximation): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), in double.
float gelu(float x);
// out[i] = gelu(x[i]) (out may alias x).
void gelu(std::span<const float> x, std::span<float> out);

}  // namespace moevk::ref
