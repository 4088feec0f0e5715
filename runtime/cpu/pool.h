// A persistent thread pool for the CPU kernels: n-1 worker threads plus the calling thread run the
// tasks of one parallel region at a time, handed out one by one from an atomic counter. Workers
// spin briefly after a region (the next matvec of a forward pass usually starts within
// microseconds), then sleep on a condition variable.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace moevk::cpu {

// Physical cores of this machine (sibling hyper-threads counted once; falls back to
// hardware_concurrency), at least 1.
unsigned physical_cores();

class ThreadPool {
 public:
  // n_threads 0: physical_cores(). 1: everything runs on the calling thread.
  explicit ThreadPool(unsigned n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  unsigned size() const { return n_threads_; }

  // Runs fn(task, thread) for every task in [0, n_tasks), tasks handed out one at a time in
  // order; thread < size() identifies the thread (for per-thread scratch). Returns when all are
  // done; the first exception thrown by a task is rethrown here (the other tasks still run).
  // Not reentrant: a task must not call run() on the same pool.
  void run(uint64_t n_tasks, const std::function<void(uint64_t task, unsigned thread)>& fn);

  // A pool for callers without their own (the kernels' default argument), made at the first call
  // with set_global_threads()'s count (default: the physical cores); later calls of
  // set_global_threads() do not resize it (references to it stay valid).
  static ThreadPool& global();
  static void set_global_threads(unsigned n);

 private:
  // One parallel region, on run()'s stack. Workers reach it through current_ only while inside_
  // counts them, so run() returns only when no worker can still touch it. A worker that has not
  // woken yet is not waited for: the tasks go to whoever is running (this matters on a busy
  // machine, where a worker may not be scheduled for milliseconds).
  struct Region {
    const std::function<void(uint64_t, unsigned)>* fn;
    uint64_t n_tasks;
    std::atomic<uint64_t> next{0}, done{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;
  };
  void worker(unsigned id);
  static void work(Region& r, unsigned id);

  unsigned n_threads_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<Region*> current_{nullptr};
  std::atomic<unsigned> inside_{0};  // workers between reading current_ and leaving its region
  std::atomic<bool> stop_{false};
};

}  // namespace moevk::cpu
