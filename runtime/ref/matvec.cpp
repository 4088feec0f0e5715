#include "runtime/ref/matvec.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "loader/error.h"

namespace moevk::ref {

void matvec_id(const QMatrix& experts, uint32_t n_rows, std::span<const int32_t> ids,
               uint32_t n_used, uint32_t n_tok, std::span<const float> x, bool x_per_expert,
               std::span<const float> bias, std::span<float> y) {
  MOEVK_ASSERT(n_rows > 0 && experts.n_rows % n_rows == 0,
               "matvec_id: rows not a multiple of n_rows");
  const uint64_t n_expert = experts.n_rows / n_rows, n_cols = experts.row_len;
  const uint64_t n_sel = uint64_t(n_tok) * n_used;
  MOEVK_ASSERT(ids.size() >= n_sel && y.size() >= n_sel * n_rows, "matvec_id: ids/y too small");
  MOEVK_ASSERT(x.size() >= (x_per_expert ? n_sel : n_tok) * n_cols, "matvec_id: x too small");
  MOEVK_ASSERT(bias.empty() || bias.size() >= n_expert * n_rows, "matvec_id: bias too small");
  for (uint64_t s = 0; s < n_sel; ++s) {
    const int32_t e = ids[s];
    MOEVK_ASSERT(e >= 0 && uint64_t(e) < n_expert, "matvec_id: expert id out of range");
    const uint64_t xi = x_per_expert ? s : s / n_used;
    std::span<float> ys = y.subspan(s * n_rows, n_rows);
    matvec(experts.rows(uint64_t(e) * n_rows, n_rows), x.subspan(xi * n_cols, n_cols), ys);
    if (!bias.empty()) add_bias(ys, bias.subspan(uint64_t(e) * n_rows, n_rows));
  }
}

void quantize_q8(std::span<const float> x, uint32_t n_cols, std::span<uint32_t> q) {
  MOEVK_ASSERT(n_cols > 0 && n_cols % 32 == 0 && x.size() % n_cols == 0, "quantize_q8: bad shape");
  const uint64_t n_blocks = x.size() / 32;
  MOEVK_ASSERT(q.size() >= n_blocks * 9, "quantize_q8: q too small");
  for (uint64_t b = 0; b < n_blocks; ++b) {
    const float* xb = x.data() + 32 * b;
    float amax = 0;
    for (int k = 0; k < 32; ++k) amax = std::max(amax, std::fabs(xb[k]));
    const float d = amax / 127.0f;
    const float id = d > 0 ? 1.0f / d : 0.0f;
    for (int w = 0; w < 8; ++w) {
      uint32_t word = 0;
      for (int k = 0; k < 4; ++k) {
        const float p = std::clamp(std::nearbyint(xb[4 * w + k] * id), -127.0f, 127.0f);
        word |= uint32_t(uint8_t(int8_t(p))) << (8 * k);
      }
      q[9 * b + w] = word;
    }
    std::memcpy(&q[9 * b + 8], &d, 4);
  }
}

std::vector<float> dequantize_q8(std::span<const uint32_t> q, uint32_t n_cols) {
  MOEVK_ASSERT(n_cols > 0 && n_cols % 32 == 0 && q.size() % 9 == 0, "dequantize_q8: bad shape");
  std::vector<float> x(q.size() / 9 * 32);
  for (uint64_t b = 0; b < q.size() / 9; ++b) {
    float d;
    std::memcpy(&d, &q[9 * b + 8], 4);
    for (int k = 0; k < 32; ++k)
      x[32 * b + k] = d * float(int8_t(uint8_t(q[9 * b + k / 4] >> (8 * (k % 4)))));
  }
  return x;
}

}  // namespace moevk::ref
