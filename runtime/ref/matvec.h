// Reference for the GPU expert matvec (matvec_id.comp). The plain matvec's reference is ref::matmul
// (runtime/ref/ops.h) plus ref::add_bias.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "runtime/ref/ops.h"

namespace moevk::ref {

// For t < n_tok, i < n_used: e = ids[t][i], y[t][i] = W_e x(t, i) (+ bias[e]), where W_e is rows
// [e * n_rows, (e + 1) * n_rows) of `experts` (a 3-D expert tensor as a QMatrix), x(t, i) = x[t]
// when !x_per_expert, else x[t][i]; bias [n_expert][n_rows] or empty. Double accumulation.
void matvec_id(const QMatrix& experts, uint32_t n_rows, std::span<const int32_t> ids,
               uint32_t n_used, uint32_t n_tok, std::span<const float> x, bool x_per_expert,
               std::span<const float> bias, std::span<float> y);

// The activation quantisation of the integer-dot path (quantize_q8.comp), vector by vector: per 32
// elements d = max|x| / 127 (f32) and p = roundEven(x / d) as int8 (0 when d is 0). q receives the
// shader's layout, n_cols / 32 blocks of 9 words (8 words of int8 little-endian, then d's bits).
void quantize_q8(std::span<const float> x, uint32_t n_cols, std::span<uint32_t> q);
// d * p for every element of blocks in that layout: the vector the integer-dot products multiply.
std::vector<float> dequantize_q8(std::span<const uint32_t> q, uint32_t n_cols);

}  // namespace moevk::ref
