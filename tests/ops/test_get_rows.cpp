// get_rows.comp for every table type against loader/quants/quants.h dequantize_row on the same bytes
// (random valid blocks from random_blocks).
#include <doctest/doctest.h>

#include <random>

#include "loader/quants/quants.h"
#include "runtime/ops/get_rows.h"
#include "tests/support/vk_test.h"

using namespace moevk;
using test::DeviceArray;

namespace {

const GgmlType kTypes[] = {GgmlType::F32,  GgmlType::F16,    GgmlType::BF16,   GgmlType::Q8_0,
                           GgmlType::Q4_0, GgmlType::Q4_1,   GgmlType::Q5_0,   GgmlType::Q5_1,
                           GgmlType::Q2_K, GgmlType::Q3_K,   GgmlType::Q4_K,   GgmlType::Q5_K,
                           GgmlType::Q6_K, GgmlType::IQ4_NL, GgmlType::IQ4_XS, GgmlType::MXFP4};

// Types whose dequantisation is one fp32 product per element (scale * integer or table value, or a
// plain conversion): the GPU result is bit-identical. The others compute d * q - m style
// expressions that a GPU compiler may contract into an fma: 1 ulp-level differences.
bool exact_type(GgmlType t) {
  switch (t) {
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::BF16:
    case GgmlType::Q8_0:
    case GgmlType::Q4_0:
    case GgmlType::Q5_0:
    case GgmlType::IQ4_NL:
      return true;
    default:
      return false;
  }
}

void run_case(GgmlType type, uint32_t n_cols, uint32_t n_table_rows, uint32_t n_tok, uint64_t seed,
              uint32_t stride_d = 0) {
  const std::string type_name(traits(type).name);
  CAPTURE(type_name);
  CAPTURE(n_cols);
  CAPTURE(n_table_rows);
  CAPTURE(n_tok);
  CAPTURE(stride_d);
  CAPTURE(seed);
  vk::Context& ctx = test::gpu();
  const uint64_t rb = *row_bytes(type, n_cols);
  std::vector<uint8_t> table(rb * n_table_rows);
  random_blocks(type, seed, table.data(), int64_t(n_cols) * n_table_rows);
  // Ids: the first and last rows, repeats, and random rows.
  std::vector<int32_t> ids(n_tok);
  std::mt19937 rng{uint32_t(seed)};
  for (auto& id : ids) id = int32_t(rng() % n_table_rows);
  ids[0] = int32_t(n_table_rows - 1);
  if (n_tok > 1) ids[1] = 0;
  if (n_tok > 2) ids[2] = ids[0];
  if (stride_d == 0) stride_d = n_cols;
  const uint64_t n_out = uint64_t(n_tok - 1) * stride_d + n_cols;
  DeviceArray dt(ctx, table.size()), di(ctx, n_tok * 4ull), dd(ctx, n_out * 4);
  dt.upload(table);
  di.upload(ids);
  std::vector<float> want(n_out, 0.0f);
  if (stride_d > n_cols) dd.upload(want);  // the gaps between rows are not written
  vk::Recorder rec(ctx);
  ops::get_rows(ctx, rec, type, dt.view(), n_cols, n_table_rows, di.view(), n_tok, dd.view(),
                stride_d);
  rec.submit_and_wait();
  for (uint32_t t = 0; t < n_tok; ++t)
    dequantize_row(type, table.data() + uint64_t(ids[t]) * rb, want.data() + uint64_t(t) * stride_d,
                   n_cols);
  if (exact_type(type))
    test::check_equal(dd.read_f32(), want);
  else  // values are O(1): a 1-ulp difference from fma contraction is < 1e-6 relative
    test::check_close(dd.read_f32(), want, {1e-7, 1e-6, 1e-7});
}

}  // namespace

TEST_CASE("get_rows: every type over shapes 1, primes, model shapes") {
  for (GgmlType type : kTypes) {
    const uint32_t bs = traits(type).block_size;
    // n_cols: one block, a few blocks, model widths that are block multiples.
    std::vector<uint32_t> cols = {bs, 3 * bs};
    for (uint32_t c : {2048u, 2880u, 4096u})
      if (c % bs == 0) cols.push_back(c);
    if (bs == 1) cols.insert(cols.end(), {1u, 7u, 13u, 257u});  // tails shorter than 8
    for (uint32_t c : cols)
      for (auto [rows, tok] : {std::pair{1u, 1u}, {5u, 3u}, {97u, 13u}})
        run_case(type, c, rows, tok, 700 + c + rows);
  }
}

TEST_CASE("get_rows: vocab-sized tables, the last row") {
  // 151936 (qwen) and 201088 (gpt-oss) rows: row offsets far past 2^24 bytes.
  run_case(GgmlType::Q8_0, 64, 151936, 9, 1);
  run_case(GgmlType::F16, 32, 201088, 9, 2);
  run_case(GgmlType::Q4_K, 256, 129280, 5, 3);
}

TEST_CASE("get_rows: a batch of 512 tokens into a strided output") {
  run_case(GgmlType::Q6_K, 512, 300, 512, 4);
  run_case(GgmlType::BF16, 200, 50, 17, 5, 211);
  run_case(GgmlType::MXFP4, 2880, 20, 7, 6, 2900);
}

TEST_CASE("get_rows: ids outside the table give zero rows") {
  vk::Context& ctx = test::gpu();
  const uint32_t n_cols = 64, n_rows = 4;
  auto table = test::random_floats(8, n_cols * n_rows);
  std::vector<int32_t> ids = {2, -1, 4, 1 << 30};
  DeviceArray dt(ctx, table.size() * 4), di(ctx, ids.size() * 4), dd(ctx, ids.size() * n_cols * 4);
  dt.upload(table);
  di.upload(ids);
  vk::Recorder rec(ctx);
  ops::get_rows(ctx, rec, GgmlType::F32, dt.view(), n_cols, n_rows, di.view(), 4, dd.view());
  rec.submit_and_wait();
  std::vector<float> want(ids.size() * n_cols, 0.0f);
  std::copy(table.begin() + 2 * n_cols, table.begin() + 3 * n_cols, want.begin());
  test::check_equal(dd.read_f32(), want);
}
