#include "runtime/ref/softmax.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "loader/error.h"
#include "runtime/ref/ops.h"

namespace moevk::ref {

void softmax_rows(std::span<const float> x, std::span<const float> mask, uint32_t mask_rows,
                  float scale, uint32_t n_cols, std::span<float> y) {
  MOEVK_ASSERT(n_cols > 0 && x.size() % n_cols == 0 && y.size() >= x.size(), "softmax_rows: sizes");
  MOEVK_ASSERT(mask.empty() || (mask_rows > 0 && mask.size() >= uint64_t(mask_rows) * n_cols),
               "softmax_rows: mask size");
  std::vector<float> v(n_cols);
  for (uint64_t r = 0; r < x.size() / n_cols; ++r) {
    for (uint32_t c = 0; c < n_cols; ++c) {
      v[c] = x[r * n_cols + c] * scale;
      if (!mask.empty()) v[c] += mask[(r % mask_rows) * n_cols + c];
    }
    if (*std::max_element(v.begin(), v.end()) == -INFINITY)
      std::fill(v.begin(), v.end(), 0.0f);
    else
      softmax(v);
    std::copy(v.begin(), v.end(), y.begin() + r * n_cols);
  }
}

}  // namespace moevk::ref
