// rope op: rotary position embedding of a batch of tokens (normal or NeoX pairs, YaRN, optional
// frequency factors), with the parameters of ref::rope (runtime/ref/ops.h). Shader: rope.comp.
#pragma once

#include <cstdint>

#include "runtime/ref/ops.h"
#include "runtime/vk/buffer.h"
#include "runtime/vk/recorder.h"

namespace moevk::ops {

struct RopePush {
  uint64_t data_a, data_pos, data_ff, data_d;
  uint32_t n_tok, n_head, head_dim, n_rot;
  uint32_t stride_a, stride_d;
  float log2_theta_scale, freq_scale, ext_factor, mscale, corr_lo, corr_hi;
  uint32_t has_ff, pad;
};
static_assert(sizeof(RopePush) == 88, "must match rope.comp's push block");

struct RopeShape {
  uint32_t n_tok = 1, n_head = 0, head_dim = 0;
  // Elements from one token's first head to the next token's (0: n_head * head_dim), e.g. the
  // row length of a fused QKV buffer when x is a view of its Q or K part.
  uint32_t stride_a = 0, stride_d = 0;
};

// x: the tokens' heads (see RopeShape), pos: [n_tok] int32 positions, d: like x (may be x).
// freq_factors: [n_rot/2] f32 dividing each pair's theta (ggml's rope freq_factors), or an empty
// View.
void rope(vk::Context& ctx, vk::Recorder& rec, const vk::View& x, const vk::View& pos,
          const vk::View& d, RopeShape shape, const ref::RopeParams& p,
          const vk::View& freq_factors = {});

// The push block of a rope: YaRN correction dims, mscale, log2 of the frequency ratio (exposed for
// tests and for ops that fuse rope).
RopePush rope_push(RopeShape shape, const ref::RopeParams& p);

}  // namespace moevk::ops
