#include "runtime/ops/softmax.h"

#include <algorithm>

#include "loader/error.h"
#include "runtime/ops/rms_norm.h"  // row_block_size
#include "runtime/vk/pipeline.h"

namespace moevk::ops {

void softmax(vk::Context& ctx, vk::Recorder& rec, const vk::View& x, const vk::View& y,
             uint32_t n_cols, uint32_t n_rows, float scale, const vk::View& mask,
             uint32_t mask_rows) {
  const uint64_t n = uint64_t(n_cols) * n_rows;
  MOEVK_ASSERT(n_cols > 0 && n_rows > 0 && n <= UINT32_MAX, "softmax: bad shape");
  MOEVK_ASSERT(x.size >= n * 4 && y.size >= n * 4, "softmax: views too small");
  if (!mask) mask_rows = 0;
  MOEVK_ASSERT(!mask || (mask_rows > 0 && mask.size >= uint64_t(mask_rows) * n_cols * 4),
               "softmax: mask view too small or mask_rows == 0");
  SoftmaxPush pc{
      x.address(), mask ? mask.address() : x.address(), y.address(), n_cols, n_rows, scale,
      mask_rows};
  const char* variant = ctx.features().subgroup_arith ? "softmax_f32_subgroup" : "softmax_f32";
  rec.dispatch(ctx.pipeline(variant, sizeof pc, {row_block_size(n_cols)}), pc,
               std::min<uint32_t>(n_rows, 65535));
}

}  // namespace moevk::ops
