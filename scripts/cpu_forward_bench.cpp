// The cpu backend's prompt (pp) and decode (tg) rates measured two ways: wall clock, and CPU time
// of the whole process (all threads, spinning included), which gives the rate the same work reaches
// on N otherwise idle cores (tokens / (CPU seconds / N)) when the machine is shared.
// Build (from the repo root, after `ninja -C build-cpu moevk`):
//   g++ -std=c++20 -O2 -I. scripts/cpu_forward_bench.cpp build-cpu/runtime/libmoevk_model.a \
//     build-cpu/runtime/libmoevk_ops.a build-cpu/runtime/libmoevk_cpu.a
//     build-cpu/runtime/libmoevk_ref.a \
//     build-cpu/runtime/libmoevk_sched.a build-cpu/runtime/libmoevk_vk.a
//     build-cpu/loader/libmoevk_loader.a \ build-cpu/shaders/libmoevk_shaders.a -lvulkan -lpthread
//     -o /tmp/fbench
// Run: /tmp/fbench MODEL.gguf [THREADS] [N_PROMPT] [N_GEN]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "loader/gguf/gguf.h"
#include "runtime/model/engine.h"

using namespace moevk;

namespace {
double cpu_seconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}
double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const unsigned threads = argc > 2 ? unsigned(std::atoi(argv[2])) : 2;
  const uint32_t n_prompt = argc > 3 ? uint32_t(std::atoi(argv[3])) : 64;
  const uint32_t n_gen = argc > 4 ? uint32_t(std::atoi(argv[4])) : 16;
  const auto file = gguf::File::open(argv[1]);
  EngineOptions o;
  o.backend = Backend::Cpu;
  o.n_threads = threads;
  o.n_ctx = n_prompt + n_gen + 16;
  auto eng = make_engine(file, o);
  std::mt19937 rng(1);
  std::uniform_int_distribution<int32_t> pick(0, int32_t(eng->desc().n_vocab) - 1);
  std::vector<int32_t> prompt(n_prompt);
  for (int32_t& t : prompt) t = pick(rng);
  eng->eval(prompt, 0, Logits::Last);  // warm-up (pages of the file, pool threads)
  for (int rep = 0; rep < 3; ++rep) {
    double w0 = wall_seconds(), c0 = cpu_seconds();
    eng->eval(prompt, 0, Logits::Last);
    double w = wall_seconds() - w0, c = cpu_seconds() - c0;
    std::printf("pp%u: %.1f tok/s wall, %.1f tok/s on %u idle cores (CPU time)\n", n_prompt,
                n_prompt / w, n_prompt / (c / threads), threads);
    std::vector<int32_t> prefix(prompt.begin(), prompt.begin() + 16);
    eng->eval(prefix, 0, Logits::Last);
    w0 = wall_seconds(), c0 = cpu_seconds();
    int32_t tok = prompt[0];
    for (uint32_t i = 0; i < n_gen; ++i) {
      auto l = eng->eval(std::span(&tok, 1), 16 + i, Logits::Last);
      tok = int32_t(std::max_element(l.begin(), l.end()) - l.begin());
    }
    w = wall_seconds() - w0, c = cpu_seconds() - c0;
    std::printf("tg%u: %.1f tok/s wall, %.1f tok/s on %u idle cores (CPU time)\n", n_gen, n_gen / w,
                n_gen / (c / threads), threads);
  }
}
