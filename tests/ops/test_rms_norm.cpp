// rms_norm.comp (subgroup and shared-memory reductions) against ref::rms_norm (runtime/ref/ops.h).
#include <doctest/doctest.h>

#include "runtime/ops/rms_norm.h"
#include "runtime/ref/ops.h"
#include "tests/support/vk_test.h"

using namespace moevk;
using test::DeviceArray;

namespace {

// Both reduction paths: the device's (subgroup arithmetic where it has it) and the shared-memory
// tree.
vk::Context& device(bool subgroup) {
  return subgroup ? test::gpu() : test::gpu_without("subgroup");
}

void run_case(bool subgroup, uint32_t n_cols, uint32_t n_rows, bool weight, uint64_t seed) {
  CAPTURE(subgroup);
  CAPTURE(n_cols);
  CAPTURE(n_rows);
  CAPTURE(weight);
  CAPTURE(seed);
  vk::Context& ctx = device(subgroup);
  const uint64_t n = uint64_t(n_cols) * n_rows;
  auto x = test::random_floats(seed, n, -2.0f, 2.0f);
  auto w = weight ? test::random_floats(seed + 1, n_cols, 0.5f, 1.5f) : std::vector<float>{};
  const float eps = 1e-6f;
  DeviceArray dx(ctx, n * 4), dw(ctx, n_cols * 4ull), dy(ctx, n * 4);
  dx.upload(x);
  if (weight) dw.upload(w);
  vk::Recorder rec(ctx);
  ops::rms_norm(ctx, rec, dx.view(), weight ? dw.view() : vk::View{}, dy.view(), n_cols, n_rows,
                eps);
  rec.submit_and_wait();
  std::vector<float> want(n);
  ref::rms_norm(x, w, eps, n_cols, want);
  // fp32 sum of squares in a different order than the double reference (relative error ~ log2(n)
  // ulp for the tree, ~n/subgroups ulp worst case per invocation), then rsqrt (2 ulp) and two
  // multiplies: 1e-5 relative is ~80 ulp, far below any indexing or formula error.
  test::check_close(dy.read_f32(), want, {1e-6, 1e-5, 2e-6});
}

}  // namespace

TEST_CASE("rms_norm: shapes 1, primes, non-multiples of the block, model shapes, both reductions") {
  const uint32_t shapes[][2] = {{1, 1},        {7, 3},    {13, 5},   {31, 2},   {257, 3},
                                {1000, 2},     {2048, 3}, {2880, 2}, {4096, 2}, {64, 32 * 3},
                                {128, 64 * 2}, {5000, 1}, {1, 70001}};
  for (bool sg : {true, false})
    for (auto& s : shapes)
      for (bool weight : {true, false}) run_case(sg, s[0], s[1], weight, 100 + s[0] * 7 + s[1]);
}

TEST_CASE("rms_norm: exact inputs compared with ==") {
  // Rows of +-0.5 have mean(x^2) = 0.25 exactly, so with eps = 0 the scale is rsqrt(0.25) = 2
  // (exact for a power of four) and y = +-w exactly for w drawn from {-0.5, 0, 0.5, 1, 1.5}.
  for (bool sg : {true, false}) {
    CAPTURE(sg);
    vk::Context& ctx = device(sg);
    const uint32_t n_cols = 2880, n_rows = 5;
    auto x = test::exact_floats(11, uint64_t(n_cols) * n_rows);
    for (float& v : x) v = v < 0.5f ? -0.5f : 0.5f;
    auto w = test::exact_floats(12, n_cols);
    DeviceArray dx(ctx, x.size() * 4), dw(ctx, w.size() * 4), dy(ctx, x.size() * 4);
    dx.upload(x);
    dw.upload(w);
    vk::Recorder rec(ctx);
    ops::rms_norm(ctx, rec, dx.view(), dw.view(), dy.view(), n_cols, n_rows, 0.0f);
    rec.submit_and_wait();
    std::vector<float> want(x.size());
    ref::rms_norm(x, w, 0.0f, n_cols, want);
    test::check_equal(dy.read_f32(), want);
  }
}

TEST_CASE("rms_norm: in place (y aliases x), per-head norm shape") {
  for (bool sg : {true, false}) {
    CAPTURE(sg);
    vk::Context& ctx = device(sg);
    const uint32_t head_dim = 128, n_rows = 4 * 32;  // 4 tokens of 32 heads
    auto x = test::random_floats(21, uint64_t(head_dim) * n_rows);
    auto w = test::random_floats(22, head_dim);
    DeviceArray dx(ctx, x.size() * 4), dw(ctx, w.size() * 4);
    dx.upload(x);
    dw.upload(w);
    vk::Recorder rec(ctx);
    ops::rms_norm(ctx, rec, dx.view(), dw.view(), dx.view(), head_dim, n_rows, 1e-5f);
    rec.submit_and_wait();
    std::vector<float> want(x.size());
    ref::rms_norm(x, w, 1e-5f, head_dim, want);
    test::check_close(dx.read_f32(), want, {1e-6, 1e-5, 2e-6});
  }
}
