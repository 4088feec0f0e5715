// moe_combine.comp against runtime/ref/moe_combine (and ref::rms_norm for the fused next norm).
#include <doctest/doctest.h>

#include "runtime/ops/moe_combine.h"
#include "runtime/ref/moe_combine.h"
#include "runtime/ref/ops.h"
#include "tests/support/vk_test.h"

using namespace moevk;
using test::DeviceArray;

namespace {

struct Case {
  uint32_t n, n_used, n_tokens;
  bool residual, shared, gate;
  bool norm = false;  // also the next block's normed input
};

void run(const Case& c, uint64_t seed, bool exact) {
  CAPTURE(c.n);
  CAPTURE(c.n_used);
  CAPTURE(c.n_tokens);
  CAPTURE(seed);
  vk::Context& ctx = test::gpu();
  const size_t rows = size_t(c.n_tokens) * c.n;
  auto gen = [&](uint64_t s, size_t n) { return exact ? test::exact_floats(s, n) : test::random_floats(s, n); };
  auto e = gen(seed, rows * c.n_used), w = gen(seed + 1, size_t(c.n_tokens) * c.n_used);
  auto x = gen(seed + 2, rows), s = gen(seed + 3, rows), g = test::random_floats(seed + 4, c.n_tokens, -3, 3);
  DeviceArray de(ctx, e.size() * 4), dw(ctx, w.size() * 4), dx(ctx, rows * 4), ds(ctx, rows * 4),
      dg(ctx, c.n_tokens * 4ull), dd(ctx, rows * 4), dnw(ctx, c.n * 4ull), dh(ctx, rows * 4);
  auto nw = test::random_floats(seed + 5, c.n, 0.5f, 1.5f);
  dnw.upload(nw);
  de.upload(e);
  dw.upload(w);
  dx.upload(x);
  ds.upload(s);
  dg.upload(g);
  ops::MoeCombineArgs a;
  a.experts = de.view();
  a.weights = dw.view();
  if (c.residual) a.residual = dx.view();
  if (c.shared) a.shared = ds.view();
  if (c.gate) a.shared_gate_logit = dg.view();
  a.out = dd.view();
  a.n = c.n;
  a.n_used = c.n_used;
  a.n_tokens = c.n_tokens;
  if (c.norm) {
    a.norm_weight = dnw.view();
    a.normed = dh.view();
    a.eps = 1e-6f;
  }
  vk::Recorder rec(ctx);
  ops::moe_combine(ctx, rec, a);
  rec.submit_and_wait();
  std::vector<float> want(rows);
  ref::moe_combine(e, w, c.residual ? std::span<const float>(x) : std::span<const float>(),
                   c.shared ? std::span<const float>(s) : std::span<const float>(),
                   c.gate ? std::span<const float>(g) : std::span<const float>(), want, c.n, c.n_used,
                   c.n_tokens);
  if (c.norm) {
    // rms_norm of each row as rms_norm.comp computes it: fp32 sums of n squares vs double.
    std::vector<float> h(rows);
    ref::rms_norm(want, nw, 1e-6f, c.n, h);
    test::check_close(dh.read_f32(), h, {1e-5, 1e-5, 1e-6});
  }
  if (exact && !c.gate) {
    // Products and sums of {-0.5..1.5} over <= 8 terms are exact in fp32 and double alike.
    test::check_equal(dd.read_f32(), want);
  } else {
    // fp32 accumulation of n_used + 2 terms vs double; sigmoid via exp differs in the last ulps.
    test::check_close(dd.read_f32(), want, {1e-5, 1e-5, 1e-6});
  }
}

}  // namespace

TEST_CASE("moe_combine: shapes and flag combinations") {
  const Case cases[] = {
      {1, 1, 1, false, false, false},   {7, 2, 3, true, false, false},    {257, 4, 2, true, true, false},
      {2048, 8, 1, true, false, false}, {2880, 4, 5, true, true, true},   {4096, 2, 2, false, true, true},
      {1021, 8, 17, true, true, false},
  };
  uint64_t seed = 11;
  for (const Case& c : cases) run(c, seed++, false);
}

TEST_CASE("moe_combine: with the next block's rms_norm fused (one workgroup per token)") {
  const Case cases[] = {
      {1, 1, 1, true, false, false, true},     {7, 2, 3, true, false, false, true},
      {2048, 8, 1, true, false, false, true},  {2880, 4, 5, true, true, true, true},
      {1021, 8, 17, true, true, false, true},
  };
  uint64_t seed = 31;
  for (const Case& c : cases) run(c, seed++, false);
}

TEST_CASE("moe_combine: exact inputs compared with ==") {
  run({2048, 8, 3, true, true, false}, 5, true);
}
