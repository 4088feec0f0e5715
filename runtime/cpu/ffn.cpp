#include "runtime/cpu/ffn.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "loader/error.h"
#include "runtime/cpu/kernels.h"

namespace moevk::cpu {

void swiglu_row(const ExpertWeights& w, float* g, const float* u, uint32_t n) {
  if (w.act == FfnAct::SwigluClamped) {
    for (uint32_t i = 0; i < n; ++i) {
      const float x = std::min(g[i], w.limit);
      const float y = std::clamp(u[i], -w.limit, w.limit);
      g[i] = x / (1.0f + std::exp(-w.alpha * x)) * (y + 1.0f);
    }
  } else {
    for (uint32_t i = 0; i < n; ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  }
}

void expert_ffn(const ExpertWeights& w, std::span<const float> x, uint32_t n_tok, uint32_t n_used,
                std::span<const int32_t> ids, std::span<const float> weights, std::span<float> out,
                ThreadPool& pool) {
  const uint32_t E = w.n_embd, F = w.n_ff;
  MOEVK_ASSERT(x.size() >= uint64_t(n_tok) * E && out.size() >= uint64_t(n_tok) * E,
               "cpu::expert_ffn: x/out too small");
  MOEVK_ASSERT(ids.size() >= uint64_t(n_tok) * n_used && weights.size() >= uint64_t(n_tok) * n_used,
               "cpu::expert_ffn: ids/weights too small");
  MOEVK_ASSERT(w.gate.row_len == E && w.up.row_len == E && w.down.row_len == F &&
                   w.gate.n_rows >= uint64_t(w.n_expert) * F &&
                   w.up.n_rows >= uint64_t(w.n_expert) * F &&
                   w.down.n_rows >= uint64_t(w.n_expert) * E,
               "cpu::expert_ffn: weight shapes");

  // Pairs (expert, token, weight) sorted by expert, then token: the down phase sums them in this
  // order. first[i]..first[i+1] are the pairs of the i-th used expert.
  struct Pair {
    uint32_t e, t;
    float w;
  };
  std::vector<Pair> pairs;
  for (uint32_t t = 0; t < n_tok; ++t)
    for (uint32_t j = 0; j < n_used; ++j) {
      const int32_t e = ids[uint64_t(t) * n_used + j];
      if (e < 0) continue;
      MOEVK_ASSERT(uint32_t(e) < w.n_expert, "cpu::expert_ffn: expert id out of range");
      pairs.push_back({uint32_t(e), t, weights[uint64_t(t) * n_used + j]});
    }
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const Pair& a, const Pair& b) { return a.e < b.e; });
  std::vector<uint32_t> first;
  for (uint32_t p = 0; p < pairs.size(); ++p)
    if (p == 0 || pairs[p].e != pairs[p - 1].e) first.push_back(p);
  const uint32_t n_used_experts = uint32_t(first.size());
  first.push_back(uint32_t(pairs.size()));

  // Token rows quantised for gate and for up (once per token).
  const size_t gs = act_row_bytes(w.gate.type, E), us = act_row_bytes(w.up.type, E);
  const bool same_act = act_format(w.gate.type) == act_format(w.up.type);
  // Scratch kept per calling thread across calls: no page faults on large batches. (Local
  // references: inside the tasks a thread_local name would mean the worker's own copy.)
  thread_local std::vector<uint8_t> tl_xg, tl_xu, tl_hq;
  std::vector<uint8_t>&xg = tl_xg, &xu = tl_xu, &hq = tl_hq;
  if (xg.size() < gs * n_tok) xg.resize(gs * n_tok);
  if (!same_act && xu.size() < us * n_tok) xu.resize(us * n_tok);
  for (uint32_t t = 0; t < n_tok; ++t) {
    quantize_act(w.gate.type, x.data() + uint64_t(t) * E, xg.data() + t * gs, E);
    if (!same_act) quantize_act(w.up.type, x.data() + uint64_t(t) * E, xu.data() + t * us, E);
  }
  const uint8_t* xup = same_act ? xg.data() : xu.data();

  // Phase 1, per (used expert, chunk of its F rows): gate and up rows against the expert's tokens,
  // the activation, then the hidden rows quantised for down, chunk by chunk (the chunk is a whole
  // number of down's activation blocks, so the blocks are independent).
  const uint32_t block = act_format(w.down.type) == ActFormat::Q8_256  ? 256
                         : act_format(w.down.type) == ActFormat::Q8_32 ? 32
                                                                       : 1;
  MOEVK_ASSERT(F % block == 0, "cpu::expert_ffn: n_ff not a multiple of down's block");
  const uint32_t want_chunks = std::max<uint32_t>(
      1, (pool.size() * 4 + n_used_experts - 1) / std::max<uint32_t>(1, n_used_experts));
  uint32_t chunk = std::max<uint32_t>(block, (F / want_chunks) / block * block);
  chunk = std::min(chunk, std::max<uint32_t>(block, 256 / block * block));  // bounded scratch
  chunk = std::min(chunk, F);
  const uint32_t n_chunks = (F + chunk - 1) / chunk;
  const size_t hs = act_row_bytes(w.down.type, F);
  const size_t hb = act_row_bytes(w.down.type, chunk);  // bytes of one chunk of a hidden row
  if (hq.size() < hs * pairs.size()) hq.resize(hs * pairs.size());

  const unsigned n_threads = pool.size();
  std::vector<std::vector<float>> scratch(n_threads);
  std::vector<std::vector<const void*>> ptrs(n_threads);
  pool.run(uint64_t(n_used_experts) * n_chunks, [&](uint64_t task, unsigned thread) {
    const uint32_t ui = uint32_t(task / n_chunks), c = uint32_t(task % n_chunks);
    const uint32_t p0 = first[ui], np = first[ui + 1] - p0, e = pairs[p0].e;
    const uint32_t r0 = c * chunk, nr = std::min(F, r0 + chunk) - r0;
    std::vector<float>& s = scratch[thread];
    s.resize(size_t(2) * np * chunk + np);
    float* g = s.data();  // [np][chunk]
    float* u = s.data() + size_t(np) * chunk;
    // The expert's token rows, quantised for gate and for up.
    std::vector<const void*>& ap = ptrs[thread];
    ap.resize(size_t(2) * np);
    for (uint32_t i = 0; i < np; ++i) {
      const uint32_t t = pairs[p0 + i].t;
      ap[i] = xg.data() + t * gs;
      ap[np + i] = xup + t * (same_act ? gs : us);
    }
    float* yg = s.data() + size_t(2) * np * chunk;  // [np] results of one row
    for (uint32_t r = 0; r < nr; ++r) {
      const uint64_t row = uint64_t(e) * F + r0 + r;
      dot_many(w.gate.type, w.gate.data + row * w.gate.row_bytes, ap.data(), int(np), E, yg);
      for (uint32_t i = 0; i < np; ++i) g[size_t(i) * chunk + r] = yg[i];
      dot_many(w.up.type, w.up.data + row * w.up.row_bytes, ap.data() + np, int(np), E, yg);
      for (uint32_t i = 0; i < np; ++i) u[size_t(i) * chunk + r] = yg[i];
    }
    for (uint32_t i = 0; i < np; ++i) {
      float* gi = g + size_t(i) * chunk;
      float* ui_ = u + size_t(i) * chunk;
      if (!w.gate_b.empty())
        for (uint32_t r = 0; r < nr; ++r) gi[r] += w.gate_b[uint64_t(e) * F + r0 + r];
      if (!w.up_b.empty())
        for (uint32_t r = 0; r < nr; ++r) ui_[r] += w.up_b[uint64_t(e) * F + r0 + r];
      swiglu_row(w, gi, ui_, nr);
      quantize_act(w.down.type, gi, hq.data() + size_t(p0 + i) * hs + size_t(c) * hb, nr);
    }
  });

  // Phase 2, per chunk of the n_embd output rows: every pair's down rows, weighted, summed into out
  // in pair order (each task owns its rows of every token).
  const uint32_t ochunk = std::max<uint32_t>(16, (E + n_threads * 8 - 1) / (n_threads * 8));
  const uint32_t n_ochunks = (E + ochunk - 1) / ochunk;
  std::vector<const void*> hp(pairs.size());
  for (size_t p = 0; p < pairs.size(); ++p) hp[p] = hq.data() + p * hs;
  pool.run(n_ochunks, [&](uint64_t task, unsigned thread) {
    const uint32_t r0 = uint32_t(task) * ochunk, r1 = std::min(E, r0 + ochunk);
    for (uint32_t t = 0; t < n_tok; ++t)
      std::fill(out.begin() + uint64_t(t) * E + r0, out.begin() + uint64_t(t) * E + r1, 0.0f);
    std::vector<float>& y = scratch[thread];
    for (uint32_t ui = 0; ui < n_used_experts; ++ui) {
      const uint32_t p0 = first[ui], np = first[ui + 1] - p0, e = pairs[p0].e;
      y.resize(np);
      for (uint32_t r = r0; r < r1; ++r) {
        const uint64_t row = uint64_t(e) * E + r;
        dot_many(w.down.type, w.down.data + row * w.down.row_bytes, hp.data() + p0, int(np), F,
                 y.data());
        const float b = w.down_b.empty() ? 0.0f : w.down_b[row];
        for (uint32_t i = 0; i < np; ++i) {
          const Pair& p = pairs[p0 + i];
          out[uint64_t(p.t) * E + r] += p.w * (y[i] + b);
        }
      }
    }
  });
}

}  // namespace moevk::cpu
