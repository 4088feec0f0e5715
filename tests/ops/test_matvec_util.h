// Shared by test_matvec.cpp and test_matvec_id.cpp: random weight matrices of every GPU type and
// the matvec tolerance.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "loader/quants/quants.h"
#include "runtime/ops/matvec.h"
#include "runtime/ops/quantize.h"
#include "runtime/ref/matvec.h"
#include "runtime/ref/ops.h"
#include "tests/support/vk_test.h"

namespace moevk::test {

// Every weight type the GPU matvec reads.
inline const GgmlType kMatvecTypes[] = {
    GgmlType::F32,  GgmlType::F16,    GgmlType::BF16,   GgmlType::Q8_0,
    GgmlType::Q4_0, GgmlType::Q4_1,   GgmlType::Q5_0,   GgmlType::Q5_1,
    GgmlType::Q2_K, GgmlType::Q3_K,   GgmlType::Q4_K,   GgmlType::Q5_K,
    GgmlType::Q6_K, GgmlType::IQ4_NL, GgmlType::IQ4_XS, GgmlType::MXFP4};

// n_rows rows of n_cols random valid blocks (every quant bit pattern random, sane scales).
struct HostWeights {
  GgmlType type;
  uint64_t n_rows, n_cols, row_bytes;
  std::vector<uint8_t> bytes;
  ref::QMatrix matrix() const {
    return ref::QMatrix{type, bytes.data(), n_cols, n_rows, row_bytes};
  }
};
inline HostWeights random_weights(GgmlType t, uint64_t n_rows, uint64_t n_cols, uint64_t seed) {
  HostWeights w{t, n_rows, n_cols, *row_bytes(t, n_cols), {}};
  w.bytes.resize(w.row_bytes * n_rows);
  random_blocks(t, seed, w.bytes.data(), int64_t(n_rows * n_cols));
  return w;
}

// Root mean square of the dequantised weights (the scale of one product term with |x| <= 1).
inline double weight_rms(const HostWeights& w) {
  std::vector<float> row(w.n_cols);
  double s = 0;
  for (uint64_t r = 0; r < w.n_rows; ++r) {
    w.matrix().dequant_row(r, row.data());
    for (float v : row) s += double(v) * v;
  }
  return std::sqrt(s / double(w.n_rows * w.n_cols));
}

// GPU: fp32 products of the same dequantised weights, summed in fp32 in a different order than the
// double reference. That error grows like sqrt(n_cols) times the size of one term; 1e-4 * that is
// far above fp32 rounding (~6e-8 per add) and far below what one wrong weight or index costs (~1
// term).
inline Tolerance matvec_tolerance(uint64_t n_cols, double w_rms) {
  const double term = std::max(w_rms, 1e-3);
  return {1e-4 * std::sqrt(double(n_cols)) * term, 1e-4, 1e-5 * std::sqrt(double(n_cols))};
}

// The block-per-lane kernels with their GPU paths forced: 16-bit weight loads and/or integer dot
// products (the test device must have the features: lavapipe has both).
inline ops::MatvecConfig gpu_path(bool storage16, bool int_dot, ops::MatvecConfig c = {}) {
  const vk::Features& f = gpu().features();
  REQUIRE(f.subgroup_arith);
  if (storage16) REQUIRE(f.storage16);
  if (int_dot) REQUIRE(f.int_dot);
  c.row_lanes = false;
  c.storage16 = storage16;
  c.int_dot = int_dot;
  return c;
}

// x quantised on the device by quantize_q8 (the integer-dot path's input), and the floats it stands
// for (d * p, read back): what an integer-dot product must match. Also CHECKs the device's
// quantisation against ref::quantize_q8 (scale to 1e-6, codes to +-1: the shader's division may
// round differently; the exact cases pin the rest).
struct QuantizedX {
  std::unique_ptr<DeviceArray> q;
  std::vector<float> x;  // [n_tok][n_per][n_cols], packed
};
inline QuantizedX quantize_on_device(vk::Context& ctx, const std::vector<float>& host_x,
                                     const vk::View& x, uint32_t n_cols, uint32_t n_tok,
                                     uint32_t n_per = 1) {
  const uint64_t words = uint64_t(n_tok) * n_per * ops::q8_words(n_cols);
  QuantizedX out{std::make_unique<DeviceArray>(ctx, words * 4), {}};
  vk::Recorder rec(ctx);
  ops::QuantizeArgs a;
  a.x = x;
  a.q = out.q->view();
  a.n_cols = n_cols;
  a.n_tok = n_tok;
  a.n_per = n_per;
  ops::quantize_q8(ctx, rec, a);
  rec.submit_and_wait();
  const auto bytes = out.q->read_bytes();
  std::vector<uint32_t> got(words), want(words);
  std::memcpy(got.data(), bytes.data(), words * 4);
  ref::quantize_q8(std::span<const float>(host_x.data(), uint64_t(n_tok) * n_per * n_cols), n_cols, want);
  uint64_t off_by_one = 0;
  for (uint64_t b = 0; b < words / 9; ++b) {
    float dg, dw;
    std::memcpy(&dg, &got[9 * b + 8], 4);
    std::memcpy(&dw, &want[9 * b + 8], 4);
    CHECK(std::fabs(dg - dw) <= 1e-6f * std::fabs(dw));
    for (int k = 0; k < 32; ++k) {
      const int pg = int8_t(uint8_t(got[9 * b + k / 4] >> (8 * (k % 4))));
      const int pw = int8_t(uint8_t(want[9 * b + k / 4] >> (8 * (k % 4))));
      CHECK(std::abs(pg - pw) <= 1);
      off_by_one += pg != pw;
    }
  }
  CHECK(off_by_one * 100 <= words / 9 * 32);  // ties only: never more than 1% of the codes
  out.x = ref::dequantize_q8(got, n_cols);
  return out;
}

}  // namespace moevk::test
