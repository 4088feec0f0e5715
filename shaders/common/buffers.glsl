// Buffer-reference types shared by every shader: buffers arrive as 64-bit device addresses in the push
// constants (host: uint64_t fields of the op's push struct). Weights are read as 32-bit words and
// unpacked, so no 8/16-bit storage feature is needed on the base path.
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_scalar_block_layout : require

layout(buffer_reference, std430, buffer_reference_align = 4) buffer FloatRef { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer UintRef { uint v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer IntRef { int v[]; };

// Byte-granular reads from a word-addressed buffer (quant blocks are not 4-byte aligned).
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
float read_f16(UintRef p, uint byte_off) { return unpackHalf2x16(read_u16(p, byte_off)).x; }

// Expert slot tables (matvec_id, matmul_id): entry e is the 64-bit address of expert e's slot (a
// VRAM slot, or its place in host memory read over the bus), 0 when the expert has none. Stored as
// two 32-bit words (low, high) so the table needs no 8-byte alignment.
#define expert_slot_address(table, e) \
  (uint64_t(UintRef(table).v[2u * (e)]) | (uint64_t(UintRef(table).v[2u * (e) + 1u]) << 32))

// Grid-stride helper: total invocations of a 1-D dispatch. A macro, not a function: a function
// defined here would see gl_WorkGroupSize before the shader's local_size layout (as 1,1,1).
#define grid_stride() (gl_NumWorkGroups.x * gl_WorkGroupSize.x)
