#include "runtime/ref/matvec.h"

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

}  // namespace moevk::ref
