// Run-time choice of the kernel table (kernels.h).
#include "runtime/cpu/kernels.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "loader/error.h"

namespace moevk::cpu {

namespace {

const KernelTable* table_of(Simd s) {
  switch (s) {
    case Simd::Avx512:
      return avx512_kernels();
    case Simd::Avx2:
      return avx2_kernels();
    case Simd::Portable:
      return &portable_kernels();
  }
  return nullptr;
}

const KernelTable* initial_table(Simd* level) {
  const char* env = std::getenv("MOEVK_CPU_SIMD");
  Simd cap = Simd::Avx512;
  if (env && std::strcmp(env, "portable") == 0) cap = Simd::Portable;
  if (env && std::strcmp(env, "avx2") == 0) cap = Simd::Avx2;
  for (Simd s : {Simd::Avx512, Simd::Avx2, Simd::Portable})
    if (s <= cap && table_of(s)) {
      *level = s;
      return table_of(s);
    }
  *level = Simd::Portable;
  return &portable_kernels();
}

Simd g_level = Simd::Portable;
std::atomic<const KernelTable*> g_table{initial_table(&g_level)};

DotFn kernel(GgmlType t) {
  const uint32_t id = static_cast<uint32_t>(t);
  const DotFn f = id < 64 ? g_table.load(std::memory_order_relaxed)->dot[id] : nullptr;
  MOEVK_ASSERT(f, "no CPU kernel for this weight type");
  return f;
}

}  // namespace

bool has_kernel(GgmlType t) {
  const uint32_t id = static_cast<uint32_t>(t);
  return id < 64 && portable_kernels().dot[id] != nullptr;
}

Simd active_simd() { return g_level; }

const char* simd_name(Simd s) {
  return s == Simd::Avx512 ? "avx512" : s == Simd::Avx2 ? "avx2" : "portable";
}

bool force_simd(Simd s) {
  const KernelTable* t = table_of(s);
  if (!t) return false;
  g_level = s;
  g_table = t;
  return true;
}

float dot(GgmlType t, const void* w, const void* a, int64_t n) { return kernel(t)(w, a, n); }

void dot_multi(GgmlType t, const void* w, const void* a, size_t a_stride, int n_act, int64_t n,
               float* y, size_t y_stride) {
  const DotFn f = kernel(t);
  const DotNFn f4 = g_table.load(std::memory_order_relaxed)->dotn[static_cast<uint32_t>(t) & 63];
  const uint8_t* ab = static_cast<const uint8_t*>(a);
  int j = 0;
  if (f4)
    for (; j < n_act; j += kMaxDotN) {
      const int m = std::min(kMaxDotN, n_act - j);
      const void* rows[kMaxDotN];
      for (int k = 0; k < m; ++k) rows[k] = ab + (j + k) * a_stride;
      float r[kMaxDotN];
      f4(w, rows, m, n, r);
      for (int k = 0; k < m; ++k) y[(j + k) * y_stride] = r[k];
    }
  for (; j < n_act; ++j) y[j * y_stride] = f(w, ab + j * a_stride, n);
}

void dot_many(GgmlType t, const void* w, const void* const* a, int n_act, int64_t n, float* y) {
  const DotFn f = kernel(t);
  const DotNFn f4 = g_table.load(std::memory_order_relaxed)->dotn[static_cast<uint32_t>(t) & 63];
  int j = 0;
  if (f4)
    for (; j < n_act; j += kMaxDotN) f4(w, a + j, std::min(kMaxDotN, n_act - j), n, y + j);
  for (; j < n_act; ++j) y[j] = f(w, a[j], n);
}

}  // namespace moevk::cpu
