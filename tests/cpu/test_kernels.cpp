// runtime/cpu kernels against the double-precision reference (runtime/ref): every weight type, odd
// shapes, both SIMD levels, poisoned outputs with a guard region, and exact-input cases.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "loader/quants/quants.h"
#include "runtime/cpu/kernels.h"
#include "runtime/cpu/matmul.h"
#include "runtime/cpu/pool.h"
#include "runtime/ref/ops.h"

using namespace moevk;

namespace {

constexpr uint32_t kPoison = 0x7FC0DEADu;  // a quiet NaN no kernel produces
constexpr size_t kGuard = 64;

const GgmlType kTypes[] = {GgmlType::F32,  GgmlType::F16,    GgmlType::BF16,   GgmlType::Q8_0,
                           GgmlType::Q4_0, GgmlType::Q4_1,   GgmlType::Q5_0,   GgmlType::Q5_1,
                           GgmlType::Q2_K, GgmlType::Q3_K,   GgmlType::Q4_K,   GgmlType::Q5_K,
                           GgmlType::Q6_K, GgmlType::IQ4_NL, GgmlType::IQ4_XS, GgmlType::MXFP4};

std::vector<cpu::Simd> simd_levels() {
  std::vector<cpu::Simd> v{cpu::Simd::Portable};
  if (cpu::avx2_kernels()) v.push_back(cpu::Simd::Avx2);
  if (cpu::avx512_kernels()) v.push_back(cpu::Simd::Avx512);
  return v;
}

// Restores the default kernel level at the end of a test.
struct SimdGuard {
  cpu::Simd saved = cpu::active_simd();
  ~SimdGuard() { cpu::force_simd(saved); }
};

std::vector<float> poisoned(size_t n) {
  std::vector<float> v(n + kGuard);
  for (float& f : v) f = std::bit_cast<float>(kPoison);
  return v;
}
// Every payload element written (no poison left), guard intact.
void check_written(const std::vector<float>& v, size_t n) {
  size_t left = 0, guard = 0;
  for (size_t i = 0; i < n; ++i) left += std::bit_cast<uint32_t>(v[i]) == kPoison;
  for (size_t i = n; i < v.size(); ++i) guard += std::bit_cast<uint32_t>(v[i]) != kPoison;
  CHECK(left == 0);
  CHECK(guard == 0);
}

// The activation row quantize_act makes, dequantised (what the kernels multiply with).
std::vector<float> dequantized_act(GgmlType t, const std::vector<float>& x) {
  const int64_t n = int64_t(x.size());
  std::vector<uint8_t> q(cpu::act_row_bytes(t, n));
  cpu::quantize_act(t, x.data(), q.data(), n);
  std::vector<float> y(x.size());
  switch (cpu::act_format(t)) {
    case cpu::ActFormat::F32:
      std::memcpy(y.data(), q.data(), q.size());
      break;
    case cpu::ActFormat::Q8_32: {
      const auto* b = reinterpret_cast<const cpu::BlockQ8_32*>(q.data());
      for (int64_t i = 0; i < n; ++i) y[i] = b[i / 32].d * b[i / 32].q[i % 32];
      break;
    }
    case cpu::ActFormat::Q8_256: {
      const auto* b = reinterpret_cast<const cpu::BlockQ8_256*>(q.data());
      for (int64_t i = 0; i < n; ++i) y[i] = b[i / 256].d * b[i / 256].q[i % 256];
      break;
    }
  }
  return y;
}

struct Case {
  uint64_t rows;
  uint32_t blocks;  // row length in blocks of the type
  uint32_t n_tok;
};

}  // namespace

TEST_CASE("cpu quantize_act: scales, sums and rounding") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-3, 3);
  std::vector<float> x(512);
  for (float& v : x) v = u(rng);
  x[5] = 0;
  std::fill(x.begin() + 256, x.begin() + 288, 0.0f);  // an all-zero block of 32
  std::vector<uint8_t> q(cpu::act_row_bytes(GgmlType::Q8_0, 512));
  cpu::quantize_act(GgmlType::Q8_0, x.data(), q.data(), 512);
  const auto* b = reinterpret_cast<const cpu::BlockQ8_32*>(q.data());
  for (int i = 0; i < 16; ++i) {
    CAPTURE(i);
    int32_t s = 0, amax = 0;
    for (int j = 0; j < 32; ++j) {
      s += b[i].q[j], amax = std::max(amax, std::abs(int32_t(b[i].q[j])));
      CHECK(std::fabs(b[i].d * b[i].q[j] - x[32 * i + j]) <= b[i].d * 0.5f * 1.0001f);
    }
    CHECK(b[i].s == b[i].d * float(s));
    CHECK(amax == (i == 8 ? 0 : 127));
  }
  q.resize(cpu::act_row_bytes(GgmlType::Q4_K, 512));
  cpu::quantize_act(GgmlType::Q4_K, x.data(), q.data(), 512);
  const auto* k = reinterpret_cast<const cpu::BlockQ8_256*>(q.data());
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 16; ++j) {
      int32_t s = 0;
      for (int l = 0; l < 16; ++l) s += k[i].q[16 * j + l];
      CHECK(k[i].bsums[j] == s);
    }
}

TEST_CASE("cpu matmul: a NaN or infinity in the activations gives NaN outputs, as the reference") {
  SimdGuard guard;
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::F16}) {
    CAPTURE(traits(t).name);
    const uint64_t n = 256, rows = 3;
    const size_t rb = *row_bytes(t, n);
    std::vector<uint8_t> w(rb * rows);
    random_blocks(t, 3, w.data(), int64_t(n * rows));
    const ref::QMatrix m{t, w.data(), n, rows, rb};
    for (float bad :
         {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
      std::vector<float> x(n, 0.5f);
      x[77] = bad;
      for (cpu::Simd level : simd_levels()) {
        CAPTURE(cpu::simd_name(level));
        REQUIRE(cpu::force_simd(level));
        std::vector<float> y(rows);
        cpu::ThreadPool pool(1);
        cpu::matmul(m, x, 1, y, pool);
        for (float v : y) CHECK(!std::isfinite(v));
      }
    }
  }
}

TEST_CASE("cpu matmul matches ref::matmul on every weight type and odd shapes") {
  SimdGuard guard;
  cpu::ThreadPool pool(3);  // more threads than this machine's cores: uneven task splits
  const Case cases[] = {{1, 1, 1},  {7, 3, 1}, {13, 1, 3}, {31, 5, 2},
                        {64, 8, 1}, {3, 2, 7}, {5, 1, 9}};
  uint64_t seed = 1;
  for (GgmlType t : kTypes) {
    const uint32_t bs = std::max<uint32_t>(
        traits(t).block_size, t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16
                                  ? 37  // a prime row length
                                  : 1);
    for (const Case& c : cases) {
      ++seed;
      const uint64_t n = uint64_t(c.blocks) * bs;
      CAPTURE(traits(t).name);
      CAPTURE(c.rows);
      CAPTURE(n);
      CAPTURE(c.n_tok);
      CAPTURE(seed);
      const size_t rb = *row_bytes(t, n);
      std::vector<uint8_t> w(rb * c.rows);
      if (t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16) {
        std::mt19937 rng{uint32_t(seed)};
        std::normal_distribution<float> nd(0, 1);
        std::vector<float> f(n);
        for (uint64_t r = 0; r < c.rows; ++r) {
          for (float& v : f) v = nd(rng);
          quantize_row(t, f.data(), w.data() + r * rb, int64_t(n));
        }
      } else {
        random_blocks(t, seed, w.data(), int64_t(n * c.rows));
      }
      ref::QMatrix m{t, w.data(), n, c.rows, rb};
      std::mt19937 rng{uint32_t(seed) * 31};
      std::uniform_real_distribution<float> ud(-1, 1);
      std::vector<float> x(n * c.n_tok), xq;
      for (float& v : x) v = ud(rng);
      for (uint32_t tk = 0; tk < c.n_tok; ++tk) {
        std::vector<float> row(x.begin() + tk * n, x.begin() + (tk + 1) * n);
        const auto d = dequantized_act(t, row);
        xq.insert(xq.end(), d.begin(), d.end());
      }
      // Reference on the dequantised activations (the kernels' exact inputs) and on the raw ones.
      std::vector<float> want_q(c.rows * c.n_tok), want(c.rows * c.n_tok);
      ref::matmul(m, xq, c.n_tok, want_q);
      ref::matmul(m, x, c.n_tok, want);
      // Per output, sum |w| |x| bounds float rounding; sum |w| * (half a quantisation step of x's
      // block) bounds the activation rounding.
      std::vector<double> mag(c.rows * c.n_tok), qerr(c.rows * c.n_tok);
      std::vector<float> wr(n);
      for (uint64_t r = 0; r < c.rows; ++r) {
        m.dequant_row(r, wr.data());
        for (uint32_t tk = 0; tk < c.n_tok; ++tk) {
          double s = 0, e = 0;
          for (uint64_t i = 0; i < n; ++i) {
            s += std::fabs(double(wr[i]) * x[tk * n + i]);
            e += std::fabs(double(wr[i])) * std::fabs(double(x[tk * n + i]) - xq[tk * n + i]);
          }
          mag[tk * c.rows + r] = s, qerr[tk * c.rows + r] = e;
        }
      }
      for (cpu::Simd level : simd_levels()) {
        CAPTURE(cpu::simd_name(level));
        REQUIRE(cpu::force_simd(level));
        auto y = poisoned(c.rows * c.n_tok);
        cpu::matmul(m, x, c.n_tok, std::span(y.data(), c.rows * c.n_tok), pool);
        check_written(y, c.rows * c.n_tok);
        double worst = 0, worst_raw = 0;
        for (size_t i = 0; i < want.size(); ++i) {
          // Float accumulation: fp32 products and sums of n terms, ~1e-6 relative to sum |w x|.
          const double tol = 2e-6 * mag[i] + 1e-6;
          worst = std::max(worst, std::fabs(double(y[i]) - want_q[i]) / tol);
          worst_raw = std::max(worst_raw, std::fabs(double(y[i]) - want[i]) / (qerr[i] + tol));
        }
        CHECK(worst <= 1.0);
        CHECK(worst_raw <= 1.0);
      }
    }
  }
}

TEST_CASE("cpu matmul: exact inputs give exactly the reference") {
  SimdGuard guard;
  // Integer weights and activations with a block maximum of 127 (activation scale 1, weight scales
  // 1): every product and sum is an integer below 2^24, so fp32 is exact in any order.
  std::mt19937 rng(11);
  for (GgmlType t :
       {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0}) {
    CAPTURE(traits(t).name);
    const uint64_t n = 96, rows = 5;
    const int lo = t == GgmlType::Q4_0 ? -8 : -127, hi = t == GgmlType::Q4_0 ? 7 : 127;
    std::uniform_int_distribution<int> wi(lo, hi), xi(-127, 127);
    const size_t rb = *row_bytes(t, n);
    std::vector<uint8_t> w(rb * rows);
    std::vector<float> f(n);
    for (uint64_t r = 0; r < rows; ++r) {
      for (uint64_t i = 0; i < n; ++i) f[i] = float(i % 32 == 0 ? lo : wi(rng));
      quantize_row(t, f.data(), w.data() + r * rb, int64_t(n));
    }
    std::vector<float> x(n);
    for (uint64_t i = 0; i < n; ++i) x[i] = float(i % 32 == 1 ? 127 : xi(rng));
    ref::QMatrix m{t, w.data(), n, rows, rb};
    std::vector<float> want(rows);
    ref::matmul(m, x, 1, want);
    for (cpu::Simd level : simd_levels()) {
      CAPTURE(cpu::simd_name(level));
      REQUIRE(cpu::force_simd(level));
      std::vector<float> y(rows);
      cpu::ThreadPool pool(1);
      cpu::matmul(m, x, 1, y, pool);
      for (uint64_t r = 0; r < rows; ++r) CHECK(y[r] == want[r]);
    }
  }
}

TEST_CASE("cpu matmul: a real model shape (Qwen3-30B expert gate, Q4_K) on every SIMD level") {
  SimdGuard guard;
  const uint64_t n = 2048, rows = 768;
  const size_t rb = *row_bytes(GgmlType::Q4_K, n);
  std::vector<uint8_t> w(rb * rows);
  random_blocks(GgmlType::Q4_K, 99, w.data(), int64_t(n * rows));
  ref::QMatrix m{GgmlType::Q4_K, w.data(), n, rows, rb};
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0, 1);
  std::vector<float> x(n);
  for (float& v : x) v = nd(rng);
  std::vector<float> want(rows);
  ref::matmul(m, x, 1, want);
  std::vector<std::vector<float>> got;
  for (cpu::Simd level : simd_levels()) {
    REQUIRE(cpu::force_simd(level));
    auto y = poisoned(rows);
    cpu::matmul(m, x, 1, std::span(y.data(), rows));
    check_written(y, rows);
    // 8-bit activations of a normal vector: half a step of max|x| / 127 per element, ~0.7% of the
    // output in aggregate; 2% bounds it. (The exact bound per output is in the test above.)
    double num = 0, den = 0;
    for (uint64_t r = 0; r < rows; ++r)
      num += std::pow(y[r] - want[r], 2), den += std::pow(want[r], 2);
    CHECK(std::sqrt(num / den) <= 0.02);
    got.emplace_back(y.begin(), y.begin() + rows);
  }
  // Every level computes the same integer sums: they agree to float rounding.
  for (size_t l = 1; l < got.size(); ++l)
    for (uint64_t r = 0; r < rows; ++r)
      CHECK(std::fabs(got[0][r] - got[l][r]) <= 1e-4 * (1 + std::fabs(want[r])));
}
