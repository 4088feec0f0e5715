// matmul_coopmat.comp (the prefill matmuls on VK_NV_cooperative_matrix) and its guards.
//  - On a device with the feature: every type, dense and grouped, against ref::matmul /
//    ref::matvec_id with the float16 rounding bound derived below (scripts/gpu-run.sh runs this on
//    an NVIDIA GPU). Elsewhere (lavapipe has no cooperative matrices) those cases say so with
//    MESSAGE and check that nothing selects the kernel.
//  - On every device: the selection (matvec_config_for, MOEVK_DISABLE=coopmat, coopmat_usable), the
//    feature's query and adoption rules, and the load-time self-check with a correct candidate (the
//    tiled matmul itself) and broken ones.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <stdexcept>

#include "runtime/ops/matmul.h"
#include "runtime/ops/matmul_coopmat.h"
#include "runtime/ref/matvec.h"
#include "tests/ops/test_matvec_util.h"

using namespace moevk;
using test::DeviceArray;

namespace {

// Per-element bound of a float16 kernel against the double reference on the same dequantised
// weights. Rounding w and x to float16 changes each term w x by at most (2^-11 + 2^-11 + 2^-22)
// |w x| (relative, normal range; subnormals add at most 2^-25 |x| per term, covered by the
// absolute part), and the f32 sums add (n_cols) 2^-24 sum|w x| at most: so
// |g - r| <= 2^-10 sum_c |w_c x_c| + 2^-16 sum_c |w_c x_c| + 1e-6. The bound is what the math
// allows in the worst case; one wrong or missing term costs ~ sum / n_cols, which is above it for
// the shapes here only on average, so the aggregate check (the errors are random: about 2^-11 of
// the norm) is the sharp one: ||g - r|| / ||r|| <= 2e-3.
void check_f16_close(const std::vector<float>& got, const std::vector<float>& want,
                     const std::vector<double>& scale) {
  REQUIRE(got.size() == want.size());
  double err2 = 0, ref2 = 0;
  uint64_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      if (!std::isnan(got[i]) && bad++ < 5)
        FAIL_CHECK("element " << i << " should be NaN: " << got[i]);
      continue;
    }
    const double d = std::fabs(double(got[i]) - want[i]);
    const double tol = (std::ldexp(1.0, -10) + std::ldexp(1.0, -16)) * scale[i] + 1e-6;
    if (!(d <= tol) && bad++ < 5)
      FAIL_CHECK("element " << i << ": " << got[i] << " vs " << want[i] << " (tolerance " << tol
                            << ")");
    err2 += d * d;
    ref2 += double(want[i]) * want[i];
  }
  CHECK(bad == 0);
  CHECK(std::sqrt(err2) <= 2e-3 * std::sqrt(ref2) + 1e-6);
}

// sum_c |w[r][c] x[c]| for each row of a dequantised matrix.
std::vector<double> term_scale(const std::vector<float>& wd, const float* x, uint32_t n_rows,
                               uint32_t n_cols) {
  std::vector<double> s(n_rows, 0.0);
  for (uint32_t r = 0; r < n_rows; ++r)
    for (uint32_t c = 0; c < n_cols; ++c)
      s[r] += std::fabs(double(wd[uint64_t(r) * n_cols + c]) * x[c]);
  return s;
}

std::vector<float> dequantised(const test::HostWeights& w) {
  std::vector<float> out(w.n_rows * w.n_cols);
  for (uint64_t r = 0; r < w.n_rows; ++r) w.matrix().dequant_row(r, out.data() + r * w.n_cols);
  return out;
}

// The config that asks for the cooperative-matrix kernels.
ops::MatvecConfig coopmat_on() {
  ops::MatvecConfig c;
  c.coopmat = true;
  return c;
}

// Dense: y = W x + bias, added in place to y's residual.
void run_dense(vk::Context& ctx, GgmlType t, uint32_t n_rows, uint32_t n_tok, uint32_t n_cols,
               uint64_t seed) {
  CAPTURE(traits(t).name);
  CAPTURE(n_rows);
  CAPTURE(n_tok);
  CAPTURE(n_cols);
  CAPTURE(seed);
  auto w = test::random_weights(t, n_rows, n_cols, seed);
  auto x = test::random_floats(seed + 1, uint64_t(n_tok) * n_cols);
  auto b = test::random_floats(seed + 2, n_rows);
  auto res = test::random_floats(seed + 3, uint64_t(n_tok) * n_rows);
  DeviceArray dw(ctx, w.bytes.size()), dx(ctx, x.size() * 4), db(ctx, b.size() * 4),
      dy(ctx, res.size() * 4);
  dw.upload(w.bytes);
  dx.upload(x);
  db.upload(b);
  dy.upload(res);
  ops::MatvecArgs a{
      {dw.view(), t, n_rows, n_cols}, dx.view(), dy.view(), db.view(), n_tok, dy.view()};
  REQUIRE(ops::coopmat_usable(ctx, coopmat_on(), t, n_cols));
  vk::Recorder rec(ctx);
  ops::matmul_coopmat(ctx, rec, a);
  rec.submit_and_wait();
  std::vector<float> want(res.size());
  ref::matmul(w.matrix(), x, n_tok, want);
  const auto wd = dequantised(w);
  std::vector<double> scale(want.size());
  for (uint32_t tk = 0; tk < n_tok; ++tk) {
    const auto s = term_scale(wd, &x[uint64_t(tk) * n_cols], n_rows, n_cols);
    for (uint32_t r = 0; r < n_rows; ++r) {
      const uint64_t i = uint64_t(tk) * n_rows + r;
      want[i] += b[r] + res[i];
      scale[i] = s[r] + std::fabs(b[r]) + std::fabs(res[i]);
    }
  }
  check_f16_close(dy.read_f32(), want, scale);
}

// Grouped: n_expert experts top-n_used over n_tok tokens; expert 1 has no slot and one id is out
// of range (NaN rows), the others sit in a shuffled pool; per-expert bias.
void run_grouped(vk::Context& ctx, GgmlType t, uint32_t n_rows, uint32_t n_tok, uint32_t n_cols,
                 uint64_t seed) {
  const uint32_t n_expert = 8, n_used = 2;
  CAPTURE(traits(t).name);
  CAPTURE(n_rows);
  CAPTURE(n_tok);
  CAPTURE(n_cols);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  auto w = test::random_weights(t, uint64_t(n_expert) * n_rows, n_cols, seed);
  const uint64_t mat = w.row_bytes * n_rows, stride = (mat + 255) / 256 * 256 + 256;
  std::vector<int32_t> ids, all(n_expert);
  for (uint32_t tk = 0; tk < n_tok; ++tk) {
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), rng);
    ids.insert(ids.end(), all.begin(), all.begin() + n_used);
  }
  ids[1] = int32_t(n_expert);  // out of range
  std::vector<uint32_t> slot(n_expert);
  std::iota(slot.begin(), slot.end(), 0u);
  std::shuffle(slot.begin(), slot.end(), rng);
  std::vector<uint8_t> pool(n_expert * stride, 0xA5);
  for (uint32_t e = 0; e < n_expert; ++e)
    std::memcpy(pool.data() + slot[e] * stride, w.bytes.data() + e * mat, mat);
  const uint64_t n_sel = uint64_t(n_tok) * n_used;
  auto x = test::random_floats(seed + 1, uint64_t(n_tok) * n_cols);
  auto bias = test::random_floats(seed + 2, uint64_t(n_expert) * n_rows);
  DeviceArray dpool(ctx, pool.size()), dslots(ctx, n_expert * 8), dids(ctx, ids.size() * 4),
      dx(ctx, x.size() * 4), db(ctx, bias.size() * 4), dy(ctx, n_sel * n_rows * 4),
      route(ctx, ops::moe_route_bytes(n_expert, n_sel));
  dpool.upload(pool);
  std::vector<uint64_t> table(n_expert);
  for (uint32_t e = 0; e < n_expert; ++e) table[e] = dpool.view().address() + slot[e] * stride;
  table[1] = ops::kNoSlot;
  dslots.upload(table);
  dids.upload(ids);
  dx.upload(x);
  db.upload(bias);
  ops::MatvecIdArgs a;
  a.experts = {dslots.view(), 0, stride, n_expert, t, n_rows, n_cols};
  a.ids = dids.view();
  a.x = dx.view();
  a.y = dy.view();
  a.bias = db.view();
  a.n_used = n_used;
  a.n_tok = n_tok;
  REQUIRE(ops::coopmat_usable(ctx, coopmat_on(), t, n_cols));
  vk::Recorder rec(ctx);
  ops::moe_route(ctx, rec, a.ids, uint32_t(n_sel), n_expert, route.view());
  rec.barrier();
  ops::matmul_id_coopmat(ctx, rec, a, route.view());
  rec.submit_and_wait();
  const auto wd = dequantised(w);
  std::vector<float> want(n_sel * n_rows, NAN), row(n_rows);
  std::vector<double> scale(want.size(), 0.0);
  for (uint64_t sel = 0; sel < n_sel; ++sel) {
    const int32_t e = ids[sel];
    if (e < 0 || uint32_t(e) >= n_expert || e == 1) continue;  // NaN rows
    const float* xs = &x[(sel / n_used) * n_cols];
    ref::matvec(w.matrix().rows(uint64_t(e) * n_rows, n_rows), std::span<const float>(xs, n_cols),
                row);
    std::vector<float> we(wd.begin() + uint64_t(e) * n_rows * n_cols,
                          wd.begin() + uint64_t(e + 1) * n_rows * n_cols);
    const auto s = term_scale(we, xs, n_rows, n_cols);
    for (uint32_t r = 0; r < n_rows; ++r) {
      want[sel * n_rows + r] = row[r] + bias[uint64_t(e) * n_rows + r];
      scale[sel * n_rows + r] = s[r] + std::fabs(bias[uint64_t(e) * n_rows + r]);
    }
  }
  check_f16_close(dy.read_f32(), want, scale);
}

// The float tiled matmul as a candidate: what the self-check compares against, so it passes.
ops::MatmulCandidate tiled() {
  return {[](vk::Context& c, vk::Recorder& r, const ops::MatvecArgs& a) { ops::matmul(c, r, a); },
          [](vk::Context& c, vk::Recorder& r, const ops::MatvecIdArgs& a, vk::View route) {
            ops::matmul_id(c, r, a, route);
          }};
}

std::unique_ptr<vk::Context> fresh_context() {
  vk::DeviceOptions o = vk::DeviceOptions::from_env();
  o.validate = true;
  return std::make_unique<vk::Context>(o);
}

}  // namespace

TEST_CASE("matmul_coopmat: every type, dense and grouped, against the reference (coopmat GPUs)") {
  vk::Context& ctx = test::gpu();
  if (!ctx.features().coopmat_nv) {
    MESSAGE("no usable VK_NV_cooperative_matrix on " << ctx.features().name
                                                     << ": the kernel comparisons need such a GPU "
                                                        "(scripts/gpu-run.sh); here only the "
                                                        "selection is checked");
    for (GgmlType t : test::kMatvecTypes)
      CHECK_FALSE(ops::coopmat_usable(ctx, coopmat_on(), t, 256));
    CHECK_FALSE(ops::matvec_config_for(ctx.features()).coopmat);
    return;
  }
  REQUIRE(ops::coopmat_guard(ctx));  // the self-check passes on a device that has the kernel
  uint64_t seed = 9000;
  for (GgmlType t : test::kMatvecTypes) {
    const uint32_t qk = std::max(traits(t).block_size, 8u);
    run_dense(ctx, t, 67, 33, 3 * qk, seed++);  // row, token and K tails
    run_dense(ctx, t, 130, 70, qk, seed++);     // several tiles of each
    run_dense(ctx, t, 64, 64, 2 * qk, seed++);  // whole tiles
    run_grouped(ctx, t, 67, 33, 3 * qk, seed++);
    run_grouped(ctx, t, 130, 70, qk, seed++);
  }
}

TEST_CASE("matmul_coopmat: a kCpuSlot expert's rows stay untouched (coopmat GPUs)") {
  vk::Context& ctx = test::gpu();
  if (!ctx.features().coopmat_nv) {
    MESSAGE("no usable VK_NV_cooperative_matrix on " << ctx.features().name
                                                     << ": the self-check below covers kCpuSlot "
                                                        "with the tiled matmul");
    CHECK_FALSE(ops::coopmat_usable(ctx, coopmat_on(), GgmlType::Q8_0, 64));
    return;
  }
  const uint32_t n_rows = 70, n_cols = 64, n_tok = 3, n_used = 2, n_expert = 2;
  auto w = test::random_weights(GgmlType::Q8_0, n_expert * n_rows, n_cols, 77);
  auto x = test::random_floats(78, n_tok * n_cols);
  const std::vector<int32_t> ids = {0, 1, 1, 0, 0, 1};
  std::vector<float> before(n_tok * n_used * n_rows, 5.0f);
  DeviceArray dw(ctx, w.bytes.size()), dslots(ctx, 16), dids(ctx, 24), dx(ctx, x.size() * 4),
      dy(ctx, before.size() * 4), route(ctx, ops::moe_route_bytes(n_expert, n_tok * n_used));
  dw.upload(w.bytes);
  dslots.upload(std::vector<uint64_t>{dw.view().address(), ops::kCpuSlot});
  dids.upload(ids);
  dx.upload(x);
  dy.upload(before);
  ops::MatvecIdArgs a;
  a.experts = {dslots.view(), 0, w.bytes.size(), n_expert, GgmlType::Q8_0, n_rows, n_cols};
  a.ids = dids.view();
  a.x = dx.view();
  a.y = dy.view();
  a.n_used = n_used;
  a.n_tok = n_tok;
  vk::Recorder rec(ctx);
  ops::moe_route(ctx, rec, a.ids, n_tok * n_used, n_expert, route.view());
  rec.barrier();
  ops::matmul_id_coopmat(ctx, rec, a, route.view());
  rec.submit_and_wait();
  const auto y = dy.read_f32();
  for (uint32_t sel = 0; sel < n_tok * n_used; ++sel)
    if (ids[sel] == 1)
      for (uint32_t r = 0; r < n_rows; ++r) CHECK(y[sel * n_rows + r] == 5.0f);
}

TEST_CASE("matmul_coopmat: selection (matvec_config_for, MOEVK_DISABLE=coopmat, coopmat_usable)") {
  vk::Context& ctx = test::gpu();
  const vk::Features& f = ctx.features();
  // The config follows the feature; the feature implies the extension and float16.
  CHECK(ops::matvec_config_for(f).coopmat == f.coopmat_nv);
  if (f.coopmat_nv) CHECK((f.coopmat_nv_present && f.fp16 && f.subgroup_size == 32));
  if (!f.coopmat_nv_present) CHECK_FALSE(f.coopmat_nv);
  INFO(f.report());
  CHECK(f.report().find("cooperative matrix:") != std::string::npos);
  // MOEVK_DISABLE=coopmat (and no float16) switch it off.
  for (const char* off : {"coopmat", "fp16"}) {
    CAPTURE(off);
    vk::Context& c = test::gpu_without(off);
    CHECK_FALSE(c.features().coopmat_nv);
    CHECK_FALSE(ops::matvec_config_for(c.features()).coopmat);
    CHECK_FALSE(ops::coopmat_usable(c, coopmat_on(), GgmlType::Q4_K, 256));
  }
  // coopmat_usable refuses a config without it and matrices the tiled matmul does not take,
  // whatever the device (the GPU path: only those).
  CHECK_FALSE(ops::coopmat_usable(ctx, ops::MatvecConfig{}, GgmlType::Q4_K, 256));
  CHECK_FALSE(ops::coopmat_usable(ctx, coopmat_on(), GgmlType::F32, 1003));  // n_cols % 8
  CHECK_FALSE(ops::coopmat_usable(ctx, coopmat_on(), GgmlType::Q4_K, 200));  // not whole blocks
  CHECK(ops::coopmat_usable(ctx, coopmat_on(), GgmlType::Q4_K, 256) == f.coopmat_nv);
}

TEST_CASE("matmul_coopmat: the cooperative-matrix entry the kernel needs") {
  VkCooperativeMatrixPropertiesNV good{VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV};
  good.MSize = good.NSize = good.KSize = 16;
  good.AType = good.BType = VK_COMPONENT_TYPE_FLOAT16_NV;
  good.CType = good.DType = VK_COMPONENT_TYPE_FLOAT32_NV;
  good.scope = VK_SCOPE_SUBGROUP_NV;
  CHECK(vk::has_coopmat_nv_f16_16x16x16({good}));
  CHECK_FALSE(vk::has_coopmat_nv_f16_16x16x16({}));
  auto f16_acc = good, k8 = good, workgroup = good;
  f16_acc.CType = f16_acc.DType = VK_COMPONENT_TYPE_FLOAT16_NV;
  k8.KSize = 8;
  workgroup.scope = VK_SCOPE_WORKGROUP_NV;
  CHECK_FALSE(vk::has_coopmat_nv_f16_16x16x16({f16_acc, k8, workgroup}));
  CHECK(vk::has_coopmat_nv_f16_16x16x16({f16_acc, k8, workgroup, good}));
}

TEST_CASE("matmul_coopmat: an adopted device keeps it only where the app enabled it") {
  // What the app's VkDeviceCreateInfo enables decides; the physical device is not queried.
  VkPhysicalDeviceCooperativeMatrixFeaturesNV cm{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  VkPhysicalDeviceVulkan12Features f12{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
  f12.bufferDeviceAddress = f12.timelineSemaphore = VK_TRUE;
  f12.shaderFloat16 = VK_TRUE;
  VkPhysicalDeviceFeatures2 f2{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  f2.features.shaderInt64 = VK_TRUE;
  f2.pNext = &f12;
  f12.pNext = &cm;
  const char* ext = VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
  VkDeviceCreateInfo dci{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
  dci.pNext = &f2;
  vk::AdoptedDevice a;
  a.create_info = &dci;
  auto adopted = [&](bool feature, bool memory_model, bool with_ext) {
    cm.cooperativeMatrix = feature;
    f12.vulkanMemoryModel = memory_model;
    dci.enabledExtensionCount = with_ext ? 1 : 0;
    dci.ppEnabledExtensionNames = with_ext ? &ext : nullptr;
    vk::Features f;
    f.api_version = VK_API_VERSION_1_2;
    f.fp16 = f.coopmat_nv = f.coopmat_nv_present = true;
    CHECK(vk::check_adopted_features(a, f).empty());
    return f.coopmat_nv;
  };
  CHECK(adopted(true, true, true));
  CHECK_FALSE(adopted(false, true, true));
  CHECK_FALSE(adopted(true, false, true));
  CHECK_FALSE(adopted(true, true, false));
}

TEST_CASE("matmul_coopmat: the self-check passes the tiled matmul and fails broken candidates") {
  vk::Context& ctx = test::gpu();
  {
    const auto r = ops::coopmat_self_check(ctx, tiled());
    INFO(r.detail);
    CHECK(r.ok);
  }
  struct Broken {
    const char* what;
    const char* form;  // the form the detail must name
    ops::MatmulCandidate c;
  };
  const Broken broken[] = {
      {"dense: one element poisoned after the product",
       "dense",
       {[](vk::Context& c, vk::Recorder& r, const ops::MatvecArgs& a) {
          ops::matmul(c, r, a);
          r.barrier();
          r.fill(a.y.sub(4 * 77, 4), 0x7FC0DEADu);
        },
        tiled().grouped}},
      {"dense: the last token left out (a wrong shape)",
       "dense",
       {[](vk::Context& c, vk::Recorder& r, const ops::MatvecArgs& a) {
          ops::MatvecArgs b = a;
          b.n_batch -= 1;
          ops::matmul(c, r, b);
        },
        tiled().grouped}},
      {"dense: bias dropped",
       "dense",
       {[](vk::Context& c, vk::Recorder& r, const ops::MatvecArgs& a) {
          ops::MatvecArgs b = a;
          b.bias = {};
          ops::matmul(c, r, b);
        },
        tiled().grouped}},
      {"grouped: one row too few per pair",
       "grouped",
       {tiled().dense,
        [](vk::Context& c, vk::Recorder& r, const ops::MatvecIdArgs& a, vk::View route) {
          ops::MatvecIdArgs b = a;
          b.experts.n_rows -= 1;  // rows also land one pair stride off
          ops::matmul_id(c, r, b, route);
        }}},
      {"grouped: bias dropped",
       "grouped",
       {tiled().dense,
        [](vk::Context& c, vk::Recorder& r, const ops::MatvecIdArgs& a, vk::View route) {
          ops::MatvecIdArgs b = a;
          b.bias = {};
          ops::matmul_id(c, r, b, route);
        }}},
  };
  for (const Broken& b : broken) {
    CAPTURE(b.what);
    const auto r = ops::coopmat_self_check(ctx, b.c);
    CHECK_FALSE(r.ok);
    CHECK(r.detail.find(b.form) == 0);
  }
}

TEST_CASE("matmul_coopmat: the guard runs once and switches the path off when the check fails") {
  // Fresh contexts: the guard marks the context it ran on.
  {
    auto ctx = fresh_context();
    int runs = 0;
    ops::MatmulCandidate c = tiled();
    const auto dense = c.dense;
    c.dense = [&](vk::Context& x, vk::Recorder& r, const ops::MatvecArgs& a) {
      ++runs;
      dense(x, r, a);
    };
    CHECK(ops::coopmat_guard(*ctx, &c));
    CHECK(ops::coopmat_guard(*ctx, &c));  // once per context
    CHECK(runs == 1);
    CHECK(ctx->features().coopmat_nv == test::gpu().features().coopmat_nv);  // left as it was
  }
  for (int kind : {0, 1}) {  // a wrong result; a candidate that throws (e.g. no pipeline)
    CAPTURE(kind);
    auto ctx = fresh_context();
    int runs = 0;
    ops::MatmulCandidate c = tiled();
    c.dense = [&](vk::Context& x, vk::Recorder& r, const ops::MatvecArgs& a) {
      ++runs;
      if (kind == 1) throw std::runtime_error("no pipeline for this candidate");
      ops::MatvecArgs b = a;
      b.residual = {};
      ops::matmul(x, r, b);
    };
    CHECK_FALSE(ops::coopmat_guard(*ctx, &c));  // prints the warning line
    CHECK_FALSE(ops::coopmat_guard(*ctx, &c));
    CHECK(runs == 1);
    CHECK_FALSE(ctx->features().coopmat_nv);
    CHECK_FALSE(ctx->features().coopmat_khr);
    CHECK_FALSE(ops::coopmat_usable(*ctx, coopmat_on(), GgmlType::Q8_0, 256));
  }
}
