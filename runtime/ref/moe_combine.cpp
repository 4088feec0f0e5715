#include "runtime/ref/moe_combine.h"

#include <cmath>

namespace moevk::ref {

void moe_combine(std::span<const float> e, std::span<const float> w, std::span<const float> residual,
                 std::span<const float> shared, std::span<const float> gate_logit, std::span<float> out,
                 uint32_t n, uint32_t n_used, uint32_t n_tokens) {
  for (uint32_t t = 0; t < n_tokens; ++t) {
    double gate = gate_logit.empty() ? 1.0 : 1.0 / (1.0 + std::exp(-static_cast<double>(gate_logit[t])));
    for (uint32_t i = 0; i < n; ++i) {
      double acc = 0;
      for (uint32_t j = 0; j < n_used; ++j)
        acc += static_cast<double>(w[t * n_used + j]) * e[(size_t(t) * n_used + j) * n + i];
      if (!shared.empty()) acc += gate * shared[size_t(t) * n + i];
      if (!residual.empty()) acc += residual[size_t(t) * n + i];
      out[size_t(t) * n + i] = static_cast<float>(acc);
    }
  }
}

}  // namespace moevk::ref
