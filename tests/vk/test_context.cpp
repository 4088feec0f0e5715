// The Vulkan core: device choice, features, memory, pipelines, recorder, timeline.
#include <doctest/doctest.h>

#include <cstring>

#include "loader/error.h"
#include "runtime/vk/pipeline.h"
#include "shaders/registry.h"
#include "tests/support/vk_test.h"

using namespace moevk;

TEST_CASE("a Vulkan device exists and is usable (no silent skip)") {
  auto devices = vk::list_devices();
  REQUIRE_MESSAGE(!devices.empty(), "no Vulkan device: install mesa-vulkan-drivers (lavapipe)");
  vk::Context& ctx = test::gpu();
  const vk::Features& f = ctx.features();
  CHECK(f.usable());
  CHECK(f.max_allocation > 0);
  CHECK(f.subgroup_size >= 1);
  MESSAGE(f.report());
  CHECK(f.report().find("subgroup") != std::string::npos);
}

TEST_CASE("feature switches force the fallbacks of what the shaders use") {
  // The switches the code picks variants and paths by: subgroup (every *_subgroup shader), tiled (the
  // prefill matmuls), unified (memory placement), transfer_queue (expert copies). fp16, int8 and
  // 8/16-bit storage are read by no shader (weights are read as 32-bit words), so switching them off
  // would test nothing.
  vk::Context& ctx = test::gpu_without("subgroup,tiled,unified,transfer_queue");
  CHECK_FALSE(ctx.features().subgroup_arith);
  CHECK_FALSE(ctx.features().subgroup_size_control);
  CHECK(ctx.options().no_tiled);
  CHECK_FALSE(ctx.features().unified_memory);
  CHECK_FALSE(ctx.has_transfer_queue());
  CHECK(&ctx.transfer_queue() == &ctx.compute_queue());
  // Every subgroup variant has its fallback built: with subgroups off an op always finds its shader.
  size_t n_subgroup = 0;
  for (const shaders::Spirv& s : shaders::all()) {
    const std::string name(s.name);
    if (!name.ends_with("_subgroup")) continue;
    ++n_subgroup;
    CAPTURE(name);
    CHECK(shaders::find(name.substr(0, name.size() - 9)) != nullptr);
  }
  CHECK(n_subgroup >= 5);  // matvec, softmax, rms_norm, gate_topk, attention at least
  vk::DeviceOptions o;
  CHECK_THROWS_AS(o.disable("warp-drive"), Error);
}

TEST_CASE("device index out of range is a clear error") {
  vk::DeviceOptions o;
  o.device_index = 999;
  try {
    vk::Context c(o);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("device 999") != std::string::npos);
  }
}

TEST_CASE("arena views respect alignment and chunk limits; upload/download round trip") {
  vk::Context& ctx = test::gpu();
  vk::Arena arena(ctx, vk::MemoryKind::Device, 1 << 20, "test arena");
  vk::View a = arena.alloc(1000);
  vk::View b = arena.alloc(3000, 256);
  vk::View big = arena.alloc(3 << 20);  // larger than a chunk: its own chunk
  CHECK(b.offset % 256 == 0);
  CHECK(a.buffer == b.buffer);
  CHECK(big.buffer != a.buffer);
  CHECK(big.address() % 4 == 0);
  std::vector<uint8_t> src(3000), dst(3000);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i * 7);
  vk::upload(ctx, b, src.data(), src.size());
  vk::download(ctx, b, dst.data(), dst.size());
  CHECK(src == dst);
  CHECK(arena.used() >= 4000 + (3 << 20));
}

TEST_CASE("allocations larger than maxMemoryAllocationSize are refused by name") {
  vk::Context& ctx = test::gpu();
  uint64_t too_big = ctx.features().max_allocation + 1;
  try {
    vk::Buffer b(ctx, too_big, vk::MemoryKind::Device, "huge tensor");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("huge tensor") != std::string::npos);
  }
}

TEST_CASE("pipelines come from the embedded registry; unknown variants are named") {
  vk::Context& ctx = test::gpu();
  CHECK(!shaders::all().empty());
  CHECK(shaders::find("add_f32") != nullptr);
  CHECK_THROWS_AS(ctx.pipeline("no_such_variant", 16), Error);
  vk::Pipeline& p = ctx.pipeline("add_f32", 40);
  CHECK(&p == &ctx.pipeline("add_f32", 40));  // cached
}

TEST_CASE("recorder: fill, copy, barriers, timeline and counters") {
  vk::Context& ctx = test::gpu();
  test::DeviceArray a(ctx, 4096), b(ctx, 4096);
  vk::Recorder rec(ctx, false, 4);
  rec.timestamp();
  rec.fill(a.view(), 0x3F800000u);  // 1.0f
  rec.barrier();
  rec.copy(a.view(), b.view(), 4096);
  rec.timestamp();
  vk::TimelinePoint v = rec.submit();
  ctx.wait(v);
  CHECK(ctx.completed(v.queue) >= v.value);
  CHECK(ctx.done(v));
  auto out = b.read_f32();
  for (float x : out) REQUIRE(x == 1.0f);
  CHECK(rec.counters().barriers == 1);
  CHECK(rec.counters().submits == 1);
  auto ts = rec.timestamps_ns();
  if (ctx.features().timestamps) {
    REQUIRE(ts.size() == 2);
    CHECK(ts[1] >= ts[0]);
  }
  // The recorder records again after a submission.
  rec.fill(a.view(), 0);
  rec.submit_and_wait();
  for (float x : a.read_f32()) REQUIRE(x == 0.0f);
}

TEST_CASE("transfer queue (where present) and fallback both copy") {
  for (const char* disabled : {"", "transfer_queue"}) {
    CAPTURE(disabled);
    vk::Context& ctx = std::string(disabled).empty() ? test::gpu() : test::gpu_without(disabled);
    test::DeviceArray a(ctx, 1024), b(ctx, 1024);
    std::vector<float> v = test::random_floats(5, 256);
    a.upload(v);
    vk::Recorder rec(ctx, /*on_transfer_queue=*/true);
    rec.copy(a.view(), b.view(), 1024);
    rec.host_barrier();
    rec.submit_and_wait();
    test::check_equal(b.read_f32(), v);
  }
}

TEST_CASE("the validation layer is on under ctest and reports misuse") {
  vk::Context& ctx = test::gpu();
  REQUIRE_MESSAGE(ctx.options().validate, "tests must run with MOEVK_VALIDATE=1 (ctest sets it)");
  REQUIRE(vk::validation_message_count() == 0);
  // A deliberate misuse: a buffer of size 0 breaks VUID-VkBufferCreateInfo-size-00912.
  VkBufferCreateInfo bci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
  bci.size = 0;
  bci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT;
  VkBuffer b = VK_NULL_HANDLE;
  if (vkCreateBuffer(ctx.device(), &bci, nullptr, &b) == VK_SUCCESS && b) vkDestroyBuffer(ctx.device(), b, nullptr);
  CHECK(vk::validation_message_count() > 0);
  vk::forget_validation_messages_for_test();
}
