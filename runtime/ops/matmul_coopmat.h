// matmul_coopmat: the prefill matmuls (ops::matmul, ops::matmul_id) on cooperative matrices
// (shaders/matmul_coopmat.comp, VK_NV_cooperative_matrix): same arguments, same results up to the
// float16 rounding of weights and activations (products and sums stay f32).
//
// No test machine of the project has the extension (lavapipe lacks it), so the kernel guards
// itself: the first time coopmat_usable says yes on a context, it runs coopmat_self_check on a
// small random problem against the float tiled matmul; a failure switches the path off for that
// context (every later product takes the tiled matmul) and prints one warning line naming the
// device.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "runtime/ops/matmul.h"
#include "runtime/ops/matvec.h"
#include "runtime/ops/matvec_id.h"
#include "runtime/vk/buffer.h"
#include "runtime/vk/recorder.h"

namespace moevk::ops {

// Whether the cooperative-matrix kernels take a product of type t over n_cols on this device under
// cfg: cfg.coopmat, the device's Features::coopmat_nv (the extension usable, MOEVK_DISABLE=coopmat
// not given), a matrix the tiled matmul takes (matmul_supports) and not the row lanes' config. The
// first yes on a context runs the self-check (coopmat_guard); it may turn the answer to no.
bool coopmat_usable(vk::Context& ctx, const MatvecConfig& cfg, GgmlType t, uint32_t n_cols);

// ops::matmul and ops::matmul_id (route: what moe_route wrote) on the cooperative-matrix kernel.
// The same checks as those ops; the caller has asked coopmat_usable.
void matmul_coopmat(vk::Context& ctx, vk::Recorder& rec, const MatvecArgs& a);
void matmul_id_coopmat(vk::Context& ctx, vk::Recorder& rec, const MatvecIdArgs& a, vk::View route);

// A kernel pair that claims to compute what ops::matmul and ops::matmul_id compute.
struct MatmulCandidate {
  std::function<void(vk::Context&, vk::Recorder&, const MatvecArgs&)> dense;
  std::function<void(vk::Context&, vk::Recorder&, const MatvecIdArgs&, vk::View route)> grouped;
};
struct SelfCheck {
  bool ok = false;
  std::string detail;  // the first mismatch (empty when ok)
};
// Runs the candidate and the float tiled matmul (ops::matmul / ops::matmul_id, default config) on
// the same small random problem and compares them element by element. Dense: 80 rows x 72 tokens
// x 264 columns (tails in every dimension), bias and residual. Grouped: 4 experts top-2 over 40
// tokens with one id out of range, one expert without a slot (NaN rows) and one kCpuSlot expert
// (rows left as they were). Weights are F16 and x is rounded to float16, so the inputs are exact
// for a float16 kernel and the results differ only by the order of f32 sums (see the .cpp).
SelfCheck coopmat_self_check(vk::Context& ctx, const MatmulCandidate& candidate);

// Once per context (Context::self_checked): runs coopmat_self_check on the candidate (default: the
// cooperative-matrix kernels); when it fails, switches cooperative matrices off for the context
// (Context::switch_off_coopmat) and prints one line to stderr naming the device. Returns whether
// the path stays on.
bool coopmat_guard(vk::Context& ctx, const MatmulCandidate* candidate = nullptr);

}  // namespace moevk::ops
