// The legacy 32-element formats (included by dequant.glsl). Element j < 16 of a block is the low
// nibble of qs[j], element j + 16 the high nibble; Q5 adds bit j of the 32-bit qh. So elements e..e+7
// are bytes qs[e%16 ..] shifted by 4*(e/16).
#define QK 32

#if defined(TYPE_Q4_0) || defined(TYPE_Q4_1) || defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
#if defined(TYPE_Q4_0)
#define TYPE_SIZE 18
#define QS_OFF 2u
#elif defined(TYPE_Q4_1)
#define TYPE_SIZE 20
#define QS_OFF 4u
#elif defined(TYPE_Q5_0)
#define TYPE_SIZE 22
#define QH_OFF 2u
#define QS_OFF 6u
#else
#define TYPE_SIZE 24
#define QH_OFF 4u
#define QS_OFF 8u
#endif
void dequant8(UintRef a, uint off, uint e, out vec4 lo, out vec4 hi) {
  uint j = e & 15u, shift = (e >> 4) * 4u;
  uvec2 q = read_u32x2(a, off + QS_OFF + j);
  uvec4 q0 = nibbles4(q.x, shift), q1 = nibbles4(q.y, shift);
#if defined(QH_OFF)
  // bit (j + k + 16*(e/16)) of qh is the fifth bit of element e + k
  uint qh = (read_u16(a, off + QH_OFF) | (read_u16(a, off + QH_OFF + 2u) << 16)) >> (j + shift * 4u);
  q0 |= ((uvec4(qh) >> uvec4(0, 1, 2, 3)) & 1u) << 4;
  q1 |= ((uvec4(qh) >> uvec4(4, 5, 6, 7)) & 1u) << 4;
#endif
  float d = read_f16(a, off);
#if defined(TYPE_Q4_0)
  lo = (vec4(q0) - 8.0) * d;
  hi = (vec4(q1) - 8.0) * d;
#elif defined(TYPE_Q5_0)
  lo = (vec4(q0) - 16.0) * d;
  hi = (vec4(q1) - 16.0) * d;
#else
  float m = read_f16(a, off + 2u);
  lo = vec4(q0) * d + m;
  hi = vec4(q1) * d + m;
#endif
}

#elif defined(TYPE_Q8_0)
#define TYPE_SIZE 34
void dequant8(UintRef a, uint off, uint e, out vec4 lo, out vec4 hi) {
  uvec2 q = read_u32x2(a, off + 2u + e);
  float d = read_f16(a, off);
  lo = sbytes4(q.x) * d;
  hi = sbytes4(q.y) * d;
}
#endif
