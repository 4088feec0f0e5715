// K-quants (256-element super-blocks): Q2_K, Q3_K, Q4_K, Q5_K, Q6_K. Dequantisers follow ggml's
// arithmetic order exactly (so results match the reference bit for bit); quantisers are simple:
// per-sub-block range -> scale (and min), super-block scale = largest sub-block scale / max code.
//
// Element -> storage maps (i in 0..255):
//   Q2_K/Q3_K: qs[32*(i/128) + i%32] >> 2*((i%128)/32), sub-block i/16, Q3_K high bit: hmask[i%32]
//              bit 4*(i/128) + (i%128)/32.
//   Q4_K/Q5_K: qs[32*(i/64) + i%32], low nibble when (i/32) is even; sub-block i/32; Q5_K high bit:
//              qh[i%32] bit i/32.
//   Q6_K:      ql[64*(i/128) + 32*(k&1) + l] (low nibble for k<2), qh[32*(i/128) + l] bits 2k,
//   where
//              k = (i%128)/32, l = i%32; sub-block i/16.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "loader/quants/quants_internal.h"

namespace moevk::quant {

namespace {

float h2f(uint16_t h) { return fp16_to_fp32(h); }

// 6-bit scale and min j of Q4_K/Q5_K from the 12 packed bytes.
void scale_min_k4(int j, const uint8_t* q, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

void pack_scale_min_k4(const uint8_t* sc, const uint8_t* m, uint8_t* q) {
  std::memset(q, 0, 12);
  for (int j = 0; j < 8; j++) {
    if (j < 4) {
      q[j] |= sc[j] & 63;
      q[j + 4] |= m[j] & 63;
    } else {
      q[j + 4] = uint8_t((sc[j] & 0xf) | ((m[j] & 0xf) << 4));
      q[j - 4] |= uint8_t((sc[j] >> 4) << 6);
      q[j] |= uint8_t((m[j] >> 4) << 6);
    }
  }
}

// Asymmetric sub-block fit used by Q2_K/Q4_K/Q5_K: x ~ d*sc*q - dmin*m, q in [0, levels].
// Computes per-sub-block (scale, -min) in floats, then the super-block d and dmin and the integer
// codes with `max_code` levels for the scale/min integers.
struct AffineFit {
  uint16_t d, dmin;
  uint8_t sc[16], m[16];
};

AffineFit fit_affine(const float* x, int n_sub, int sub_len, int levels, int max_code) {
  float scale[16], neg_min[16];
  float max_scale = 0, max_neg_min = 0;
  for (int s = 0; s < n_sub; s++) {
    const float* v = x + s * sub_len;
    float lo = std::min(0.0f, *std::min_element(v, v + sub_len));
    float hi = *std::max_element(v, v + sub_len);
    scale[s] = (hi - lo) / float(levels);
    neg_min[s] = -lo;
    max_scale = std::max(max_scale, scale[s]);
    max_neg_min = std::max(max_neg_min, neg_min[s]);
  }
  AffineFit f;
  f.d = fp32_to_fp16(max_scale / float(max_code));
  f.dmin = fp32_to_fp16(max_neg_min / float(max_code));
  float d = h2f(f.d), dmin = h2f(f.dmin);
  for (int s = 0; s < n_sub; s++) {
    // Round the scale up so the sub-block's range still fits in [0, levels].
    f.sc[s] = d > 0 ? uint8_t(ceil_clamped(scale[s] / d, 0, max_code)) : 0;
    f.m[s] = dmin > 0 ? uint8_t(round_clamped(neg_min[s] / dmin, 0, max_code)) : 0;
  }
  return f;
}

// Code of x for an affine sub-block with scale d*sc and offset -dmin*m.
int affine_code(float x, float d, float dmin, int sc, int m, int levels) {
  float step = d * float(sc);
  if (step == 0) return 0;
  return round_clamped((x + dmin * float(m)) / step, 0, levels);
}

// Symmetric sub-block fit used by Q3_K/Q6_K: each sub-block's signed scale maps its value of
// largest magnitude to `lowest`; the super-block d maps the largest |scale| to max_code.
void fit_symmetric(const float* x, int n_sub, int sub_len, float lowest, int max_code,
                   uint16_t& d16, int* sc) {
  float s[16], amax = 0;
  for (int b = 0; b < n_sub; b++) {
    float vmax = 0, vabs = 0;
    for (int i = 0; i < sub_len; i++)
      if (std::fabs(x[b * sub_len + i]) > vabs)
        vabs = std::fabs(x[b * sub_len + i]), vmax = x[b * sub_len + i];
    s[b] = vmax / lowest;
    amax = std::max(amax, std::fabs(s[b]));
  }
  d16 = fp32_to_fp16(amax / float(max_code));
  float d = h2f(d16);
  for (int b = 0; b < n_sub; b++) sc[b] = d > 0 ? round_clamped(s[b] / d, -max_code, max_code) : 0;
}

}  // namespace

void dequant_q2_k(const BlockQ2_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++) {
    float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
    const uint8_t* q = b[i].qs;
    int is = 0;
    for (int n = 0; n < QK_K; n += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int half = 0; half < 2; half++) {
          uint8_t sc = b[i].scales[is++];
          float dl = d * float(sc & 0xf), ml = dmin * float(sc >> 4);
          for (int l = 0; l < 16; l++) *y++ = dl * float((q[l + 16 * half] >> shift) & 3) - ml;
        }
      }
    }
  }
}

void dequant_q3_k(const BlockQ3_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++) {
    float d_all = h2f(b[i].d);
    int8_t scales[16];
    for (int j = 0; j < 16; j++) {
      int lo = (b[i].scales[j % 8] >> (4 * (j / 8))) & 0xf;
      int hi = (b[i].scales[8 + j % 4] >> (2 * (j / 4))) & 3;
      scales[j] = int8_t((lo | (hi << 4)) - 32);
    }
    const uint8_t* q = b[i].qs;
    const uint8_t* hm = b[i].hmask;
    int is = 0;
    uint8_t m = 1;
    for (int n = 0; n < QK_K; n += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, m <<= 1) {
        for (int half = 0; half < 2; half++) {
          float dl = d_all * float(scales[is++]);
          for (int l = 16 * half; l < 16 * half + 16; l++)
            *y++ = dl * float(int((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
        }
      }
    }
  }
}

void dequant_q4_k(const BlockQ4_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++) {
    float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
    const uint8_t* q = b[i].qs;
    for (int j = 0, is = 0; j < QK_K; j += 64, q += 32, is += 2) {
      uint8_t sc, m;
      scale_min_k4(is, b[i].scales, sc, m);
      float d1 = d * float(sc), m1 = dmin * float(m);
      scale_min_k4(is + 1, b[i].scales, sc, m);
      float d2 = d * float(sc), m2 = dmin * float(m);
      for (int l = 0; l < 32; l++) *y++ = d1 * float(q[l] & 0xf) - m1;
      for (int l = 0; l < 32; l++) *y++ = d2 * float(q[l] >> 4) - m2;
    }
  }
}

void dequant_q5_k(const BlockQ5_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++) {
    float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
    const uint8_t* ql = b[i].qs;
    const uint8_t* qh = b[i].qh;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < QK_K; j += 64, ql += 32, is += 2, u1 <<= 2, u2 <<= 2) {
      uint8_t sc, m;
      scale_min_k4(is, b[i].scales, sc, m);
      float d1 = d * float(sc), m1 = dmin * float(m);
      scale_min_k4(is + 1, b[i].scales, sc, m);
      float d2 = d * float(sc), m2 = dmin * float(m);
      for (int l = 0; l < 32; l++) *y++ = d1 * float((ql[l] & 0xf) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; l++) *y++ = d2 * float((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
    }
  }
}

void dequant_q6_k(const BlockQ6_K* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++) {
    float d = h2f(b[i].d);
    const uint8_t* ql = b[i].ql;
    const uint8_t* qh = b[i].qh;
    const int8_t* sc = b[i].scales;
    for (int n = 0; n < QK_K; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; l++) {
        int is = l / 16;
        int q1 = int((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
        int q2 = int((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
        int q3 = int((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        int q4 = int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * float(sc[is + 0]) * float(q1);
        y[l + 32] = d * float(sc[is + 2]) * float(q2);
        y[l + 64] = d * float(sc[is + 4]) * float(q3);
        y[l + 96] = d * float(sc[is + 6]) * float(q4);
      }
    }
  }
}

void quant_q2_k(const float* x, BlockQ2_K* b, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK_K) {
    AffineFit f = fit_affine(x, 16, 16, 3, 15);
    BlockQ2_K& o = b[i];
    o.d = f.d;
    o.dmin = f.dmin;
    for (int s = 0; s < 16; s++) o.scales[s] = uint8_t(f.sc[s] | (f.m[s] << 4));
    std::memset(o.qs, 0, sizeof(o.qs));
    float d = h2f(o.d), dmin = h2f(o.dmin);
    for (int e = 0; e < QK_K; e++) {
      int s = e / 16;
      int q = affine_code(x[e], d, dmin, f.sc[s], f.m[s], 3);
      o.qs[32 * (e / 128) + e % 32] |= uint8_t(q << (2 * ((e % 128) / 32)));
    }
  }
}

void quant_q3_k(const float* x, BlockQ3_K* b, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK_K) {
    BlockQ3_K& o = b[i];
    int sc[16];
    fit_symmetric(x, 16, 16, -4.0f, 31, o.d, sc);
    std::memset(o.scales, 0, sizeof(o.scales));
    for (int j = 0; j < 16; j++) {
      int u = sc[j] + 32;  // 1..63
      o.scales[j % 8] |= uint8_t((u & 0xf) << (4 * (j / 8)));
      o.scales[8 + j % 4] |= uint8_t((u >> 4) << (2 * (j / 4)));
    }
    std::memset(o.qs, 0, sizeof(o.qs));
    std::memset(o.hmask, 0, sizeof(o.hmask));
    float d = h2f(o.d);
    for (int e = 0; e < QK_K; e++) {
      float step = d * float(sc[e / 16]);
      int q = step != 0 ? round_clamped(x[e] / step, -4, 3) : 0;
      int u = q + 4;  // 0..7: low 2 bits in qs, bit 2 in hmask (set means "no -4")
      int k = (e % 128) / 32;
      o.qs[32 * (e / 128) + e % 32] |= uint8_t((u & 3) << (2 * k));
      if (u & 4) o.hmask[e % 32] |= uint8_t(1 << (4 * (e / 128) + k));
    }
  }
}

template <typename Block, int Levels>
void quant_q45_k(const float* x, Block* b, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK_K) {
    AffineFit f = fit_affine(x, 8, 32, Levels, 63);
    Block& o = b[i];
    o.d = f.d;
    o.dmin = f.dmin;
    pack_scale_min_k4(f.sc, f.m, o.scales);
    std::memset(o.qs, 0, sizeof(o.qs));
    if constexpr (Levels == 31) std::memset(o.qh, 0, sizeof(o.qh));
    float d = h2f(o.d), dmin = h2f(o.dmin);
    for (int e = 0; e < QK_K; e++) {
      int s = e / 32;
      int q = affine_code(x[e], d, dmin, f.sc[s], f.m[s], Levels);
      o.qs[32 * (e / 64) + e % 32] |= uint8_t((q & 0xf) << (s % 2 ? 4 : 0));
      if constexpr (Levels == 31)
        if (q & 16) o.qh[e % 32] |= uint8_t(1 << s);
    }
  }
}

void quant_q4_k(const float* x, BlockQ4_K* b, int64_t nb) { quant_q45_k<BlockQ4_K, 15>(x, b, nb); }
void quant_q5_k(const float* x, BlockQ5_K* b, int64_t nb) { quant_q45_k<BlockQ5_K, 31>(x, b, nb); }

void quant_q6_k(const float* x, BlockQ6_K* b, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK_K) {
    BlockQ6_K& o = b[i];
    int sc[16];
    fit_symmetric(x, 16, 16, -32.0f, 127, o.d, sc);
    for (int j = 0; j < 16; j++) o.scales[j] = int8_t(sc[j]);
    std::memset(o.ql, 0, sizeof(o.ql));
    std::memset(o.qh, 0, sizeof(o.qh));
    float d = h2f(o.d);
    for (int e = 0; e < QK_K; e++) {
      float step = d * float(sc[e / 16]);
      int u = (step != 0 ? round_clamped(x[e] / step, -32, 31) : 0) + 32;  // 0..63
      int h = e / 128, k = (e % 128) / 32, l = e % 32;
      o.ql[64 * h + 32 * (k & 1) + l] |= uint8_t((u & 0xf) << (k >= 2 ? 4 : 0));
      o.qh[32 * h + l] |= uint8_t((u >> 4) << (2 * k));
    }
  }
}

}  // namespace moevk::quant
