// Block layouts (ggml's, byte for byte) and per-format kernels shared by quants*.cpp. Not a public
// header: code outside loader/quants*.cpp uses loader/quants/quants.h.
#pragma once

#include <cmath>
#include <cstdint>

#include "loader/quants/quants.h"

namespace moevk::quant {

constexpr int QK = 32;     // block size of the legacy formats, IQ4_NL and MXFP4
constexpr int QK_K = 256;  // super-block size of the K-quants and IQ4_XS

struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[QK / 2];
};
struct BlockQ4_1 {
  uint16_t d, m;
  uint8_t qs[QK / 2];
};
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[QK / 2];
};
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[QK / 2];
};
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[QK];
};
// Q2_K: 16 sub-blocks of 16; scales[i] = scale (low nibble) | min (high nibble); q = 2 bits.
struct BlockQ2_K {
  uint8_t scales[QK_K / 16];
  uint8_t qs[QK_K / 4];
  uint16_t d, dmin;
};
// Q3_K: 16 sub-blocks of 16, 6-bit signed scales packed in 12 bytes; q = 2 bits + 1 high bit.
struct BlockQ3_K {
  uint8_t hmask[QK_K / 8];
  uint8_t qs[QK_K / 4];
  uint8_t scales[12];
  uint16_t d;
};
// Q4_K / Q5_K: 8 sub-blocks of 32, 6-bit scales and mins packed in 12 bytes.
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qs[QK_K / 2];
};
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[12];
  uint8_t qh[QK_K / 8];
  uint8_t qs[QK_K / 2];
};
// Q6_K: 16 sub-blocks of 16, int8 scales; q = 4 low bits (ql) + 2 high bits (qh), offset 32.
struct BlockQ6_K {
  uint8_t ql[QK_K / 2];
  uint8_t qh[QK_K / 4];
  int8_t scales[QK_K / 16];
  uint16_t d;
};
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[QK / 2];
};
// IQ4_XS: 8 sub-blocks of 32, 6-bit scales (4 low bits in scales_l, 2 high in scales_h), offset 32.
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[QK_K / 64];
  uint8_t qs[QK_K / 2];
};
// MXFP4: one E8M0 exponent, 32 4-bit E2M1 codes.
struct BlockMXFP4 {
  uint8_t e;
  uint8_t qs[QK / 2];
};

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ2_K) == 84 && sizeof(BlockQ3_K) == 110 && sizeof(BlockQ4_K) == 144 &&
              sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockIQ4_NL) == 18 && sizeof(BlockIQ4_XS) == 136 && sizeof(BlockMXFP4) == 17);

// The 16 non-uniform levels of IQ4_NL / IQ4_XS.
extern const int8_t kIQ4Values[16];
// E2M1 values doubled (0, 0.5, 1, 1.5, 2, 3, 4, 6 -> integers); the E8M0 scale is halved to match.
extern const int8_t kMXFP4Values[16];
float e8m0_to_fp32_half(uint8_t e);

// round(v) (halves away from zero) clamped to [lo, hi]; NaN gives the value in [lo, hi] nearest 0.
// Safe for any float (no out-of-range float -> int conversion), so quantisers given inf/NaN still
// write valid blocks.
inline int round_clamped(float v, int lo, int hi) {
  if (v != v) return lo > 0 ? lo : (hi < 0 ? hi : 0);
  float r = std::round(v);
  if (r <= float(lo)) return lo;
  if (r >= float(hi)) return hi;
  return int(r);
}
inline int ceil_clamped(float v, int lo, int hi) {
  return round_clamped(std::ceil(v), lo, hi);
}

// Nearest index into a sorted 16-entry table.
int nearest_level(const int8_t* table, float x);

// Per-format row kernels (n is a multiple of the block size). Defined in quants_k.cpp /
// quants_iq.cpp.
void dequant_q2_k(const BlockQ2_K* b, float* y, int64_t nb);
void dequant_q3_k(const BlockQ3_K* b, float* y, int64_t nb);
void dequant_q4_k(const BlockQ4_K* b, float* y, int64_t nb);
void dequant_q5_k(const BlockQ5_K* b, float* y, int64_t nb);
void dequant_q6_k(const BlockQ6_K* b, float* y, int64_t nb);
void quant_q2_k(const float* x, BlockQ2_K* b, int64_t nb);
void quant_q3_k(const float* x, BlockQ3_K* b, int64_t nb);
void quant_q4_k(const float* x, BlockQ4_K* b, int64_t nb);
void quant_q5_k(const float* x, BlockQ5_K* b, int64_t nb);
void quant_q6_k(const float* x, BlockQ6_K* b, int64_t nb);

void dequant_iq4_nl(const BlockIQ4_NL* b, float* y, int64_t nb);
void dequant_iq4_xs(const BlockIQ4_XS* b, float* y, int64_t nb);
void dequant_mxfp4(const BlockMXFP4* b, float* y, int64_t nb);
void quant_iq4_nl(const float* x, BlockIQ4_NL* b, int64_t nb);
void quant_iq4_xs(const float* x, BlockIQ4_XS* b, int64_t nb);
void quant_mxfp4(const float* x, BlockMXFP4* b, int64_t nb);

}  // namespace moevk::quant
