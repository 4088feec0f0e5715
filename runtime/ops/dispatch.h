// Shared helpers of the op wrappers: dispatch shapes.
#pragma once

#include <algorithm>
#include <cstdint>

#include "loader/error.h"

namespace moevk::ops {

// Workgroups for a grid-stride loop over n items with `wg` invocations per group (capped: the shader
// loops over the rest).
inline uint32_t groups_1d(uint64_t n, uint32_t wg, uint32_t cap = 65535) {
  uint64_t g = (n + wg - 1) / wg;
  return static_cast<uint32_t>(std::clamp<uint64_t>(g, 1, cap));
}

}  // namespace moevk::ops
