// CPU dot-product kernels: one weight row in its GGUF block format against one activation row
// quantised once per token to 8-bit blocks (integer products where the format allows).
//
// Activation formats, chosen by the weight type (act_format):
//   F32     plain floats, for F32 / F16 / BF16 weights (float products, FMA);
//   Q8_32   blocks of 32 int8 with a float scale d and s = d * sum(q), for the 32-element formats
//           (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, IQ4_NL, MXFP4); s carries the offset/min terms;
//   Q8_256  blocks of 256 int8 with a float scale and the 16 sums of 16 (bsums), for the K-quants
//           and IQ4_XS, whose super-blocks are 256 elements with sub-block scales and mins.
// Quantisation: d = max|x| / 127, q = round(x / d) (a zero block gets d = 0, q = 0).
//
// SIMD is chosen at run time: AVX-512 (F/BW/VL) for Q4_K, AVX2 (+FMA, F16C) kernels for the common
// types where the CPU has them (functions built with __attribute__((target))), a portable C++
// fallback otherwise and for the types without a SIMD kernel yet. MOEVK_CPU_SIMD=portable|avx2 caps
// the level; force_simd() picks one in tests.
#pragma once

#include <cstddef>
#include <cstdint>

#include "loader/quants/quants.h"

namespace moevk::cpu {

enum class ActFormat { F32, Q8_32, Q8_256 };

struct BlockQ8_32 {
  float d;  // scale
  float s;  // d * sum(q)
  int8_t q[32];
};
struct BlockQ8_256 {
  float d;
  int16_t bsums[16];  // sums of q over each 16 elements
  int8_t q[256];
};
static_assert(sizeof(BlockQ8_32) == 40 && sizeof(BlockQ8_256) == 292);

ActFormat act_format(GgmlType weight_type);
// Bytes of one activation row of n elements quantised for weights of type t (n a multiple of t's
// block size).
size_t act_row_bytes(GgmlType weight_type, int64_t n);
// Quantises x[n] into the activation format of weight_type (dst: act_row_bytes bytes).
void quantize_act(GgmlType weight_type, const float* x, void* dst, int64_t n);

// sum_i W[i] * x[i] for one weight row w of n elements of type t and one activation row a made by
// quantize_act(t, x, a, n). n is a multiple of t's block size.
float dot(GgmlType t, const void* w, const void* a, int64_t n);
// y[j] = dot(w, a_j) for n_act activation rows a_j = a + j * a_stride bytes: one weight row against
// several tokens (the row's blocks are read from cache after the first).
void dot_multi(GgmlType t, const void* w, const void* a, size_t a_stride, int n_act, int64_t n,
               float* y, size_t y_stride);

// y[j] = dot(w, a[j]) for j < n_act activation rows given by pointers.
void dot_many(GgmlType t, const void* w, const void* const* a, int n_act, int64_t n, float* y);

// True when moevk has an integer or float kernel for t (every type the loader supports).
bool has_kernel(GgmlType t);

enum class Simd { Portable, Avx2, Avx512 };
Simd active_simd();
const char* simd_name(Simd s);
// Tests: run the kernels at level s (only a level the CPU has; returns false otherwise).
bool force_simd(Simd s);

// Kernel tables (internal: kernels_*.cpp).
using DotFn = float (*)(const void* w, const void* a, int64_t n);
// y[t] = dot(w, a[t]) for n_act (1..kMaxDotN) activation rows (the weight blocks unpacked once).
using DotNFn = void (*)(const void* w, const void* const* a, int n_act, int64_t n, float* y);
constexpr int kMaxDotN = 8;
struct KernelTable {
  DotFn dot[64] = {};    // by GGUF type id
  DotNFn dotn[64] = {};  // optional
};
const KernelTable& portable_kernels();
// The AVX2 table, or nullptr when this CPU lacks AVX2/FMA/F16C. Types without an AVX2 kernel fall
// back to the portable ones.
const KernelTable* avx2_kernels();
// AVX-512 (F/BW/VL) kernels over the AVX2 table, or nullptr without them.
const KernelTable* avx512_kernels();

}  // namespace moevk::cpu
