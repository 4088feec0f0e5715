// F32, F16, BF16 "blocks" of one element (included by dequant.glsl). dequant8 reads 8 consecutive
// elements; dequant1 one element (row tails when n_cols % 8 != 0).
#define QK 1

#if defined(TYPE_F32)
#define TYPE_SIZE 4
void dequant8(UintRef a, uint off, uint e, out vec4 lo, out vec4 hi) {
  uint w = off >> 2;  // f32 rows are 4-aligned
  lo = uintBitsToFloat(uvec4(a.v[w], a.v[w + 1u], a.v[w + 2u], a.v[w + 3u]));
  hi = uintBitsToFloat(uvec4(a.v[w + 4u], a.v[w + 5u], a.v[w + 6u], a.v[w + 7u]));
}
float dequant1(UintRef a, uint off) { return uintBitsToFloat(a.v[off >> 2]); }

#elif defined(TYPE_F16)
#define TYPE_SIZE 2
void dequant8(UintRef a, uint off, uint e, out vec4 lo, out vec4 hi) {
  uvec4 w = read_u32x4(a, off);
  lo = vec4(unpackHalf2x16(w.x), unpackHalf2x16(w.y));
  hi = vec4(unpackHalf2x16(w.z), unpackHalf2x16(w.w));
}
float dequant1(UintRef a, uint off) { return read_f16(a, off); }

#elif defined(TYPE_BF16)
#define TYPE_SIZE 2
vec2 bf16x2(uint w) { return uintBitsToFloat(uvec2(w << 16, w & 0xFFFF0000u)); }
void dequant8(UintRef a, uint off, uint e, out vec4 lo, out vec4 hi) {
  uvec4 w = read_u32x4(a, off);
  lo = vec4(bf16x2(w.x), bf16x2(w.y));
  hi = vec4(bf16x2(w.z), bf16x2(w.w));
}
float dequant1(UintRef a, uint off) { return uintBitsToFloat(read_u16(a, off) << 16); }
#endif
