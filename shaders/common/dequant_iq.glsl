// Non-uniform 4-bit formats (included by dequant.glsl): IQ4_NL (32-element blocks, f16 scale), IQ4_XS
// (256-element super-blocks, 6-bit sub-block scales), MXFP4 (32 elements, E8M0 exponent, E2M1 codes).
// Nibble layout as the legacy formats: element j < 16 low nibble of qs[j], j + 16 high nibble.

#if defined(TYPE_IQ4_NL) || defined(TYPE_IQ4_XS)
const float kValuesIQ4[16] =
    float[](-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113);
vec4 lut4(uvec4 q) { return vec4(kValuesIQ4[q.x], kValuesIQ4[q.y], kValuesIQ4[q.z], kValuesIQ4[q.w]); }
#endif

#if defined(TYPE_IQ4_NL)
#define QK 32
#define TYPE_SIZE 18
void dequant8(UintRef a, uint off, uint e, out vec4 lo, out vec4 hi) {
  uint shift = (e >> 4) * 4u;
  uvec2 q = read_u32x2(a, off + 2u + (e & 15u));
  float d = read_f16(a, off);
  lo = d * lut4(nibbles4(q.x, shift));
  hi = d * lut4(nibbles4(q.y, shift));
}

#elif defined(TYPE_IQ4_XS)
#define QK 256
#define TYPE_SIZE 136
void dequant8(UintRef a, uint off, uint e, out vec4 lo, out vec4 hi) {
  uint ib = e >> 5, j = e & 31u, shift = (j >> 4) * 4u;
  uvec2 q = read_u32x2(a, off + 8u + 16u * ib + (j & 15u));
  uint ls = ((read_u8(a, off + 4u + (ib >> 1)) >> (4u * (ib & 1u))) & 0xFu) |
            (((read_u16(a, off + 2u) >> (2u * ib)) & 3u) << 4);
  float dl = read_f16(a, off) * float(int(ls) - 32);
  lo = dl * lut4(nibbles4(q.x, shift));
  hi = dl * lut4(nibbles4(q.y, shift));
}

#elif defined(TYPE_MXFP4)
#define QK 32
#define TYPE_SIZE 17
// E2M1 values doubled (the E8M0 scale is halved to match).
const float kValuesMXFP4[16] = float[](0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12);
vec4 lut4(uvec4 q) {
  return vec4(kValuesMXFP4[q.x], kValuesMXFP4[q.y], kValuesMXFP4[q.z], kValuesMXFP4[q.w]);
}
// 2^(e-128); e = 0 and 1 give subnormals (which a device may flush to zero).
float e8m0_half(uint e) { return uintBitsToFloat(e < 2u ? (0x00200000u << e) : ((e - 1u) << 23)); }
void dequant8(UintRef a, uint off, uint e, out vec4 lo, out vec4 hi) {
  uint shift = (e >> 4) * 4u;
  uvec2 q = read_u32x2(a, off + 1u + (e & 15u));
  float d = e8m0_half(read_u8(a, off));
  lo = lut4(nibbles4(q.x, shift)) * d;
  hi = lut4(nibbles4(q.y, shift)) * d;
}
#endif
