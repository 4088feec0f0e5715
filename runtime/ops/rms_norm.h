// rms_norm op: y = x / sqrt(mean(x^2) + eps) * w over each row. Shader: rms_norm.comp.
#pragma once

#include <cstdint>

#include "runtime/vk/buffer.h"
#include "runtime/vk/recorder.h"

namespace moevk::ops {

struct RmsNormPush {
  uint64_t data_a, data_b, data_d;
  uint32_t n_cols, n_rows;
  float eps;
  uint32_t has_weight;
};
static_assert(sizeof(RmsNormPush) == 40, "must match rms_norm.comp's push block");

// x: [n_rows][n_cols], w: [n_cols] or an empty View (no weight), y: [n_rows][n_cols] (may be x).
// Per-head norm: n_cols = head_dim, n_rows = n_tok * n_head, w the [head_dim] weight.
void rms_norm(vk::Context& ctx, vk::Recorder& rec, const vk::View& x, const vk::View& w,
              const vk::View& y, uint32_t n_cols, uint32_t n_rows, float eps);

// Workgroup size of the row ops (rms_norm, softmax): a power of two in [32, 256] covering n_cols.
uint32_t row_block_size(uint32_t n_cols);

}  // namespace moevk::ops
