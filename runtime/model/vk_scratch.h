// Activation buffers of one batch of up to B tokens (shapes in the comments, f32 unless noted).
#pragma once

#include <algorithm>
#include <memory>

#include "loader/model.h"
#include "runtime/model/vk_model.h"
#include "runtime/ops/matmul.h"

namespace moevk {

struct VkEngine::Scratch {
  std::unique_ptr<vk::Buffer> inputs, output;  // host-visible: token ids and positions in, logits out
  vk::View tokens;     // [B] i32 (host-visible)
  vk::View pos;        // [B] i32 (host-visible)
  vk::View pos_heads;  // [B][n_head] i32 (host-visible; MLA: a position per (token, head))
  vk::View readback;   // [L][n_vocab] (host-visible)
  vk::View x, h, y;    // [B][n_embd]: residual stream, normed input, block output
  vk::View q, k, v;    // [B][q_dim + pad], [B][kv_dim], [B][v_dim]
  vk::View attn;       // [B][n_head * head_dim_v]
  vk::View router;     // [B][n_expert]: router logits
  vk::View ids;        // [B][n_expert_used] i32
  vk::View wts;        // [B][n_expert_used]
  vk::View eg, eu;     // [B][n_expert_used][n_ff_exp]
  vk::View ed;         // [B][n_expert_used][n_embd]
  vk::View fg, fu;     // [B][max(n_ff, n_ff_shexp)]: dense or shared FFN
  vk::View sh;         // [B][n_embd]: shared expert output
  vk::View sh_logit;   // [B]: qwen2moe shared-expert gate logit
  vk::View logits;     // [L][n_vocab]: the output head's rows (L <= B)
  // MLA
  vk::View qa;         // [B][q_lora_rank]
  vk::View kvc;        // [B][kv_lora_rank]
  vk::View kpe;        // [B][n_rot]
  vk::View qn;         // [B][n_head][kv_lora_rank]: q_nope mapped into the latent space
  vk::View qf;         // [B][n_head][kv_lora_rank + n_rot]
  vk::View oc;         // [B][n_head][kv_lora_rank]: attention output in the latent space
  vk::View head_ids;   // [B][n_head] i32: 0..n_head-1 per token (heads addressed as "experts")
  // Prefill's grouping by expert (ops::moe_route): the pairs of ids / of head_ids
  vk::View route;       // moe_route_bytes(n_expert, B * n_expert_used)
  vk::View head_route;  // moe_route_bytes(n_head, B * n_head)

  Scratch(vk::Context& ctx, vk::Arena& arena, const ModelDesc& d, uint32_t B, uint32_t L) {
    auto f32 = [&](uint64_t n) { return arena.alloc(std::max<uint64_t>(n, 1) * 4); };
    const uint64_t E = d.n_embd, K = std::max(1u, d.n_expert_used);
    const uint64_t H = d.n_head;
    const uint64_t in_bytes = uint64_t(B) * 4 * (2 + H);
    inputs = std::make_unique<vk::Buffer>(ctx, in_bytes, vk::MemoryKind::Staging, "token inputs");
    tokens = vk::View{inputs.get(), 0, B * 4ull};
    pos = vk::View{inputs.get(), B * 4ull, B * 4ull};
    pos_heads = vk::View{inputs.get(), B * 8ull, B * H * 4};
    output = std::make_unique<vk::Buffer>(ctx, uint64_t(L) * d.n_vocab * 4, vk::MemoryKind::Readback,
                                          "logits readback");
    readback = vk::View{output.get(), 0, output->size()};
    x = f32(B * E);
    h = f32(B * E);
    y = f32(B * E);
    uint64_t qd = d.is_mla() ? H * d.n_embd_head_k_mla : d.q_dim();
    q = f32(B * qd + 1024);
    k = f32(B * uint64_t(d.kv_dim()));
    v = f32(B * uint64_t(d.v_dim()));
    attn = f32(B * uint64_t(d.attn_out_dim()));
    router = f32(B * uint64_t(d.n_expert));
    route = arena.alloc(ops::moe_route_bytes(std::max(1u, d.n_expert), B * K));
    ids = arena.alloc(B * K * 4);
    wts = f32(B * K);
    eg = f32(B * K * d.n_ff_exp);
    eu = f32(B * K * d.n_ff_exp);
    ed = f32(B * K * E);
    uint64_t ff = std::max(d.n_ff, d.n_ff_shexp);
    fg = f32(B * ff);
    fu = f32(B * ff);
    sh = f32(B * E);
    sh_logit = f32(B);
    logits = f32(uint64_t(L) * d.n_vocab);
    if (d.is_mla()) {
      const uint64_t kvr = d.kv_lora_rank, rot = d.n_rot;
      qa = f32(B * uint64_t(std::max(1u, d.q_lora_rank)));
      kvc = f32(B * kvr);
      kpe = f32(B * rot);
      qn = f32(B * H * kvr);
      qf = f32(B * H * (kvr + rot));
      oc = f32(B * H * kvr);
      head_ids = arena.alloc(B * H * 4);
      head_route = arena.alloc(ops::moe_route_bytes(uint32_t(H), B * H));
      std::vector<int32_t> hid(B * H);
      for (uint64_t i = 0; i < hid.size(); ++i) hid[i] = static_cast<int32_t>(i % H);
      vk::upload(ctx, head_ids, hid.data(), hid.size() * 4);
    }
  }
};

}  // namespace moevk
