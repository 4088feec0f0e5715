// A persistent thread pool for the CPU kernels: n-1 worker threads plus the calling thread run the
// tasks of one parallel region at a time. Workers spin briefly after a region (the next matvec of a
// forward pass usually starts within microseconds), then sleep on a condition variable.
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

  // The pool of the process, sized by set_global_threads() (default: physical cores).
  static ThreadPool& global();
  static void set_global_threads(unsigned n);  // takes effect at the next global() call

 private:
  void worker(unsigned id);
  void work(unsigned id);

  unsigned n_threads_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<unsigned> active_{0};  // workers still in the current region
  std::atomic<uint64_t> next_{0};
  uint64_t n_tasks_ = 0;
  const std::function<void(uint64_t, unsigned)>* fn_ = nullptr;
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
};

}  // namespace moevk::cpu
