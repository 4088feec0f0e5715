#include "runtime/cpu/pool.h"

#include <chrono>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MOEVK_CPU_RELAX() _mm_pause()
#else
#define MOEVK_CPU_RELAX() ((void)0)
#endif

namespace moevk::cpu {

namespace {
// How long a worker keeps polling for the next region before it sleeps.
constexpr auto kSpin = std::chrono::microseconds(200);
}  // namespace

unsigned physical_cores() {
  // Linux: distinct (physical id, core id) pairs of /proc/cpuinfo.
  std::ifstream in("/proc/cpuinfo");
  std::set<std::pair<int, int>> cores;
  std::string line;
  int phys = 0;
  while (std::getline(in, line)) {
    auto value = [&] { return std::stoi(line.substr(line.find(':') + 1)); };
    if (line.rfind("physical id", 0) == 0) phys = value();
    if (line.rfind("core id", 0) == 0) cores.emplace(phys, value());
  }
  unsigned n = static_cast<unsigned>(cores.size());
  if (n == 0) n = std::thread::hardware_concurrency();
  return n ? n : 1;
}

ThreadPool::ThreadPool(unsigned n_threads) : n_threads_(n_threads ? n_threads : physical_cores()) {
  threads_.reserve(n_threads_ - 1);
  for (unsigned i = 1; i < n_threads_; ++i) threads_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ThreadPool::work(Region& r, unsigned id) {
  for (;;) {
    const uint64_t t = r.next.fetch_add(1, std::memory_order_relaxed);
    if (t >= r.n_tasks) return;
    try {
      (*r.fn)(t, id);
    } catch (...) {
      if (!r.failed.exchange(true)) r.error = std::current_exception();
    }
    r.done.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::worker(unsigned id) {
  uint64_t seen = 0;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    for (unsigned i = 0; generation_.load(std::memory_order_acquire) == seen && !stop_; ++i) {
      MOEVK_CPU_RELAX();
      if ((i & 255) == 255 && std::chrono::steady_clock::now() - t0 > kSpin) {
        std::unique_lock lock(mu_);
        cv_.wait(lock,
                 [&] { return generation_.load(std::memory_order_acquire) != seen || stop_; });
        break;
      }
    }
    if (stop_) return;
    seen = generation_.load(std::memory_order_acquire);
    // seq_cst pairs with run(): either this load sees the region cleared, or run() sees inside_.
    inside_.fetch_add(1, std::memory_order_seq_cst);
    if (Region* r = current_.load(std::memory_order_seq_cst)) work(*r, id);
    inside_.fetch_sub(1, std::memory_order_release);
  }
}

void ThreadPool::run(uint64_t n_tasks, const std::function<void(uint64_t, unsigned)>& fn) {
  if (n_tasks == 0) return;
  if (n_threads_ == 1 || n_tasks == 1) {
    for (uint64_t t = 0; t < n_tasks; ++t) fn(t, 0);
    return;
  }
  Region r;
  r.fn = &fn;
  r.n_tasks = n_tasks;
  current_.store(&r, std::memory_order_seq_cst);
  {
    std::lock_guard lock(mu_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  cv_.notify_all();
  work(r, 0);
  // Tasks still running on workers.
  for (unsigned i = 0; r.done.load(std::memory_order_acquire) != n_tasks; ++i) {
    MOEVK_CPU_RELAX();
    if (i > 4096) std::this_thread::yield();
  }
  current_.store(nullptr, std::memory_order_seq_cst);
  // Workers that read current_ before it was cleared are only leaving (no task is left).
  for (unsigned i = 0; inside_.load(std::memory_order_seq_cst) != 0; ++i) {
    MOEVK_CPU_RELAX();
    if (i > 4096) std::this_thread::yield();
  }
  if (r.error) std::rethrow_exception(r.error);
}

namespace {
std::mutex g_mu;
std::unique_ptr<ThreadPool> g_pool;
unsigned g_threads = 0;
}  // namespace

ThreadPool& ThreadPool::global() {
  std::lock_guard lock(g_mu);
  if (!g_pool) g_pool = std::make_unique<ThreadPool>(g_threads);
  return *g_pool;
}

void ThreadPool::set_global_threads(unsigned n) {
  std::lock_guard lock(g_mu);
  g_threads = n;
}

}  // namespace moevk::cpu
