// binary.comp (add, mul, scale) against runtime/ref/binary.
#include <doctest/doctest.h>

#include "runtime/ops/binary.h"
#include "runtime/ref/binary.h"
#include "tests/support/vk_test.h"

using namespace moevk;
using test::DeviceArray;

namespace {

enum class Op { Add, Mul, Scale };

void run_case(Op op, uint32_t n, uint32_t nb, uint64_t seed, bool exact) {
  CAPTURE(n);
  CAPTURE(nb);
  CAPTURE(seed);
  vk::Context& ctx = test::gpu();
  auto a = exact ? test::exact_floats(seed, n) : test::random_floats(seed, n);
  auto b = exact ? test::exact_floats(seed + 1, nb) : test::random_floats(seed + 1, nb);
  const float s = exact ? 1.5f : 0.37f;
  DeviceArray da(ctx, n * 4ull), db(ctx, nb * 4ull), dd(ctx, n * 4ull);
  da.upload(a);
  db.upload(b);
  vk::Recorder rec(ctx);
  std::vector<float> want(n);
  switch (op) {
    case Op::Add: ops::add(ctx, rec, da.view(), db.view(), dd.view(), n, nb); ref::add(a, b, want); break;
    case Op::Mul: ops::mul(ctx, rec, da.view(), db.view(), dd.view(), n, nb); ref::mul(a, b, want); break;
    case Op::Scale: ops::scale(ctx, rec, da.view(), dd.view(), n, s); ref::scale(a, s, want); break;
  }
  rec.submit_and_wait();
  // One fp32 operation per element, the same one on both sides: results are bit-identical.
  test::check_equal(dd.read_f32(), want);
}

}  // namespace

TEST_CASE("binary: add/mul/scale over shapes 1, primes, non-multiples of 256, model shapes") {
  const uint32_t shapes[][2] = {{1, 1}, {7, 7}, {257, 257}, {1021, 1}, {2048, 2048}, {2880 * 3, 2880},
                                {4096, 4096}, {151936, 151936}, {300000, 1000}};
  for (Op op : {Op::Add, Op::Mul, Op::Scale})
    for (auto& s : shapes) run_case(op, s[0], s[1], 1000 + s[0], false);
}

TEST_CASE("binary: exact inputs compared with ==") {
  for (Op op : {Op::Add, Op::Mul, Op::Scale}) run_case(op, 4096, 64, 7, true);
}

TEST_CASE("binary: in place (d aliases a)") {
  vk::Context& ctx = test::gpu();
  const uint32_t n = 1000;
  auto a = test::random_floats(3, n), b = test::random_floats(4, n);
  DeviceArray da(ctx, n * 4ull), db(ctx, n * 4ull);
  da.upload(a);
  db.upload(b);
  vk::Recorder rec(ctx);
  ops::add(ctx, rec, da.view(), db.view(), da.view(), n, n);
  rec.submit_and_wait();
  std::vector<float> want(n);
  ref::add(a, b, want);
  test::check_equal(da.read_f32(), want);
}
