// AVX2 (+FMA, F16C) kernels, built per function with __attribute__((target)) so the binary still
// runs on CPUs without AVX2 (kernels.cpp checks the CPU before using this table). Integer products
// use vpmaddubsw (unsigned x signed bytes -> int16 pairs) then vpmaddwd (-> int32); signed weights
// go through the sign trick |w| x sign(a, w).
#include <cstring>
#include <type_traits>

#include "loader/quants/quants_internal.h"
#include "runtime/cpu/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define MOEVK_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace moevk::cpu {

namespace {

using namespace quant;

MOEVK_AVX2 inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

// 2^(e - 128) (an E8M0 scale halved, as kMXFP4Values are doubled), inline.
inline float e8m0_half(uint8_t e) {
  const uint32_t bits = e < 2 ? (0x00200000u << e) : (uint32_t(e - 1) << 23);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

MOEVK_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 8 int32 partial sums of u[i] * s[i] (u unsigned bytes <= 127 in pairs, s signed).
MOEVK_AVX2 inline __m256i dot_us(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
// 8 int32 partial sums of w[i] * a[i], both signed (w != -128).
MOEVK_AVX2 inline __m256i dot_ss(__m256i w, __m256i a) {
  return dot_us(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}
// 16 packed nibbles -> 32 bytes: the low nibbles in bytes 0..15, the high ones in 16..31.
MOEVK_AVX2 inline __m256i nibbles(const uint8_t* p) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i m = _mm_set1_epi8(0x0f);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(x, 4), m), _mm_and_si128(x, m));
}
MOEVK_AVX2 inline __m256i load(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// The 32 bits of a Q5 block's qh as 32 bytes 0x10 (bit set) or 0.
MOEVK_AVX2 inline __m256i bits_to_0x10(const uint8_t* qh4) {
  uint32_t qh;
  std::memcpy(&qh, qh4, 4);
  const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2,
                                        2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201ull));
  const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(int(qh)), shuf);
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// The 32-element formats, one to four activation rows per call: each weight block is unpacked
// once into 32 bytes v with its scale d, then met by every row. Signed formats (Q8_0, IQ4_NL,
// MXFP4) go through the sign trick; the unsigned ones multiply directly and take their offset
// (Q4_0: 8, Q5_0: 16) or min (Q4_1, Q5_1) through the activation sums s. The one-row kernel is the
// N = 1 case, so a token's result does not depend on the batch it came in.
template <typename B>
constexpr bool kSigned32 =
    std::is_same_v<B, BlockQ8_0> || std::is_same_v<B, BlockIQ4_NL> || std::is_same_v<B, BlockMXFP4>;

template <typename B>
MOEVK_AVX2 inline __m256i unpack32(const B& b, __m256i lut) {
  if constexpr (std::is_same_v<B, BlockQ8_0>) return load(b.qs);
  if constexpr (std::is_same_v<B, BlockQ4_0> || std::is_same_v<B, BlockQ4_1>) return nibbles(b.qs);
  if constexpr (std::is_same_v<B, BlockQ5_0> || std::is_same_v<B, BlockQ5_1>)
    return _mm256_or_si256(nibbles(b.qs), bits_to_0x10(b.qh));
  if constexpr (std::is_same_v<B, BlockIQ4_NL> || std::is_same_v<B, BlockMXFP4>)
    return _mm256_shuffle_epi8(lut, nibbles(b.qs));
}

template <typename B>
MOEVK_AVX2 inline float scale32(const B& b) {
  if constexpr (std::is_same_v<B, BlockMXFP4>)
    return e8m0_half(b.e);
  else
    return h2f(b.d);
}

// The term per unit of activation sum s: -offset * d, or the min.
template <typename B>
MOEVK_AVX2 inline float offset32(const B& b, float d) {
  if constexpr (std::is_same_v<B, BlockQ4_0>) return -8.0f * d;
  if constexpr (std::is_same_v<B, BlockQ5_0>) return -16.0f * d;
  if constexpr (std::is_same_v<B, BlockQ4_1> || std::is_same_v<B, BlockQ5_1>) return h2f(b.m);
  return 0.0f;
}

// One weight block against N activation rows, into acc[N] (and off[N] for the unsigned formats).
template <typename B, int N>
MOEVK_AVX2 inline void block32(const B& b, const BlockQ8_32* const* q, int64_t i, __m256i lut,
                               __m256 (&acc)[N], float (&off)[N]) {
  const __m256i v = unpack32(b, lut);
  const float d = scale32(b);
  if constexpr (kSigned32<B>) {
    const __m256i av = _mm256_sign_epi8(v, v);
#pragma GCC unroll 4
    for (int t = 0; t < N; ++t) {
      const __m256i p = dot_us(av, _mm256_sign_epi8(load(q[t][i].q), v));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * q[t][i].d), _mm256_cvtepi32_ps(p), acc[t]);
    }
  } else {
    const float o = offset32(b, d);
#pragma GCC unroll 4
    for (int t = 0; t < N; ++t) {
      const __m256i p = dot_us(v, load(q[t][i].q));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * q[t][i].d), _mm256_cvtepi32_ps(p), acc[t]);
      off[t] += o * q[t][i].s;
    }
  }
}

// Blocks alternate between two accumulator sets, so consecutive blocks' FMAs do not wait for each
// other (one row's block is only ~10 instructions).
template <typename B, int N>
MOEVK_AVX2 void dotn32(const void* w, const void* const* a, int64_t n, float* y) {
  const B* b = static_cast<const B*>(w);
  const BlockQ8_32* q[N];
  for (int t = 0; t < N; ++t) q[t] = static_cast<const BlockQ8_32*>(a[t]);
  const __m128i t16 = _mm_loadu_si128(
      reinterpret_cast<const __m128i*>(std::is_same_v<B, BlockMXFP4> ? kMXFP4Values : kIQ4Values));
  const __m256i lut = _mm256_set_m128i(t16, t16);
  __m256 acc0[N], acc1[N];
  float off0[N], off1[N];
#pragma GCC unroll 4
  for (int t = 0; t < N; ++t) {
    acc0[t] = acc1[t] = _mm256_setzero_ps();
    off0[t] = off1[t] = 0.0f;
  }
  const int64_t nb = n / 32;
  int64_t i = 0;
  for (; i + 2 <= nb; i += 2) {
    block32<B, N>(b[i], q, i, lut, acc0, off0);
    block32<B, N>(b[i + 1], q, i + 1, lut, acc1, off1);
  }
  if (i < nb) block32<B, N>(b[i], q, i, lut, acc0, off0);
#pragma GCC unroll 4
  for (int t = 0; t < N; ++t) y[t] = hsum(_mm256_add_ps(acc0[t], acc1[t])) + (off0[t] + off1[t]);
}

template <typename B>
MOEVK_AVX2 void dotn32(const void* w, const void* const* a, int n_act, int64_t n, float* y) {
  int t = 0;
  for (; t + 4 <= n_act; t += 4) dotn32<B, 4>(w, a + t, n, y + t);
  switch (n_act - t) {
    case 3:
      return dotn32<B, 3>(w, a + t, n, y + t);
    case 2:
      return dotn32<B, 2>(w, a + t, n, y + t);
    case 1:
      return dotn32<B, 1>(w, a + t, n, y + t);
    default:
      return;
  }
}

template <typename B>
MOEVK_AVX2 float dot32(const void* w, const void* a, int64_t n) {
  float y;
  dotn32<B, 1>(w, &a, n, &y);
  return y;
}

// IQ4_XS: IQ4_NL's table with a 6-bit scale per 32 (offset 32).
MOEVK_AVX2 float dot_iq4_xs(const void* w, const void* a, int64_t n) {
  const BlockIQ4_XS* b = static_cast<const BlockIQ4_XS*>(w);
  const BlockQ8_256* q = static_cast<const BlockQ8_256*>(a);
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIQ4Values));
  const __m256i lut = _mm256_set_m128i(t, t);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const float d = h2f(b[i].d) * q[i].d;
    __m256i si = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib) {
      const int ls = ((b[i].scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) |
                     (((b[i].scales_h >> (2 * ib)) & 3) << 4);
      const __m256i v = _mm256_shuffle_epi8(lut, nibbles(b[i].qs + 16 * ib));
      const __m256i p = _mm256_madd_epi16(
          _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(load(q[i].q + 32 * ib), v)),
          _mm256_set1_epi16(int16_t(ls - 32)));
      si = _mm256_add_epi32(si, p);
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(si), acc);
  }
  return hsum(acc);
}

// Q2_K / Q3_K: 2-bit values (Q3_K: + a high bit, offset 4) in 16 sub-blocks of 16, per-sub-block
// scales applied to vpmaddubsw's int16 pairs (lanes 0..7: one sub-block, 8..15: the next).
template <bool kQ3>
MOEVK_AVX2 float dot_q23_k(const void* w, const void* a, int64_t n) {
  const BlockQ8_256* q = static_cast<const BlockQ8_256*>(a);
  const __m256i m3 = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  float acc_m = 0;
  for (int64_t i = 0; i < n / 256; ++i) {
    int16_t sc[16];
    int32_t sm = 0;  // sum of min (Q2_K) or 4 * scale (Q3_K) times the sub-block's activation sum
    const uint8_t* qs;
    float d, dmin = 0;
    __m256i hm = _mm256_setzero_si256();
    if constexpr (kQ3) {
      const BlockQ3_K& b = static_cast<const BlockQ3_K*>(w)[i];
      for (int j = 0; j < 16; ++j) {
        const int lo = (b.scales[j % 8] >> (4 * (j / 8))) & 0xf;
        const int hi = (b.scales[8 + j % 4] >> (2 * (j / 4))) & 3;
        sc[j] = int16_t((lo | (hi << 4)) - 32);
        sm += 4 * sc[j] * q[i].bsums[j];
      }
      qs = b.qs, d = h2f(b.d), hm = load(b.hmask);
    } else {
      const BlockQ2_K& b = static_cast<const BlockQ2_K*>(w)[i];
      for (int j = 0; j < 16; ++j) {
        sc[j] = int16_t(b.scales[j] & 0xf);
        sm += (b.scales[j] >> 4) * q[i].bsums[j];
      }
      qs = b.qs, d = h2f(b.d), dmin = h2f(b.dmin);
    }
    __m256i si = _mm256_setzero_si256();
    for (int c = 0; c < 2; ++c) {
      const __m256i v = load(qs + 32 * c);
      for (int j = 0; j < 4; ++j) {
        __m256i x = _mm256_and_si256(_mm256_srli_epi16(v, 2 * j), m3);
        if constexpr (kQ3) {  // + 4 where the high bit is set (value = x - 4 overall)
          const __m256i bit = _mm256_set1_epi8(char(1 << (4 * c + j)));
          const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit);
          x = _mm256_or_si256(x, _mm256_and_si256(set, _mm256_set1_epi8(4)));
        }
        const int s = 8 * c + 2 * j;
        const __m256i scv = _mm256_set_m128i(_mm_set1_epi16(sc[s + 1]), _mm_set1_epi16(sc[s]));
        const __m256i p = _mm256_maddubs_epi16(x, load(q[i].q + 128 * c + 32 * j));
        si = _mm256_add_epi32(si, _mm256_madd_epi16(p, scv));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d * q[i].d), _mm256_cvtepi32_ps(si), acc);
    acc_m += (kQ3 ? d : dmin) * q[i].d * float(sm);
  }
  return hsum(acc) - acc_m;
}

MOEVK_AVX2 inline void scales_k4(const uint8_t* s, int32_t* sc, int32_t* m) {
  for (int j = 0; j < 4; ++j) sc[j] = s[j] & 63, m[j] = s[j + 4] & 63;
  for (int j = 4; j < 8; ++j) {
    sc[j] = (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4);
    m[j] = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Q5_K (and, unused since dot_q4_k, Q4_K): 8 sub-blocks of 32 with 6-bit scales and mins; the
// mins meet the bsums.
template <bool kQ5>
MOEVK_AVX2 float dot_qk45(const void* w, const void* a, int64_t n) {
  const BlockQ8_256* q = static_cast<const BlockQ8_256*>(a);
  const __m256i m4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  float acc_m = 0;
  for (int64_t i = 0; i < n / 256; ++i) {
    const uint8_t *scales, *qs, *qhp = nullptr;
    uint16_t dh, dminh;
    if constexpr (kQ5) {
      const BlockQ5_K& b = static_cast<const BlockQ5_K*>(w)[i];
      scales = b.scales, qs = b.qs, qhp = b.qh, dh = b.d, dminh = b.dmin;
    } else {
      const BlockQ4_K& b = static_cast<const BlockQ4_K*>(w)[i];
      scales = b.scales, qs = b.qs, dh = b.d, dminh = b.dmin;
    }
    int32_t sc[8], m[8];
    scales_k4(scales, sc, m);
    int32_t sm = 0;
    for (int j = 0; j < 8; ++j) sm += m[j] * (q[i].bsums[2 * j] + q[i].bsums[2 * j + 1]);
    __m256i qh;
    if constexpr (kQ5) qh = load(qhp);
    __m256i si = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {
      const __m256i v = load(qs + 32 * j);
      __m256i lo = _mm256_and_si256(v, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
      if constexpr (kQ5) {
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(qh, one), 4));
        hi = _mm256_or_si256(hi,
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 1), one), 4));
        qh = _mm256_srli_epi16(qh, 2);
      }
      const __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load(q[i].q + 64 * j)),
                                           _mm256_set1_epi16(int16_t(sc[2 * j])));
      const __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load(q[i].q + 64 * j + 32)),
                                           _mm256_set1_epi16(int16_t(sc[2 * j + 1])));
      si = _mm256_add_epi32(si, _mm256_add_epi32(pl, ph));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(dh) * q[i].d), _mm256_cvtepi32_ps(si), acc);
    acc_m += h2f(dminh) * q[i].d * float(sm);
  }
  return hsum(acc) - acc_m;
}

// Q4_K: the 12 scale bytes unpacked with 32-bit masks (8 scales, 8 mins), the mins meet the
// activation bsums in one vpmaddwd, and the nibbles' products are scaled per sub-block in int16.
// Shared by the one-row and four-row kernels.
struct Q4KScales {
  __m256i sc;  // 16 int16: sc[0..7] in both 128-bit lanes
  __m128i m;   // 8 int16: the mins
};
MOEVK_AVX2 inline Q4KScales q4k_scales(const uint8_t* s) {
  uint32_t u[3];
  std::memcpy(u, s, 12);
  const uint32_t sc_lo = u[0] & 0x3f3f3f3fu, m_lo = u[1] & 0x3f3f3f3fu;
  const uint32_t sc_hi = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
  const uint32_t m_hi = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
  const __m256i all =
      _mm256_cvtepu8_epi16(_mm_set_epi32(int(m_hi), int(m_lo), int(sc_hi), int(sc_lo)));
  return {_mm256_broadcastsi128_si256(_mm256_castsi256_si128(all)),
          _mm256_extracti128_si256(all, 1)};
}
// sum_j m[j] * (bsums[2j] + bsums[2j+1]) as 4 int32 partial sums.
MOEVK_AVX2 inline __m128i q4k_mins(__m128i m, const int16_t* bsums) {
  const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums));
  const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums + 8));
  return _mm_madd_epi16(m, _mm_hadd_epi16(b0, b1));
}
// Shuffles that broadcast int16 scale 2j (lo) / 2j+1 (hi) of Q4KScales::sc to all 16 lanes.
MOEVK_AVX2 inline __m256i q4k_scale(__m256i sc, int k) {
  const __m256i idx = _mm256_set1_epi16(int16_t((2 * k) | ((2 * k + 1) << 8)));
  return _mm256_shuffle_epi8(sc, idx);
}

MOEVK_AVX2 float dot_q4_k(const void* w, const void* a, int64_t n) {
  const BlockQ4_K* b = static_cast<const BlockQ4_K*>(w);
  const BlockQ8_256* q = static_cast<const BlockQ8_256*>(a);
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_m = _mm_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const Q4KScales s = q4k_scales(b[i].scales);
    const float da = q[i].d;
    acc_m = _mm_fmadd_ps(_mm_set1_ps(h2f(b[i].dmin) * da),
                         _mm_cvtepi32_ps(q4k_mins(s.m, q[i].bsums)), acc_m);
    __m256i si = _mm256_setzero_si256();
    for (int j = 0; j < 4; ++j) {
      const __m256i v = load(b[i].qs + 32 * j);
      const __m256i lo = _mm256_and_si256(v, m4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
      const __m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, load(q[i].q + 64 * j)),
                                           q4k_scale(s.sc, 2 * j));
      const __m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, load(q[i].q + 64 * j + 32)),
                                           q4k_scale(s.sc, 2 * j + 1));
      si = _mm256_add_epi32(si, _mm256_add_epi32(pl, ph));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(b[i].d) * da), _mm256_cvtepi32_ps(si), acc);
  }
  __m128 m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
  m = _mm_add_ss(m, _mm_movehdup_ps(m));
  return hsum(acc) - _mm_cvtss_f32(m);
}

// Four activation rows against one Q4_K row: the nibbles and scales are unpacked once per block.
MOEVK_AVX2 void dot4_q4_k(const void* w, const void* const* a, int64_t n, float* y) {
  const BlockQ4_K* b = static_cast<const BlockQ4_K*>(w);
  const BlockQ8_256* q[4];
  for (int t = 0; t < 4; ++t) q[t] = static_cast<const BlockQ8_256*>(a[t]);
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  __m256 acc[4];
  __m128 acc_m[4];
#pragma GCC unroll 4
  for (int t = 0; t < 4; ++t) acc[t] = _mm256_setzero_ps(), acc_m[t] = _mm_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const Q4KScales s = q4k_scales(b[i].scales);
    const float d = h2f(b[i].d), dmin = h2f(b[i].dmin);
    __m256i v[8], sc[8];
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      const __m256i x = load(b[i].qs + 32 * j);
      v[2 * j] = _mm256_and_si256(x, m4);
      v[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(x, 4), m4);
      sc[2 * j] = q4k_scale(s.sc, 2 * j);
      sc[2 * j + 1] = q4k_scale(s.sc, 2 * j + 1);
    }
#pragma GCC unroll 4
    for (int t = 0; t < 4; ++t) {
      const BlockQ8_256& qt = q[t][i];
      acc_m[t] = _mm_fmadd_ps(_mm_set1_ps(dmin * qt.d), _mm_cvtepi32_ps(q4k_mins(s.m, qt.bsums)),
                              acc_m[t]);
      __m256i si = _mm256_setzero_si256();
#pragma GCC unroll 8
      for (int k = 0; k < 8; ++k)
        si = _mm256_add_epi32(
            si, _mm256_madd_epi16(_mm256_maddubs_epi16(v[k], load(qt.q + 32 * k)), sc[k]));
      acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * qt.d), _mm256_cvtepi32_ps(si), acc[t]);
    }
  }
  for (int t = 0; t < 4; ++t) {
    __m128 m = _mm_add_ps(acc_m[t], _mm_movehl_ps(acc_m[t], acc_m[t]));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    y[t] = hsum(acc[t]) - _mm_cvtss_f32(m);
  }
}

MOEVK_AVX2 void dotn_q4_k(const void* w, const void* const* a, int n_act, int64_t n, float* y) {
  int t = 0;
  for (; t + 4 <= n_act; t += 4) dot4_q4_k(w, a + t, n, y + t);
  for (; t < n_act; ++t) y[t] = dot_q4_k(w, a[t], n);
}

// Q6_K: 6-bit values 0..63 (offset 32 taken off through the bsums), 16 int8 scales.
MOEVK_AVX2 float dot_q6_k(const void* w, const void* a, int64_t n) {
  const BlockQ6_K* b = static_cast<const BlockQ6_K*>(w);
  const BlockQ8_256* q = static_cast<const BlockQ8_256*>(a);
  const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const int8_t* sc = b[i].scales;
    int32_t off = 0;
    for (int j = 0; j < 16; ++j) off += int32_t(sc[j]) * q[i].bsums[j];
    __m256i si = _mm256_setzero_si256();
    for (int c = 0; c < 2; ++c) {
      const __m256i l0 = load(b[i].ql + 64 * c), l1 = load(b[i].ql + 64 * c + 32);
      const __m256i h = load(b[i].qh + 32 * c);
      __m256i v[4];
      v[0] =
          _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(h, m2), 4));
      v[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2), m2), 4));
      v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 4), m2), 4));
      v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 6), m2), 4));
      for (int k = 0; k < 4; ++k) {
        const int s = 8 * c + 2 * k;
        const __m256i scv = _mm256_set_m128i(_mm_set1_epi16(sc[s + 1]), _mm_set1_epi16(sc[s]));
        const __m256i p = _mm256_maddubs_epi16(v[k], load(q[i].q + 128 * c + 32 * k));
        si = _mm256_add_epi32(si, _mm256_madd_epi16(p, scv));
      }
    }
    const float d = h2f(b[i].d) * q[i].d;
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(si), acc);
    acc = _mm256_sub_ps(acc, _mm256_setr_ps(d * 32.0f * float(off), 0, 0, 0, 0, 0, 0, 0));
  }
  return hsum(acc);
}

MOEVK_AVX2 float dot_f32(const void* w, const void* a, int64_t n) {
  const float* x = static_cast<const float*>(w);
  const float* y = static_cast<const float*>(a);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
  }
  float r = hsum(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) r += x[i] * y[i];
  return r;
}

template <bool kBf16>
MOEVK_AVX2 inline __m256 load8_half(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  if constexpr (kBf16)
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  else
    return _mm256_cvtph_ps(h);
}

template <bool kBf16>
MOEVK_AVX2 float dot_half(const void* w, const void* a, int64_t n) {
  const uint16_t* x = static_cast<const uint16_t*>(w);
  const float* y = static_cast<const float*>(a);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(load8_half<kBf16>(x + i), _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(load8_half<kBf16>(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
  }
  float r = hsum(_mm256_add_ps(s0, s1));
  for (; i < n; ++i) r += (kBf16 ? bf16_to_fp32(x[i]) : fp16_to_fp32(x[i])) * y[i];
  return r;
}

KernelTable make_avx2() {
  KernelTable k = portable_kernels();
  auto set = [&](GgmlType t, DotFn f) { k.dot[static_cast<uint32_t>(t)] = f; };
  set(GgmlType::F32, dot_f32);
  set(GgmlType::F16, dot_half<false>);
  set(GgmlType::BF16, dot_half<true>);
  auto set32 = [&](GgmlType t, DotFn f, DotNFn fn) {
    set(t, f);
    k.dotn[static_cast<uint32_t>(t)] = fn;
  };
  set32(GgmlType::Q8_0, dot32<BlockQ8_0>, dotn32<BlockQ8_0>);
  set32(GgmlType::Q4_0, dot32<BlockQ4_0>, dotn32<BlockQ4_0>);
  set32(GgmlType::Q4_1, dot32<BlockQ4_1>, dotn32<BlockQ4_1>);
  set32(GgmlType::Q5_0, dot32<BlockQ5_0>, dotn32<BlockQ5_0>);
  set32(GgmlType::Q5_1, dot32<BlockQ5_1>, dotn32<BlockQ5_1>);
  set32(GgmlType::IQ4_NL, dot32<BlockIQ4_NL>, dotn32<BlockIQ4_NL>);
  set32(GgmlType::MXFP4, dot32<BlockMXFP4>, dotn32<BlockMXFP4>);
  set(GgmlType::Q4_K, dot_q4_k);
  k.dotn[static_cast<uint32_t>(GgmlType::Q4_K)] = dotn_q4_k;
  set(GgmlType::Q5_K, dot_qk45<true>);
  set(GgmlType::Q6_K, dot_q6_k);
  set(GgmlType::IQ4_XS, dot_iq4_xs);
  set(GgmlType::Q2_K, dot_q23_k<false>);
  set(GgmlType::Q3_K, dot_q23_k<true>);
  return k;
}

}  // namespace

const KernelTable* avx2_kernels() {
  static const bool ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                         __builtin_cpu_supports("f16c");
  if (!ok) return nullptr;
  static const KernelTable k = make_avx2();
  return &k;
}

}  // namespace moevk::cpu

#else  // not x86-64

namespace moevk::cpu {
const KernelTable* avx2_kernels() { return nullptr; }
}  // namespace moevk::cpu

#endif
