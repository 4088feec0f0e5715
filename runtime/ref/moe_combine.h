// CPU reference of moe_combine.comp.
#pragma once

#include <cstdint>
#include <span>

namespace moevk::ref {

// out[t][i] = residual[t][i] + sum_j w[t][j] * e[t][j][i] + gate(t) * shared[t][i], where gate(t) =
// sigmoid(gate_logit[t]) when gate_logit is non-empty, else 1; empty residual/shared spans are 0.
void moe_combine(std::span<const float> e, std::span<const float> w, std::span<const float> residual,
                 std::span<const float> shared, std::span<const float> gate_logit, std::span<float> out,
                 uint32_t n, uint32_t n_used, uint32_t n_tokens);

}  // namespace moevk::ref
