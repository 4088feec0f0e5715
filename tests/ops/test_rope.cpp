// rope.comp (normal and NeoX pairs, partial n_rot, YaRN, freq_factors, strided and in place; with
// a per-head RMS norm first and/or into the f16 KV cache) against ref::rope (runtime/ref/ops.h),
// one token at a time.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "loader/quants/quants.h"
#include "runtime/ops/rope.h"
#include "runtime/ref/ops.h"
#include "tests/support/vk_test.h"

using namespace moevk;
using test::DeviceArray;

namespace {

struct Case {
  uint32_t n_tok, n_head, head_dim, n_rot;
  int32_t max_pos;
};

ref::RopeParams plain(uint32_t n_rot, RopeType type, float base = 10000.0f) {
  ref::RopeParams p;
  p.n_rot = n_rot;
  p.type = type;
  p.freq_base = base;
  return p;
}

// gpt-oss's YaRN: base 150000, factor 32 over an original context of 4096.
ref::RopeParams gpt_oss_yarn(uint32_t n_rot) {
  ref::RopeParams p = plain(n_rot, RopeType::Neox, 150000.0f);
  p.freq_scale = 1.0f / 32.0f;
  p.ext_factor = 1.0f;
  p.n_ctx_orig = 4096;
  return p;
}

// deepseek2-like YaRN on normal pairs: factor 40, an attention factor, narrower betas.
ref::RopeParams deepseek_yarn(uint32_t n_rot) {
  ref::RopeParams p = plain(n_rot, RopeType::Normal, 10000.0f);
  p.freq_scale = 1.0f / 40.0f;
  p.ext_factor = 1.0f;
  p.attn_factor = 0.8f;
  p.beta_fast = 24.0f;
  p.beta_slow = 2.0f;
  p.n_ctx_orig = 4096;
  return p;
}

// Per-token tolerance. theta = pos * base^(-2i/n_rot) in fp32 carries |theta| * a few 2^-24 of
// rounding (the product and exp2; ggml's float rope has the same), so the rotated pair moves by up
// to ~3e-7 * pos * |x| * mscale; sin/cos after the exact range reduction add ~1e-6. Inputs |x|
// <= 1.
double tol_for(int32_t pos, const ref::RopeParams& p) {
  const double mscale =
      p.attn_factor * (p.ext_factor != 0.0f ? 1.0 + 0.1 * std::log(1.0 / p.freq_scale) : 1.0);
  return mscale * (3e-6 + 1e-6 * pos);
}

// The reference for a batch: ref::rope per token (in a scratch copy of its heads).
std::vector<float> reference(const std::vector<float>& x, const std::vector<int32_t>& pos, Case c,
                             uint32_t stride, const ref::RopeParams& p) {
  std::vector<float> want = x;
  for (uint32_t t = 0; t < c.n_tok; ++t)
    ref::rope(std::span<float>(want.data() + uint64_t(t) * stride, uint64_t(c.n_head) * c.head_dim),
              c.n_head, c.head_dim, pos[t], p);
  return want;
}

void check_tokens(const std::vector<float>& got, const std::vector<float>& want,
                  const std::vector<int32_t>& pos, Case c, uint32_t stride,
                  const ref::RopeParams& p) {
  size_t bad = 0;
  for (uint32_t t = 0; t < c.n_tok; ++t) {
    const double tol = tol_for(pos[t], p);
    for (uint32_t h = 0; h < c.n_head; ++h)
      for (uint32_t k = 0; k < c.head_dim; ++k) {
        const uint64_t i = uint64_t(t) * stride + uint64_t(h) * c.head_dim + k;
        // Dims past n_rot are copied: exactly equal.
        const bool ok = k >= c.n_rot ? got[i] == want[i] : std::fabs(got[i] - want[i]) <= tol;
        if (!ok && bad++ < 5)
          MESSAGE("token " << t << " (pos " << pos[t] << ") head " << h << " dim " << k << ": got "
                           << got[i] << " want " << want[i]);
      }
  }
  CHECK_MESSAGE(bad == 0, bad << " elements outside tolerance");
}

void run_case(Case c, const ref::RopeParams& p, uint64_t seed, uint32_t stride = 0,
              bool in_place = false) {
  CAPTURE(c.n_tok);
  CAPTURE(c.n_head);
  CAPTURE(c.head_dim);
  CAPTURE(c.n_rot);
  CAPTURE(c.max_pos);
  CAPTURE(int(p.type));
  CAPTURE(p.ext_factor);
  CAPTURE(stride);
  CAPTURE(in_place);
  CAPTURE(seed);
  vk::Context& ctx = test::gpu();
  if (stride == 0) stride = c.n_head * c.head_dim;
  const uint64_t n = uint64_t(c.n_tok) * stride;
  auto x = test::random_floats(seed, n);
  std::vector<int32_t> pos(c.n_tok);
  std::mt19937 rng{uint32_t(seed)};
  for (auto& v : pos) v = int32_t(rng() % uint32_t(c.max_pos + 1));
  pos[0] = c.max_pos;  // the largest position is always there
  DeviceArray dx(ctx, n * 4), dp(ctx, c.n_tok * 4ull), dd(ctx, n * 4);
  dx.upload(x);
  dp.upload(pos);
  if (stride > c.n_head * c.head_dim) dd.upload(x);  // the gaps between tokens are not written
  vk::Recorder rec(ctx);
  ops::RopeShape shape{c.n_tok, c.n_head, c.head_dim, stride, stride};
  ops::rope(ctx, rec, dx.view(), dp.view(), in_place ? dx.view() : dd.view(), shape, p);
  rec.submit_and_wait();
  auto got = in_place ? dx.read_f32() : dd.read_f32();
  check_tokens(got, reference(x, pos, c, stride, p), pos, c, stride, p);
}

}  // namespace

TEST_CASE("rope: normal and NeoX over shapes 1, primes, partial n_rot, model shapes") {
  const Case cases[] = {
      {1, 1, 2, 2, 0},          {1, 1, 2, 2, 5},       {3, 5, 10, 6, 100},
      {7, 3, 14, 14, 37},       {2, 13, 22, 8, 1000},  {5, 32, 128, 128, 4096},
      {4, 64, 64, 64, 4096},    {3, 8, 128, 64, 2048}, {1, 16, 64, 64, 131071},
      {33, 4, 128, 128, 65536},
  };
  for (RopeType type : {RopeType::Normal, RopeType::Neox})
    for (const Case& c : cases)
      run_case(c, plain(c.n_rot, type, 10000.0f), 900 + c.n_head * 31 + c.n_tok);
  // qwen3moe's base of 10^6.
  run_case({6, 4, 128, 128, 40000}, plain(128, RopeType::Neox, 1e6f), 77);
}

TEST_CASE("rope: small positions, tight tolerance") {
  // pos < 16: theta < 16, so the fp32 theta error is ~1e-6 and the check is near-exact.
  for (RopeType type : {RopeType::Normal, RopeType::Neox})
    run_case({17, 8, 64, 64, 15}, plain(64, type), 5);
}

TEST_CASE("rope: YaRN (gpt-oss, deepseek2-like) and linear scaling") {
  run_case({9, 64, 64, 64, 4096}, gpt_oss_yarn(64), 11);
  run_case({5, 8, 64, 64, 100000}, gpt_oss_yarn(64), 12);
  run_case({7, 16, 64, 64, 8191}, deepseek_yarn(64), 13);
  run_case({7, 3, 192, 64, 8191}, deepseek_yarn(64), 14);  // rope on the first 64 of 192 dims
  ref::RopeParams linear = plain(128, RopeType::Normal);
  linear.freq_scale = 0.25f;
  run_case({7, 4, 128, 128, 16000}, linear, 15);
}

TEST_CASE("rope: strided tokens (the Q part of a fused QKV row) and in place") {
  // qkv rows of (n_head + 2 n_head_kv) * head_dim = (8 + 2*2) * 64; rope the first 8 heads.
  run_case({6, 8, 64, 64, 3000}, plain(64, RopeType::Neox), 21, 12 * 64);
  run_case({6, 8, 64, 64, 3000}, gpt_oss_yarn(64), 22, 0, true);
  run_case({5, 3, 10, 6, 300}, plain(6, RopeType::Normal), 23, 0, true);
}

TEST_CASE("rope: freq_factors divide each pair's theta") {
  // theta_extrap / ff[i] at position pos equals theta_extrap at pos / ff[i], so with ff[i] = 2^k_i
  // and positions divisible by every 2^k_i, pair i of the GPU result must match ref::rope at pos /
  // ff[i] (YaRN's ramp depends on i only, so this holds under YaRN too).
  vk::Context& ctx = test::gpu();
  const uint32_t n_tok = 4, n_head = 3, head_dim = 64, n_rot = 64;
  for (ref::RopeParams p : {plain(n_rot, RopeType::Normal), gpt_oss_yarn(n_rot)}) {
    CAPTURE(int(p.type));
    std::vector<float> ff(n_rot / 2);
    for (uint32_t i = 0; i < ff.size(); ++i) ff[i] = float(1u << (i % 4));
    std::vector<int32_t> pos = {0, 8, 800, 4000};
    auto x = test::random_floats(31, uint64_t(n_tok) * n_head * head_dim);
    DeviceArray dx(ctx, x.size() * 4), dp(ctx, pos.size() * 4), dff(ctx, ff.size() * 4),
        dd(ctx, x.size() * 4);
    dx.upload(x);
    dp.upload(pos);
    dff.upload(ff);
    vk::Recorder rec(ctx);
    ops::rope(ctx, rec, dx.view(), dp.view(), dd.view(), {n_tok, n_head, head_dim}, p, dff.view());
    rec.submit_and_wait();
    auto got = dd.read_f32();
    std::vector<float> want(x.size());
    for (uint32_t k = 1; k <= 8; k *= 2) {  // ref at pos / k, keep the pairs with ff[i] == k
      std::vector<int32_t> pk(pos.size());
      for (size_t t = 0; t < pos.size(); ++t) pk[t] = pos[t] / int32_t(k);
      auto wk = reference(x, pk, {n_tok, n_head, head_dim, n_rot, 0}, n_head * head_dim, p);
      for (uint64_t e = 0; e < want.size(); ++e) {
        const uint32_t d = e % head_dim;
        const uint32_t i = p.type == RopeType::Neox ? d % (n_rot / 2) : d / 2;
        if (ff[i] == float(k)) want[e] = wk[e];
      }
    }
    check_tokens(got, want, pos, {n_tok, n_head, head_dim, n_rot, 0}, n_head * head_dim, p);
  }
}

TEST_CASE("rope: exact inputs compared with ==") {
  // Position 0 turns nothing: cos 0 = 1, sin 0 = 0, so a * 1 - b * 0 == a for every pair.
  vk::Context& ctx = test::gpu();
  const uint32_t n_tok = 3, n_head = 5, head_dim = 128;
  auto x = test::exact_floats(3, uint64_t(n_tok) * n_head * head_dim);
  std::vector<int32_t> pos(n_tok, 0);
  for (RopeType type : {RopeType::Normal, RopeType::Neox}) {
    CAPTURE(int(type));
    DeviceArray dx(ctx, x.size() * 4), dp(ctx, n_tok * 4), dd(ctx, x.size() * 4);
    dx.upload(x);
    dp.upload(pos);
    vk::Recorder rec(ctx);
    ops::rope(ctx, rec, dx.view(), dp.view(), dd.view(), {n_tok, n_head, head_dim},
              plain(96, type));
    rec.submit_and_wait();
    test::check_equal(dd.read_f32(), reference(x, pos, {n_tok, n_head, head_dim, 96, 0},
                                               n_head * head_dim, plain(96, type)));
    test::check_equal(dd.read_f32(), x);
  }
}

TEST_CASE("rope: exact inputs at many positions compared with ==") {
  // Positions from 0 to 2^20 in one batch with exact inputs. freq_scale 0 (no YaRN) makes every
  // angle 0 at every position, so the output must equal the input with ==: a mix-up of tokens, heads
  // or dims, or a position read out of place, shows as a wrong value. Then a real rotation at the same
  // positions: the dims past n_rot are copies (==), the rotated ones match ref::rope at each token's
  // own position (GPU sin/cos are not exact: within the per-position tolerance).
  vk::Context& ctx = test::gpu();
  const uint32_t n_head = 3, head_dim = 64, n_rot = 48;
  std::vector<int32_t> pos = {0, 1, 2, 3, 7, 8, 100, 255, 256, 4095, 4096, 32767, 65535, 100000, 1 << 20};
  const uint32_t n_tok = uint32_t(pos.size());
  auto x = test::exact_floats(5, uint64_t(n_tok) * n_head * head_dim);
  for (RopeType type : {RopeType::Normal, RopeType::Neox}) {
    CAPTURE(int(type));
    ref::RopeParams still = plain(n_rot, type);
    still.freq_scale = 0.0f;
    DeviceArray dx(ctx, x.size() * 4), dp(ctx, n_tok * 4), dd(ctx, x.size() * 4);
    dx.upload(x);
    dp.upload(pos);
    vk::Recorder rec(ctx);
    ops::rope(ctx, rec, dx.view(), dp.view(), dd.view(), {n_tok, n_head, head_dim}, still);
    rec.submit_and_wait();
    const std::vector<float> got = dd.read_f32();
    test::check_equal(got, x);
    test::check_equal(got, reference(x, pos, {n_tok, n_head, head_dim, n_rot, 0}, n_head * head_dim, still));

    // A real rotation at the same positions: the dims past n_rot are copied exactly, and token t's
    // rotated dims are those of ref::rope at pos[t] (within tolerance), not of another position.
    const ref::RopeParams turn = plain(n_rot, type);
    DeviceArray dd2(ctx, x.size() * 4);
    vk::Recorder rec2(ctx);
    ops::rope(ctx, rec2, dx.view(), dp.view(), dd2.view(), {n_tok, n_head, head_dim}, turn);
    rec2.submit_and_wait();
    const std::vector<float> got2 = dd2.read_f32();
    const std::vector<float> want2 = reference(x, pos, {n_tok, n_head, head_dim, n_rot, 0}, n_head * head_dim, turn);
    for (uint32_t t = 0; t < n_tok; ++t)
      for (uint32_t h = 0; h < n_head; ++h)
        for (uint32_t k = n_rot; k < head_dim; ++k) {
          const uint64_t i = (uint64_t(t) * n_head + h) * head_dim + k;
          CHECK(got2[i] == x[i]);
        }
    check_tokens(got2, want2, pos, {n_tok, n_head, head_dim, n_rot, 0}, n_head * head_dim, turn);
  }
}

namespace {

// rope with its extras against the reference: ref::rms_norm over each head (when norm), then
// ref::rope; into d, or into a poisoned cache at col0 (each written half within the rope tolerance
// plus half rounding of the reference value; every other half keeps its poison).
void run_extras(Case c, const ref::RopeParams& p, bool norm, bool to_cache, uint64_t seed) {
  CAPTURE(c.n_tok);
  CAPTURE(c.n_head);
  CAPTURE(c.head_dim);
  CAPTURE(int(p.type));
  CAPTURE(norm);
  CAPTURE(to_cache);
  CAPTURE(seed);
  vk::Context& ctx = test::gpu();
  const uint32_t span = c.n_head * c.head_dim;
  auto x = test::random_floats(seed, uint64_t(c.n_tok) * span, -3.0f, 3.0f);
  auto w = test::random_floats(seed + 1, c.head_dim, 0.5f, 1.5f);
  std::vector<int32_t> pos(c.n_tok);
  for (uint32_t t = 0; t < c.n_tok; ++t) pos[t] = int32_t((t * 7 + 3) % uint32_t(c.max_pos + 1));
  if (to_cache && c.n_tok > 1) pos[1] = -1;  // skipped
  const float eps = 1e-6f;
  std::vector<float> want = x;
  if (norm)
    for (uint64_t r = 0; r < uint64_t(c.n_tok) * c.n_head; ++r) {
      std::span<float> head(want.data() + r * c.head_dim, c.head_dim);
      std::vector<float> in(head.begin(), head.end());
      ref::rms_norm(in, w, eps, c.head_dim, head);
    }
  for (uint32_t t = 0; t < c.n_tok; ++t)
    if (pos[t] >= 0)
      ref::rope(std::span<float>(want.data() + uint64_t(t) * span, span), c.n_head, c.head_dim,
                pos[t], p);

  const ops::KvLayout layout{c.n_head, uint32_t(c.max_pos + 1), c.head_dim + 8};
  const uint32_t col0 = 4;
  DeviceArray dx(ctx, x.size() * 4), dw(ctx, w.size() * 4), dp(ctx, pos.size() * 4),
      dd(ctx, x.size() * 4), dc(ctx, layout.bytes());
  dx.upload(x);
  dw.upload(w);
  dp.upload(pos);
  ops::RopeExtras ex;
  if (norm) {
    ex.norm = dw.view();
    ex.eps = eps;
  }
  if (to_cache) {
    ex.cache = dc.view();
    ex.layout = layout;
    ex.col0 = col0;
  }
  vk::Recorder rec(ctx);
  ops::rope(ctx, rec, dx.view(), dp.view(), dd.view(), {c.n_tok, c.n_head, c.head_dim}, p, {}, ex);
  rec.submit_and_wait();
  // |x| <= 3, normed heads |x| <= ~1.5 sqrt(head_dim) before the weight: scale the rope tolerance.
  const double scale = norm ? 1.5 * std::sqrt(double(c.head_dim)) : 3.0;
  if (!to_cache) {
    auto got = dd.read_f32();
    size_t bad = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      const double tol = scale * tol_for(c.max_pos, p) + (norm ? 1e-5 * std::fabs(want[i]) : 0.0);
      if (!(std::fabs(got[i] - want[i]) <= tol) && bad++ < 5)
        MESSAGE("element " << i << ": got " << got[i] << " want " << want[i]);
    }
    CHECK_MESSAGE(bad == 0, bad << " elements outside tolerance");
    return;
  }
  auto bytes = dc.read_bytes();
  std::vector<uint16_t> got(bytes.size() / 2);
  std::memcpy(got.data(), bytes.data(), bytes.size());
  const uint16_t poison[2] = {uint16_t(test::kPoison & 0xFFFF), uint16_t(test::kPoison >> 16)};
  std::vector<int64_t> src(got.size(), -1);  // the element of want behind each half
  for (uint32_t t = 0; t < c.n_tok; ++t) {
    if (pos[t] < 0) continue;
    for (uint32_t h = 0; h < c.n_head; ++h)
      for (uint32_t i = 0; i < c.head_dim; ++i)
        src[(uint64_t(h) * layout.n_ctx + pos[t]) * layout.stride + col0 + i] =
            int64_t(t) * span + h * c.head_dim + i;
  }
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    bool ok;
    if (src[i] < 0) {
      ok = got[i] == poison[i % 2];
    } else {
      const double r = want[src[i]], g = fp16_to_fp32(got[i]);
      ok = std::fabs(g - r) <= scale * tol_for(c.max_pos, p) + 1e-3 * std::fabs(r) + 1e-5;
    }
    if (!ok && bad++ < 5) MESSAGE("half " << i << ": got " << got[i]);
  }
  CHECK_MESSAGE(bad == 0, bad << " halves wrong");
}

}  // namespace

TEST_CASE("rope: per-head RMS norm first (qk-norm), into d or into the f16 KV cache") {
  uint64_t seed = 4000;
  for (RopeType type : {RopeType::Normal, RopeType::Neox})
    for (bool norm : {false, true})
      for (bool to_cache : {false, true}) {
        run_extras({5, 4, 128, 128, 300}, plain(128, type, 1e6f), norm, to_cache, seed++);
        run_extras({3, 3, 10, 6, 40}, plain(6, type), norm, to_cache, seed++);  // partial n_rot
      }
  // gpt-oss's YaRN into the cache; a head longer than the workgroup (192 dims, rope on 64).
  run_extras({9, 8, 64, 64, 4096}, gpt_oss_yarn(64), false, true, seed++);
  run_extras({4, 2, 192, 64, 100}, deepseek_yarn(64), true, true, seed++);
}
