#include "runtime/cpu/matmul.h"

#include <algorithm>
#include <vector>

#include "loader/error.h"
#include "runtime/cpu/kernels.h"

namespace moevk::cpu {

namespace {
// Below this many multiply-adds a product stays on the calling thread.
constexpr uint64_t kMinParallelWork = 1 << 15;
}  // namespace

void matmul_q(const ref::QMatrix& w, const void* xq, size_t x_stride, uint32_t n_tok,
              std::span<float> y, ThreadPool& pool) {
  MOEVK_ASSERT(y.size() >= uint64_t(n_tok) * w.n_rows, "cpu::matmul: y too small");
  const uint64_t rows = w.n_rows;
  const uint64_t work = rows * w.row_len * n_tok;
  const unsigned nt = work < kMinParallelWork ? 1 : pool.size();
  // About 8 tasks per thread (uneven cores, a busy machine), at least 4 rows each.
  const uint64_t chunk = std::max<uint64_t>(4, (rows + nt * 8 - 1) / (nt * 8));
  const uint64_t n_tasks = (rows + chunk - 1) / chunk;
  auto task = [&](uint64_t i, unsigned) {
    const uint64_t r0 = i * chunk, r1 = std::min(rows, r0 + chunk);
    for (uint64_t r = r0; r < r1; ++r)
      dot_multi(w.type, w.data + r * w.row_bytes, xq, x_stride, int(n_tok), int64_t(w.row_len),
                y.data() + r, rows);
  };
  if (nt == 1)
    for (uint64_t i = 0; i < n_tasks; ++i) task(i, 0);
  else
    pool.run(n_tasks, task);
}

void matmul(const ref::QMatrix& w, std::span<const float> x, uint32_t n_tok, std::span<float> y,
            ThreadPool& pool) {
  MOEVK_ASSERT(x.size() >= uint64_t(n_tok) * w.row_len, "cpu::matmul: x too small");
  const size_t stride = act_row_bytes(w.type, int64_t(w.row_len));
  thread_local std::vector<uint8_t> xq;
  if (xq.size() < stride * n_tok) xq.resize(stride * n_tok);
  for (uint32_t t = 0; t < n_tok; ++t)
    quantize_act(w.type, x.data() + uint64_t(t) * w.row_len, xq.data() + t * stride,
                 int64_t(w.row_len));
  matmul_q(w, xq.data(), stride, n_tok, y, pool);
}

}  // namespace moevk::cpu
