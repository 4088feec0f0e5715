// The activation scratch of one batch of up to B tokens: the one layout that both the memory plan
// (V = uint64_t, counting bytes) and the Vulkan engine (V = vk::View, allocating) walk, in the same
// order, so the plan's scratch bytes are what the engine allocates. Shapes are f32 unless noted.
#pragma once

#include <algorithm>
#include <cstdint>

#include "loader/model/model.h"

namespace moevk::sched {

template <class V>
struct ScratchViews {
  V x, h, y;        // [B][n_embd]: residual stream, normed input, block output
  V q, k, v;        // [B][q_dim + pad], [B][kv_dim], [B][v_dim]
  V attn;           // [B][n_head * head_dim_v]
  V router;         // [B][n_expert]: router logits
  V route;          // moe_route's pairs grouped by expert: 4 (n_expert + 2 + B n_expert_used) bytes
  V ids;            // [n_layer][B][n_expert_used] i32: each layer's routing (read back when streaming)
  V wts;            // [B][n_expert_used]
  V pred_wts;       // [B][n_expert_used]: the weights of a prefetch prediction (unused)
  V eg, eu;         // [B][n_expert_used][n_ff_exp]
  V ed;             // [B][n_expert_used][n_embd]
  V fg, fu;         // [B][max(n_ff, n_ff_shexp)]: dense or shared FFN
  V sh;             // [B][n_embd]: shared expert output
  V sh_logit;       // [B]: qwen2moe shared-expert gate logit
  V logits;         // [L][n_vocab]: the output head's rows (L <= B)
  // MLA
  V qa;             // [B][q_lora_rank]
  V kvc;            // [B][kv_lora_rank]
  V kpe;            // [B][n_rot]
  V qn;             // [B][n_head][kv_lora_rank]: q_nope mapped into the latent space
  V qf;             // [B][n_head][kv_lora_rank + n_rot]
  V oc;             // [B][n_head][kv_lora_rank]: attention output in the latent space
  V head_ids;       // [B][n_head] i32: 0..n_head-1 per token (heads addressed as "experts")
  V head_route;     // moe_route's grouping of head_ids
  V xq;             // the integer-dot path's quantised x: the widest product input of the batch
                    // at 9 words per 32 elements (ops/quantize.h)
};

// alloc(bytes) -> V, called in the order of the fields above (MLA's only for MLA models).
template <class V, class Alloc>
ScratchViews<V> lay_out_scratch(const ModelDesc& d, uint32_t B, uint32_t L, Alloc&& alloc) {
  ScratchViews<V> s{};
  auto f32 = [&](uint64_t n) { return alloc(std::max<uint64_t>(n, 1) * 4); };
  auto route_bytes = [](uint64_t n_expert, uint64_t n_sel) { return 4 * (n_expert + 2 + n_sel); };
  const uint64_t E = d.n_embd, K = std::max(1u, d.n_expert_used), H = d.n_head;
  s.x = f32(B * E);
  s.h = f32(B * E);
  s.y = f32(B * E);
  const uint64_t qd = d.is_mla() ? H * d.n_embd_head_k_mla : d.q_dim();
  s.q = f32(B * qd + 1024);
  s.k = f32(B * uint64_t(d.kv_dim()));
  s.v = f32(B * uint64_t(d.v_dim()));
  s.attn = f32(B * uint64_t(d.attn_out_dim()));
  s.router = f32(B * uint64_t(d.n_expert));
  s.route = alloc(route_bytes(std::max(1u, d.n_expert), B * K));
  s.ids = alloc(uint64_t(std::max(1u, d.n_layer)) * B * K * 4);
  s.wts = f32(B * K);
  s.pred_wts = f32(B * K);
  s.eg = f32(B * K * d.n_ff_exp);
  s.eu = f32(B * K * d.n_ff_exp);
  s.ed = f32(B * K * E);
  const uint64_t ff = std::max(d.n_ff, d.n_ff_shexp);
  s.fg = f32(B * ff);
  s.fu = f32(B * ff);
  s.sh = f32(B * E);
  s.sh_logit = f32(B);
  s.logits = f32(uint64_t(L) * d.n_vocab);
  if (d.is_mla()) {
    const uint64_t kvr = d.kv_lora_rank, rot = d.n_rot;
    s.qa = f32(B * uint64_t(std::max(1u, d.q_lora_rank)));
    s.kvc = f32(B * kvr);
    s.kpe = f32(B * rot);
    s.qn = f32(B * H * kvr);
    s.qf = f32(B * H * (kvr + rot));
    s.oc = f32(B * H * kvr);
    s.head_ids = alloc(B * H * 4);
    s.head_route = alloc(route_bytes(H, B * H));
  }
  const uint64_t widest = std::max({E, uint64_t(d.attn_out_dim()), K * d.n_ff_exp, ff,
                                    uint64_t(d.q_lora_rank), uint64_t(d.kv_lora_rank)});
  s.xq = alloc(B * (widest + 31) / 32 * 36);
  return s;
}

}  // namespace moevk::sched
