// Throughput of runtime/cpu's kernels: GB/s of weight bytes per core (thread CPU time, so the
// figure holds on a shared machine), for every weight type, one token and four tokens per weight
// row, at the SIMD level chosen at run time (MOEVK_CPU_SIMD caps it), next to the rate one core
// reads memory at. A ~100 MB matrix of 2048-element rows, larger than any cache. Build (from the
// repo root, after building moevk_cpu in build-cpu):
//   g++ -std=c++20 -O2 -I. scripts/cpu_kernel_bench.cpp build-cpu/runtime/libmoevk_cpu.a \
//       build-cpu/runtime/libmoevk_ref.a build-cpu/loader/libmoevk_loader.a -lpthread -o
//       /tmp/kbench
// Run: /tmp/kbench [TYPE ...]
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "loader/quants/quants.h"
#include "runtime/cpu/kernels.h"
#include "runtime/cpu/matmul.h"

using namespace moevk;

namespace {
double thread_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}
}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> names;
  for (int i = 1; i < argc; ++i) names.emplace_back(argv[i]);
  if (names.empty())
    names = {"F32",  "F16",  "BF16", "Q8_0", "Q4_0", "Q4_1",   "Q5_0",   "Q5_1",
             "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS", "MXFP4"};
  const uint64_t n = 2048;
  cpu::ThreadPool pool(1);
  std::printf("simd level: %s\n", cpu::simd_name(cpu::active_simd()));
  std::vector<uint8_t> w;
  for (const std::string& name : names) {
    const GgmlType t = *type_from_name(name);
    const size_t rb = *row_bytes(t, n);
    const uint64_t rows = 100'000'000 / rb;
    w.assign(rb * rows, 0);
    random_blocks(t, 1, w.data(), int64_t(n * rows));
    const ref::QMatrix m{t, w.data(), n, rows, rb};
    double gbs[2];
    for (int k = 0; k < 2; ++k) {
      const uint32_t ntok = k == 0 ? 1 : 4;
      std::vector<float> x(n * ntok), y(rows * ntok);
      std::mt19937 rng(1);
      std::normal_distribution<float> nd;
      for (float& v : x) v = nd(rng);
      double best = 1e9;
      for (int rep = 0; rep < 4; ++rep) {
        const double t0 = thread_seconds();
        cpu::matmul(m, x, ntok, y, pool);
        best = std::min(best, thread_seconds() - t0);
      }
      gbs[k] = double(w.size()) / best / 1e9;
    }
    std::printf("%-7s %7.2f GB/s (1 token)  %7.2f GB/s x 4 tokens\n", name.c_str(), gbs[0], gbs[1]);
  }
  // One core reading memory (sum of 64-bit words).
  double best = 1e9;
  uint64_t sum = 0;
  for (int rep = 0; rep < 4; ++rep) {
    const double t0 = thread_seconds();
    const uint64_t* p = reinterpret_cast<const uint64_t*>(w.data());
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (size_t i = 0; i + 4 <= w.size() / 8; i += 4)
      a0 += p[i], a1 += p[i + 1], a2 += p[i + 2], a3 += p[i + 3];
    sum += a0 + a1 + a2 + a3;
    best = std::min(best, thread_seconds() - t0);
  }
  std::printf("memory read, one core: %.2f GB/s (%llu)\n", double(w.size()) / best / 1e9,
              static_cast<unsigned long long>(sum & 1));
}
