// Shared by test_matvec.cpp and test_matvec_id.cpp: random weight matrices of every GPU type and
// the matvec tolerance.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "loader/quants/quants.h"
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

}  // namespace moevk::test
