// rope_qkv.comp (q rope in place, k rope into the K cache, v into the V cache, one dispatch)
// against the three ops it replaces, rope(q), rope(k, cache) and kv_store(v), which test_rope and
// test_kv_store check against runtime/ref: the fused op must match them bit for bit (the same
// arithmetic), with the caches poisoned and skipped positions left alone, plus exact inputs
// compared with == against the inputs themselves.
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "loader/quants/quants.h"
#include "runtime/ops/kv_store.h"
#include "runtime/ops/rope.h"
#include "tests/support/vk_test.h"

using namespace moevk;
using test::DeviceArray;

namespace {

struct Case {
  uint32_t n_tok, n_head, n_head_kv, head_dim, dv, n_rot;
  bool norm;
};

ref::RopeParams params(uint32_t n_rot, RopeType type, bool yarn) {
  ref::RopeParams p;
  p.n_rot = n_rot;
  p.type = type;
  p.freq_base = yarn ? 150000.0f : 10000.0f;
  if (yarn) {  // gpt-oss's YaRN
    p.freq_scale = 1.0f / 32.0f;
    p.ext_factor = 1.0f;
    p.n_ctx_orig = 4096;
  }
  return p;
}

void check_same_words(DeviceArray& got, DeviceArray& want, const char* what) {
  auto g = got.read_f32(false), w = want.read_f32(false);  // guards checked, poison allowed
  REQUIRE(g.size() == w.size());
  size_t bad = 0;
  for (size_t i = 0; i < g.size(); ++i)
    if (std::memcmp(&g[i], &w[i], 4) != 0 && bad++ < 5)
      MESSAGE(std::string(what) << " word " << i << " differs");
  CHECK_MESSAGE(bad == 0, std::string(what) << ": " << bad << " words differ");
}

// Returns the fused op's q and caches after comparing them with the three separate ops.
void run_case(Case c, const ref::RopeParams& p, const std::vector<float>& q,
              const std::vector<float>& k, const std::vector<float>& v,
              const std::vector<int32_t>& pos, uint32_t n_ctx, uint64_t seed,
              std::vector<float>* q_out = nullptr, std::vector<uint8_t>* kc_out = nullptr,
              std::vector<uint8_t>* vc_out = nullptr) {
  CAPTURE(c.n_tok);
  CAPTURE(c.n_head);
  CAPTURE(c.n_head_kv);
  CAPTURE(c.head_dim);
  CAPTURE(c.dv);
  CAPTURE(c.n_rot);
  CAPTURE(c.norm);
  CAPTURE(int(p.type));
  CAPTURE(p.ext_factor);
  CAPTURE(seed);
  vk::Context& ctx = test::gpu();
  const ops::KvLayout kl{c.n_head_kv, n_ctx, c.head_dim + 2}, vl{c.n_head_kv, n_ctx, c.dv};
  auto qw = test::random_floats(seed + 1, c.head_dim, 0.5f, 1.5f);
  auto kw = test::random_floats(seed + 2, c.head_dim, 0.5f, 1.5f);
  DeviceArray dqw(ctx, qw.size() * 4), dkw(ctx, kw.size() * 4), dp(ctx, pos.size() * 4),
      dk(ctx, k.size() * 4), dv(ctx, v.size() * 4);
  dqw.upload(qw);
  dkw.upload(kw);
  dp.upload(pos);
  dk.upload(k);
  dv.upload(v);
  const float eps = 1e-6f;
  // The three ops.
  DeviceArray q1(ctx, q.size() * 4), kc1(ctx, kl.bytes()), vc1(ctx, vl.bytes());
  q1.upload(q);
  {
    ops::RopeExtras qx, kx;
    if (c.norm) {
      qx.norm = dqw.view();
      kx.norm = dkw.view();
      qx.eps = kx.eps = eps;
    }
    kx.cache = kc1.view();
    kx.layout = kl;
    vk::Recorder rec(ctx);
    ops::rope(ctx, rec, q1.view(), dp.view(), q1.view(), {c.n_tok, c.n_head, c.head_dim}, p, {},
              qx);
    ops::rope(ctx, rec, dk.view(), dp.view(), {}, {c.n_tok, c.n_head_kv, c.head_dim}, p, {}, kx);
    ops::kv_store(ctx, rec, dv.view(), dp.view(), vc1.view(), vl, c.n_tok, c.dv);
    rec.submit_and_wait();
  }
  // The fused op.
  DeviceArray q2(ctx, q.size() * 4), kc2(ctx, kl.bytes()), vc2(ctx, vl.bytes());
  q2.upload(q);
  {
    ops::RopeQkv a{q2.view(), dk.view(), dv.view(), dp.view()};
    if (c.norm) {
      a.q_norm = dqw.view();
      a.k_norm = dkw.view();
      a.eps = eps;
    }
    a.k_cache = kc2.view();
    a.v_cache = vc2.view();
    a.k_layout = kl;
    a.v_layout = vl;
    a.n_tok = c.n_tok;
    a.n_head = c.n_head;
    a.n_head_kv = c.n_head_kv;
    a.head_dim = c.head_dim;
    a.dv = c.dv;
    vk::Recorder rec(ctx);
    ops::rope_qkv(ctx, rec, a, p);
    rec.submit_and_wait();
  }
  check_same_words(q2, q1, "q");
  check_same_words(kc2, kc1, "k cache");
  check_same_words(vc2, vc1, "v cache");
  if (q_out) *q_out = q2.read_f32();
  if (kc_out) *kc_out = kc2.read_bytes();
  if (vc_out) *vc_out = vc2.read_bytes();
}

void run_random(Case c, const ref::RopeParams& p, uint64_t seed) {
  const uint32_t n_ctx = 3 * c.n_tok + 5;
  auto q = test::random_floats(seed, uint64_t(c.n_tok) * c.n_head * c.head_dim, -3.0f, 3.0f);
  auto k = test::random_floats(seed + 3, uint64_t(c.n_tok) * c.n_head_kv * c.head_dim, -3.0f, 3.0f);
  auto v = test::random_floats(seed + 4, uint64_t(c.n_tok) * c.n_head_kv * c.dv, -3.0f, 3.0f);
  std::vector<int32_t> pos(c.n_tok);
  // Distinct positions: two tokens at one row would race (the engine never has that).
  for (uint32_t t = 0; t < c.n_tok; ++t) pos[t] = int32_t(t * 3 + 2);
  if (c.n_tok > 1) pos[1] = -1;              // skipped
  if (c.n_tok > 2) pos[2] = int32_t(n_ctx);  // past the cache: skipped
  run_case(c, p, q, k, v, pos, n_ctx, seed);
}

}  // namespace

TEST_CASE("rope_qkv: the same as rope(q), rope(k) into the cache and kv_store(v)") {
  uint64_t seed = 9000;
  for (RopeType type : {RopeType::Normal, RopeType::Neox})
    for (bool norm : {false, true}) {
      run_random({1, 1, 1, 2, 2, 2, norm}, params(2, type, false), seed++);
      run_random({3, 5, 1, 10, 6, 6, norm}, params(6, type, false), seed++);  // partial n_rot
      run_random({7, 32, 4, 128, 128, 128, norm}, params(128, type, false), seed++);  // qwen3moe
      run_random({4, 4, 2, 192, 130, 64, norm}, params(64, type, false), seed++);     // dv != dk
    }
  run_random({9, 64, 8, 64, 64, 64, false}, params(64, RopeType::Neox, true), seed++);  // gpt-oss
}

TEST_CASE("rope_qkv: exact inputs compared with ==") {
  // Position 0 turns nothing, so q comes back unchanged and the caches hold the inputs as halves
  // (exact: inputs from {-0.5, 0, 0.5, 1, 1.5}).
  const Case c{3, 6, 2, 64, 32, 48, false};
  const uint32_t n_ctx = 4;
  auto q = test::exact_floats(1, uint64_t(c.n_tok) * c.n_head * c.head_dim);
  auto k = test::exact_floats(2, uint64_t(c.n_tok) * c.n_head_kv * c.head_dim);
  auto v = test::exact_floats(3, uint64_t(c.n_tok) * c.n_head_kv * c.dv);
  for (RopeType type : {RopeType::Normal, RopeType::Neox}) {
    CAPTURE(int(type));
    std::vector<int32_t> pos = {0, -1, 2};  // token 2 at row 2: with pos 2 only q's rope moves
    ref::RopeParams p = params(c.n_rot, type, false);
    p.freq_scale = 0.0f;  // every angle 0 at every position
    std::vector<float> got_q;
    std::vector<uint8_t> kc, vc;
    run_case(c, p, q, k, v, pos, n_ctx, 1, &got_q, &kc, &vc);
    test::check_equal(got_q, q);
    auto half_at = [](const std::vector<uint8_t>& b, uint64_t i) {
      uint16_t h;
      std::memcpy(&h, b.data() + 2 * i, 2);
      return h;
    };
    const uint32_t ks = c.head_dim + 2;
    for (uint32_t t : {0u, 2u})
      for (uint32_t h = 0; h < c.n_head_kv; ++h) {
        for (uint32_t i = 0; i < c.head_dim; ++i)
          CHECK(half_at(kc, (uint64_t(h) * n_ctx + pos[t]) * ks + i) ==
                fp32_to_fp16(k[(uint64_t(t) * c.n_head_kv + h) * c.head_dim + i]));
        for (uint32_t i = 0; i < c.dv; ++i)
          CHECK(half_at(vc, (uint64_t(h) * n_ctx + pos[t]) * c.dv + i) ==
                fp32_to_fp16(v[(uint64_t(t) * c.n_head_kv + h) * c.dv + i]));
      }
  }
}
