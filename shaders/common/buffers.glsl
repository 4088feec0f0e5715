// Buffer-reference types shared by every shader: buffers arrive as 64-bit device addresses in the push
// constants (host: uint64_t fields of the op's push struct). Weights are read as 32-bit words and
// unpacked, so no 8/16-bit storage feature is needed on the base path.
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_scalar_block_layout : require

layout(buffer_reference, std430, buffer_reference_align = 4) buffer FloatRef { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer UintRef { uint v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer IntRef { int v[]; };

// Byte-granular reads from a word-addressed buffer (quant blocks are not 4-byte aligned).
// USE_STORAGE16 (devices with storageBuffer16BitAccess) reads the same bytes with 16-bit loads where
// that saves work: every ggml block but MXFP4's (17 bytes) starts on an even byte, so a 16-bit field
// is one load and a 2-mod-4 word two, where the 32-bit path loads the two words around it and
// shifts; aligned words stay word loads.
#if defined(USE_STORAGE16)
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
layout(buffer_reference, std430, buffer_reference_align = 2) buffer U16Ref { uint16_t v[]; };
// 16-bit half i of the buffer (byte 2i)
#define half_at(p, i) uint(U16Ref(uint64_t(p)).v[i])
uint read_u8(UintRef p, uint byte_off) { return (half_at(p, byte_off >> 1) >> ((byte_off & 1u) * 8u)) & 0xFFu; }
uint read_u16(UintRef p, uint byte_off) { return half_at(p, byte_off >> 1); }  // byte_off is even
uint read_u32_unaligned(UintRef p, uint byte_off) {
  const uint i = byte_off >> 1;
  if ((byte_off & 3u) == 0u) return p.v[byte_off >> 2];
  if ((byte_off & 1u) == 0u) return half_at(p, i) | (half_at(p, i + 1u) << 16);
  return (half_at(p, i) >> 8) | (half_at(p, i + 1u) << 8) | (half_at(p, i + 2u) << 24);
}
#else
uint read_u8(UintRef p, uint byte_off) { return (p.v[byte_off >> 2] >> ((byte_off & 3u) * 8u)) & 0xFFu; }
uint read_u16(UintRef p, uint byte_off) {
  // byte_off is 2-aligned in every ggml block layout
  return (p.v[byte_off >> 2] >> ((byte_off & 2u) * 8u)) & 0xFFFFu;
}
uint read_u32_unaligned(UintRef p, uint byte_off) {
  uint s = (byte_off & 3u) * 8u;
  uint lo = p.v[byte_off >> 2];
  if (s == 0u) return lo;
  return (lo >> s) | (p.v[(byte_off >> 2) + 1u] << (32u - s));
}
#endif
float read_f16(UintRef p, uint byte_off) { return unpackHalf2x16(read_u16(p, byte_off)).x; }

// Expert slot tables (matvec_id, matmul_id): entry e is the 64-bit address of expert e's slot (a
// VRAM slot, or its place in host memory read over the bus), 0 when the expert has none. Stored as
// two 32-bit words (low, high) so the table needs no 8-byte alignment.
#define expert_slot_address(table, e) \
  (uint64_t(UintRef(table).v[2u * (e)]) | (uint64_t(UintRef(table).v[2u * (e) + 1u]) << 32))

// Grid-stride helper: total invocations of a 1-D dispatch. A macro, not a function: a function
// defined here would see gl_WorkGroupSize before the shader's local_size layout (as 1,1,1).
#define grid_stride() (gl_NumWorkGroups.x * gl_WorkGroupSize.x)
