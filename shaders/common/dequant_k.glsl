// K-quants: 256-element super-blocks (included by dequant.glsl). Element -> storage maps, i in 0..255
// (as loader/quants/quants_k.cpp documents them):
//   Q2_K/Q3_K: qs[32*(i/128) + i%32] >> 2*((i%128)/32); scale i/16; Q3_K high bit: hmask[i%32]
//              bit 4*(i/128) + (i%128)/32 (set: +0, clear: -4).
//   Q4_K/Q5_K: qs[32*(i/64) + i%32], low nibble when (i/32) is even; scale/min i/32 (6-bit, packed);
//              Q5_K high bit: qh[i%32] bit i/32.
//   Q6_K:      ql[64*(i/128) + 32*(k&1) + i%32] nibble k/2, qh[32*(i/128) + i%32] bits 2k, with
//              k = (i%128)/32; int8 scale i/16; q - 32.
#define QK 256

#if defined(TYPE_Q2_K)
#define TYPE_SIZE 84
void dequant8(UintRef a, uint off, uint e, out vec4 lo, out vec4 hi) {
  uint shift = ((e & 127u) >> 5) * 2u;
  uvec2 q = read_u32x2(a, off + 16u + 32u * (e >> 7) + (e & 31u));
  uint sc = read_u8(a, off + (e >> 4));
  float d = read_f16(a, off + 80u), dmin = read_f16(a, off + 82u);
  float dl = d * float(sc & 0xFu), ml = dmin * float(sc >> 4);
  lo = dl * vec4((uvec4(q.x) >> (uvec4(0, 8, 16, 24) + shift)) & 3u) - ml;
  hi = dl * vec4((uvec4(q.y) >> (uvec4(0, 8, 16, 24) + shift)) & 3u) - ml;
}

#elif defined(TYPE_Q3_K)
#define TYPE_SIZE 110
void dequant8(UintRef a, uint off, uint e, out vec4 lo, out vec4 hi) {
  uint k = (e & 127u) >> 5;
  uvec2 q = read_u32x2(a, off + 32u + 32u * (e >> 7) + (e & 31u));
  uvec2 h = read_u32x2(a, off + (e & 31u));
  uint hbit = 4u * (e >> 7) + k;
  uint j = e >> 4;
  uint sl = (read_u8(a, off + 96u + (j & 7u)) >> (4u * (j >> 3))) & 0xFu;
  uint sh = (read_u8(a, off + 104u + (j & 3u)) >> (2u * (j >> 2))) & 3u;
  float dl = read_f16(a, off + 108u) * float(int(sl | (sh << 4)) - 32);
  uvec4 sh4 = uvec4(0, 8, 16, 24);
  ivec4 q0 = ivec4((uvec4(q.x) >> (sh4 + 2u * k)) & 3u) - ivec4(4u * (1u - bits4(h.x, hbit)));
  ivec4 q1 = ivec4((uvec4(q.y) >> (sh4 + 2u * k)) & 3u) - ivec4(4u * (1u - bits4(h.y, hbit)));
  lo = dl * vec4(q0);
  hi = dl * vec4(q1);
}

#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
#if defined(TYPE_Q4_K)
#define TYPE_SIZE 144
#define QS_OFF 16u
#else
#define TYPE_SIZE 176
#define QS_OFF 48u
#endif
// 6-bit scale and min of sub-block j from the 12 packed bytes at byte 4 of the block.
void scale_min_k4(UintRef a, uint off, uint j, out float sc, out float m) {
  uint s = off + 4u;
  if (j < 4u) {
    sc = float(read_u8(a, s + j) & 63u);
    m = float(read_u8(a, s + j + 4u) & 63u);
  } else {
    uint b = read_u8(a, s + j + 4u);
    sc = float((b & 0xFu) | ((read_u8(a, s + j - 4u) >> 6) << 4));
    m = float((b >> 4) | ((read_u8(a, s + j) >> 6) << 4));
  }
}
void dequant8(UintRef a, uint off, uint e, out vec4 lo, out vec4 hi) {
  uint j = e >> 5;
  uvec2 q = read_u32x2(a, off + QS_OFF + 32u * (e >> 6) + (e & 31u));
  uvec4 q0 = nibbles4(q.x, 4u * (j & 1u)), q1 = nibbles4(q.y, 4u * (j & 1u));
#if defined(TYPE_Q5_K)
  uvec2 h = read_u32x2(a, off + 16u + (e & 31u));
  q0 += bits4(h.x, j) << 4;
  q1 += bits4(h.y, j) << 4;
#endif
  float sc, m;
  scale_min_k4(a, off, j, sc, m);
  float dl = read_f16(a, off) * sc, ml = read_f16(a, off + 2u) * m;
  lo = dl * vec4(q0) - ml;
  hi = dl * vec4(q1) - ml;
}

#elif defined(TYPE_Q6_K)
#define TYPE_SIZE 210
void dequant8(UintRef a, uint off, uint e, out vec4 lo, out vec4 hi) {
  uint h = e >> 7, k = (e & 127u) >> 5, l = e & 31u;
  uvec2 ql = read_u32x2(a, off + 64u * h + 32u * (k & 1u) + l);
  uvec2 qh = read_u32x2(a, off + 128u + 32u * h + l);
  uvec4 sh4 = uvec4(0, 8, 16, 24);
  uvec4 q0 = nibbles4(ql.x, 4u * (k >> 1)) | (((uvec4(qh.x) >> (sh4 + 2u * k)) & 3u) << 4);
  uvec4 q1 = nibbles4(ql.y, 4u * (k >> 1)) | (((uvec4(qh.y) >> (sh4 + 2u * k)) & 3u) << 4);
  int sc = (int(read_u8(a, off + 192u + (e >> 4))) << 24) >> 24;
  float dl = read_f16(a, off + 208u) * float(sc);
  lo = dl * vec4(ivec4(q0) - 32);
  hi = dl * vec4(ivec4(q1) - 32);
}
#endif
