// Table-based 4-bit formats: IQ4_NL (32-element blocks), IQ4_XS (256-element super-blocks of eight
// 32-element sub-blocks with 6-bit scales) and MXFP4 (32-element blocks, E8M0 exponent, E2M1
// codes). In every one, code j of a 32-element block sits in qs[j % 16], low nibble for j < 16.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "loader/quants/quants_internal.h"

namespace moevk::quant {

namespace {

float h2f(uint16_t h) { return fp16_to_fp32(h); }

// Value of largest magnitude (keeping its sign).
float signed_max(const float* x, int n) {
  float vmax = 0, amax = 0;
  for (int i = 0; i < n; i++)
    if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), vmax = x[i];
  return vmax;
}

// Writes the 16 bytes of nibble codes of 32 values x / step into qs.
void encode_nibbles(const int8_t* table, const float* x, float step, uint8_t* qs) {
  float inv = step != 0 ? 1.0f / step : 0.0f;
  for (int j = 0; j < 16; j++) {
    int lo = nearest_level(table, x[j] * inv), hi = nearest_level(table, x[j + 16] * inv);
    qs[j] = uint8_t(lo | (hi << 4));
  }
}

}  // namespace

void dequant_iq4_nl(const BlockIQ4_NL* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK) {
    float d = h2f(b[i].d);
    for (int j = 0; j < 16; j++) {
      y[j] = d * float(kIQ4Values[b[i].qs[j] & 0xf]);
      y[j + 16] = d * float(kIQ4Values[b[i].qs[j] >> 4]);
    }
  }
}

void dequant_iq4_xs(const BlockIQ4_XS* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++) {
    float d = h2f(b[i].d);
    const uint8_t* qs = b[i].qs;
    for (int ib = 0; ib < QK_K / 32; ib++, qs += 16, y += 32) {
      int ls = ((b[i].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) |
               (((b[i].scales_h >> (2 * ib)) & 3) << 4);
      float dl = d * float(ls - 32);
      for (int j = 0; j < 16; j++) {
        y[j] = dl * float(kIQ4Values[qs[j] & 0xf]);
        y[j + 16] = dl * float(kIQ4Values[qs[j] >> 4]);
      }
    }
  }
}

void dequant_mxfp4(const BlockMXFP4* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK) {
    float d = e8m0_to_fp32_half(b[i].e);
    for (int j = 0; j < 16; j++) {
      y[j] = float(kMXFP4Values[b[i].qs[j] & 0xf]) * d;
      y[j + 16] = float(kMXFP4Values[b[i].qs[j] >> 4]) * d;
    }
  }
}

void quant_iq4_nl(const float* x, BlockIQ4_NL* b, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK) {
    b[i].d = fp32_to_fp16(signed_max(x, QK) / float(kIQ4Values[0]));  // largest |x| -> level -127
    encode_nibbles(kIQ4Values, x, h2f(b[i].d), b[i].qs);
  }
}

void quant_iq4_xs(const float* x, BlockIQ4_XS* b, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK_K) {
    float s[8], amax = 0;
    for (int ib = 0; ib < 8; ib++) {
      s[ib] = signed_max(x + 32 * ib, 32) / float(kIQ4Values[0]);
      amax = std::max(amax, std::fabs(s[ib]));
    }
    BlockIQ4_XS& o = b[i];
    o.d = fp32_to_fp16(amax / 31.0f);
    float d = h2f(o.d);
    o.scales_h = 0;
    std::memset(o.scales_l, 0, sizeof(o.scales_l));
    for (int ib = 0; ib < 8; ib++) {
      int sc = d > 0 ? round_clamped(s[ib] / d, -31, 31) : 0;
      int ls = sc + 32;  // 1..63
      o.scales_l[ib / 2] |= uint8_t((ls & 0xf) << (4 * (ib % 2)));
      o.scales_h |= uint16_t((ls >> 4) << (2 * ib));
      encode_nibbles(kIQ4Values, x + 32 * ib, d * float(sc), o.qs + 16 * ib);
    }
  }
}

void quant_mxfp4(const float* x, BlockMXFP4* b, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK) {
    float amax = 0;
    for (int j = 0; j < QK; j++) amax = std::max(amax, std::fabs(x[j]));
    // Smallest exponent with amax <= 12 * 2^(e-128) (12 is the largest doubled E2M1 value).
    int e = 0;
    if (!(amax <= std::numeric_limits<float>::max())) {
      e = 254;  // inf / NaN input: the largest scale (the block stays valid)
    } else if (amax > 0) {
      e = std::clamp(int(std::ceil(std::log2(double(amax) / 12.0))) + 128, 0, 254);
      while (e < 254 && double(amax) > 12.0 * double(e8m0_to_fp32_half(uint8_t(e)))) e++;
    }
    b[i].e = uint8_t(e);
    encode_nibbles(kMXFP4Values, x, e8m0_to_fp32_half(b[i].e), b[i].qs);
  }
}

}  // namespace moevk::quant
