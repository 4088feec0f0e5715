// The integer-dot view of the quantised types (included by dequant.glsl under USE_INT_DOT): each type
// gives 8 consecutive weights of a block as 8 int8 in two words plus the affine map back to floats,
//   void qunit8(UintRef a, uint off, uint e, out uvec2 q, out vec2 dm)
//   weight e + k = dm.x * q_k + dm.y        (q_k the signed byte k of q, k < 8; e % 8 == 0)
// so a dot product with activations quantised to int8 (d_x * p_k) is
//   d_x * (dm.x * sum q_k p_k + dm.y * sum p_k)
// and the sums are packed 4x8 integer dot products (SPV_KHR_integer_dot_product's OpSDot). The
// unsigned codes (0..63) are valid int8; offsets such as Q4_0's -8 move into dm.y. The scale reads
// mirror dequant8 in the type's file, which the tests check this against.
#extension GL_EXT_spirv_intrinsics : require

// OpSDot (4450) on two words read as 4 x int8 (PackedVectorFormat4x8Bit = 0). Debian's glslang has no
// GL_EXT_integer_dot_product, so the instruction is declared directly.
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot4x8(uint a, uint b, spirv_literal int packed_format);
int sdot8(uvec2 a, uvec2 b) { return sdot4x8(a.x, b.x, 0) + sdot4x8(a.y, b.y, 0); }

// Bits 0..3 of h moved to bit 4 of bytes 0..3 (the Q5 formats' fifth bit).
uint spread4_to_bit4(uint h) {
  return ((h & 1u) | ((h & 2u) << 7) | ((h & 4u) << 14) | ((h & 8u) << 21)) << 4;
}

#if defined(TYPE_Q4_0) || defined(TYPE_Q4_1) || defined(TYPE_Q5_0) || defined(TYPE_Q5_1)
void qunit8(UintRef a, uint off, uint e, out uvec2 q, out vec2 dm) {
  uint j = e & 15u, shift = (e >> 4) * 4u;
  uvec2 w = read_u32x2(a, off + QS_OFF + j);
  q = (w >> shift) & 0x0F0F0F0Fu;
#if defined(QH_OFF)
  uint qh = (read_u16(a, off + QH_OFF) | (read_u16(a, off + QH_OFF + 2u) << 16)) >> (j + shift * 4u);
  q |= uvec2(spread4_to_bit4(qh), spread4_to_bit4(qh >> 4));
#endif
  float d = read_f16(a, off);
#if defined(TYPE_Q4_0)
  dm = vec2(d, -8.0 * d);
#elif defined(TYPE_Q5_0)
  dm = vec2(d, -16.0 * d);
#else
  dm = vec2(d, read_f16(a, off + 2u));
#endif
}

#elif defined(TYPE_Q8_0)
void qunit8(UintRef a, uint off, uint e, out uvec2 q, out vec2 dm) {
  q = read_u32x2(a, off + 2u + e);
  dm = vec2(read_f16(a, off), 0.0);
}

#elif defined(TYPE_Q2_K)
void qunit8(UintRef a, uint off, uint e, out uvec2 q, out vec2 dm) {
  uint shift = ((e & 127u) >> 5) * 2u;
  q = (read_u32x2(a, off + 16u + 32u * (e >> 7) + (e & 31u)) >> shift) & 0x03030303u;
  uint sc = read_u8(a, off + (e >> 4));
  dm = vec2(read_f16(a, off + 80u) * float(sc & 0xFu), -read_f16(a, off + 82u) * float(sc >> 4));
}

#elif defined(TYPE_Q3_K)
// q2 - 4 * (1 - hbit) = (q2 + 4 * hbit) - 4
void qunit8(UintRef a, uint off, uint e, out uvec2 q, out vec2 dm) {
  uint k = (e & 127u) >> 5;
  uvec2 q2 = (read_u32x2(a, off + 32u + 32u * (e >> 7) + (e & 31u)) >> (2u * k)) & 0x03030303u;
  uvec2 hb = (read_u32x2(a, off + (e & 31u)) >> (4u * (e >> 7) + k)) & 0x01010101u;
  q = q2 | (hb << 2);
  uint j = e >> 4;
  uint sl = (read_u8(a, off + 96u + (j & 7u)) >> (4u * (j >> 3))) & 0xFu;
  uint sh = (read_u8(a, off + 104u + (j & 3u)) >> (2u * (j >> 2))) & 3u;
  float dl = read_f16(a, off + 108u) * float(int(sl | (sh << 4)) - 32);
  dm = vec2(dl, -4.0 * dl);
}

#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
void qunit8(UintRef a, uint off, uint e, out uvec2 q, out vec2 dm) {
  uint j = e >> 5;
  q = (read_u32x2(a, off + QS_OFF + 32u * (e >> 6) + (e & 31u)) >> (4u * (j & 1u))) & 0x0F0F0F0Fu;
#if defined(TYPE_Q5_K)
  q |= ((read_u32x2(a, off + 16u + (e & 31u)) >> j) & 0x01010101u) << 4;
#endif
  float sc, m;
  scale_min_k4(a, off, j, sc, m);
  dm = vec2(read_f16(a, off) * sc, -read_f16(a, off + 2u) * m);
}

#elif defined(TYPE_Q6_K)
void qunit8(UintRef a, uint off, uint e, out uvec2 q, out vec2 dm) {
  uint h = e >> 7, k = (e & 127u) >> 5, l = e & 31u;
  uvec2 ql = read_u32x2(a, off + 64u * h + 32u * (k & 1u) + l);
  uvec2 qh = read_u32x2(a, off + 128u + 32u * h + l);
  q = ((ql >> (4u * (k >> 1))) & 0x0F0F0F0Fu) | (((qh >> (2u * k)) & 0x03030303u) << 4);
  int sc = (int(read_u8(a, off + 192u + (e >> 4))) << 24) >> 24;
  float dl = read_f16(a, off + 208u) * float(sc);
  dm = vec2(dl, -32.0 * dl);
}

#elif defined(TYPE_IQ4_NL) || defined(TYPE_IQ4_XS) || defined(TYPE_MXFP4)
// The code table's values (integers in -127..113 / -12..12) as bytes, four codes per word.
uint lut_bytes(uint w, uint shift) {
  uvec4 n = nibbles4(w, shift);
  ivec4 v = ivec4(lut4(n));
  return uint(v.x & 0xFF) | (uint(v.y & 0xFF) << 8) | (uint(v.z & 0xFF) << 16) | (uint(v.w) << 24);
}
#if defined(TYPE_IQ4_NL)
void qunit8(UintRef a, uint off, uint e, out uvec2 q, out vec2 dm) {
  uint shift = (e >> 4) * 4u;
  uvec2 w = read_u32x2(a, off + 2u + (e & 15u));
  q = uvec2(lut_bytes(w.x, shift), lut_bytes(w.y, shift));
  dm = vec2(read_f16(a, off), 0.0);
}
#elif defined(TYPE_IQ4_XS)
void qunit8(UintRef a, uint off, uint e, out uvec2 q, out vec2 dm) {
  uint ib = e >> 5, j = e & 31u, shift = (j >> 4) * 4u;
  uvec2 w = read_u32x2(a, off + 8u + 16u * ib + (j & 15u));
  q = uvec2(lut_bytes(w.x, shift), lut_bytes(w.y, shift));
  uint ls = ((read_u8(a, off + 4u + (ib >> 1)) >> (4u * (ib & 1u))) & 0xFu) |
            (((read_u16(a, off + 2u) >> (2u * ib)) & 3u) << 4);
  dm = vec2(read_f16(a, off) * float(int(ls) - 32), 0.0);
}
#else
void qunit8(UintRef a, uint off, uint e, out uvec2 q, out vec2 dm) {
  uint shift = (e >> 4) * 4u;
  uvec2 w = read_u32x2(a, off + 1u + (e & 15u));
  q = uvec2(lut_bytes(w.x, shift), lut_bytes(w.y, shift));
  dm = vec2(e8m0_half(read_u8(a, off)), 0.0);
}
#endif

#else
#error "dequant_int8.glsl: the float types have no integer-dot view"
#endif
