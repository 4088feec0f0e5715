// unary.comp (silu, gelu, sigmoid, swiglu, gpt-oss clamped swiglu, strided copy) against
// runtime/ref (ops.h, unary.h).
#include <doctest/doctest.h>

#include <string>

#include "runtime/ops/unary.h"
#include "runtime/ref/ops.h"
#include "runtime/ref/unary.h"
#include "tests/support/vk_test.h"

using namespace moevk;
using test::DeviceArray;

namespace {

enum class Op { Silu, Gelu, Sigmoid, Swiglu, SwigluOai, Copy };
std::string name(Op op) {
  switch (op) {
    case Op::Silu:
      return "silu";
    case Op::Gelu:
      return "gelu";
    case Op::Sigmoid:
      return "sigmoid";
    case Op::Swiglu:
      return "swiglu";
    case Op::SwigluOai:
      return "swiglu_oai";
    case Op::Copy:
      return "copy";
  }
  return "?";
}

// gpt-oss's constants (../shared/oracle/np_reference.py: np.minimum(g, 7.0), 1.702).
constexpr float kAlpha = 1.702f, kLimit = 7.0f;

void record(vk::Context& ctx, vk::Recorder& rec, Op op, const vk::View& a, const vk::View& b,
            const vk::View& d, ops::UnaryShape s) {
  switch (op) {
    case Op::Silu:
      ops::silu(ctx, rec, a, d, s);
      break;
    case Op::Gelu:
      ops::gelu(ctx, rec, a, d, s);
      break;
    case Op::Sigmoid:
      ops::sigmoid(ctx, rec, a, d, s);
      break;
    case Op::Swiglu:
      ops::swiglu(ctx, rec, a, b, d, s);
      break;
    case Op::SwigluOai:
      ops::swiglu_oai(ctx, rec, a, b, d, s, kAlpha, kLimit);
      break;
    case Op::Copy:
      ops::copy(ctx, rec, a, d, s);
      break;
  }
}

std::vector<float> reference(Op op, const std::vector<float>& a, const std::vector<float>& b) {
  std::vector<float> want(a.size());
  switch (op) {
    case Op::Silu:
      for (size_t i = 0; i < a.size(); ++i) want[i] = ref::silu(a[i]);
      break;
    case Op::Gelu:
      ref::gelu(a, want);
      break;
    case Op::Sigmoid:
      for (size_t i = 0; i < a.size(); ++i) want[i] = ref::sigmoid(a[i]);
      break;
    case Op::Swiglu:
      ref::swiglu(a, b, want);
      break;
    case Op::SwigluOai:
      ref::swiglu_clamped(a, b, kAlpha, kLimit, want);
      break;
    case Op::Copy:
      want = a;
      break;
  }
  return want;
}

// Inputs in [-12, 12]: past gpt-oss's limit of 7 on both sides (the clamps) and where exp(-x)
// is large. GPU exp is accurate to a few ulp (Vulkan: 3 + 2|x| ulp), then one or two divisions
// and multiplies: 1e-5 relative; 1e-6 absolute for results near zero (silu/gelu of negative x).
constexpr test::Tolerance kTol{1e-6, 1e-5, 2e-6};

void run_case(Op op, uint32_t n, uint64_t seed) {
  CAPTURE(name(op));
  CAPTURE(n);
  CAPTURE(seed);
  vk::Context& ctx = test::gpu();
  auto a = test::random_floats(seed, n, -12.0f, 12.0f);
  auto b = test::random_floats(seed + 1, n, -12.0f, 12.0f);
  DeviceArray da(ctx, n * 4ull), db(ctx, n * 4ull), dd(ctx, n * 4ull);
  da.upload(a);
  db.upload(b);
  vk::Recorder rec(ctx);
  record(ctx, rec, op, da.view(), db.view(), dd.view(), {n, 1});
  rec.submit_and_wait();
  test::check_close(dd.read_f32(), reference(op, a, b), kTol);
}

const Op kOps[] = {Op::Silu, Op::Gelu, Op::Sigmoid, Op::Swiglu, Op::SwigluOai, Op::Copy};

}  // namespace

TEST_CASE("unary: shapes 1, primes, non-multiples of 256, model shapes") {
  // 768: qwen3moe's expert n_ff; 2880: gpt-oss; 8 * 1408: a batch of deepseek2 expert rows.
  const uint32_t sizes[] = {1, 7, 97, 257, 1021, 768, 2880, 4096, 8 * 1408, 300007};
  for (Op op : kOps)
    for (uint32_t n : sizes) run_case(op, n, 500 + n);
}

TEST_CASE("unary: grid-stride loop past 65535 workgroups of 256") {
  run_case(Op::Swiglu, 65535u * 256u + 1001u, 42);
}

TEST_CASE("unary: exact inputs compared with ==") {
  // silu(0) = 0 and gate 0 gives g = 0 in the clamped form too, so swiglu(0, up) is exactly 0 for
  // any up; sigmoid(0) = 1 / (1 + 1) = 0.5; gelu(0) = 0.
  vk::Context& ctx = test::gpu();
  const uint32_t n = 2880;
  auto up = test::random_floats(7, n, -12.0f, 12.0f);
  std::vector<float> gate(n, 0.0f);
  for (Op op : kOps) {
    CAPTURE(name(op));
    DeviceArray da(ctx, n * 4ull), db(ctx, n * 4ull), dd(ctx, n * 4ull);
    da.upload(gate);
    db.upload(up);
    vk::Recorder rec(ctx);
    record(ctx, rec, op, da.view(), db.view(), dd.view(), {n, 1});
    rec.submit_and_wait();
    std::vector<float> want(n, op == Op::Sigmoid ? 0.5f : 0.0f);  // copy of zeros: zeros
    test::check_equal(dd.read_f32(), want);
    test::check_equal(reference(op, gate, up), want);
  }
}

TEST_CASE("unary: overflowing exp gives the limits, not NaN") {
  // exp(-x) or exp(2v) overflow to inf for |x| ~ 100: the forms used must give 0 / -0 / x there.
  vk::Context& ctx = test::gpu();
  std::vector<float> a = {-100.0f, -1000.0f, 100.0f, 1000.0f, -3.0e38f, 3.0e38f, 88.0f, -88.0f};
  const uint32_t n = uint32_t(a.size());
  std::vector<float> b(n, 0.5f);
  for (Op op : {Op::Silu, Op::Gelu, Op::Sigmoid, Op::SwigluOai}) {
    CAPTURE(name(op));
    DeviceArray da(ctx, n * 4ull), db(ctx, n * 4ull), dd(ctx, n * 4ull);
    da.upload(a);
    db.upload(b);
    vk::Recorder rec(ctx);
    record(ctx, rec, op, da.view(), db.view(), dd.view(), {n, 1});
    rec.submit_and_wait();
    test::check_close(dd.read_f32(), reference(op, a, b), kTol);
  }
}

TEST_CASE("unary: strided rows (halves of a fused gate_up) and in place") {
  vk::Context& ctx = test::gpu();
  const uint32_t n_ff = 1021, n_tok = 5;
  // gate_up [n_tok][2 * n_ff]: gate in the first half of each row, up in the second.
  auto gu = test::random_floats(31, uint64_t(n_tok) * 2 * n_ff, -12.0f, 12.0f);
  std::vector<float> gate, up;
  for (uint32_t t = 0; t < n_tok; ++t) {
    gate.insert(gate.end(), gu.begin() + t * 2 * n_ff, gu.begin() + t * 2 * n_ff + n_ff);
    up.insert(up.end(), gu.begin() + t * 2 * n_ff + n_ff, gu.begin() + (t + 1) * 2 * n_ff);
  }
  for (Op op : {Op::Swiglu, Op::SwigluOai}) {
    CAPTURE(name(op));
    DeviceArray dgu(ctx, gu.size() * 4), dd(ctx, uint64_t(n_tok) * n_ff * 4);
    dgu.upload(gu);
    const vk::View all = dgu.view();
    const vk::View g = all.sub(0, all.size), u = all.sub(n_ff * 4ull, all.size - n_ff * 4ull);
    vk::Recorder rec(ctx);
    record(ctx, rec, op, g, u, dd.view(), {n_ff, n_tok, 2 * n_ff, 2 * n_ff, n_ff});
    rec.submit_and_wait();
    test::check_close(dd.read_f32(), reference(op, gate, up), kTol);
  }
  {  // copy: gather the up halves into a contiguous [n_tok][n_ff], exactly
    DeviceArray dgu(ctx, gu.size() * 4), dd(ctx, uint64_t(n_tok) * n_ff * 4);
    dgu.upload(gu);
    const vk::View u = dgu.view().sub(n_ff * 4ull, gu.size() * 4 - n_ff * 4ull);
    vk::Recorder rec(ctx);
    ops::copy(ctx, rec, u, dd.view(), {n_ff, n_tok, 2 * n_ff, 0, n_ff});
    rec.submit_and_wait();
    test::check_equal(dd.read_f32(), up);
  }
  for (Op op : kOps) {  // d aliases a
    CAPTURE(name(op));
    auto a = test::random_floats(41, 3001, -12.0f, 12.0f), b = test::random_floats(42, 3001);
    DeviceArray da(ctx, a.size() * 4), db(ctx, b.size() * 4);
    da.upload(a);
    db.upload(b);
    vk::Recorder rec(ctx);
    record(ctx, rec, op, da.view(), db.view(), da.view(), {3001, 1});
    rec.submit_and_wait();
    test::check_close(da.read_f32(), reference(op, a, b), kTol);
  }
}
