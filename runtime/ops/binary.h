// binary op: d = a + b, d = a * b (b broadcast by repetition), d = a * scale. Shader: binary.comp.
#pragma once

#include <cstdint>

#include "runtime/vk/buffer.h"
#include "runtime/vk/recorder.h"

namespace moevk::ops {

struct BinaryPush {
  uint64_t data_a, data_b, data_d;
  uint32_t n, nb;
  float scale;
  uint32_t pad;
};
static_assert(sizeof(BinaryPush) == 40, "must match binary.comp's push block");

// a: [n], b: [nb] with n % nb == 0, d: [n] (may be a).
void add(vk::Context& ctx, vk::Recorder& rec, const vk::View& a, const vk::View& b, const vk::View& d,
         uint32_t n, uint32_t nb);
void mul(vk::Context& ctx, vk::Recorder& rec, const vk::View& a, const vk::View& b, const vk::View& d,
         uint32_t n, uint32_t nb);
void scale(vk::Context& ctx, vk::Recorder& rec, const vk::View& a, const vk::View& d, uint32_t n,
           float s);

}  // namespace moevk::ops
