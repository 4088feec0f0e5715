// CPU reference of the row softmax with scale and additive mask (oracle of softmax.comp; the plain
// in-place softmax is ref::softmax in ops.h).
#pragma once

#include <cstdint>
#include <span>

namespace moevk::ref {

// y[r] = softmax(float(x[r][c] * scale + mask[r % mask_rows][c])) over rows of n_cols (mask empty:
// no mask); a row whose values are all -inf becomes zeros. Max-subtracted, double sums.
void softmax_rows(std::span<const float> x, std::span<const float> mask, uint32_t mask_rows,
                  float scale, uint32_t n_cols, std::span<float> y);

}  // namespace moevk::ref
