// Two-queue synchronisation (a timeline per queue, submissions that wait on several points, the
// command-buffer ring) and the device-memory count and budget. Lavapipe has no transfer queue, so
// here transfer_queue() is the compute queue; a GPU with one runs the same tests on two queues.
#include <doctest/doctest.h>

#include <cstring>

#include "loader/error.h"
#include "runtime/vk/buffer.h"
#include "runtime/vk/context.h"
#include "runtime/vk/recorder.h"
#include "tests/support/vk_test.h"

using namespace moevk;

TEST_CASE("timelines: a copy on the transfer queue, compute waiting on it and on itself") {
  vk::Context& ctx = test::gpu();
  test::DeviceArray a(ctx, 1 << 16), b(ctx, 1 << 16), c(ctx, 1 << 16);
  vk::Recorder compute(ctx), transfer(ctx, /*on_transfer_queue=*/true);
  compute.fill(a.view(), 0x40000000u);  // 2.0f
  const vk::TimelinePoint filled = compute.submit();
  transfer.copy(a.view(), b.view(), 1 << 16);
  const vk::TimelinePoint copied = transfer.submit({filled});
  compute.copy(b.view(), c.view(), 1 << 16);
  const vk::TimelinePoint done = compute.submit({copied, filled});  // both queues' points
  ctx.wait(done);
  CHECK(ctx.done(filled));
  CHECK(ctx.done(copied));
  CHECK(ctx.completed(done.queue) >= done.value);
  for (float x : c.read_f32()) REQUIRE(x == 2.0f);
  CHECK(transfer.counters().submits == 1);
}

TEST_CASE("recorder ring: recording the next batch does not wait for the previous one") {
  vk::Context& ctx = test::gpu();
  test::DeviceArray a(ctx, 4096);
  vk::Recorder rec(ctx, false, 0, 3);
  std::vector<vk::TimelinePoint> points;
  for (uint32_t i = 0; i < 7; ++i) {  // more submissions than command buffers: the ring wraps
    rec.fill(a.view(), 0x3F800000u + i);
    points.push_back(rec.submit());
  }
  for (size_t i = 1; i < points.size(); ++i) CHECK(points[i].value > points[i - 1].value);
  ctx.wait(points.back());
  std::vector<uint8_t> bytes = a.read_bytes();
  uint32_t w = 0;
  std::memcpy(&w, bytes.data(), 4);
  CHECK(w == 0x3F800000u + 6);
}

TEST_CASE("deferred work runs once the GPU is past its point") {
  vk::Context& ctx = test::gpu();
  test::DeviceArray a(ctx, 4096);
  vk::Recorder rec(ctx);
  rec.fill(a.view(), 0);
  const vk::TimelinePoint p = rec.submit();
  bool ran = false;
  ctx.defer(p, [&] { ran = true; });
  ctx.wait(p);  // wait() collects
  CHECK(ran);
}

TEST_CASE("device memory: counted at allocation, a budget refuses what would exceed it") {
  vk::DeviceOptions o = vk::DeviceOptions::from_env();
  vk::Context ctx(o);
  CHECK(ctx.memory().allocated == 0);
  {
    vk::Buffer b(ctx, 1 << 20, vk::MemoryKind::Device, "test buffer");
    CHECK(ctx.memory().allocated >= (1 << 20));
    CHECK(ctx.memory().peak >= (1 << 20));
    // Host memory does not count as GPU memory on this device.
    vk::Buffer h(ctx, 1 << 20, vk::MemoryKind::Host, "host tier");
    if (ctx.physically_unified()) CHECK_FALSE(h.counted());
    CHECK(h.mapped() != nullptr);
  }
  CHECK(ctx.memory().allocated == 0);
  ctx.set_memory_budget(3 << 20);
  vk::Buffer b1(ctx, 2 << 20, vk::MemoryKind::Device, "first");
  try {
    vk::Buffer b2(ctx, 2 << 20, vk::MemoryKind::Device, "second");
    FAIL("an allocation past the budget succeeded");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("budget") != std::string::npos);
    CHECK(msg.find("second") != std::string::npos);
  }
  CHECK(ctx.memory().allocated <= (3u << 20));
  // The n-th allocation fails (out-of-memory paths), then allocation works again.
  ctx.set_memory_budget(0);
  ctx.fail_allocation_after(2);
  vk::Buffer ok(ctx, 4096, vk::MemoryKind::Device, "ok");
  CHECK_THROWS_AS(vk::Buffer(ctx, 4096, vk::MemoryKind::Device, "fails"), Error);
  vk::Buffer again(ctx, 4096, vk::MemoryKind::Device, "again");
  CHECK(again.size() == 4096);
}

TEST_CASE("arena: planned chunks are allocated as planned, never more") {
  vk::Context& ctx = test::gpu();
  const uint64_t before = ctx.memory().allocated;
  vk::Arena arena(ctx, vk::MemoryKind::Device, std::vector<uint64_t>{65536, 65536}, 65536, "planned");
  const vk::View a = arena.alloc(40000);
  const vk::View b = arena.alloc(40000);  // does not fit the first chunk
  CHECK(a.buffer != b.buffer);
  CHECK(arena.reserved() == 2 * 65536);
  CHECK(ctx.memory().allocated - before == 2 * 65536);
}
