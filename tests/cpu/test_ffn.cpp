// cpu::expert_ffn against ref::expert_ffn: weight types, SwiGLU and gpt-oss's clamped SwiGLU with
// biases, odd token counts, skipped slots (-1: experts the GPU computes), thread-count
// independence, poisoned outputs with a guard region.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <random>
#include <vector>

#include "loader/quants/quants.h"
#include "runtime/cpu/ffn.h"
#include "runtime/cpu/kernels.h"
#include "runtime/ref/forward.h"

using namespace moevk;

namespace {

constexpr uint32_t kPoison = 0x7FC0DEADu;
constexpr size_t kGuard = 64;

struct Weights {
  std::vector<uint8_t> gate, up, down;
  std::vector<float> gate_b, up_b, down_b;
  ref::ExpertWeights w;
};

// Random valid blocks; the float types get N(0, 1) values. Scaled so hidden values stay O(1).
std::vector<uint8_t> matrix(GgmlType t, uint64_t rows, uint64_t n, uint64_t seed) {
  const size_t rb = *row_bytes(t, n);
  std::vector<uint8_t> w(rb * rows);
  if (traits(t).block_size == 1) {
    std::mt19937 rng{uint32_t(seed)};
    std::normal_distribution<float> nd(0, 1.0f / std::sqrt(float(n)));
    std::vector<float> f(n);
    for (uint64_t r = 0; r < rows; ++r) {
      for (float& v : f) v = nd(rng);
      quantize_row(t, f.data(), w.data() + r * rb, int64_t(n));
    }
  } else {
    random_blocks(t, seed, w.data(), int64_t(rows * n));
  }
  return w;
}

ref::QMatrix view(GgmlType t, const std::vector<uint8_t>& d, uint64_t rows, uint64_t n) {
  return ref::QMatrix{t, d.data(), n, rows, *row_bytes(t, n)};
}

Weights make(GgmlType tg, GgmlType td, uint32_t X, uint32_t E, uint32_t F, bool clamped,
             uint64_t seed) {
  Weights m;
  m.gate = matrix(tg, uint64_t(X) * F, E, seed);
  m.up = matrix(tg, uint64_t(X) * F, E, seed + 1);
  m.down = matrix(td, uint64_t(X) * E, F, seed + 2);
  m.w.gate = view(tg, m.gate, uint64_t(X) * F, E);
  m.w.up = view(tg, m.up, uint64_t(X) * F, E);
  m.w.down = view(td, m.down, uint64_t(X) * E, F);
  m.w.n_expert = X, m.w.n_ff = F, m.w.n_embd = E;
  if (clamped) {
    std::mt19937 rng{uint32_t(seed) + 3};
    std::normal_distribution<float> nd(0, 0.5f);
    m.gate_b.resize(uint64_t(X) * F), m.up_b.resize(uint64_t(X) * F),
        m.down_b.resize(uint64_t(X) * E);
    for (auto* v : {&m.gate_b, &m.up_b, &m.down_b})
      for (float& f : *v) f = nd(rng);
    m.w.gate_b = m.gate_b, m.w.up_b = m.up_b, m.w.down_b = m.down_b;
    m.w.act = FfnAct::SwigluClamped;
    m.w.alpha = 1.702f, m.w.limit = 7.0f;
  }
  return m;
}

// A row as the kernels see it after quantize_act for weights of type t, dequantised.
std::vector<float> act_roundtrip(GgmlType t, std::span<const float> x) {
  std::vector<uint8_t> q(cpu::act_row_bytes(t, int64_t(x.size())));
  cpu::quantize_act(t, x.data(), q.data(), int64_t(x.size()));
  std::vector<float> y(x.size());
  if (cpu::act_format(t) == cpu::ActFormat::F32) return {x.begin(), x.end()};
  const bool k = cpu::act_format(t) == cpu::ActFormat::Q8_256;
  for (size_t i = 0; i < x.size(); ++i) {
    if (k) {
      const auto* b = reinterpret_cast<const cpu::BlockQ8_256*>(q.data()) + i / 256;
      y[i] = b->d * b->q[i % 256];
    } else {
      const auto* b = reinterpret_cast<const cpu::BlockQ8_32*>(q.data()) + i / 32;
      y[i] = b->d * b->q[i % 32];
    }
  }
  return y;
}

// The reference FFN with the kernels' activation rounding applied to its inputs: x before gate/up,
// the hidden row before down; double accumulation otherwise (ref::matmul, ref::swiglu*).
std::vector<float> emulated(const ref::ExpertWeights& w, const std::vector<float>& x, uint32_t T,
                            uint32_t K, const std::vector<int32_t>& ids,
                            const std::vector<float>& wts) {
  const uint32_t E = w.n_embd, F = w.n_ff;
  std::vector<float> out(x.size(), 0.0f), g(F), u(F), y(E);
  for (uint32_t t = 0; t < T; ++t) {
    std::vector<std::pair<int32_t, float>> sel;
    for (uint32_t j = 0; j < K; ++j)
      if (ids[t * K + j] >= 0) sel.emplace_back(ids[t * K + j], wts[t * K + j]);
    std::sort(sel.begin(), sel.end());
    const auto xt = std::span(x).subspan(uint64_t(t) * E, E);
    const auto xg = act_roundtrip(w.gate.type, xt), xu = act_roundtrip(w.up.type, xt);
    for (auto [e, wt] : sel) {
      ref::matmul(w.gate.rows(uint64_t(e) * F, F), xg, 1, g);
      ref::matmul(w.up.rows(uint64_t(e) * F, F), xu, 1, u);
      if (!w.gate_b.empty()) ref::add_bias(g, w.gate_b.subspan(uint64_t(e) * F, F));
      if (!w.up_b.empty()) ref::add_bias(u, w.up_b.subspan(uint64_t(e) * F, F));
      if (w.act == FfnAct::SwigluClamped)
        ref::swiglu_clamped(g, u, w.alpha, w.limit, g);
      else
        ref::swiglu(g, u, g);
      ref::matmul(w.down.rows(uint64_t(e) * E, E), act_roundtrip(w.down.type, g), 1, y);
      if (!w.down_b.empty()) ref::add_bias(y, w.down_b.subspan(uint64_t(e) * E, E));
      for (uint32_t c = 0; c < E; ++c) out[uint64_t(t) * E + c] += wt * y[c];
    }
  }
  return out;
}

double rms(const std::vector<float>& v) {
  double ss = 0;
  for (float f : v) ss += double(f) * f;
  return std::sqrt(ss / double(v.size()));
}

// max |a - b| / scale and the relative L2 error |a - b| / |b|.
std::pair<double, double> errors(const std::vector<float>& a, const std::vector<float>& b,
                                 double scale) {
  double worst = 0, num = 0, den = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    const double e = std::fabs(double(a[i]) - b[i]);
    worst = std::max(worst, e / scale);
    num += e * e, den += double(b[i]) * b[i];
  }
  return {worst, std::sqrt(num / std::max(den, 1e-30))};
}

}  // namespace

TEST_CASE("cpu expert_ffn matches ref::expert_ffn") {
  struct Case {
    GgmlType gate, down;
    uint32_t X, E, F, K, T;
    bool clamped;
  };
  const Case cases[] = {
      {GgmlType::Q4_K, GgmlType::Q4_K, 5, 256, 256, 2, 1, false},
      {GgmlType::Q4_K, GgmlType::Q6_K, 7, 256, 512, 3, 5, false},
      {GgmlType::Q8_0, GgmlType::Q8_0, 4, 96, 160, 2, 3, false},
      {GgmlType::Q4_0, GgmlType::Q5_1, 3, 64, 96, 1, 7, false},
      {GgmlType::MXFP4, GgmlType::MXFP4, 6, 64, 96, 4, 3, true},
      {GgmlType::F16, GgmlType::BF16, 3, 37, 29, 2, 2, false},
      {GgmlType::F32, GgmlType::F32, 5, 64, 96, 3, 4, true},
      {GgmlType::IQ4_XS, GgmlType::Q3_K, 4, 256, 256, 2, 2, true},
      {GgmlType::Q2_K, GgmlType::IQ4_NL, 4, 256, 32, 3, 1, false},
      {GgmlType::Q5_K, GgmlType::Q5_0, 9, 256, 64, 8, 4, false},
  };
  uint64_t seed = 100;
  for (const Case& c : cases) {
    seed += 10;
    CAPTURE(traits(c.gate).name);
    CAPTURE(traits(c.down).name);
    CAPTURE(c.T);
    CAPTURE(seed);
    const Weights m = make(c.gate, c.down, c.X, c.E, c.F, c.clamped, seed);
    std::mt19937 rng{uint32_t(seed)};
    std::normal_distribution<float> nd(0, 1);
    std::vector<float> x(uint64_t(c.T) * c.E);
    for (float& v : x) v = nd(rng);
    // Distinct ids per token (as top-k gives), some slots skipped (-1) on later tokens.
    std::vector<int32_t> ids(uint64_t(c.T) * c.K);
    std::vector<float> wts(ids.size());
    std::uniform_real_distribution<float> ud(0.1f, 1.0f);
    for (uint32_t t = 0; t < c.T; ++t) {
      std::vector<int32_t> perm(c.X);
      for (uint32_t i = 0; i < c.X; ++i) perm[i] = int32_t(i);
      std::shuffle(perm.begin(), perm.end(), rng);
      for (uint32_t j = 0; j < c.K; ++j) {
        ids[t * c.K + j] = (t % 3 == 2 && j == 0) ? -1 : perm[j];
        wts[t * c.K + j] = ud(rng);
      }
    }
    std::vector<float> want(x.size());
    ref::expert_ffn(m.w, x, c.T, c.K, ids, wts, want);

    std::vector<float> first;
    for (unsigned threads : {1u, 2u, 5u}) {
      CAPTURE(threads);
      cpu::ThreadPool pool(threads);
      std::vector<float> out(x.size() + kGuard, std::bit_cast<float>(kPoison));
      cpu::expert_ffn(m.w, x, c.T, c.K, ids, wts, std::span(out.data(), x.size()), pool);
      size_t poison = 0, guard = 0;
      for (size_t i = 0; i < out.size(); ++i)
        (i < x.size() ? poison : guard) += std::bit_cast<uint32_t>(out[i]) == kPoison;
      CHECK(poison == 0);
      CHECK(guard == kGuard);
      out.resize(x.size());
      const double scale = rms(want) + 1e-6;
      const bool float_types = traits(c.gate).block_size == 1 && traits(c.down).block_size == 1;
      // Against the emulated reference (same activation rounding, double sums): float accumulation
      // only, plus a rare one-step flip of a hidden value whose float and double values straddle a
      // rounding boundary: 0.5% of the output's rms per element, 0.1% in aggregate.
      const auto [w_emu, l2_emu] = errors(out, emulated(m.w, x, c.T, c.K, ids, wts), scale);
      CHECK(w_emu <= (float_types ? 1e-5 : 5e-3));
      CHECK(l2_emu <= (float_types ? 1e-5 : 1e-3));
      // Against the plain reference: two 8-bit activation roundings (x; the hidden row,
      // heavy-tailed as a product of two normals, so its block maximum is many times its rms): a
      // few percent.
      const auto [w_ref, l2_ref] = errors(out, want, scale);
      CHECK(w_ref <= (float_types ? 1e-4 : 0.3));
      CHECK(l2_ref <= (float_types ? 1e-5 : 0.05));
      // The same sums in the same order whatever the thread count.
      if (first.empty())
        first = out;
      else
        CHECK(out == first);
    }
  }
}

TEST_CASE("cpu expert_ffn: tokens without experts get zeros; out of range ids are refused") {
  const Weights m = make(GgmlType::Q8_0, GgmlType::Q8_0, 2, 32, 32, false, 5);
  std::vector<float> x(64, 1.0f), out(64, 3.0f);
  std::vector<int32_t> ids{-1, -1};
  std::vector<float> wts{1, 1};
  cpu::expert_ffn(m.w, x, 2, 1, ids, wts, out);
  for (float v : out) CHECK(v == 0.0f);
  ids = {0, 2};
  CHECK_THROWS(cpu::expert_ffn(m.w, x, 2, 1, ids, wts, out));
}
