// CPU reference attention: the standard multi-head / GQA block (q/k/v projections, biases, Q/K
// norm, rope, sinks, sliding window) and deepseek2's multi-head latent attention in its absorbed
// form.
#include "loader/error.h"
#include "runtime/ref/forward_impl.h"

namespace moevk::ref {

void Forward::Impl::attn_standard(uint32_t il, std::span<const float> h, uint32_t T, uint32_t pos0,
                                  std::span<float> out) {
  LayerWeights& w = layers[il];
  const uint32_t qd = d.q_dim(), kd = d.kv_dim(), vd = d.v_dim();
  const uint32_t od = d.n_head * d.n_embd_head_v;
  // q [T][n_head*head_k], k [T][n_head_kv*head_k], v [T][n_head_kv*head_v]
  std::vector<float> q(uint64_t(T) * qd), k(uint64_t(T) * kd), v(uint64_t(T) * vd);
  mm(w.wq, h, T, q);
  mm(w.wk, h, T, k);
  mm(w.wv, h, T, v);
  if (!w.bq.empty()) {
    add_bias(q, w.bq);
    add_bias(k, w.bk);
    add_bias(v, w.bv);
  }
  if (d.qk_norm == QkNorm::Full) {
    rms_norm(q, w.q_norm, d.rms_eps, qd, q);
    rms_norm(k, w.k_norm, d.rms_eps, kd, k);
  } else if (d.qk_norm == QkNorm::PerHead) {
    rms_norm(q, w.q_norm, d.rms_eps, d.n_embd_head_k, q);
    rms_norm(k, w.k_norm, d.rms_eps, d.n_embd_head_k, k);
  }
  for (uint32_t t = 0; t < T; ++t) {
    const uint32_t pos = pos0 + t;
    auto qt = std::span(q).subspan(uint64_t(t) * qd, qd);
    auto kt = std::span(k).subspan(uint64_t(t) * kd, kd);
    rope(qt, d.n_head, d.n_embd_head_k, pos, rope_p);
    rope(kt, d.n_head_kv, d.n_embd_head_k, pos, rope_p);
    std::copy(kt.begin(), kt.end(), w.k_cache.begin() + uint64_t(pos) * k_row);
    std::copy_n(v.begin() + uint64_t(t) * vd, vd, w.v_cache.begin() + uint64_t(pos) * v_row);
  }
  AttnParams p = attn_p;
  p.window = d.is_swa_layer(il) ? d.sliding_window : 0;
  std::vector<float> o(uint64_t(T) * od);
  parallel_for(
      T,
      [&](uint64_t t0, uint64_t t1) {
        for (uint64_t t = t0; t < t1; ++t)
          attention(std::span(q).subspan(t * qd, qd), w.k_cache, w.v_cache, pos0 + t, p, w.sinks,
                    std::span(o).subspan(t * od, od));
      },
      4);
  mm(w.wo, o, T, out);
  if (!w.bo.empty()) add_bias(out.subspan(0, uint64_t(T) * d.n_embd), w.bo);
}

// MLA, absorbed: the cache holds per position [rmsnorm(c_kv) | rope(k_pe)] (kv_lora_rank + n_rot)
// shared by all heads. Per head h, q_nope is mapped into the latent space by attn_k_b[h]
// (score = (k_b[h]^T q_nope) . c + q_pe . k_pe), attention averages c, and attn_v_b[h] maps the
// result to the head's value: mathematically the same as expanding k_nope = k_b c and v = v_b c.
void Forward::Impl::attn_mla(uint32_t il, std::span<const float> h, uint32_t T, uint32_t pos0,
                             std::span<float> out) {
  LayerWeights& w = layers[il];
  const uint32_t H = d.n_head, dk = d.n_embd_head_k_mla, dv = d.n_embd_head_v_mla;
  const uint32_t nope = d.mla_nope(), rot = d.n_rot, kvr = d.kv_lora_rank;
  const uint32_t qd = H * dk;
  // q [T][H * dk], each head [nope | rope]
  std::vector<float> q(uint64_t(T) * qd);
  if (d.q_lora_rank > 0) {
    std::vector<float> qa(uint64_t(T) * d.q_lora_rank);
    mm(w.wq_a, h, T, qa);
    rms_norm(qa, w.q_a_norm, d.rms_eps, d.q_lora_rank, qa);
    mm(w.wq_b, qa, T, q);
  } else {
    mm(w.wq, h, T, q);
  }
  // kv_a [T][kvr + rot] = [c_kv | k_pe]
  std::vector<float> kva(uint64_t(T) * k_row);
  mm(w.wkv_a, h, T, kva);

  std::vector<float> qf(uint64_t(H) * k_row), oc(uint64_t(H) * kvr);
  std::vector<float> o(uint64_t(T) * H * dv);
  for (uint32_t t = 0; t < T; ++t) {
    const uint32_t pos = pos0 + t;
    float* kv = kva.data() + uint64_t(t) * k_row;
    rms_norm(std::span(kv, kvr), w.kv_a_norm, d.rms_eps, kvr, std::span(kv, kvr));
    rope(std::span(kv + kvr, rot), 1, rot, pos, rope_p);
    std::copy_n(kv, k_row, w.k_cache.begin() + uint64_t(pos) * k_row);
    std::copy_n(kv, kvr, w.v_cache.begin() + uint64_t(pos) * v_row);
    // qf[h] = [k_b[h]^T q_nope[h] | rope(q_pe[h])]
    for (uint32_t hh = 0; hh < H; ++hh) {
      float* qh = q.data() + uint64_t(t) * qd + uint64_t(hh) * dk;
      float* qfh = qf.data() + uint64_t(hh) * k_row;
      mm(w.wk_b.rows(uint64_t(hh) * kvr, kvr), std::span(qh, nope), 1, std::span(qfh, kvr));
      std::copy_n(qh + nope, rot, qfh + kvr);
      rope(std::span(qfh + kvr, rot), 1, rot, pos, rope_p);
    }
    attention(qf, w.k_cache, w.v_cache, pos, attn_p, {}, oc);
    for (uint32_t hh = 0; hh < H; ++hh)
      mm(w.wv_b.rows(uint64_t(hh) * dv, dv), std::span(oc).subspan(uint64_t(hh) * kvr, kvr), 1,
             std::span(o).subspan((uint64_t(t) * H + hh) * dv, dv));
  }
  mm(w.wo, o, T, out);
}

}  // namespace moevk::ref
