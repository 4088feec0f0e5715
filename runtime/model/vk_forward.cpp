// The forward pass on the GPU, recorded into one command buffer per batch: it reads top to bottom like
// runtime/ref/forward.cpp, one op per line, with a barrier wherever the next op reads what the last
// wrote. Expert ids never leave the GPU: gate_topk writes them, matvec_id reads them with the slot
// table. A prefill batch (tiled(T)) runs its weight products as tiled matmuls, and its expert
// products grouped by expert: moe_route sorts the (token, expert) pairs by expert on the GPU, then
// one matmul_id multiplies each expert's matrix with its group of tokens.
#include <algorithm>

#include "loader/error.h"
#include "runtime/model/vk_model.h"
#include "runtime/model/vk_scratch.h"
#include "runtime/ops/attention.h"
#include "runtime/ops/gate_topk.h"
#include "runtime/ops/get_rows.h"
#include "runtime/ops/matmul.h"
#include "runtime/ops/moe_combine.h"
#include "runtime/ops/moe_router.h"
#include "runtime/ops/rms_norm.h"
#include "runtime/ops/rope.h"
#include "runtime/ops/unary.h"

namespace moevk {

namespace {

vk::View opt(const DeviceTensor* t) { return t ? t->view() : vk::View{}; }

// Rows [r0, r0 + n) of a weight matrix (row blocks stay whole, so the sub-view is valid GGUF data).
ops::WeightView rows(const DeviceTensor& t, uint32_t r0, uint32_t n) {
  const uint64_t rb = ops::matvec_row_bytes(t.w.type, t.w.n_cols);
  ops::WeightView w = t.w;
  w.data = t.w.data.sub(r0 * rb, n * rb);
  w.n_rows = n;
  return w;
}

// Whether layer il's MoE block starts with moe_router (rms_norm, router and gate_topk in one
// dispatch): decode (one token), a float router moe_router serves, not switched off.
bool router_fused(const vk::Context& c, const ModelDesc& d, const LayerTensors& w, uint32_t il,
                  uint32_t T) {
  return T == 1 && d.is_moe_layer(il) && !c.options().no_moe_router &&
         ops::moe_router_supports(w.router->w, d.n_expert_used);
}

// From this many tokens on, a batch uses the tiled kernels: the matvec reads every weight once per 4
// tokens, a tile once per 32.
constexpr uint32_t kTiledMinTokens = 8;

}  // namespace

bool VkEngine::tiled(uint32_t T) const { return T >= kTiledMinTokens && !ctx_->options().no_tiled; }

bool VkEngine::grouped(uint32_t T, uint32_t n_expert) const {
  return tiled(T) && n_expert <= ops::kMaxRouteExperts;
}

void VkEngine::linear(vk::Recorder& rec, const ops::MatvecArgs& a) {
  // On row lanes the matvec serves batches too (one pass over a row per lane_tokens vectors).
  if (tiled(a.n_batch) && ops::matmul_supports(a.w.type, a.w.n_cols) &&
      !ops::use_row_lanes(mv_cfg_, a.w.n_cols))
    ops::matmul(*ctx_, rec, a, mv_cfg_);
  else
    ops::matvec(*ctx_, rec, with_xq(rec, a), mv_cfg_);
}

void VkEngine::linear_multi(vk::Recorder& rec, const ops::MatvecArgs* parts, uint32_t n_parts) {
  for (uint32_t i = 0; i < n_parts;) {
    const ops::MatvecArgs& a = parts[i];
    uint32_t n = 1;
    if (!(tiled(a.n_batch) && ops::matmul_supports(a.w.type, a.w.n_cols) &&
          !ops::use_row_lanes(mv_cfg_, a.w.n_cols)))
      while (i + n < n_parts && ops::matvec_multi_fusable(a, parts[i + n])) ++n;
    if (n == 1) {
      linear(rec, a);
    } else {
      ops::MatvecArgs fused[3] = {with_xq(rec, parts[i]), parts[i + 1], n > 2 ? parts[i + 2] : parts[i]};
      ops::matvec_multi(*ctx_, rec, fused, n, mv_cfg_);
    }
    i += n;
  }
}

void VkEngine::linear_id(vk::Recorder& rec, const ops::MatvecIdArgs& a, vk::View route) {
  if (route && ops::matmul_supports(a.experts.type, a.experts.n_cols))
    ops::matmul_id(*ctx_, rec, a, route, mv_cfg_);
  else
    ops::matvec_id(*ctx_, rec, with_xq(rec, a), mv_cfg_);
}

void VkEngine::record_forward(vk::Recorder& rec, uint32_t T, uint32_t pos0, uint32_t head0) {
  vk::Context& c = *ctx_;
  Scratch& s = *s_;
  const uint32_t E = d_.n_embd;
  const DeviceTensor& embd = *tensor("token_embd.weight");

  // x [T][E] = token embeddings
  ops::get_rows(c, rec, embd.w.type, embd.view(), E, embd.w.n_rows, s.tokens, T, s.x);
  if (d_.is_mla() && grouped(T, d_.n_head))  // MLA's per-head products grouped by head (every layer alike)
    ops::moe_route(c, rec, s.head_ids, T * d_.n_head, d_.n_head, s.head_route);
  if (T == 1 && d_.n_expert > 0 && !c.options().no_moe_router)
    rec.fill(s.router_count(), 0);  // moe_router's counter (see Scratch::router_count)
  rec.barrier();

  const DeviceTensor& output_norm = *tensor("output_norm.weight");
  bool h_ready = false;  // s.h already holds the next norm of x (fused into the last moe_combine)
  for (uint32_t il = 0; il < d_.n_layer; ++il) {
    const LayerTensors& w = layers_[il];
    // Attention block: x += attn(rms_norm(x)) (the output projection adds the residual)
    if (!h_ready) {
      ops::rms_norm(c, rec, s.x, w.attn_norm->view(), s.h, E, T, d_.rms_eps);
      rec.barrier();
    }
    if (d_.is_mla())
      record_attention_mla(rec, il, T, pos0);
    else
      record_attention(rec, il, T, pos0);
    dump(rec, fmt::format("ffn_inp-{}", il), s.x, E, T);

    // FFN block: x += ffn(rms_norm(x)) (the down projection or moe_combine adds the residual;
    // in decode moe_router does the norm)
    if (!router_fused(c, d_, w, il, T)) {
      ops::rms_norm(c, rec, s.x, w.ffn_norm->view(), s.h, E, T, d_.rms_eps);
      rec.barrier();
    }
    const DeviceTensor& next_norm = il + 1 < d_.n_layer ? *layers_[il + 1].attn_norm : output_norm;
    h_ready = record_ffn(rec, il, T, next_norm.view());
    dump(rec, fmt::format("l_out-{}", il), s.x, E, T);
  }

  // logits [T - head0][n_vocab] = output(rms_norm(x[head0 ..]))
  const uint32_t n_out = T - head0;
  if (n_out == 0) return;
  vk::View h_out = s.h.sub(uint64_t(head0) * E * 4, uint64_t(n_out) * E * 4);
  if (!h_ready) {
    const vk::View x_out = s.x.sub(uint64_t(head0) * E * 4, uint64_t(n_out) * E * 4);
    ops::rms_norm(c, rec, x_out, output_norm.view(), s.h, E, n_out, d_.rms_eps);
    rec.barrier();
    h_out = s.h.sub(0, uint64_t(n_out) * E * 4);
  }
  dump(rec, "result_norm", h_out, E, n_out);
  const DeviceTensor& out = d_.tied_output ? embd : *tensor("output.weight");
  linear(rec, {out.w, h_out, s.logits, {}, n_out});
  rec.barrier();
}

void VkEngine::record_attention(vk::Recorder& rec, uint32_t il, uint32_t T, uint32_t pos0) {
  vk::Context& c = *ctx_;
  Scratch& s = *s_;
  const LayerTensors& w = layers_[il];
  const uint32_t H = d_.n_head, Hkv = d_.n_head_kv, dk = d_.n_embd_head_k, dv = d_.n_embd_head_v;

  // q [T][H*dk], k [T][Hkv*dk], v [T][Hkv*dv]
  const ops::MatvecArgs qkv_proj[3] = {{w.wq->w, s.h, s.q, opt(w.bq), T},
                                       {w.wk->w, s.h, s.k, opt(w.bk), T},
                                       {w.wv->w, s.h, s.v, opt(w.bv), T}};
  linear_multi(rec, qkv_proj, 3);
  rec.barrier();
  // q = rope(norm(q)); the cache's K rows = rope(norm(k)) and V rows = v: one dispatch
  ops::RopeQkv qkv{s.q, s.k, s.v, s.pos};
  if (d_.qk_norm == QkNorm::PerHead) {  // the norm fused into the rope
    qkv.q_norm = w.q_norm->view();
    qkv.k_norm = w.k_norm->view();
    qkv.eps = d_.rms_eps;
  } else if (d_.qk_norm == QkNorm::Full) {  // over all heads of a token: a norm of its own
    ops::rms_norm(c, rec, s.q, w.q_norm->view(), s.q, H * dk, T, d_.rms_eps);
    ops::rms_norm(c, rec, s.k, w.k_norm->view(), s.k, Hkv * dk, T, d_.rms_eps);
    rec.barrier();
  }
  qkv.k_cache = w.k_cache;
  qkv.k_layout = w.k_layout;
  qkv.v_cache = w.v_cache;
  qkv.v_layout = w.v_layout;
  qkv.n_tok = T;
  qkv.n_head = H;
  qkv.n_head_kv = Hkv;
  qkv.head_dim = dk;
  qkv.dv = dv;
  ops::rope_qkv(c, rec, qkv, rope_);
  rec.barrier();

  // attn [T][H*dv] over the cache positions 0 .. pos0 + t
  ops::AttentionShape shape{H, dk, dv, attn_scale_, d_.is_swa_layer(il) ? d_.sliding_window : 0, 0};
  ops::attention(c, rec, shape, s.q, w.k_cache, w.k_layout, w.v_cache, w.v_layout, opt(w.sinks), s.attn, T,
                 pos0);
  rec.barrier();
  linear(rec, {w.wo->w, s.attn, s.x, opt(w.bo), T, s.x});  // x += wo attn
  rec.barrier();
}

// deepseek2's multi-head latent attention in its absorbed form (as runtime/ref/forward_attn.cpp): the
// cache holds [rmsnorm(c_kv) | rope(k_pe)] per position, shared by all heads; each head's q_nope is
// mapped into the latent space by attn_k_b[h] and its latent output back by attn_v_b[h] (per-head
// matrices addressed through matvec_id with the head index as the "expert").
void VkEngine::record_attention_mla(vk::Recorder& rec, uint32_t il, uint32_t T, uint32_t pos0) {
  vk::Context& c = *ctx_;
  Scratch& s = *s_;
  const LayerTensors& w = layers_[il];
  const uint32_t H = d_.n_head, dk = d_.n_embd_head_k_mla, nope = d_.mla_nope(), rot = d_.n_rot;
  const uint32_t kvr = d_.kv_lora_rank, row = kvr + rot;

  // q [T][H][nope | rope]
  if (d_.q_lora_rank > 0) {
    linear(rec, {w.wq_a->w, s.h, s.qa, {}, T});
    rec.barrier();
    ops::rms_norm(c, rec, s.qa, w.q_a_norm->view(), s.qa, d_.q_lora_rank, T, d_.rms_eps);
    rec.barrier();
    linear(rec, {w.wq_b->w, s.qa, s.q, {}, T});
  } else {
    linear(rec, {w.wq->w, s.h, s.q, {}, T});
  }
  // kvc [T][kvr] and kpe [T][rot]: the two row blocks of attn_kv_a_mqa
  linear(rec, {rows(*w.wkv_a, 0, kvr), s.h, s.kvc, {}, T});
  linear(rec, {rows(*w.wkv_a, kvr, rot), s.h, s.kpe, {}, T});
  rec.barrier();
  ops::rms_norm(c, rec, s.kvc, w.kv_a_norm->view(), s.kvc, kvr, T, d_.rms_eps);
  ops::RopeExtras kpe_to_cache;  // rope(k_pe) goes straight into the cache rows, behind c_kv
  kpe_to_cache.cache = w.k_cache;
  kpe_to_cache.layout = w.k_layout;
  kpe_to_cache.col0 = kvr;
  ops::rope(c, rec, s.kpe, s.pos, {}, {T, 1, rot}, rope_, {}, kpe_to_cache);
  // qn [T][H][kvr] = attn_k_b[h] q_nope[t][h]
  ops::MatvecIdArgs kb;
  kb.experts = w.wk_b;
  kb.ids = s.head_ids;
  kb.x = s.q;
  kb.x_tok_stride = H * dk;
  kb.x_expert_stride = dk;
  kb.y = s.qn;
  kb.n_used = H;
  kb.n_tok = T;
  const vk::View head_route = grouped(T, H) ? s.head_route : vk::View{};
  linear_id(rec, kb, head_route);
  // qf [T][H][kvr | rot]: the rope part of q moves behind the latent part
  ops::copy(c, rec, s.q.sub(nope * 4ull, s.q.size - nope * 4ull), s.qf.sub(kvr * 4ull, s.qf.size - kvr * 4ull),
            {rot, T * H, dk, 0, row});
  rec.barrier();
  ops::copy(c, rec, s.qn, s.qf, {kvr, T * H, kvr, 0, row});
  ops::rope(c, rec, s.qf.sub(kvr * 4ull, s.qf.size - kvr * 4ull), s.pos_heads,
            s.qf.sub(kvr * 4ull, s.qf.size - kvr * 4ull), {T * H, 1, rot, row, row}, rope_);
  ops::kv_store(c, rec, s.kvc, s.pos, w.k_cache, w.k_layout, T, kvr, 0);
  rec.barrier();

  // oc [T][H][kvr]: attention over the latent cache (V = the first kvr halves of each K row)
  ops::AttentionShape shape{H, row, kvr, attn_scale_, 0, H * row};
  ops::attention(c, rec, shape, s.qf, w.k_cache, w.k_layout, w.v_cache, w.v_layout, {}, s.oc, T, pos0);
  rec.barrier();
  // attn [T][H][dv] = attn_v_b[h] oc[t][h]
  ops::MatvecIdArgs vb;
  vb.experts = w.wv_b;
  vb.ids = s.head_ids;
  vb.x = s.oc;
  vb.x_per_expert = true;
  vb.y = s.attn;
  vb.n_used = H;
  vb.n_tok = T;
  linear_id(rec, vb, head_route);
  rec.barrier();
  linear(rec, {w.wo->w, s.attn, s.x, {}, T, s.x});  // x += wo attn
  rec.barrier();
}

bool VkEngine::record_ffn(vk::Recorder& rec, uint32_t il, uint32_t T, vk::View next_norm) {
  vk::Context& c = *ctx_;
  Scratch& s = *s_;
  const LayerTensors& w = layers_[il];
  const uint32_t E = d_.n_embd;

  if (!d_.is_moe_layer(il)) {
    const uint32_t F = d_.n_ff;
    linear(rec, {w.ffn_gate->w, s.h, s.fg, {}, T});
    linear(rec, {w.ffn_up->w, s.h, s.fu, {}, T});
    rec.barrier();
    ops::swiglu(c, rec, s.fg, s.fu, s.fg, {F, T});
    rec.barrier();
    linear(rec, {w.ffn_down->w, s.fg, s.x, {}, T, s.x});  // x += down
    rec.barrier();
    return false;
  }

  const uint32_t X = d_.n_expert, K = d_.n_expert_used, F = d_.n_ff_exp;
  // router [T][X] -> ids [T][K], wts [T][K]
  const vk::View ids = s.layer_ids(il, K);
  if (router_fused(c, d_, w, il, T)) {  // decode: h = rms_norm(x), router and gate_topk at once
    ops::MoeRouterArgs r;
    r.x = s.x;
    r.norm = w.ffn_norm->view();
    r.eps = d_.rms_eps;
    r.router = w.router->w;
    r.router_bias = opt(w.router_b);
    r.sel_bias = opt(w.sel_bias);
    r.h = s.h;
    r.logits = s.router;
    r.ids = ids;
    r.weights = s.wts;
    r.counter = s.router_count();
    r.k = K;
    ops::moe_router(c, rec, gate_, r, mv_cfg_);
    rec.barrier();
    if (!w.router_b) dump(rec, fmt::format("ffn_moe_logits-{}", il), s.router, X, T);
  } else {
    linear(rec, {w.router->w, s.h, s.router, opt(w.router_b), T});
    rec.barrier();
    if (!w.router_b) dump(rec, fmt::format("ffn_moe_logits-{}", il), s.router, X, T);  // llama.cpp dumps before the bias
    ops::gate_topk(c, rec, gate_, s.router, opt(w.sel_bias), ids, s.wts, {}, T, X, K);
    rec.barrier();
  }
  const vk::View route = grouped(T, X) ? s.route : vk::View{};
  if (route) {  // prefill: group the (token, expert) pairs by expert
    ops::moe_route(c, rec, ids, T * K, X, route);
    rec.barrier();
  }
  if (split_) split_point(rec, il, T);  // streaming layer by layer: the host serves the misses

  // eg [T][K][F] = act(gate) * up of each selected expert (+ per-expert biases): in one dispatch for
  // decode (matvec_id_glu), as gate and up products then the activation for prefill.
  ops::MatvecIdArgs a;
  a.ids = ids;
  a.n_used = K;
  a.n_tok = T;
  a.x = s.h;
  a.experts = w.gate_exps;
  a.y = s.eg;
  a.bias = opt(w.gate_exps_b);
  const bool clamped = d_.act == FfnAct::SwigluClamped;
  const bool fused = !route && ops::glu_fusable(w.gate_exps, w.up_exps);
  if (fused) {
    ops::GluArgs g{w.up_exps, opt(w.up_exps_b), clamped ? ops::Glu::SwigluClamped : ops::Glu::Swiglu,
                   d_.swiglu_alpha, d_.swiglu_limit};
    ops::matvec_id_glu(c, rec, with_xq(rec, a), g, mv_cfg_);
  } else {
    linear_id(rec, a, route);
    a.experts = w.up_exps;
    a.y = s.eu;
    a.bias = opt(w.up_exps_b);
    linear_id(rec, a, route);
  }
  const bool shared = w.gate_sh != nullptr;
  if (shared) {
    linear(rec, {w.gate_sh->w, s.h, s.fg, {}, T});
    linear(rec, {w.up_sh->w, s.h, s.fu, {}, T});
    if (w.gate_inp_sh) {
      ops::WeightView g = w.gate_inp_sh->w;  // [n_embd] as a one-row matrix
      g.n_rows = 1;
      linear(rec, {g, s.h, s.sh_logit, {}, T});
    }
  }
  rec.barrier();
  if (!fused && clamped)
    ops::swiglu_oai(c, rec, s.eg, s.eu, s.eg, {F, T * K}, d_.swiglu_alpha, d_.swiglu_limit);
  else if (!fused)
    ops::swiglu(c, rec, s.eg, s.eu, s.eg, {F, T * K});
  if (shared) ops::swiglu(c, rec, s.fg, s.fu, s.fg, {d_.n_ff_shexp, T});
  if (!fused || shared) rec.barrier();

  // ed [T][K][E] = down of each selected expert; sh [T][E] = shared expert
  a.experts = w.down_exps;
  a.x = s.eg;
  a.x_per_expert = true;
  a.y = s.ed;
  a.bias = opt(w.down_exps_b);
  linear_id(rec, a, route);
  if (shared) linear(rec, {w.down_sh->w, s.fg, s.sh, {}, T});
  if (split_) join_cpu_experts(rec, il, T);  // the CPU's experts' rows join ed here
  rec.barrier();

  // x = x + sum_k wts * ed (+ gate * sh)
  ops::MoeCombineArgs m;
  m.experts = s.ed;
  m.weights = s.wts;
  m.residual = s.x;
  if (shared) m.shared = s.sh;
  if (w.gate_inp_sh) m.shared_gate_logit = s.sh_logit;
  m.out = s.x;
  if (dump_) {  // the routed experts alone, as the oracle dumps them
    ops::moe_combine(c, rec, {s.ed, s.wts, {}, {}, {}, s.y, E, K, T});
    rec.barrier();
    dump(rec, fmt::format("ffn_moe_out-{}", il), s.y, E, T);
  }
  m.n = E;
  m.n_used = K;
  m.n_tokens = T;
  m.norm_weight = next_norm;  // h = rms_norm(x) * next_norm: the next block's input, no norm dispatch
  m.normed = s.h;
  m.eps = d_.rms_eps;
  ops::moe_combine(c, rec, m);
  rec.barrier();
  return true;
}

void VkEngine::dump(vk::Recorder& rec, const std::string& name, const vk::View& v, uint32_t row_len,
                    uint32_t T) {
  if (!dump_) return;
  const uint64_t n = uint64_t(T) * row_len * 4;
  auto buf = std::make_unique<vk::Buffer>(*ctx_, n, vk::MemoryKind::Readback, "dump " + name);
  rec.copy(v, vk::View{buf.get(), 0, n}, n);
  pending_dumps_.push_back({name, row_len, std::move(buf)});
}

}  // namespace moevk
