// softmax.comp (subgroup and shared-memory reductions, scale, mask) against ref::softmax_rows
// (runtime/ref/softmax.h, built on ref::softmax).
#include <doctest/doctest.h>

#include <cmath>

#include "runtime/ops/softmax.h"
#include "runtime/ref/softmax.h"
#include "tests/support/vk_test.h"

using namespace moevk;
using test::DeviceArray;

namespace {

vk::Context& device(bool subgroup) {
  return subgroup ? test::gpu() : test::gpu_without("subgroup");
}

// exp of a max-subtracted value (|error| a few ulp, Vulkan: 3 + 2|x| ulp for |x| up to ~20 here),
// an fp32 sum in another order than the double reference, one reciprocal and multiply:
// 2e-5 relative, 1e-7 absolute for the tiny probabilities.
constexpr test::Tolerance kTol{1e-7, 2e-5, 5e-6};

void run_case(bool subgroup, uint32_t n_cols, uint32_t n_rows, float scale, uint32_t mask_rows,
              uint64_t seed) {
  CAPTURE(subgroup);
  CAPTURE(n_cols);
  CAPTURE(n_rows);
  CAPTURE(scale);
  CAPTURE(mask_rows);
  CAPTURE(seed);
  vk::Context& ctx = device(subgroup);
  const uint64_t n = uint64_t(n_cols) * n_rows;
  auto x = test::random_floats(seed, n, -8.0f, 8.0f);
  std::vector<float> mask;
  if (mask_rows > 0) {
    // A causal mask over the last mask_rows positions of n_cols keys: row i sees keys <= n_cols -
    // mask_rows + i; the others get -inf. Plus a finite bias to check it is added.
    mask.resize(uint64_t(mask_rows) * n_cols);
    auto bias = test::random_floats(seed + 1, mask.size());
    for (uint32_t i = 0; i < mask_rows; ++i)
      for (uint32_t c = 0; c < n_cols; ++c)
        mask[uint64_t(i) * n_cols + c] =
            c + mask_rows <= n_cols + i ? bias[uint64_t(i) * n_cols + c] : -INFINITY;
  }
  DeviceArray dx(ctx, n * 4), dm(ctx, std::max<uint64_t>(mask.size(), 1) * 4), dy(ctx, n * 4);
  dx.upload(x);
  if (!mask.empty()) dm.upload(mask);
  vk::Recorder rec(ctx);
  ops::softmax(ctx, rec, dx.view(), dy.view(), n_cols, n_rows, scale,
               mask_rows ? dm.view() : vk::View{}, mask_rows);
  rec.submit_and_wait();
  std::vector<float> want(n);
  ref::softmax_rows(x, mask, mask_rows, scale, n_cols, want);
  auto got = dy.read_f32();
  test::check_close(got, want, kTol);
  // Each row sums to 1 (fp32 rounding of n_cols terms).
  for (uint32_t r = 0; r < std::min<uint32_t>(n_rows, 64); ++r) {
    double s = 0;
    for (uint32_t c = 0; c < n_cols; ++c) s += got[uint64_t(r) * n_cols + c];
    CHECK(std::fabs(s - 1.0) < 1e-5);
  }
}

}  // namespace

TEST_CASE("softmax: shapes 1, primes, non-multiples of the block, model shapes, both reductions") {
  // 128/256/64: expert counts (gating); 4096+: attention over a long context; 151936: a vocab.
  const uint32_t shapes[][2] = {{1, 1},   {7, 3},    {13, 5},   {31, 4},   {64, 3},     {128, 2},
                                {257, 3}, {1000, 2}, {4096, 2}, {5003, 3}, {151936, 1}, {2, 70001}};
  for (bool sg : {true, false})
    for (auto& s : shapes) run_case(sg, s[0], s[1], 1.0f, 0, 300 + s[0] + s[1]);
}

TEST_CASE("softmax: scale and causal mask (attention scores), fully masked rows") {
  for (bool sg : {true, false}) {
    // n_head 4 x n_tok 5 rows of n_kv 37 keys, mask [n_tok][n_kv] broadcast over heads.
    run_case(sg, 37, 4 * 5, 0.125f, 5, 71);
    run_case(sg, 1000, 3 * 7, 1.0f / std::sqrt(128.0f), 7, 72);
  }
  // A row of -inf (every key masked) becomes zeros instead of NaN.
  vk::Context& ctx = test::gpu();
  std::vector<float> x(40, 1.0f), mask(40, -INFINITY);
  for (int c = 0; c < 20; ++c) mask[c] = 0.0f;  // row 0 sees everything, row 1 nothing
  DeviceArray dx(ctx, 160), dm(ctx, 160), dy(ctx, 160);
  dx.upload(x);
  dm.upload(mask);
  vk::Recorder rec(ctx);
  ops::softmax(ctx, rec, dx.view(), dy.view(), 20, 2, 1.0f, dm.view(), 2);
  rec.submit_and_wait();
  std::vector<float> want(40, 0.0f);
  for (int c = 0; c < 20; ++c) want[c] = 0.05f;
  test::check_close(dy.read_f32(), want, {1e-7, 1e-6, 1e-6});
}

TEST_CASE("softmax: exact inputs compared with ==") {
  // Equal values in a row of 2^k: every exp(0) = 1, the sum is 2^k, the result 2^-k exactly.
  for (bool sg : {true, false}) {
    CAPTURE(sg);
    vk::Context& ctx = device(sg);
    const uint32_t n_cols = 1024, n_rows = 3;
    auto x = test::exact_floats(5, n_rows);  // one value per row
    std::vector<float> xs(uint64_t(n_cols) * n_rows);
    for (uint32_t r = 0; r < n_rows; ++r)
      std::fill(xs.begin() + r * n_cols, xs.begin() + (r + 1) * n_cols, x[r]);
    DeviceArray dx(ctx, xs.size() * 4), dy(ctx, xs.size() * 4);
    dx.upload(xs);
    vk::Recorder rec(ctx);
    ops::softmax(ctx, rec, dx.view(), dy.view(), n_cols, n_rows);
    rec.submit_and_wait();
    std::vector<float> want(xs.size());
    ref::softmax_rows(xs, {}, 0, 1.0f, n_cols, want);
    test::check_equal(dy.read_f32(), want);
    CHECK(want[0] == 1.0f / 1024.0f);
  }
}

TEST_CASE("softmax: in place") {
  vk::Context& ctx = test::gpu();
  auto x = test::random_floats(9, 3 * 2880, -8.0f, 8.0f);
  DeviceArray dx(ctx, x.size() * 4);
  dx.upload(x);
  vk::Recorder rec(ctx);
  ops::softmax(ctx, rec, dx.view(), dx.view(), 2880, 3);
  rec.submit_and_wait();
  std::vector<float> want(x.size());
  ref::softmax_rows(x, {}, 0, 1.0f, 2880, want);
  test::check_close(dx.read_f32(), want, kTol);
}
