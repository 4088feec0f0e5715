// Dequantisation of ggml weight blocks, one interface for every type (the layouts are ggml's, as in
// loader/quants*.cpp, which the tests compare against). Select the type with one define:
//   TYPE_F32 TYPE_F16 TYPE_BF16 TYPE_Q4_0 TYPE_Q4_1 TYPE_Q5_0 TYPE_Q5_1 TYPE_Q8_0 TYPE_Q2_K TYPE_Q3_K
//   TYPE_Q4_K TYPE_Q5_K TYPE_Q6_K TYPE_IQ4_NL TYPE_IQ4_XS TYPE_MXFP4
// Each type defines
//   QK         elements per block (1 for F32/F16/BF16)
//   TYPE_SIZE  bytes per block
//   void dequant8(UintRef a, uint off, uint e, out vec4 lo, out vec4 hi)
//              elements e .. e+7 of the block that starts at byte `off` of `a` (e % 8 == 0, e < QK;
//              for QK == 1, the 8 elements starting at that block). `a` is 4-aligned; `off` is not.
// and this file adds the scalar view `float dequant(UintRef a, uint off, uint block_index, uint i)`.
// 8 consecutive elements never straddle a (sub-)block scale in any of these layouts, so dequant8 is
// the fast path of the matvec (one scale decode and two or three word reads per 8 weights).
#include "buffers.glsl"

// Little-endian byte-granular reads that touch only the words holding the requested bytes (rows may
// end at the end of an allocation).
#if defined(USE_STORAGE16)
// 4-aligned: two word loads; 2 mod 4 (every other block of the 18-, 22-, 34- and 210-byte types):
// four 16-bit loads where the word path loads three words and shifts; odd (MXFP4): halves and shifts.
uvec2 read_u32x2(UintRef p, uint off) {
  if ((off & 3u) == 0u) return uvec2(p.v[off >> 2], p.v[(off >> 2) + 1u]);
  if ((off & 1u) == 0u) {
    const uint i = off >> 1;
    return uvec2(half_at(p, i) | (half_at(p, i + 1u) << 16), half_at(p, i + 2u) | (half_at(p, i + 3u) << 16));
  }
  return uvec2(read_u32_unaligned(p, off), read_u32_unaligned(p, off + 4u));
}
uvec4 read_u32x4(UintRef p, uint off) {
  return uvec4(read_u32x2(p, off), read_u32x2(p, off + 8u));
}
#else
uvec2 read_u32x2(UintRef p, uint off) {
  uint w = off >> 2, s = (off & 3u) * 8u;
  uint a = p.v[w], b = p.v[w + 1u];
  if (s == 0u) return uvec2(a, b);
  uint c = p.v[w + 2u];
  return uvec2((a >> s) | (b << (32u - s)), (b >> s) | (c << (32u - s)));
}
uvec4 read_u32x4(UintRef p, uint off) {
  uint w = off >> 2, s = (off & 3u) * 8u;
  uvec4 v = uvec4(p.v[w], p.v[w + 1u], p.v[w + 2u], p.v[w + 3u]);
  if (s == 0u) return v;
  uint e = p.v[w + 4u];
  return uvec4((v.x >> s) | (v.y << (32u - s)), (v.y >> s) | (v.z << (32u - s)),
               (v.z >> s) | (v.w << (32u - s)), (v.w >> s) | (e << (32u - s)));
}
#endif
// The four bytes of a word as floats / the low or high nibbles of four bytes.
vec4 bytes4(uint w) { return vec4(w & 0xFFu, (w >> 8) & 0xFFu, (w >> 16) & 0xFFu, w >> 24); }
vec4 sbytes4(uint w) {  // int8
  ivec4 v = ivec4(w << 24, w << 16, w << 8, w) >> 24;
  return vec4(v);
}
uvec4 nibbles4(uint w, uint shift) {
  uint n = (w >> shift) & 0x0F0F0F0Fu;
  return uvec4(n & 0xFFu, (n >> 8) & 0xFFu, (n >> 16) & 0xFFu, n >> 24);
}
// One bit (bit `bit` of each byte) of four bytes, as 0/1.
uvec4 bits4(uint w, uint bit) {
  uint n = (w >> bit) & 0x01010101u;
  return uvec4(n & 0xFFu, (n >> 8) & 0xFFu, (n >> 16) & 0xFFu, n >> 24);
}

#if defined(TYPE_F32) || defined(TYPE_F16) || defined(TYPE_BF16)
#include "dequant_float.glsl"
#elif defined(TYPE_Q4_0) || defined(TYPE_Q4_1) || defined(TYPE_Q5_0) || defined(TYPE_Q5_1) || \
    defined(TYPE_Q8_0)
#include "dequant_legacy.glsl"
#elif defined(TYPE_Q2_K) || defined(TYPE_Q3_K) || defined(TYPE_Q4_K) || defined(TYPE_Q5_K) || \
    defined(TYPE_Q6_K)
#include "dequant_k.glsl"
#elif defined(TYPE_IQ4_NL) || defined(TYPE_IQ4_XS) || defined(TYPE_MXFP4)
#include "dequant_iq.glsl"
#else
#error "dequant.glsl: define one TYPE_<ggml type>"
#endif
#if defined(USE_INT_DOT)
#include "dequant_int8.glsl"
#endif

// Element i of block `block_index` of the blocks starting at byte `off` (scalar path: tests, tails).
float dequant(UintRef a, uint off, uint block_index, uint i) {
#if QK == 1
  return dequant1(a, off + block_index * TYPE_SIZE);
#else
  vec4 lo, hi;
  dequant8(a, off + block_index * TYPE_SIZE, i & ~7u, lo, hi);
  uint k = i & 7u;
  return k < 4u ? lo[k] : hi[k - 4u];
#endif
}
