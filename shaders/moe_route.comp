#version 450
// moe_route: groups the (token, selected expert) pairs of a batch by expert, for matmul_id.
//   data_ids [n_sel] int32 (n_sel = n_tok * n_used; written on the GPU by gate_topk)
//   data_route out: offsets [n_expert + 2] uint32, then entries [n_sel] uint32. Group g < n_expert
//     holds the pairs sel with ids[sel] == g, group n_expert those with an id outside
//     [0, n_expert); group g is entries[offsets[g] .. offsets[g + 1]), in increasing sel (so the
//     result does not depend on scheduling), and offsets[n_expert + 1] = n_sel.
// One workgroup: counts with shared atomics, a prefix sum, then each group's invocation scatters
// its pairs in order. n_expert + 1 <= MAX_GROUPS.  Host mirror: runtime/ops/matmul.{h,cpp}.
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#include "buffers.glsl"

#define WG 256u
#define MAX_GROUPS 1025u
#define CHUNK 1024u
layout(local_size_x = 256) in;

layout(push_constant, std430) uniform PC {
  uint64_t data_ids;
  uint64_t data_route;
  uint n_sel;
  uint n_expert;
} pc;

shared uint pos_sh[MAX_GROUPS];
shared uint ids_sh[CHUNK];

uint group_of(int id) { return id >= 0 && uint(id) < pc.n_expert ? uint(id) : pc.n_expert; }

void main() {
  const uint tid = gl_LocalInvocationID.x, n_groups = pc.n_expert + 1u;
  IntRef ids = IntRef(pc.data_ids);
  UintRef route = UintRef(pc.data_route);
  for (uint g = tid; g < n_groups; g += WG) pos_sh[g] = 0u;
  barrier();
  for (uint s = tid; s < pc.n_sel; s += WG) atomicAdd(pos_sh[group_of(ids.v[s])], 1u);
  barrier();
  if (tid == 0u) {
    uint sum = 0u;
    for (uint g = 0; g < n_groups; g++) {
      const uint n = pos_sh[g];
      route.v[g] = sum;
      pos_sh[g] = sum;
      sum += n;
    }
    route.v[n_groups] = sum;
  }
  barrier();
  const uint base = n_groups + 1u;
  for (uint s0 = 0; s0 < pc.n_sel; s0 += CHUNK) {
    const uint n = min(CHUNK, pc.n_sel - s0);
    for (uint s = tid; s < n; s += WG) ids_sh[s] = group_of(ids.v[s0 + s]);
    barrier();
    for (uint g = tid; g < n_groups; g += WG) {
      uint p = pos_sh[g];
      for (uint s = 0; s < n; s++)
        if (ids_sh[s] == g) route.v[base + p++] = s0 + s;
      pos_sh[g] = p;
    }
    barrier();
  }
}
