#include "runtime/ops/binary.h"

#include "runtime/ops/dispatch.h"
#include "runtime/vk/pipeline.h"

namespace moevk::ops {

static void run(vk::Context& ctx, vk::Recorder& rec, const char* variant, const vk::View& a,
                const vk::View* b, const vk::View& d, uint32_t n, uint32_t nb, float s) {
  MOEVK_ASSERT(a.size >= uint64_t(n) * 4 && d.size >= uint64_t(n) * 4, "binary: views too small");
  MOEVK_ASSERT(!b || (nb > 0 && n % nb == 0 && b->size >= uint64_t(nb) * 4), "binary: bad broadcast");
  BinaryPush pc{a.address(), b ? b->address() : a.address(), d.address(), n, b ? nb : 1, s, 0};
  rec.dispatch(ctx.pipeline(variant, sizeof pc), pc, groups_1d(n, 256));
}

void add(vk::Context& ctx, vk::Recorder& rec, const vk::View& a, const vk::View& b, const vk::View& d,
         uint32_t n, uint32_t nb) {
  run(ctx, rec, "add_f32", a, &b, d, n, nb, 1.0f);
}

void mul(vk::Context& ctx, vk::Recorder& rec, const vk::View& a, const vk::View& b, const vk::View& d,
         uint32_t n, uint32_t nb) {
  run(ctx, rec, "mul_f32", a, &b, d, n, nb, 1.0f);
}

void scale(vk::Context& ctx, vk::Recorder& rec, const vk::View& a, const vk::View& d, uint32_t n,
           float s) {
  run(ctx, rec, "scale_f32", a, nullptr, d, n, 1, s);
}

}  // namespace moevk::ops
