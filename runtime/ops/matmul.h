// matmul: the tiled matrix products of prefill (shaders/matmul.comp). Same arguments as the
// matvecs, but each weight tile is dequantised once into shared memory and reused by 32 tokens.
//   matmul:    y[t] = W x[t] (+ bias) for a batch of tokens (dense weights).
//   matmul_id: the expert product over tokens grouped by expert: moe_route sorts the (token,
//              selected expert) pairs of a batch by expert on the GPU (counts, prefix sum,
//              scatter), then one dispatch multiplies every expert's matrix with its group of
//              tokens. Results are laid out as matvec_id's ([n_tok][n_used][n_rows]).
#pragma once

#include <cstdint>

#include "runtime/ops/matvec.h"
#include "runtime/ops/matvec_id.h"
#include "runtime/vk/buffer.h"
#include "runtime/vk/recorder.h"

namespace moevk::ops {

struct MatmulPush {
  uint64_t data_a, data_b, data_d, data_bias, data_res, data_route, data_slots;
  uint32_t n_rows, n_cols, row_bytes, n_tok, n_used, n_expert;
  uint32_t x_tok_stride, x_expert_stride, y_stride, pad0;
};
static_assert(sizeof(MatmulPush) == 96, "must match matmul.comp's push block");

struct MoeRoutePush {
  uint64_t data_ids, data_route;
  uint32_t n_sel, n_expert;
};
static_assert(sizeof(MoeRoutePush) == 24, "must match moe_route.comp's push block");

// The most experts moe_route groups (its shared table holds n_expert + 1 groups).
constexpr uint32_t kMaxRouteExperts = 1024;

// Whether the tiled kernels take this weight matrix (the type is readable and rows are whole
// 8-element units); otherwise the matvecs do the work.
bool matmul_supports(GgmlType t, uint32_t n_cols);

// Bytes of the route buffer for n_sel pairs over n_expert experts: offsets [n_expert + 2], then
// entries [n_sel] (uint32).
uint64_t moe_route_bytes(uint32_t n_expert, uint64_t n_sel);

// Groups ids [n_sel] (int32) by expert into route (layout above; ids outside [0, n_expert) go to
// the last group).
void moe_route(vk::Context& ctx, vk::Recorder& rec, vk::View ids, uint32_t n_sel, uint32_t n_expert,
               vk::View route);

// cfg: only storage16 applies (the 16-bit-load variant where the device has the feature).
void matmul(vk::Context& ctx, vk::Recorder& rec, const MatvecArgs& a, const MatvecConfig& cfg = {});

// route: what moe_route wrote for a.ids (n_sel = a.n_tok * a.n_used, n_expert = the pool's).
// On a config with row lanes (use_row_lanes) the pairs run through matmul_id_rows.comp instead.
void matmul_id(vk::Context& ctx, vk::Recorder& rec, const MatvecIdArgs& a, vk::View route,
               const MatvecConfig& cfg = {});

}  // namespace moevk::ops
