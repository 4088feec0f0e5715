// softmax op over rows, with an optional scale and additive mask. Shader: softmax.comp.
#pragma once

#include <cstdint>

#include "runtime/vk/buffer.h"
#include "runtime/vk/recorder.h"

namespace moevk::ops {

struct SoftmaxPush {
  uint64_t data_a, data_b, data_d;
  uint32_t n_cols, n_rows;
  float scale;
  uint32_t mask_rows;
};
static_assert(sizeof(SoftmaxPush) == 40, "must match softmax.comp's push block");

// y[r] = softmax(x[r] * scale + mask[r % mask_rows]) over n_rows rows of n_cols.
// x, y: [n_rows][n_cols] (y may be x); mask: [mask_rows][n_cols] or an empty View (mask_rows
// ignored). E.g. attention scores [n_head][n_tok][n_kv] with a [n_tok][n_kv] causal mask:
// n_rows = n_head * n_tok, mask_rows = n_tok. A fully masked row (all -inf) becomes zeros.
void softmax(vk::Context& ctx, vk::Recorder& rec, const vk::View& x, const vk::View& y,
             uint32_t n_cols, uint32_t n_rows, float scale = 1.0f, const vk::View& mask = {},
             uint32_t mask_rows = 0);

}  // namespace moevk::ops
