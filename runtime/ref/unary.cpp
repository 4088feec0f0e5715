#include "runtime/ref/unary.h"

#include <cmath>

#include "loader/error.h"

namespace moevk::ref {

float gelu(float x) {
  const double kSqrt2OverPi = 0.79788456080286535588, kCoefA = 0.044715;
  const double v = x;
  return static_cast<float>(0.5 * v * (1.0 + std::tanh(kSqrt2OverPi * v * (1.0 + kCoefA * v * v))));
}

void gelu(std::span<const float> x, std::span<float> out) {
  MOEVK_ASSERT(out.size() >= x.size(), "gelu: out too small");
  for (size_t i = 0; i < x.size(); ++i) out[i] = gelu(x[i]);
}

}  // namespace moevk::ref
