#version 450
// kv_store: writes new K (or V) rows into the f16 KV cache: f32 -> f16 (packHalf2x16), two halves a
// word, at per-token positions read from a buffer (so a recorded graph does not depend on them).
//   data_a   [n_tokens][src_stride] f32: head h of token t at data_a[t*src_stride + h*head_dim + i]
//   data_ids [n_tokens] i32 cache positions (a position outside [0, n_ctx) is skipped)
//   data_d   cache [n_head_kv][n_ctx][row_stride] f16 as uint words: element (h, pos, i) is half
//            (h*n_ctx + pos)*row_stride + col0 + i (col0 lets MLA write c and k_pe into one row)
// head_dim, row_stride and col0 are even (whole words). Host mirror: runtime/ops/kv_store.{h,cpp}.
#include "buffers.glsl"

layout(local_size_x = 256) in;

layout(push_constant, std430) uniform PC {
  FloatRef data_a;
  IntRef data_ids;
  UintRef data_d;
  uint n_tokens;
  uint n_head_kv;
  uint head_dim;
  uint src_stride;
  uint row_stride;
  uint col0;
  uint n_ctx;
  uint pad;
} pc;

void main() {
  const uint words = pc.head_dim / 2u;
  const uint n = pc.n_tokens * pc.n_head_kv * words;
  for (uint i = gl_GlobalInvocationID.x; i < n; i += grid_stride()) {
    const uint w = i % words;
    const uint h = (i / words) % pc.n_head_kv;
    const uint t = i / (words * pc.n_head_kv);
    const int pos = pc.data_ids.v[t];
    if (pos < 0 || uint(pos) >= pc.n_ctx) continue;
    const uint src = t * pc.src_stride + h * pc.head_dim + 2u * w;
    const vec2 x = vec2(pc.data_a.v[src], pc.data_a.v[src + 1u]);
    const uint dst = ((h * pc.n_ctx + uint(pos)) * pc.row_stride + pc.col0) / 2u + w;
    pc.data_d.v[dst] = packHalf2x16(x);
  }
}
