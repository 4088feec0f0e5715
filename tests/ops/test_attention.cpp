// attention.comp and attention_tiled.comp against ref::attention (runtime/ref/ops.h, double
// accumulation) over the same f16-rounded K/V values; decode and prefill, GQA, sinks, sliding
// window, MLA-like K/V dims, long prompts. Each case runs both kernels (ops::AttentionKernel), on
// the default device (tiled: the subgroup-broadcast variant on lavapipe) and without subgroup ops
// (tiled: the shared-memory variant, with 32, 16 or 8 queries per workgroup as the dims fit).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "loader/quants/quants.h"
#include "runtime/ops/attention.h"
#include "runtime/ops/kv_store.h"
#include "runtime/ref/ops.h"
#include "tests/support/vk_test.h"

using namespace moevk;
using test::DeviceArray;

namespace {

struct Case {
  const char* what;
  uint32_t n_head, n_head_kv, dk, dv;
  uint32_t n_tokens, p0;
  uint32_t window = 0;
  bool sinks = false;
  bool v_in_k = false;  // MLA: V is the first dv halves of K's rows
  float scale = 0.0f;   // 0: 1/sqrt(dk)
};

// An f16 cache in the op's layout plus the same values as floats in ref::attention's layout
// ([pos][n_head_kv * dim]).
struct Cache {
  ops::KvLayout layout;
  std::vector<uint16_t> halves;
  std::vector<float> ref;  // [n_ctx][n_head_kv][dim]
};

Cache make_cache(const std::vector<float>& vals, uint32_t n_head_kv, uint32_t n_ctx, uint32_t dim,
                 uint32_t stride) {
  Cache c{{n_head_kv, n_ctx, stride},
          std::vector<uint16_t>(uint64_t(n_head_kv) * n_ctx * stride, 0),
          std::vector<float>(uint64_t(n_ctx) * n_head_kv * dim)};
  for (uint32_t h = 0; h < n_head_kv; ++h)
    for (uint32_t p = 0; p < n_ctx; ++p)
      for (uint32_t i = 0; i < stride; ++i) {
        const uint16_t x = fp32_to_fp16(vals[(uint64_t(h) * n_ctx + p) * stride + i]);
        c.halves[(uint64_t(h) * n_ctx + p) * stride + i] = x;
        if (i < dim) c.ref[(uint64_t(p) * n_head_kv + h) * dim + i] = fp16_to_fp32(x);
      }
  return c;
}

std::vector<float> reference(const Case& c, const std::vector<float>& q, const Cache& k,
                             const Cache& v, const std::vector<float>& sinks, float scale) {
  ref::AttnParams p;
  p.n_head = c.n_head;
  p.n_head_kv = c.n_head_kv;
  p.head_dim_k = c.dk;
  p.head_dim_v = c.dv;
  p.scale = scale;
  p.window = c.window;
  std::vector<float> out(uint64_t(c.n_tokens) * c.n_head * c.dv);
  const uint64_t qs = uint64_t(c.n_head) * c.dk, os = uint64_t(c.n_head) * c.dv;
  for (uint32_t t = 0; t < c.n_tokens; ++t)
    ref::attention(std::span<const float>(q).subspan(t * qs, qs), k.ref, v.ref, c.p0 + t, p, sinks,
                   std::span<float>(out).subspan(t * os, os));
  return out;
}

std::vector<float> run_gpu(vk::Context& ctx, const Case& c, const std::vector<float>& q,
                           const Cache& k, const Cache* v, const std::vector<float>& sinks,
                           float scale, ops::AttentionKernel kernel) {
  DeviceArray dq(ctx, q.size() * 4), dk(ctx, k.layout.bytes()), dv(ctx, v ? v->layout.bytes() : 4),
      ds(ctx, std::max<size_t>(1, sinks.size()) * 4),
      dout(ctx, uint64_t(c.n_tokens) * c.n_head * c.dv * 4);
  dq.upload(q);
  dk.upload(k.halves);
  if (v) dv.upload(v->halves);
  if (!sinks.empty()) ds.upload(sinks);
  ops::AttentionShape s{c.n_head, c.dk, c.dv, scale, c.window, 0};
  vk::Recorder rec(ctx);
  ops::KvLayout vl = v ? v->layout : k.layout;
  ops::attention(ctx, rec, s, dq.view(), dk.view(), k.layout, v ? dv.view() : dk.view(), vl,
                 sinks.empty() ? vk::View{} : ds.view(), dout.view(), c.n_tokens, c.p0, kernel);
  rec.submit_and_wait();
  return dout.read_f32();
}

void run_case(vk::Context& ctx, const Case& c, uint64_t seed) {
  const std::string what = c.what;
  CAPTURE(what);
  CAPTURE(c.n_head);
  CAPTURE(c.n_head_kv);
  CAPTURE(c.dk);
  CAPTURE(c.dv);
  CAPTURE(c.n_tokens);
  CAPTURE(c.p0);
  CAPTURE(c.window);
  CAPTURE(seed);
  const uint32_t n_ctx = c.p0 + c.n_tokens + 3;  // unwritten tail positions must not be read
  const float scale = c.scale > 0 ? c.scale : 1.0f / std::sqrt(float(c.dk));
  // Scores of a few units: softmax weights that are neither uniform nor one-hot.
  auto q = test::random_floats(seed, uint64_t(c.n_tokens) * c.n_head * c.dk, -1.0f, 1.0f);
  for (float& x : q) x *= 3.0f;
  Cache k = make_cache(test::random_floats(seed + 1, uint64_t(c.n_head_kv) * n_ctx * c.dk),
                       c.n_head_kv, n_ctx, c.dk, c.dk);
  Cache v = c.v_in_k
                ? make_cache(test::random_floats(seed + 1, uint64_t(c.n_head_kv) * n_ctx * c.dk),
                             c.n_head_kv, n_ctx, c.dv, c.dk)
                : make_cache(test::random_floats(seed + 2, uint64_t(c.n_head_kv) * n_ctx * c.dv),
                             c.n_head_kv, n_ctx, c.dv, c.dv);
  // NaN halves at positions no query may see (beyond the batch, before the first window): reading
  // one would poison the output.
  const uint32_t seen_from = c.window && c.p0 + 1 > c.window ? c.p0 + 1 - c.window : 0;
  for (Cache* x : {&k, &v})
    for (uint32_t h = 0; h < c.n_head_kv; ++h)
      for (uint32_t p = 0; p < n_ctx; ++p)
        if (p < seen_from || p >= c.p0 + c.n_tokens)
          for (uint32_t i = 0; i < x->layout.stride; ++i)
            x->halves[(uint64_t(h) * n_ctx + p) * x->layout.stride + i] = 0x7E00;
  std::vector<float> sinks;
  if (c.sinks) sinks = test::random_floats(seed + 3, c.n_head, -2.0f, 3.0f);
  const auto want = reference(c, q, k, v, sinks, scale);
  for (auto kernel : {ops::AttentionKernel::PerToken, ops::AttentionKernel::Tiled}) {
    const bool tiled = kernel == ops::AttentionKernel::Tiled;
    CAPTURE(tiled);
    const auto got = run_gpu(ctx, c, q, k, c.v_in_k ? nullptr : &v, sinks, scale, kernel);
    // Same f16 K/V values on both sides; f32 dot products over dk terms, f32 exp and an online
    // rescale against double: a few 1e-6 relative to the output's scale (|out| <= 1).
    test::check_close(got, want, {2e-6, 1e-4, 1e-5});
  }
}

std::vector<Case> cases() {
  return {
      {"one head, one key", 1, 1, 2, 2, 1, 0},
      {"decode, MHA, primes", 7, 7, 58, 58, 1, 12},
      {"decode, GQA 6/3, p0 past one chunk", 6, 3, 58, 46, 1, 130},
      {"prefill from 0, qwen3moe oracle shape", 8, 2, 64, 64, 24, 0},
      {"prefill continuing at p0, prime tokens", 4, 2, 64, 64, 37, 5},
      {"decode, qwen3-30b 32/4/128", 32, 4, 128, 128, 1, 300},
      {"decode, 32/8/128", 32, 8, 128, 128, 1, 257},
      {"prefill 32/8/128", 32, 8, 128, 128, 19, 100},
      {"gpt-oss 64/8/64 decode, sinks, window 128", 64, 8, 64, 64, 1, 200, 128, true},
      {"gpt-oss 64/8/64 prefill across the window", 64, 8, 64, 64, 33, 110, 128, true},
      {"gpt-oss oracle: window 16, sinks, prefill 24", 8, 2, 64, 64, 24, 0, 16, true},
      {"gpt-oss full-attention layer: sinks, no window", 8, 2, 64, 64, 5, 140, 0, true},
      {"window 1: only the token itself", 4, 4, 16, 16, 6, 3, 1, false},
      {"MLA oracle absorbed shape: dk 288, dv 256 = K's first dims", 4, 1, 288, 256, 24, 0, 0,
       false, true, 1.0f / std::sqrt(96.0f)},
      {"MLA DeepSeek-V3 decode: 16 heads, dk 576, dv 512", 16, 1, 576, 512, 1, 150, 0, false, true,
       0.1352f},
      // Long prompts and tile edges (the tiled kernel's 8/16/32-token tiles, 16-key tiles).
      {"long prefill from 0: 8/2/64, 613 tokens", 8, 2, 64, 64, 613, 0},
      {"long prefill at p0 401: window 128 and sinks, 247 tokens", 8, 2, 64, 64, 247, 401, 128,
       true},
      {"prefill 32/4/128, 41 tokens at p0 600", 32, 4, 128, 128, 41, 600},
      {"MLA absorbed dims 288/256, 150 tokens at p0 500", 4, 1, 288, 256, 150, 500, 0, false, true,
       1.0f / std::sqrt(96.0f)},
      // 1/sqrt(dk): with DeepSeek's larger scale the f32 dot products over 576 terms drift past
      // the tolerance below in both kernels alike (sharper weights on 336 queries).
      {"MLA DeepSeek-V3 prefill dims: dk 576, dv 512, 21 tokens at p0 40", 16, 1, 576, 512, 21, 40},
      {"MHA 3/3, odd dims 22/18, 70 tokens, window 5", 3, 3, 22, 18, 70, 9, 5},
  };
}

}  // namespace

TEST_CASE("attention: decode/prefill, GQA, sinks, window, MLA dims; subgroup and fallback") {
  for (bool no_subgroup : {false, true}) {
    CAPTURE(no_subgroup);
    vk::Context& ctx = no_subgroup ? test::gpu_without("subgroup") : test::gpu();
    uint64_t seed = 500;
    for (const Case& c : cases()) run_case(ctx, c, seed++);
  }
}

TEST_CASE("attention: exact inputs compared with == (equal scores over 256 keys, 2 chunks)") {
  // q = 0: every score is 0, the weights are all 1 and out = sum(v) / 256; v from
  // {-0.5, 0, 0.5, 1, 1.5}: sums and the division by 256 are exact in f32 and in double.
  Case c{"exact", 8, 2, 64, 64, 1, 255};
  const uint32_t n_ctx = 256;
  std::vector<float> q(c.n_head * c.dk, 0.0f);
  const Cache k = make_cache(test::random_floats(1, 2 * n_ctx * 64), 2, n_ctx, 64, 64);
  const Cache v = make_cache(test::exact_floats(2, 2 * n_ctx * 64), 2, n_ctx, 64, 64);
  const auto want = reference(c, q, k, v, {}, 0.125f);
  for (bool no_subgroup : {false, true})
    for (auto kernel : {ops::AttentionKernel::PerToken, ops::AttentionKernel::Tiled}) {
      CAPTURE(no_subgroup);
      CAPTURE(int(kernel));
      vk::Context& ctx = no_subgroup ? test::gpu_without("subgroup") : test::gpu();
      test::check_equal(run_gpu(ctx, c, q, k, &v, {}, 0.125f, kernel), want);
    }
}

TEST_CASE("attention: exact prefill inputs compared with == (window 64: 64 equal scores a query)") {
  // q = 0 and every query at qpos >= 63 sees exactly 64 keys (window 64): out = sum(v) / 64 of its
  // window, exact in f32 in any summation order for v from {-0.5, 0, 0.5, 1, 1.5}. 37 tokens: the
  // last tile is partial for 8, 16 and 32 tokens a tile.
  Case c{"exact prefill", 8, 2, 64, 64, 37, 100, 64};
  const uint32_t n_ctx = c.p0 + c.n_tokens;
  std::vector<float> q(uint64_t(c.n_tokens) * c.n_head * c.dk, 0.0f);
  const Cache k = make_cache(test::random_floats(3, 2 * n_ctx * 64), 2, n_ctx, 64, 64);
  const Cache v = make_cache(test::exact_floats(4, 2 * n_ctx * 64), 2, n_ctx, 64, 64);
  const auto want = reference(c, q, k, v, {}, 0.125f);
  for (bool no_subgroup : {false, true})
    for (auto kernel : {ops::AttentionKernel::PerToken, ops::AttentionKernel::Tiled}) {
      CAPTURE(no_subgroup);
      CAPTURE(int(kernel));
      vk::Context& ctx = no_subgroup ? test::gpu_without("subgroup") : test::gpu();
      test::check_equal(run_gpu(ctx, c, q, k, &v, {}, 0.125f, kernel), want);
    }
}

TEST_CASE("attention: kv_store then attention in one submission (f32 K/V written at positions)") {
  vk::Context& ctx = test::gpu();
  const uint32_t n_head = 8, n_kv = 2, d = 64, n_ctx = 40, T = 7, p0 = 20;
  const ops::KvLayout l{n_kv, n_ctx, d};
  // Positions 0..p0-1 were written earlier (uploaded); this batch writes p0..p0+T-1 itself.
  auto kv_old_k = test::random_floats(10, uint64_t(n_kv) * n_ctx * d);
  auto kv_old_v = test::random_floats(11, uint64_t(n_kv) * n_ctx * d);
  Cache k = make_cache(kv_old_k, n_kv, n_ctx, d, d), v = make_cache(kv_old_v, n_kv, n_ctx, d, d);
  auto new_k = test::random_floats(12, uint64_t(T) * n_kv * d),
       new_v = test::random_floats(13, T * n_kv * d);
  for (uint32_t t = 0; t < T; ++t)
    for (uint32_t h = 0; h < n_kv; ++h)
      for (uint32_t i = 0; i < d; ++i) {
        const uint64_t c = (uint64_t(h) * n_ctx + p0 + t) * d + i,
                       r = (uint64_t(p0 + t) * n_kv + h) * d + i;
        const uint16_t hk = fp32_to_fp16(new_k[(t * n_kv + h) * d + i]);
        const uint16_t hv = fp32_to_fp16(new_v[(t * n_kv + h) * d + i]);
        k.ref[r] = fp16_to_fp32(hk);
        v.ref[r] = fp16_to_fp32(hv);
        k.halves[c] = 0x7E00;  // NaN in the uploaded cache: the op must overwrite it
        v.halves[c] = 0x7E00;
      }
  auto q = test::random_floats(14, uint64_t(T) * n_head * d, -2.0f, 2.0f);
  std::vector<int32_t> pos(T);
  for (uint32_t t = 0; t < T; ++t) pos[t] = int32_t(p0 + t);
  DeviceArray dq(ctx, q.size() * 4), dk(ctx, l.bytes()), dv(ctx, l.bytes()),
      dnk(ctx, new_k.size() * 4), dnv(ctx, new_v.size() * 4), dp(ctx, T * 4),
      dout(ctx, uint64_t(T) * n_head * d * 4);
  dq.upload(q);
  dk.upload(k.halves);
  dv.upload(v.halves);
  dnk.upload(new_k);
  dnv.upload(new_v);
  dp.upload(pos);
  vk::Recorder rec(ctx);
  ops::kv_store(ctx, rec, dnk.view(), dp.view(), dk.view(), l, T, d);
  ops::kv_store(ctx, rec, dnv.view(), dp.view(), dv.view(), l, T, d);
  rec.barrier();
  const float scale = 0.125f;
  ops::attention(ctx, rec, {n_head, d, d, scale, 0, 0}, dq.view(), dk.view(), l, dv.view(), l, {},
                 dout.view(), T, p0);
  rec.submit_and_wait();
  Case c{"kv_store+attention", n_head, n_kv, d, d, T, p0};
  test::check_close(dout.read_f32(), reference(c, q, k, v, {}, scale), {2e-6, 1e-4, 1e-5});
}

TEST_CASE("attention: a tiled row does not depend on the batch around it (window, sinks; ==)") {
  // Key tiles start at multiples of 16 whatever the workgroup's first token, so re-evaluating
  // tokens 13.. of a batch (as the engine does after truncating the cache) gives the same bits.
  Case c{"batch", 8, 2, 64, 64, 45, 0, 20, true};
  const uint32_t n_ctx = c.n_tokens, part0 = 13;
  auto q = test::random_floats(30, uint64_t(c.n_tokens) * c.n_head * c.dk, -3.0f, 3.0f);
  const Cache k = make_cache(test::random_floats(31, 2 * n_ctx * 64), 2, n_ctx, 64, 64);
  const Cache v = make_cache(test::random_floats(32, 2 * n_ctx * 64), 2, n_ctx, 64, 64);
  const auto sinks = test::random_floats(33, c.n_head, -2.0f, 3.0f);
  Case part = c;
  part.n_tokens = c.n_tokens - part0;
  part.p0 = part0;
  const uint64_t qs = uint64_t(c.n_head) * c.dk, os = uint64_t(c.n_head) * c.dv;
  const std::vector<float> q_part(q.begin() + part0 * qs, q.end());
  for (bool no_subgroup : {false, true}) {
    CAPTURE(no_subgroup);
    vk::Context& ctx = no_subgroup ? test::gpu_without("subgroup") : test::gpu();
    const auto all = run_gpu(ctx, c, q, k, &v, sinks, 0.125f, ops::AttentionKernel::Tiled);
    const auto tail = run_gpu(ctx, part, q_part, k, &v, sinks, 0.125f, ops::AttentionKernel::Tiled);
    test::check_equal(tail, std::vector<float>(all.begin() + part0 * os, all.end()));
  }
}
