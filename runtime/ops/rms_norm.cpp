#include "runtime/ops/rms_norm.h"

#include "loader/error.h"
#include "runtime/ops/dispatch.h"
#include "runtime/vk/pipeline.h"

namespace moevk::ops {

uint32_t row_block_size(uint32_t n_cols) {
  uint32_t b = 32;
  while (b < 256 && b < n_cols) b *= 2;
  return b;
}

void rms_norm(vk::Context& ctx, vk::Recorder& rec, const vk::View& x, const vk::View& w,
              const vk::View& y, uint32_t n_cols, uint32_t n_rows, float eps) {
  const uint64_t n = uint64_t(n_cols) * n_rows;
  MOEVK_ASSERT(n_cols > 0 && n_rows > 0 && n <= UINT32_MAX, "rms_norm: bad shape");
  MOEVK_ASSERT(x.size >= n * 4 && y.size >= n * 4, "rms_norm: views too small");
  MOEVK_ASSERT(!w || w.size >= uint64_t(n_cols) * 4, "rms_norm: weight view too small");
  RmsNormPush pc{x.address(), w ? w.address() : x.address(), y.address(), n_cols, n_rows, eps,
                 w ? 1u : 0u};
  const char* variant = ctx.features().subgroup_arith ? "rms_norm_f32_subgroup" : "rms_norm_f32";
  const uint32_t block = row_block_size(n_cols);
  rec.dispatch(ctx.pipeline(variant, sizeof pc, {block}), pc, std::min<uint32_t>(n_rows, 65535));
}

}  // namespace moevk::ops
