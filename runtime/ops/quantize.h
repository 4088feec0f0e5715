// quantize_q8: f32 activations to the int8 blocks that the integer-dot matvecs read (matvec,
// matvec_multi and matvec_id with MatvecConfig::int_dot). Shader: quantize_q8.comp; reference
// ref::quantize_q8 (runtime/ref/matvec.h).
#pragma once

#include <cstdint>

#include "runtime/vk/buffer.h"
#include "runtime/vk/recorder.h"

namespace moevk::ops {

struct QuantizePush {
  uint64_t data_x, data_q;
  uint32_t n_cols, n_tok, n_per, tok_stride, per_stride, pad;
};
static_assert(sizeof(QuantizePush) == 40, "must match quantize_q8.comp's push block");

// Words of one quantised vector of n_cols elements (n_cols % 32 == 0): 9 per 32 elements.
constexpr uint32_t q8_words(uint32_t n_cols) { return n_cols / 32 * 9; }

// The vectors (t, i), t < n_tok, i < n_per, of n_cols floats at x + 4 * (t * tok_stride + i *
// per_stride) (strides 0: packed, [n_tok][n_per][n_cols]) -> q [n_tok][n_per][q8_words(n_cols)].
struct QuantizeArgs {
  vk::View x, q;
  uint32_t n_cols = 0, n_tok = 1, n_per = 1;
  uint32_t tok_stride = 0, per_stride = 0;
};
void quantize_q8(vk::Context& ctx, vk::Recorder& rec, const QuantizeArgs& a);

}  // namespace moevk::ops
