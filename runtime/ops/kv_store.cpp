#include "runtime/ops/kv_store.h"

#include "loader/error.h"
#include "runtime/ops/dispatch.h"
#include "runtime/vk/pipeline.h"

namespace moevk::ops {

void kv_store(vk::Context& ctx, vk::Recorder& rec, const vk::View& src, const vk::View& pos,
              const vk::View& cache, const KvLayout& layout, uint32_t n_tokens, uint32_t head_dim,
              uint32_t col0, uint32_t src_stride) {
  if (src_stride == 0) src_stride = layout.n_head_kv * head_dim;
  MOEVK_ASSERT(n_tokens > 0 && layout.n_head_kv > 0 && head_dim > 0, "kv_store: empty shape");
  MOEVK_ASSERT(head_dim % 2 == 0 && col0 % 2 == 0 && layout.stride % 2 == 0 &&
                   col0 + head_dim <= layout.stride,
               "kv_store: head_dim, col0 and stride must be even, col0 + head_dim <= stride");
  MOEVK_ASSERT(src_stride >= layout.n_head_kv * head_dim, "kv_store: src_stride too small");
  MOEVK_ASSERT(layout.bytes() / 4 <= UINT32_MAX, "kv_store: cache over 2^32 words");
  MOEVK_ASSERT(uint64_t(n_tokens) * layout.n_head_kv * head_dim / 2 <= UINT32_MAX &&
                   uint64_t(n_tokens) * src_stride <= UINT32_MAX,
               "kv_store: too many elements");
  MOEVK_ASSERT(src.size >= (uint64_t(n_tokens - 1) * src_stride + layout.n_head_kv * head_dim) * 4,
               "kv_store: src view too small");
  MOEVK_ASSERT(pos.size >= uint64_t(n_tokens) * 4 && cache.size >= layout.bytes(),
               "kv_store: pos or cache view too small");
  KvStorePush pc{src.address(),
                 pos.address(),
                 cache.address(),
                 n_tokens,
                 layout.n_head_kv,
                 head_dim,
                 src_stride,
                 layout.stride,
                 col0,
                 layout.n_ctx,
                 0};
  const uint64_t n = uint64_t(n_tokens) * layout.n_head_kv * head_dim / 2;
  rec.dispatch(ctx.pipeline("kv_store_f16", sizeof pc), pc, groups_1d(n, 256));
}

}  // namespace moevk::ops
