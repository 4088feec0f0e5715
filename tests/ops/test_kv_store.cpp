// kv_store.comp: f32 rows -> f16 cache words at positions from a buffer, against fp32_to_fp16.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "loader/quants/quants.h"
#include "runtime/ops/kv_store.h"
#include "tests/support/vk_test.h"

using namespace moevk;
using test::DeviceArray;

namespace {

// Writes n_tokens rows (head_dim halves per head at col0) and checks the whole cache: written
// halves equal the round-to-nearest-even conversion (exact: one rounding on both sides), every
// other half keeps its poison.
void run_case(uint32_t n_tokens, const ops::KvLayout& l, uint32_t head_dim, uint32_t col0,
              uint32_t src_stride, const std::vector<int32_t>& pos, uint64_t seed) {
  CAPTURE(n_tokens);
  CAPTURE(l.n_head_kv);
  CAPTURE(l.n_ctx);
  CAPTURE(l.stride);
  CAPTURE(head_dim);
  CAPTURE(col0);
  CAPTURE(seed);
  vk::Context& ctx = test::gpu();
  const uint32_t ss = src_stride ? src_stride : l.n_head_kv * head_dim;
  // Large and small normal magnitudes (subnormal and overflowing halves are left out: drivers may
  // flush or saturate them, and K/V never reach them).
  auto src = test::random_floats(seed, uint64_t(n_tokens) * ss, -60000.0f, 60000.0f);
  for (size_t i = 0; i < src.size(); i += 3) src[i] *= 1e-4f;
  for (size_t i = 1; i < src.size(); i += 3)
    src[i] = std::copysign(1e-3f + std::fabs(src[i]) * 1e-7f, src[i]);
  if (src.size() > 4) src[2] = 65519.0f;  // rounds down to 65504, the largest half
  DeviceArray ds(ctx, src.size() * 4), dp(ctx, pos.size() * 4), dc(ctx, l.bytes());
  ds.upload(src);
  dp.upload(pos);
  vk::Recorder rec(ctx);
  ops::kv_store(ctx, rec, ds.view(), dp.view(), dc.view(), l, n_tokens, head_dim, col0, src_stride);
  rec.submit_and_wait();
  auto bytes = dc.read_bytes();
  std::vector<uint16_t> got(bytes.size() / 2), want(got.size());
  std::memcpy(got.data(), bytes.data(), bytes.size());
  const uint16_t poison_lo = test::kPoison & 0xFFFF, poison_hi = test::kPoison >> 16;
  for (size_t i = 0; i < want.size(); ++i) want[i] = i % 2 ? poison_hi : poison_lo;
  for (uint32_t t = 0; t < n_tokens; ++t) {
    if (pos[t] < 0 || uint32_t(pos[t]) >= l.n_ctx) continue;
    for (uint32_t h = 0; h < l.n_head_kv; ++h)
      for (uint32_t i = 0; i < head_dim; ++i)
        want[(uint64_t(h) * l.n_ctx + pos[t]) * l.stride + col0 + i] =
            fp32_to_fp16(src[uint64_t(t) * ss + h * head_dim + i]);
  }
  size_t bad = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (got[i] != want[i] && bad++ < 5)
      MESSAGE("half " << i << ": got " << got[i] << " want " << want[i]);
  CHECK_MESSAGE(bad == 0, bad << " halves differ");
}

}  // namespace

TEST_CASE("kv_store: shapes 1, primes, real shapes; exact f16 rounding; only the rows written") {
  run_case(1, {1, 1, 2}, 2, 0, 0, {0}, 1);
  run_case(3, {7, 11, 58}, 58, 0, 0, {10, 0, 4}, 2);
  run_case(5, {8, 40, 128}, 128, 0, 0, {33, 34, 35, 36, 37}, 3);  // qwen3-30b shape
  run_case(17, {8, 300, 64}, 64, 0, 0,
           {283, 284, 285, 286, 287, 288, 289, 290, 291, 292, 293, 294, 295, 296, 297, 298, 299},
           4);                                     // gpt-oss, n_tokens not /256
  run_case(2, {2, 9, 64}, 64, 0, 200, {8, 1}, 5);  // src_stride > row width
}

TEST_CASE(
    "kv_store: MLA rows [c | k_pe] written in two parts at col0; positions out of range skipped") {
  // c: kv_lora_rank 256 at col0 0, k_pe: 32 rope dims at col0 256, row stride 288 (deepseek2
  // oracle)
  run_case(4, {1, 24, 288}, 256, 0, 0, {0, 5, 23, 6}, 6);
  run_case(4, {1, 24, 288}, 32, 256, 0, {0, 5, 23, 6}, 7);
  run_case(4, {2, 10, 64}, 64, 0, 0, {-1, 3, 10, 9}, 8);
}
