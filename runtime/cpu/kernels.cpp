// Run-time choice of the kernel table (kernels.h).
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "loader/error.h"
#include "runtime/cpu/kernels.h"

namespace moevk::cpu {

namespace {

const KernelTable* initial_table(Simd* level) {
  const char* env = std::getenv("MOEVK_CPU_SIMD");
  const KernelTable* avx2 = avx2_kernels();
  if (avx2 && !(env && std::strcmp(env, "portable") == 0)) {
    *level = Simd::Avx2;
    return avx2;
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

const char* simd_name(Simd s) { return s == Simd::Avx2 ? "avx2" : "portable"; }

bool force_simd(Simd s) {
  const KernelTable* t = s == Simd::Avx2 ? avx2_kernels() : &portable_kernels();
  if (!t) return false;
  g_level = s;
  g_table = t;
  return true;
}

float dot(GgmlType t, const void* w, const void* a, int64_t n) { return kernel(t)(w, a, n); }

void dot_multi(GgmlType t, const void* w, const void* a, size_t a_stride, int n_act, int64_t n,
               float* y, size_t y_stride) {
  const DotFn f = kernel(t);
  for (int j = 0; j < n_act; ++j)
    y[j * y_stride] = f(w, static_cast<const uint8_t*>(a) + j * a_stride, n);
}

}  // namespace moevk::cpu
