// CPU matrix products on the kernels of kernels.h: the activations are quantised once per call
// (per token row), the weight rows are split across the thread pool.
#pragma once

#include <cstdint>
#include <span>

#include "runtime/cpu/pool.h"
#include "runtime/ref/ops.h"

namespace moevk::cpu {

// y[t][r] = sum_c W[r][c] * x[t][c] for t < n_tok (x: n_tok * row_len, y: n_tok * n_rows): the
// contract of ref::matmul, computed with quantised activations (kernels.h) in float.
void matmul(const ref::QMatrix& w, std::span<const float> x, uint32_t n_tok, std::span<float> y,
            ThreadPool& pool = ThreadPool::global());

// The same with x already quantised for w.type (quantize_act): n_tok rows of x_stride bytes.
void matmul_q(const ref::QMatrix& w, const void* xq, size_t x_stride, uint32_t n_tok,
              std::span<float> y, ThreadPool& pool = ThreadPool::global());

}  // namespace moevk::cpu
