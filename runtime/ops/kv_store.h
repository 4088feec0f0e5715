// kv_store op: new f32 K or V rows -> f16 KV cache at positions from a buffer. Shader:
// kv_store.comp.
//
// KV cache layout (shared with attention.comp): one cache per K and per V,
// [n_head_kv][n_ctx][stride] f16 (raw halves, two to a 32-bit word); element i of kv head h at
// position p is half (h * n_ctx + p) * stride + i. A head's positions are contiguous, so attention
// streams one head's keys without gaps; stride >= head_dim (MLA: K rows are [c | k_pe], V is a view
// of K's first dims).
#pragma once

#include <cstdint>

#include "runtime/vk/buffer.h"
#include "runtime/vk/recorder.h"

namespace moevk::ops {

struct KvStorePush {
  uint64_t data_a, data_ids, data_d;
  uint32_t n_tokens, n_head_kv, head_dim, src_stride, row_stride, col0, n_ctx, pad;
};
static_assert(sizeof(KvStorePush) == 56, "must match kv_store.comp's push block");

struct KvLayout {
  uint32_t n_head_kv = 0;
  uint32_t n_ctx = 0;
  uint32_t stride = 0;  // halves per (head, position) row; even
  uint64_t bytes() const { return uint64_t(n_head_kv) * n_ctx * stride * 2; }
};

// src: [n_tokens][src_stride] f32 (head h at h*head_dim; src_stride = 0 means n_head_kv*head_dim);
// pos: [n_tokens] i32 (positions outside [0, n_ctx) are skipped); cache: layout.bytes() bytes.
// Writes halves [col0, col0 + head_dim) of each row. head_dim, col0 even; col0 + head_dim <=
// stride.
void kv_store(vk::Context& ctx, vk::Recorder& rec, const vk::View& src, const vk::View& pos,
              const vk::View& cache, const KvLayout& layout, uint32_t n_tokens, uint32_t head_dim,
              uint32_t col0 = 0, uint32_t src_stride = 0);

}  // namespace moevk::ops
