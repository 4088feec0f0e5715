// Row-lane matrix products: each invocation owns one weight row and walks it 32 weights at a time,
// while the subgroup shares the activations: lane l loads x[e + SG*j + l] and every lane takes
// element i from lane i % SG by subgroupShuffle with a constant lane. That is the layout for devices
// that run shaders as SIMD code on a CPU (lavapipe): there every memory load costs one scalar load
// per lane, even when all lanes ask for the same address, while a shuffle by a constant lane is a
// register move (subgroupBroadcast is not: lavapipe looks for the first active lane in a loop, which
// made these kernels 2-3x slower). A row per lane spends ~12 lane-loads per 32 weights (Q4_K) and
// 32/SG per 32 activations, where the block-per-lane matvec (dequant_matvec.glsl) spends about two
// per weight. GPUs want the opposite (neighbouring lanes on neighbouring bytes), so the host picks
// this layout only for CPU devices (ops::MatvecConfig::row_lanes, DECISIONS 22).
//
// The interface over the weight types (dequant.glsl's, one define selects the type):
//   void unpack32(UintRef a, uint off, uint e, out vec4 w[NW])
//     elements e .. e+31 (e % 32 == 0) of the block that starts at byte `off` of `a` (QK == 1 types:
//     the 32 elements starting at that element). `a` is 4-aligned; `off` is not.
// The generic body is four dequant8 calls; the families that carry the common files have bodies that
// read each word once (Q6_K, Q8_0, MXFP4), and Q4_K/Q5_K unpack 64 at a time (unpack_step, below).
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
#include "dequant.glsl"
#include "combine.glsl"

// The subgroup size the host saw on the device (Features::subgroup_size: 4, 8, 16 or 32). Spec
// constant 2 in every row-lane kernel. XV of the XV_MAX slots of an activation array are used (a
// fixed size: arrays sized by spec constants do not pass through functions).
layout(constant_id = 2) const uint SG = 8;
#define XV (STEP / SG)
#define XV_MAX (NW * 8u / 4u)  // STEP / 4: room for the smallest subgroup (4)

// n consecutive little-endian words from byte `off` (any alignment), reading only the words that hold
// those bytes: n + 1 loads when off % 4 != 0, n when aligned.
#define READ_WORDS(N)                                                   \
  void read_words##N(UintRef p, uint off, out uint v[N]) {              \
    const uint w = off >> 2, s = (off & 3u) * 8u;                       \
    uint cur = p.v[w];                                                  \
    for (uint k = 0; k < N; k++) {                                      \
      const uint next = p.v[w + (s != 0u || k + 1u < N ? k + 1u : k)];  \
      v[k] = s == 0u ? cur : (cur >> s) | (next << (32u - s));          \
      cur = next;                                                       \
    }                                                                   \
  }
READ_WORDS(4)
READ_WORDS(8)

// Every type unpacks STEP weights per call (32 unless its layout rewards more: one step should read
// each word it needs once), into NW = STEP / 4 vectors:
//   void unpack_step(UintRef a, uint off, uint e, out vec4 w[NW])   e % STEP == 0
// which the types below define, most through unpack32.
#if defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
#define NW 16u
#else
#define NW 8u
#endif

vec4 lo_nibbles(uint q) { return vec4(q & 0xFu, (q >> 8) & 0xFu, (q >> 16) & 0xFu, (q >> 24) & 0xFu); }

#if defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
// Sub-blocks 2p and 2p + 1 (p = e / 64) share 8 words of qs (low nibbles, high nibbles), so one step
// unpacks both: the header (d, dmin, the 12 packed scale bytes) and 8 words for 64 weights. Q5_K's
// fifth bit: bit j of qh[l] for element l of sub-block j.
#define STEP 64u
void unpack_step(UintRef a, uint off, uint e, out vec4 w[NW]) {
  const uint b = off >> 2, p = e >> 6, sh = 16u * (p & 1u);  // Q4_K/Q5_K blocks are 4-aligned here
  const vec2 dm = unpackHalf2x16(a.v[b]);
  // bytes 2p, 2p+1 of the three scale words: sub-blocks j = 2p, 2p + 1 (j < 4: 6 bits of s0/s1; j >= 4:
  // nibbles of s2 with the top 2 bits of s0/s1's bytes j - 4)
  const uint s0 = (a.v[b + 1u] >> sh) & 0xFFFFu, s1 = (a.v[b + 2u] >> sh) & 0xFFFFu,
             s2 = (a.v[b + 3u] >> sh) & 0xFFFFu;
  const uvec2 lo6 = uvec2(s0 & 63u, (s0 >> 8) & 63u), lom = uvec2(s1 & 63u, (s1 >> 8) & 63u);
  const uvec2 hi6 = uvec2((s2 & 0xFu) | (((s0 >> 6) & 3u) << 4), ((s2 >> 8) & 0xFu) | (((s0 >> 14) & 3u) << 4));
  const uvec2 him =
      uvec2(((s2 >> 4) & 0xFu) | (((s1 >> 6) & 3u) << 4), ((s2 >> 12) & 0xFu) | (((s1 >> 14) & 3u) << 4));
  const bool high = p >= 2u;
  const vec2 d = dm.x * vec2(high ? hi6 : lo6), m = dm.y * vec2(high ? him : lom);
  const uint qs = b + QS_OFF / 4u + 8u * p;
  for (uint k = 0; k < 8u; k++) {
    const uint q = a.v[qs + k];
    vec4 q0 = lo_nibbles(q), q1 = lo_nibbles(q >> 4);
#if defined(TYPE_Q5_K)
    const uint h = a.v[b + 4u + k];
    q0 += 16.0 * vec4(bits4(h, 2u * p));
    q1 += 16.0 * vec4(bits4(h, 2u * p + 1u));
#endif
    w[k] = d.x * q0 - m.x;
    w[k + 8u] = d.y * q1 - m.y;
  }
}

#elif defined(TYPE_Q6_K)
// 32 elements of one quarter k of a 128-element half h: 4 low bits from ql (nibble k / 2), 2 high
// bits from qh (bits 2k), int8 scales per 16 elements; q - 32.
void unpack32(UintRef a, uint off, uint e, out vec4 w[NW]) {
  const uint h = e >> 7, k = (e & 127u) >> 5;
  uint ql[8], qh[8];
  read_words8(a, off + 64u * h + 32u * (k & 1u), ql);
  read_words8(a, off + 128u + 32u * h, qh);
  const uint sc2 = read_u16(a, off + 192u + (e >> 4));  // the scales of elements e .. and e + 16 ..
  const float d = read_f16(a, off + 208u);
  const float d0 = d * float((int(sc2) << 24) >> 24), d1 = d * float((int(sc2) << 16) >> 24);
  for (uint i = 0; i < 8u; i++) {
    const uint q = ((ql[i] >> (4u * (k >> 1))) & 0x0F0F0F0Fu) | (((qh[i] >> (2u * k)) & 0x03030303u) << 4);
    w[i] = (i < 4u ? d0 : d1) * (bytes4(q) - 32.0);
  }
}

#elif defined(TYPE_Q8_0)
void unpack32(UintRef a, uint off, uint e, out vec4 w[NW]) {
  uint q[8];
  read_words8(a, off + 2u, q);
  const float d = read_f16(a, off);
  for (uint i = 0; i < 8u; i++) w[i] = d * sbytes4(q[i]);
}

#elif defined(TYPE_MXFP4)
void unpack32(UintRef a, uint off, uint e, out vec4 w[NW]) {
  uint q[4];
  read_words4(a, off + 1u, q);
  const float d = e8m0_half(read_u8(a, off));
  for (uint i = 0; i < 4u; i++) {
    w[i] = d * lut4(nibbles4(q[i], 0u));
    w[i + 4u] = d * lut4(nibbles4(q[i], 4u));
  }
}

#else
void unpack32(UintRef a, uint off, uint e, out vec4 w[NW]) {
  for (uint i = 0; i < 4u; i++) {
#if QK == 1
    dequant8(a, off + 8u * i * TYPE_SIZE, 0u, w[2u * i], w[2u * i + 1u]);
#else
    dequant8(a, off, e + 8u * i, w[2u * i], w[2u * i + 1u]);
#endif
  }
}
#endif

#if !defined(STEP)
#define STEP 32u
void unpack_step(UintRef a, uint off, uint e, out vec4 w[NW]) { unpack32(a, off, e, w); }
#endif

// Byte offset, within a row, of the block holding element e, and e's index inside that block.
uint block_off(uint e) { return (e / QK) * TYPE_SIZE; }
uint in_block(uint e) { return e % QK; }

// x[0 .. STEP) at x_addr spread over the subgroup: lane l of xv[j] holds x[SG*j + l]. A subgroup
// whose size is not SG (the host's promise broken) gets NaN, never a silently wrong sum.
void load_x(uint64_t x_addr, out float xv[XV_MAX]) {
  FloatRef x = FloatRef(x_addr);
  for (uint j = 0; j < XV; j++)
    xv[j] = gl_SubgroupSize == SG ? x.v[SG * j + gl_SubgroupInvocationID] : uintBitsToFloat(0x7FC00000u);
}

// dot(w, x[0 .. STEP)) with x as load_x spread it.
float dot_step(vec4 w[NW], float xv[XV_MAX]) {
  float s = 0.0;
  [[unroll]] for (uint k = 0; k < NW; k++) {
    vec4 xk;
    [[unroll]] for (uint q = 0; q < 4u; q++) xk[q] = subgroupShuffle(xv[(4u * k + q) / SG], (4u * k + q) % SG);
    s += dot(w[k], xk);
  }
  return s;
}

// The weight row this invocation owns: its address split into a 4-aligned base and a byte offset.
// Rows past n_rows read the last row (their results are not written).
void row_ref(uint64_t a_addr, uint r, uint n_rows, uint row_bytes, out UintRef a, out uint off0) {
  const uint64_t first = a_addr + uint64_t(min(r, n_rows - 1u)) * row_bytes;
  a = UintRef(first & ~uint64_t(3));
  off0 = uint(first & uint64_t(3));
}
