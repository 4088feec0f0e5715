#version 450
// add_id: per-expert bias: data_d[j][i] = data_a[j][i] + data_b[data_ids[j]][i] for the n_sel selected
// rows j (gpt-oss's ffn_{gate,up,down}_exps.bias indexed by the expert ids chosen on the GPU).
// Buffers: data_a, data_d [n_sel][n] f32 (may alias), data_b [n_expert][n] f32, data_ids [n_sel] i32.
// Host mirror: runtime/ops/add_id.{h,cpp} (AddIdPush).
#include "buffers.glsl"

layout(local_size_x = 256) in;

layout(push_constant, std430) uniform PC {
  FloatRef data_a;
  FloatRef data_b;
  IntRef data_ids;
  FloatRef data_d;
  uint n;
  uint n_sel;
} pc;

void main() {
  const uint j = gl_WorkGroupID.y;
  const uint e = uint(pc.data_ids.v[j]);
  for (uint i = gl_GlobalInvocationID.x; i < pc.n; i += grid_stride())
    pc.data_d.v[j * pc.n + i] = pc.data_a.v[j * pc.n + i] + pc.data_b.v[e * pc.n + i];
}
