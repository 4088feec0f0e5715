// AVX-512 (F, BW, VL) kernels for the hottest types (Q4_K, Q5_K, Q6_K: the Q4_K_M and Q5_K_M
// mixes), on top of the AVX2 table (types without an AVX-512 kernel keep their AVX2 one). Built per
// function with __attribute__((target)); kernels.cpp checks the CPU. Zen 4/5 and recent Xeons
// execute 512-bit integer ops at full width, so one instruction covers a whole 64-element group of
// a K-quant super-block.
#include <cstring>
#include <type_traits>

// GCC 12 warns about the intrinsics' own "undefined" inputs once they are inlined into target
// functions; the values are never read.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "loader/quants/quants_internal.h"
#include "runtime/cpu/kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define MOEVK_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

namespace moevk::cpu {

namespace {

using namespace quant;

// Q4_K: per 64-element group j, the 32 packed bytes are broadcast to both halves of a 512-bit
// register and shifted by 0 (lower half: sub-block 2j, low nibbles) or 4 (upper half: sub-block
// 2j+1, high nibbles), which matches the activation bytes 64j..64j+63 in order.
MOEVK_AVX512 inline __m128i mins(__m128i m, const int16_t* bsums) {
  const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums));
  const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums + 8));
  return _mm_madd_epi16(m, _mm_hadd_epi16(b0, b1));
}

MOEVK_AVX512 inline __m512i nibbles(const uint8_t* p, __m512i shift, __m512i m4) {
  const __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_and_si512(_mm512_srlv_epi16(v, shift), m4);
}

MOEVK_AVX512 inline float hsum128(__m128 v) {
  v = _mm_add_ps(v, _mm_movehl_ps(v, v));
  v = _mm_add_ss(v, _mm_movehdup_ps(v));
  return _mm_cvtss_f32(v);
}

// The 12 scale bytes of a Q4_K block unpacked with 32-bit masks: 16 int16, sc[0..7] then m[0..7].
MOEVK_AVX512 inline __m256i scale_words(const uint8_t* s) {
  uint32_t u[3];
  std::memcpy(u, s, 12);
  const uint32_t sc_lo = u[0] & 0x3f3f3f3fu, m_lo = u[1] & 0x3f3f3f3fu;
  const uint32_t sc_hi = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
  const uint32_t m_hi = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
  return _mm256_cvtepu8_epi16(_mm_set_epi32(int(m_hi), int(m_lo), int(sc_hi), int(sc_lo)));
}

MOEVK_AVX512 float dot_q4_k(const void* w, const void* a, int64_t n) {
  const BlockQ4_K* b = static_cast<const BlockQ4_K*>(w);
  const BlockQ8_256* q = static_cast<const BlockQ8_256*>(a);
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const __m512i shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
  __m512i idx[4];
  for (int j = 0; j < 4; ++j)
    idx[j] = _mm512_inserti64x4(_mm512_set1_epi16(int16_t(2 * j)),
                                _mm256_set1_epi16(int16_t(2 * j + 1)), 1);
  __m512 acc = _mm512_setzero_ps();
  __m128 acc_m = _mm_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const __m256i all = scale_words(b[i].scales);
    const __m512i sc = _mm512_castsi256_si512(all);
    const float da = q[i].d;
    acc_m =
        _mm_fmadd_ps(_mm_set1_ps(_cvtsh_ss(b[i].dmin) * da),
                     _mm_cvtepi32_ps(mins(_mm256_extracti128_si256(all, 1), q[i].bsums)), acc_m);
    __m512i si = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      const __m512i x = nibbles(b[i].qs + 32 * j, shift, m4);
      const __m512i p = _mm512_maddubs_epi16(x, _mm512_loadu_si512(q[i].q + 64 * j));
      si = _mm512_add_epi32(si, _mm512_madd_epi16(p, _mm512_permutexvar_epi16(idx[j], sc)));
    }
    acc = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(b[i].d) * da), _mm512_cvtepi32_ps(si), acc);
  }
  return _mm512_reduce_add_ps(acc) - hsum128(acc_m);
}

// N (1..8) activation rows against one Q4_K row (kQ5: Q5_K, whose fifth bits come from qh: bit 2j
// of qh[l] for the low nibbles of group j, bit 2j+1 for the high ones): nibbles and scales unpacked
// once per block.
template <bool kQ5, int N>
MOEVK_AVX512 void dotn_qk45(const void* w, const void* const* a, int64_t n, float* y) {
  using B = std::conditional_t<kQ5, BlockQ5_K, BlockQ4_K>;
  const B* b = static_cast<const B*>(w);
  const __m512i one = _mm512_set1_epi8(1);
  __m512i shq[4];  // per group j: 2j in the lower half, 2j+1 in the upper (16-bit shift counts)
  for (int j = 0; j < 4; ++j)
    shq[j] = _mm512_inserti64x4(_mm512_set1_epi16(int16_t(2 * j)),
                                _mm256_set1_epi16(int16_t(2 * j + 1)), 1);
  const BlockQ8_256* q[N];
  for (int t = 0; t < N; ++t) q[t] = static_cast<const BlockQ8_256*>(a[t]);
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const __m512i shift = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
  __m512i idx[4];
  for (int j = 0; j < 4; ++j)
    idx[j] = _mm512_inserti64x4(_mm512_set1_epi16(int16_t(2 * j)),
                                _mm256_set1_epi16(int16_t(2 * j + 1)), 1);
  __m512 acc[N];
  __m128 acc_m[N];
  for (int t = 0; t < N; ++t) acc[t] = _mm512_setzero_ps(), acc_m[t] = _mm_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const __m256i all = scale_words(b[i].scales);
    const __m512i scw = _mm512_castsi256_si512(all);
    const __m128i m = _mm256_extracti128_si256(all, 1);
    const float d = _cvtsh_ss(b[i].d), dmin = _cvtsh_ss(b[i].dmin);
    __m512i x[4], sc[4];
    __m512i qh = _mm512_setzero_si512();
    if constexpr (kQ5)
      qh = _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qh)));
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      x[j] = nibbles(b[i].qs + 32 * j, shift, m4);
      if constexpr (kQ5)
        x[j] = _mm512_or_si512(
            x[j], _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, shq[j]), one), 4));
      sc[j] = _mm512_permutexvar_epi16(idx[j], scw);
    }
#pragma GCC unroll 8
    for (int t = 0; t < N; ++t) {
      const BlockQ8_256& qt = q[t][i];
      acc_m[t] =
          _mm_fmadd_ps(_mm_set1_ps(dmin * qt.d), _mm_cvtepi32_ps(mins(m, qt.bsums)), acc_m[t]);
      __m512i si = _mm512_setzero_si512();
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j)
        si = _mm512_add_epi32(
            si, _mm512_madd_epi16(_mm512_maddubs_epi16(x[j], _mm512_loadu_si512(qt.q + 64 * j)),
                                  sc[j]));
      acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(d * qt.d), _mm512_cvtepi32_ps(si), acc[t]);
    }
  }
  for (int t = 0; t < N; ++t) y[t] = _mm512_reduce_add_ps(acc[t]) - hsum128(acc_m[t]);
}

template <bool kQ5>
MOEVK_AVX512 void dotn_qk45(const void* w, const void* const* a, int n_act, int64_t n, float* y) {
  switch (n_act) {
    case 1:
      return dotn_qk45<kQ5, 1>(w, a, n, y);
    case 2:
      return dotn_qk45<kQ5, 2>(w, a, n, y);
    case 3:
      return dotn_qk45<kQ5, 3>(w, a, n, y);
    case 4:
      return dotn_qk45<kQ5, 4>(w, a, n, y);
    case 5:
      return dotn_qk45<kQ5, 5>(w, a, n, y);
    case 6:
      return dotn_qk45<kQ5, 6>(w, a, n, y);
    case 7:
      return dotn_qk45<kQ5, 7>(w, a, n, y);
    default:
      return dotn_qk45<kQ5, 8>(w, a, n, y);
  }
}

MOEVK_AVX512 float dot_q5_k(const void* w, const void* a, int64_t n) {
  float y;
  dotn_qk45<true, 1>(w, &a, n, &y);
  return y;
}

// Q6_K: per half c of 128, two 64-element vectors: [ql0 | ql1] low nibbles (elements 0..63) and
// high nibbles (64..127), each with its 2-bit pairs of qh shifted in per 256-bit half. Values
// 0..63; the offset 32 is taken off through the bsums. Scales: 16 int8, permuted to 8 lanes each.
template <int N>
MOEVK_AVX512 void dotn_q6_k(const void* w, const void* const* a, int64_t n, float* y) {
  const BlockQ6_K* b = static_cast<const BlockQ6_K*>(w);
  const BlockQ8_256* q[N];
  for (int t = 0; t < N; ++t) q[t] = static_cast<const BlockQ8_256*>(a[t]);
  const __m512i m4 = _mm512_set1_epi8(0x0f), m3 = _mm512_set1_epi8(3);
  // qh shifts: elements 0..31 bits 0-1, 32..63 bits 2-3; 64..95 bits 4-5, 96..127 bits 6-7.
  const __m512i sh_lo = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
  const __m512i sh_hi = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
  __m512i idx[4];  // scale k*4 + 0..3 of the 16, 8 lanes each
  for (int k = 0; k < 4; ++k)
    idx[k] = _mm512_set_epi16(4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3,
                              4 * k + 3, 4 * k + 3, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2,
                              4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 1, 4 * k + 1,
                              4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1,
                              4 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k);
  __m512 acc[N];
  __m256 acc_o[N];
  for (int t = 0; t < N; ++t) acc[t] = _mm512_setzero_ps(), acc_o[t] = _mm256_setzero_ps();
  for (int64_t i = 0; i < n / 256; ++i) {
    const __m256i sc16 =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b[i].scales)));
    const __m512i scw = _mm512_castsi256_si512(sc16);
    __m512i v[4], sc[4];
#pragma GCC unroll 2
    for (int c = 0; c < 2; ++c) {
      const __m512i ql = _mm512_loadu_si512(b[i].ql + 64 * c);
      const __m512i qh = _mm512_broadcast_i64x4(
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].qh + 32 * c)));
      const __m512i h0 = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, sh_lo), m3), 4);
      const __m512i h1 = _mm512_slli_epi16(_mm512_and_si512(_mm512_srlv_epi16(qh, sh_hi), m3), 4);
      v[2 * c] = _mm512_or_si512(_mm512_and_si512(ql, m4), h0);
      v[2 * c + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), h1);
      sc[2 * c] = _mm512_permutexvar_epi16(idx[2 * c], scw);
      sc[2 * c + 1] = _mm512_permutexvar_epi16(idx[2 * c + 1], scw);
    }
    const float d = _cvtsh_ss(b[i].d);
#pragma GCC unroll 8
    for (int t = 0; t < N; ++t) {
      const BlockQ8_256& qt = q[t][i];
      const __m256i off =
          _mm256_madd_epi16(sc16, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qt.bsums)));
      __m512i si = _mm512_setzero_si512();
#pragma GCC unroll 4
      for (int k = 0; k < 4; ++k)
        si = _mm512_add_epi32(
            si, _mm512_madd_epi16(_mm512_maddubs_epi16(v[k], _mm512_loadu_si512(qt.q + 64 * k)),
                                  sc[k]));
      const float dd = d * qt.d;
      acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(dd), _mm512_cvtepi32_ps(si), acc[t]);
      acc_o[t] = _mm256_fmadd_ps(_mm256_set1_ps(32.0f * dd), _mm256_cvtepi32_ps(off), acc_o[t]);
    }
  }
  for (int t = 0; t < N; ++t) {
    const __m128 o =
        _mm_add_ps(_mm256_castps256_ps128(acc_o[t]), _mm256_extractf128_ps(acc_o[t], 1));
    y[t] = _mm512_reduce_add_ps(acc[t]) - hsum128(o);
  }
}

MOEVK_AVX512 void dotn_q6_k(const void* w, const void* const* a, int n_act, int64_t n, float* y) {
  switch (n_act) {
    case 1:
      return dotn_q6_k<1>(w, a, n, y);
    case 2:
      return dotn_q6_k<2>(w, a, n, y);
    case 3:
      return dotn_q6_k<3>(w, a, n, y);
    case 4:
      return dotn_q6_k<4>(w, a, n, y);
    case 5:
      return dotn_q6_k<5>(w, a, n, y);
    case 6:
      return dotn_q6_k<6>(w, a, n, y);
    case 7:
      return dotn_q6_k<7>(w, a, n, y);
    default:
      return dotn_q6_k<8>(w, a, n, y);
  }
}

MOEVK_AVX512 float dot_q6_k(const void* w, const void* a, int64_t n) {
  float y;
  dotn_q6_k<1>(w, &a, n, &y);
  return y;
}

KernelTable make_avx512(const KernelTable& base) {
  KernelTable k = base;
  const uint32_t id = static_cast<uint32_t>(GgmlType::Q4_K);
  k.dot[id] = dot_q4_k;
  k.dotn[id] = dotn_qk45<false>;
  const uint32_t id5 = static_cast<uint32_t>(GgmlType::Q5_K);
  k.dot[id5] = dot_q5_k;
  k.dotn[id5] = dotn_qk45<true>;
  const uint32_t id6 = static_cast<uint32_t>(GgmlType::Q6_K);
  k.dot[id6] = dot_q6_k;
  k.dotn[id6] = dotn_q6_k;
  return k;
}

}  // namespace

const KernelTable* avx512_kernels() {
  const KernelTable* base = avx2_kernels();
  static const bool ok = base && __builtin_cpu_supports("avx512f") &&
                         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  if (!ok) return nullptr;
  static const KernelTable k = make_avx512(*base);
  return &k;
}

}  // namespace moevk::cpu

#else

namespace moevk::cpu {
const KernelTable* avx512_kernels() { return nullptr; }
}  // namespace moevk::cpu

#endif
