// Workgroup-wide sum and max of one float per invocation, for the row ops (one workgroup per row:
// rms_norm.comp, softmax.comp). The includer declares
//   layout(constant_id = 0) const uint BLOCK_SIZE = ...;  layout(local_size_x_id = 0) in;
// with BLOCK_SIZE a power of two. Define USE_SUBGROUP for the subgroup-arithmetic path (any subgroup
// size: each subgroup reduces, then its leader's partial goes through shared memory); without it a
// shared-memory tree does the whole reduction. Every invocation of the workgroup must call these
// (they contain barriers) and every invocation gets the result.
#ifdef USE_SUBGROUP
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

shared float red_shared[BLOCK_SIZE];

#ifdef USE_SUBGROUP
#define WG_REDUCE(NAME, SUBGROUP_OP, COMBINE)                                  \
  float NAME(float v) {                                                         \
    v = SUBGROUP_OP(v);                                                         \
    barrier(); /* earlier readers of red_shared are done */                     \
    if (subgroupElect()) red_shared[gl_SubgroupID] = v;                         \
    barrier();                                                                  \
    float r = red_shared[0];                                                    \
    for (uint i = 1; i < gl_NumSubgroups; ++i) r = COMBINE(r, red_shared[i]);   \
    return r;                                                                   \
  }
#else
#define WG_REDUCE(NAME, SUBGROUP_OP, COMBINE)                                   \
  float NAME(float v) {                                                         \
    const uint t = gl_LocalInvocationID.x;                                      \
    barrier(); /* earlier readers of red_shared are done */                     \
    red_shared[t] = v;                                                          \
    barrier();                                                                  \
    for (uint s = BLOCK_SIZE / 2; s > 0; s >>= 1) {                             \
      if (t < s) red_shared[t] = COMBINE(red_shared[t], red_shared[t + s]);     \
      barrier();                                                                \
    }                                                                           \
    return red_shared[0];                                                       \
  }
#endif

float red_add(float a, float b) { return a + b; }
WG_REDUCE(wg_sum, subgroupAdd, red_add)
WG_REDUCE(wg_max, subgroupMax, max)
