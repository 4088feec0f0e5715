// --profile's collection in vk::Recorder: timestamps around each dispatch, summed per pipeline with
// the bytes the op annotated, harvested once the command buffer has run; nothing is collected
// while profiling is off.
#include <doctest/doctest.h>

#include "runtime/ops/matvec.h"
#include "tests/ops/test_matvec_util.h"

using namespace moevk;
using namespace moevk::test;

TEST_CASE("profile: dispatches, time and annotated bytes per pipeline") {
  vk::Context& ctx = gpu();
  const uint32_t n_rows = 37, n_cols = 64;
  auto w = random_weights(GgmlType::Q8_0, n_rows, n_cols, 7100);
  DeviceArray dw(ctx, w.bytes.size()), dx(ctx, n_cols * 4), dy(ctx, n_rows * 4);
  dw.upload(w.bytes);
  dx.upload(random_floats(7101, n_cols));
  ops::MatvecArgs a{{dw.view(), GgmlType::Q8_0, n_rows, n_cols}, dx.view(), dy.view()};
  vk::Recorder rec(ctx, false, 64);
  vk::Profile prof;
  ops::matvec(ctx, rec, a);  // before profiling: not counted
  rec.submit_and_wait();
  rec.set_profile(&prof);
  ops::matvec(ctx, rec, a);
  rec.barrier();
  ops::matvec(ctx, rec, a);
  rec.submit_and_wait();
  rec.set_profile(nullptr);
  ops::matvec(ctx, rec, a);  // after: not counted
  rec.submit_and_wait();
  if (!ctx.features().timestamps) {
    CHECK(prof.empty());
    return;
  }
  REQUIRE(prof.size() == 1);
  const auto& [name, op] = *prof.begin();
  CHECK(name.rfind("matvec_q8_0_f32", 0) == 0);
  CHECK(op.dispatches == 2);
  CHECK(op.bytes == 2 * uint64_t(n_rows) * w.row_bytes);
  CHECK(op.ns > 0);
  dy.read_f32();
}
