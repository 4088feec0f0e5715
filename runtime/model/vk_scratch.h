// Activation buffers of one batch of up to B tokens (shapes in the comments, f32 unless noted).
#pragma once

#include <algorithm>
#include <memory>

#include "loader/model/model.h"
#include "runtime/model/vk_model.h"
#include "runtime/ops/matmul.h"
#include "runtime/ops/moe_router.h"
#include "runtime/sched/scratch_layout.h"

namespace moevk {

struct VkEngine::Scratch : sched::ScratchViews<vk::View> {
  std::unique_ptr<vk::Buffer> inputs, output;  // host-visible: token ids and positions in, logits out
  vk::View tokens;     // [B] i32 (host-visible)
  vk::View pos;        // [B] i32 (host-visible)
  vk::View pos_heads;  // [B][n_head] i32 (host-visible; MLA: a position per (token, head))
  vk::View readback;   // [L][n_vocab] (host-visible)
  uint32_t B = 0;

  // The device views in sched::lay_out_scratch's order (the memory plan walks the same layout).
  Scratch(vk::Context& ctx, vk::Arena& arena, const ModelDesc& d, uint32_t B_, uint32_t L)
      : sched::ScratchViews<vk::View>(sched::lay_out_scratch<vk::View>(
            d, B_, L, [&](uint64_t n) { return arena.alloc(n); })),
        B(B_) {
    const uint64_t H = d.n_head;
    const uint64_t in_bytes = uint64_t(B) * 4 * (2 + H);
    inputs = std::make_unique<vk::Buffer>(ctx, in_bytes, vk::MemoryKind::Staging, "token inputs");
    tokens = vk::View{inputs.get(), 0, B * 4ull};
    pos = vk::View{inputs.get(), B * 4ull, B * 4ull};
    pos_heads = vk::View{inputs.get(), B * 8ull, B * H * 4};
    output = std::make_unique<vk::Buffer>(ctx, uint64_t(L) * d.n_vocab * 4, vk::MemoryKind::Readback,
                                          "logits readback");
    readback = vk::View{output.get(), 0, output->size()};
    if (d.is_mla()) {
      std::vector<int32_t> hid(B * H);
      for (uint64_t i = 0; i < hid.size(); ++i) hid[i] = static_cast<int32_t>(i % H);
      vk::upload(ctx, head_ids, hid.data(), hid.size() * 4);
    }
  }
  // moe_router's workgroup counter: the first word of route, which only grouped (prefill) passes
  // use; a decode pass zeroes it first and every moe_router dispatch leaves it 0 (no allocation of
  // its own: the memory plan walks lay_out_scratch's views).
  vk::View router_count() const { return route.sub(0, ops::kMoeRouterCounterBytes); }
  // Layer il's routing: ids [T][n_expert_used] of the batch.
  vk::View layer_ids(uint32_t il, uint32_t K) const {
    return ids.sub(uint64_t(il) * B * K * 4, uint64_t(B) * K * 4);
  }
};

}  // namespace moevk
