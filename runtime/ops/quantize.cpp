#include "runtime/ops/quantize.h"

#include "loader/error.h"
#include "runtime/ops/dispatch.h"
#include "runtime/vk/pipeline.h"

namespace moevk::ops {

void quantize_q8(vk::Context& ctx, vk::Recorder& rec, const QuantizeArgs& a) {
  MOEVK_ASSERT(a.n_cols > 0 && a.n_cols % 32 == 0 && a.n_tok > 0 && a.n_per > 0,
               "quantize_q8: n_cols must be a positive multiple of 32");
  const uint32_t per_stride = a.per_stride ? a.per_stride : a.n_cols;
  const uint32_t tok_stride = a.tok_stride ? a.tok_stride : a.n_per * per_stride;
  const uint64_t last = uint64_t(a.n_tok - 1) * tok_stride + uint64_t(a.n_per - 1) * per_stride + a.n_cols;
  const uint64_t n_vec = uint64_t(a.n_tok) * a.n_per;
  MOEVK_ASSERT(last <= UINT32_MAX && n_vec * q8_words(a.n_cols) <= UINT32_MAX,
               "quantize_q8: operand spans more than 2^32 elements");
  MOEVK_ASSERT(a.x.size >= last * 4, "quantize_q8: x view too small");
  MOEVK_ASSERT(a.q.size >= n_vec * q8_words(a.n_cols) * 4, "quantize_q8: q view too small");
  QuantizePush pc{a.x.address(), a.q.address(), a.n_cols, a.n_tok, a.n_per, tok_stride, per_stride, 0};
  rec.dispatch(ctx.pipeline("quantize_q8", sizeof pc), pc, groups_1d(n_vec * (a.n_cols / 32), 64));
}

}  // namespace moevk::ops
