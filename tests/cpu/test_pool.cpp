// The CPU thread pool: every task runs once, thread ids in range, regions back to back (spinning
// workers) and after a sleep (sleeping workers), exceptions reach the caller.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "runtime/cpu/pool.h"

using moevk::cpu::ThreadPool;

TEST_CASE("thread pool runs every task exactly once") {
  for (unsigned n : {1u, 2u, 4u}) {
    CAPTURE(n);
    ThreadPool pool(n);
    CHECK(pool.size() == n);
    for (uint64_t tasks : {0ull, 1ull, 3ull, 1000ull}) {
      CAPTURE(tasks);
      for (int rep = 0; rep < 50; ++rep) {
        std::vector<std::atomic<int>> hits(tasks);
        std::atomic<bool> bad_id{false};
        pool.run(tasks, [&](uint64_t t, unsigned id) {
          hits[t].fetch_add(1);
          if (id >= n) bad_id = true;
        });
        for (auto& h : hits) REQUIRE(h.load() == 1);
        CHECK(!bad_id);
      }
    }
    // Workers asleep after a pause still wake for the next region.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::atomic<int> sum{0};
    pool.run(64, [&](uint64_t t, unsigned) { sum += int(t); });
    CHECK(sum == 64 * 63 / 2);
  }
}

TEST_CASE("thread pool rethrows a task's exception and stays usable") {
  ThreadPool pool(3);
  std::atomic<int> ran{0};
  CHECK_THROWS_AS(pool.run(100,
                           [&](uint64_t t, unsigned) {
                             ++ran;
                             if (t == 17) throw std::runtime_error("task 17");
                           }),
                  std::runtime_error);
  CHECK(ran == 100);
  std::atomic<int> again{0};
  pool.run(10, [&](uint64_t, unsigned) { ++again; });
  CHECK(again == 10);
}

TEST_CASE("physical_cores is at least one") { CHECK(moevk::cpu::physical_cores() >= 1); }
