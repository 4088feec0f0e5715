#include "runtime/ops/unary.h"

#include "loader/error.h"
#include "runtime/ops/dispatch.h"
#include "runtime/vk/pipeline.h"

namespace moevk::ops {

namespace {

// Bytes a [n_rows][stride] operand spans (the last row only needs n_cols).
uint64_t span_bytes(uint32_t n_cols, uint32_t n_rows, uint32_t stride) {
  return (uint64_t(n_rows - 1) * stride + n_cols) * 4;
}

void run(vk::Context& ctx, vk::Recorder& rec, const char* variant, const vk::View& a,
         const vk::View* b, const vk::View& d, UnaryShape s, float alpha, float limit) {
  if (s.stride_a == 0) s.stride_a = s.n_cols;
  if (s.stride_b == 0) s.stride_b = s.n_cols;
  if (s.stride_d == 0) s.stride_d = s.n_cols;
  MOEVK_ASSERT(s.n_cols > 0 && s.n_rows > 0 && uint64_t(s.n_cols) * s.n_rows <= UINT32_MAX,
               "unary: bad shape");
  MOEVK_ASSERT(s.stride_a >= s.n_cols && s.stride_b >= s.n_cols && s.stride_d >= s.n_cols,
               "unary: row stride below n_cols");
  MOEVK_ASSERT(uint64_t(s.n_rows - 1) * std::max({s.stride_a, s.stride_b, s.stride_d}) + s.n_cols <=
                   UINT32_MAX,
               "unary: operand spans more than 2^32 elements");
  MOEVK_ASSERT(a.size >= span_bytes(s.n_cols, s.n_rows, s.stride_a), "unary: a view too small");
  MOEVK_ASSERT(!b || b->size >= span_bytes(s.n_cols, s.n_rows, s.stride_b),
               "unary: b view too small");
  MOEVK_ASSERT(d.size >= span_bytes(s.n_cols, s.n_rows, s.stride_d), "unary: d view too small");
  UnaryPush pc{a.address(),
               b ? b->address() : a.address(),
               d.address(),
               s.n_cols,
               s.n_rows,
               s.stride_a,
               s.stride_b,
               s.stride_d,
               alpha,
               limit,
               0};
  rec.dispatch(ctx.pipeline(variant, sizeof pc), pc, groups_1d(uint64_t(s.n_cols) * s.n_rows, 256));
}

}  // namespace

void silu(vk::Context& ctx, vk::Recorder& rec, const vk::View& a, const vk::View& d,
          UnaryShape shape) {
  run(ctx, rec, "silu_f32", a, nullptr, d, shape, 0, 0);
}

void gelu(vk::Context& ctx, vk::Recorder& rec, const vk::View& a, const vk::View& d,
          UnaryShape shape) {
  run(ctx, rec, "gelu_f32", a, nullptr, d, shape, 0, 0);
}

void sigmoid(vk::Context& ctx, vk::Recorder& rec, const vk::View& a, const vk::View& d,
             UnaryShape shape) {
  run(ctx, rec, "sigmoid_f32", a, nullptr, d, shape, 0, 0);
}

void copy(vk::Context& ctx, vk::Recorder& rec, const vk::View& a, const vk::View& d,
          UnaryShape shape) {
  run(ctx, rec, "copy_f32", a, nullptr, d, shape, 0, 0);
}

void swiglu(vk::Context& ctx, vk::Recorder& rec, const vk::View& gate, const vk::View& up,
            const vk::View& d, UnaryShape shape) {
  run(ctx, rec, "swiglu_f32", gate, &up, d, shape, 0, 0);
}

void swiglu_oai(vk::Context& ctx, vk::Recorder& rec, const vk::View& gate, const vk::View& up,
                const vk::View& d, UnaryShape shape, float alpha, float limit) {
  run(ctx, rec, "swiglu_oai_f32", gate, &up, d, shape, alpha, limit);
}

}  // namespace moevk::ops
