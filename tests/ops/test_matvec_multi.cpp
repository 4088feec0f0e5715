// matvec_multi.comp and matvec_rows_multi.comp (two or three matvecs of one x in one dispatch: the
// q, k, v projections) against ops::matvec of each part, which test_matvec checks against
// ref::matmul: each part must match it bit for bit (the same per-row arithmetic), on both kernel
// families, with outputs poisoned and guarded; plus exact inputs against a CPU product with ==.
#include <doctest/doctest.h>

#include "runtime/ops/matvec.h"
#include "tests/ops/test_matvec_util.h"
#include "tests/support/vk_test.h"

using namespace moevk;
using test::DeviceArray;

namespace {

ops::MatvecConfig block_cfg() {  // the block-per-lane kernels (GPUs; MOEVK_DISABLE=row_lanes)
  ops::MatvecConfig c = ops::matvec_config_for(test::gpu().features());
  c.row_lanes = c.storage16 = c.int_dot = false;
  return c;
}

ops::MatvecConfig paths_cfg() {  // the same with 16-bit loads and integer dot products
  return test::gpu_path(true, true, block_cfg());
}

ops::MatvecConfig lanes_cfg() {
  ops::MatvecConfig c = ops::matvec_config_for(test::gpu().features());
  REQUIRE(c.row_lanes);  // lavapipe takes them by default
  return c;
}

void run_case(GgmlType type, std::vector<uint32_t> rows, uint32_t n_cols, uint32_t n_batch,
              bool bias, ops::MatvecConfig cfg, uint64_t seed) {
  CAPTURE(traits(type).name);
  CAPTURE(rows.size());
  CAPTURE(rows[0]);
  CAPTURE(n_cols);
  CAPTURE(n_batch);
  CAPTURE(bias);
  CAPTURE(cfg.row_lanes);
  CAPTURE(seed);
  vk::Context& ctx = test::gpu();
  const size_t n = rows.size();
  auto x = test::random_floats(seed, size_t(n_batch) * n_cols);
  DeviceArray dx(ctx, x.size() * 4);
  dx.upload(x);
  std::vector<std::unique_ptr<DeviceArray>> dw, db, y1, y2;
  std::vector<ops::MatvecArgs> parts(n);
  for (size_t m = 0; m < n; ++m) {
    auto w = test::random_weights(type, rows[m], n_cols, seed + 10 * m + 1);
    auto b = test::random_floats(seed + 10 * m + 2, rows[m]);
    dw.push_back(std::make_unique<DeviceArray>(ctx, w.bytes.size()));
    db.push_back(std::make_unique<DeviceArray>(ctx, b.size() * 4));
    y1.push_back(std::make_unique<DeviceArray>(ctx, uint64_t(n_batch) * rows[m] * 4));
    y2.push_back(std::make_unique<DeviceArray>(ctx, uint64_t(n_batch) * rows[m] * 4));
    dw[m]->upload(w.bytes);
    db[m]->upload(b);
    parts[m].w = {dw[m]->view(), type, rows[m], n_cols};
    parts[m].x = dx.view();
    parts[m].n_batch = n_batch;
    if (bias && m != 1) parts[m].bias = db[m]->view();  // q and v biased, k not (qwen2)
  }
  test::QuantizedX qx;  // the integer-dot path: x quantised on the device, for both ops
  if (ops::uses_int_dot(ctx, cfg, type, n_cols)) {
    qx = test::quantize_on_device(ctx, x, dx.view(), n_cols, n_batch);
    for (auto& p : parts) p.xq = qx.q->view();
  }
  vk::Recorder rec(ctx);
  for (size_t m = 0; m < n; ++m) {
    ops::MatvecArgs a = parts[m];
    a.y = y1[m]->view();
    ops::matvec(ctx, rec, a, cfg);
    parts[m].y = y2[m]->view();
  }
  ops::matvec_multi(ctx, rec, parts.data(), uint32_t(n), cfg);
  rec.submit_and_wait();
  for (size_t m = 0; m < n; ++m) {
    CAPTURE(m);
    test::check_equal(y2[m]->read_f32(), y1[m]->read_f32());
  }
}

}  // namespace

TEST_CASE("matvec_multi: each part bit for bit as matvec, both kernel families") {
  uint64_t seed = 7100;
  for (const ops::MatvecConfig& cfg : {block_cfg(), lanes_cfg(), paths_cfg()})
    for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K,
                       GgmlType::MXFP4}) {
      const uint32_t cols = traits(t).block_size * 2 >= 64 ? traits(t).block_size * 2 : 64;
      run_case(t, {1, 1}, cols, 1, false, cfg, seed++);
      run_case(t, {67, 7, 33}, cols, 1, true, cfg, seed++);
      run_case(t, {33, 5, 40}, cols, 3, true, cfg, seed++);
      run_case(t, {257, 31}, cols, 17, false, cfg, seed++);
    }
  // qwen3moe's q, k, v: 4096, 512, 512 rows of 2048
  run_case(GgmlType::Q4_K, {4096, 512, 512}, 2048, 1, false, lanes_cfg(), seed++);
  run_case(GgmlType::Q4_K, {4096, 512, 512}, 2048, 1, false, block_cfg(), seed++);
  run_case(GgmlType::Q4_K, {4096, 512, 512}, 2048, 1, false, paths_cfg(), seed++);
  for (GgmlType t : test::kMatvecTypes)  // every type's 16-bit and integer-dot multi kernels
    run_case(t, {33, 5, 40}, std::max(traits(t).block_size, 32u) * 2, 3, true, paths_cfg(), seed++);
  // n_cols not a multiple of 32: the block-per-lane kernel even under row lanes
  run_case(GgmlType::F32, {13, 3, 5}, 37, 2, true, lanes_cfg(), seed++);
}

TEST_CASE("matvec_multi: exact inputs compared with ==") {
  // Weights and x from {-0.5, 0, 0.5, 1, 1.5}: every product and partial sum is exact in fp32.
  vk::Context& ctx = test::gpu();
  const uint32_t n_cols = 96, n_batch = 2;
  const std::vector<uint32_t> rows = {9, 4, 6};
  auto x = test::exact_floats(1, size_t(n_batch) * n_cols);
  for (const ops::MatvecConfig& cfg : {block_cfg(), lanes_cfg()}) {
    CAPTURE(cfg.row_lanes);
    DeviceArray dx(ctx, x.size() * 4);
    dx.upload(x);
    std::vector<std::vector<float>> ws;
    std::vector<std::unique_ptr<DeviceArray>> dw, dy;
    std::vector<ops::MatvecArgs> parts(3);
    for (uint32_t m = 0; m < 3; ++m) {
      ws.push_back(test::exact_floats(2 + m, size_t(rows[m]) * n_cols));
      dw.push_back(std::make_unique<DeviceArray>(ctx, ws[m].size() * 4));
      dy.push_back(std::make_unique<DeviceArray>(ctx, uint64_t(n_batch) * rows[m] * 4));
      dw[m]->upload(ws[m]);
      parts[m] = {
          {dw[m]->view(), GgmlType::F32, rows[m], n_cols}, dx.view(), dy[m]->view(), {}, n_batch};
    }
    vk::Recorder rec(ctx);
    ops::matvec_multi(ctx, rec, parts.data(), 3, cfg);
    rec.submit_and_wait();
    for (uint32_t m = 0; m < 3; ++m) {
      std::vector<float> want(size_t(n_batch) * rows[m]);
      for (uint32_t b = 0; b < n_batch; ++b)
        for (uint32_t r = 0; r < rows[m]; ++r) {
          float s = 0;
          for (uint32_t c = 0; c < n_cols; ++c)
            s += ws[m][size_t(r) * n_cols + c] * x[size_t(b) * n_cols + c];
          want[size_t(b) * rows[m] + r] = s;
        }
      CAPTURE(m);
      test::check_equal(dy[m]->read_f32(), want);
    }
  }
}
