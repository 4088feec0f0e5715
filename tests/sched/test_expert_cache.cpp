// The expert cache's policies and the simulator (fake transfer queue with a time model): no GPU.
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>

#include "loader/error.h"
#include "runtime/sched/expert_cache.h"
#include "runtime/sched/simulate.h"

using namespace moevk;
using namespace moevk::sched;

TEST_CASE("cache: free slots first, then LRU evicts the least recently used") {
  ExpertCache c(1, 8, 2, CachePolicy::Lru);
  c.touch({0, 1});
  auto a = c.admit({0, 1});
  REQUIRE(a);
  CHECK(a->slot == 0);
  CHECK_FALSE(a->evicted);
  c.touch({0, 2});
  CHECK(c.admit({0, 2})->slot == 1);
  c.touch({0, 1});  // 2 is now the least recent
  c.touch({0, 3});
  auto b = c.admit({0, 3});
  REQUIRE(b);
  CHECK(b->slot == 1);
  REQUIRE(b->evicted);
  CHECK(*b->evicted == ExpertKey{0, 2});
  CHECK(c.slot_of({0, 3}) == 1u);
  CHECK_FALSE(c.slot_of({0, 2}));
  CHECK(c.owner(0) == ExpertKey{0, 1});
  // A busy slot (a copy in flight) is never the victim.
  c.touch({0, 4});
  auto d = c.admit({0, 4}, [](uint64_t s) { return s == 0; });
  REQUIRE(d);
  CHECK(d->slot == 1);
  CHECK_FALSE(c.admit({0, 5}, [](uint64_t) { return true; }));
}

TEST_CASE("cache: LFU keeps a frequent expert against one-off misses") {
  ExpertCache c(1, 16, 1, CachePolicy::Lfu);
  for (int i = 0; i < 5; ++i) {
    c.touch({0, 0});
    c.tick();
  }
  REQUIRE(c.admit({0, 0}));
  c.touch({0, 7});  // seen once: worth less than expert 0
  CHECK_FALSE(c.admit({0, 7}));
  CHECK(c.slot_of({0, 0}) == 0u);
  // Decay: long after, a newly frequent expert wins the slot.
  for (int i = 0; i < 2000; ++i) {
    c.touch({0, 9});
    c.tick();
  }
  auto a = c.admit({0, 9});
  REQUIRE(a);
  CHECK(*a->evicted == ExpertKey{0, 0});
  CHECK_THROWS_AS(cache_policy_from_name("fifo"), Error);
  CHECK(cache_policy_from_name("lfu") == CachePolicy::Lfu);
}

TEST_CASE("simulate: every expert cached is all hits; no slots is all misses read in place") {
  const RoutingTrace t = synthetic_trace(2, 8, 2, 50, 0.0, 0.0, 1);
  CHECK(t.n_tokens() == 50);
  const std::vector<uint64_t> bytes = {1000, 2000};
  TimeModel tm{1e9, 1e-3};
  SimResult none = simulate(t, bytes, 0, CachePolicy::Lru, tm);
  CHECK(none.hits == 0);
  CHECK(none.misses == 200);
  CHECK(none.bytes_in_place == 50 * (2 * 1000 + 2 * 2000));
  CHECK(none.bytes_copied == 0);
  CHECK(none.seconds == doctest::Approx(50 * (1e-3 + 6000 / 1e9)));
  SimResult all = simulate(t, bytes, 16, CachePolicy::Lru, tm);
  CHECK(all.misses <= 16 + 4);  // each expert missed once, plus copies still in flight
  CHECK(all.bytes_copied <= 8 * 3000);
  CHECK(all.tok_s() > none.tok_s());
}

TEST_CASE("simulate: skewed routing hits more than uniform at the same cache size") {
  const std::vector<uint64_t> bytes(4, 1 << 20);
  TimeModel tm{55e9, 1.0 / 212};
  const RoutingTrace uni = synthetic_trace(4, 64, 4, 400, 0.0, 0.0, 2);
  const RoutingTrace skew = synthetic_trace(4, 64, 4, 400, 1.2, 0.3, 2);
  for (CachePolicy p : {CachePolicy::Lru, CachePolicy::Lfu}) {
    CAPTURE(cache_policy_name(p));
    const SimResult u = simulate(uni, bytes, 64, p, tm);  // a quarter of the 256 experts
    const SimResult s = simulate(skew, bytes, 64, p, tm);
    CHECK(u.hit_rate() > 0.15);
    CHECK(u.hit_rate() < 0.35);
    CHECK(s.hit_rate() > u.hit_rate() + 0.2);
    CHECK(s.tok_s() > u.tok_s());
  }
}

TEST_CASE("read_trace: what --trace writes, and bad lines are errors") {
  const std::string path = "test_trace.txt";
  {
    std::ofstream f(path);
    f << "# comment\n0 0 1 2\n0 3 4 5\n1 0 2 1\n1 3 7 0\n";
  }
  RoutingTrace t = read_trace(path, 8);
  CHECK(t.n_layers == 2);
  CHECK(t.n_used == 2);
  CHECK(t.n_tokens() == 2);
  CHECK(t.ids == std::vector<uint32_t>{1, 2, 4, 5, 2, 1, 7, 0});
  {
    std::ofstream f(path);
    f << "0 0 1 9\n";
  }
  CHECK_THROWS_AS(read_trace(path, 8), Error);
  std::remove(path.c_str());
  CHECK_THROWS_AS(read_trace("no/such/trace", 8), Error);
}

TEST_CASE("simulate: prefetch that predicts well turns misses into hits; a wrong one only costs bus") {
  // 48 layers of 128 experts, top-8, 2.5 MiB experts, a 55 GB/s bus, 212 tok/s when all hit: one
  // layer's compute (~98 us) hides about two expert copies (~48 us each).
  const uint32_t L = 48;
  const std::vector<uint64_t> bytes(L, 2654208);
  const RoutingTrace t = synthetic_trace(L, 128, 8, 64, 0.0, 0.0, 3);
  const uint64_t slots = L * 128 / 4;
  TimeModel off{55e9, 1.0 / 212};
  TimeModel good = off, bad = off;
  good.prefetch_accuracy = 1.0;
  good.prefetch_experts = 2;
  bad.prefetch_accuracy = 1e-9;  // on, but (almost) always wrong
  bad.prefetch_experts = 2;
  const SimResult r0 = simulate(t, bytes, slots, CachePolicy::Lfu, off);
  const SimResult rg = simulate(t, bytes, slots, CachePolicy::Lfu, good);
  const SimResult rb = simulate(t, bytes, slots, CachePolicy::Lfu, bad);
  CHECK(r0.prefetched == 0);
  CHECK(rg.prefetched > 0);
  CHECK(rg.hit_rate() > r0.hit_rate() + 0.05);
  CHECK(rb.hit_rate() <= r0.hit_rate() + 0.02);
  CHECK(rb.bytes_copied > r0.bytes_copied);
}

TEST_CASE("simulate: CPU experts take misses when the CPU beats the bus, never when a round trip costs more") {
  // 4 layers x 16 experts top-2, 8 slots: mostly misses. Expert 1 MB, bus 1 GB/s: 1 ms per miss.
  const auto trace = sched::synthetic_trace(4, 16, 2, 64, 0, 0, 3);
  const std::vector<uint64_t> bytes(4, 1000000);
  sched::TimeModel t{1e9, 1e-3};
  const auto bus_only = sched::simulate(trace, bytes, 8, sched::CachePolicy::Lru, t);
  CHECK(bus_only.cpu_experts == 0);
  CHECK(bus_only.bytes_cpu == 0);
  t.cpu_bytes_per_s = 1e9;  // as fast as the bus: two misses in a layer split one each
  t.round_trip_s = 10e-6;
  const auto with_cpu = sched::simulate(trace, bytes, 8, sched::CachePolicy::Lru, t);
  CHECK(with_cpu.cpu_experts > 0);
  CHECK(with_cpu.cpu_experts < with_cpu.misses);  // the bus keeps a share
  CHECK(with_cpu.bytes_cpu == with_cpu.cpu_experts * 1000000);
  CHECK(with_cpu.bytes_in_place + with_cpu.bytes_cpu == with_cpu.misses * 1000000);
  CHECK(with_cpu.hits + with_cpu.misses == bus_only.hits + bus_only.misses);
  CHECK(with_cpu.tok_s() > 1.2 * bus_only.tok_s());
  // Exact case: one layer, one miss of 1 MB per token, no slots. Bus 1 ms, CPU 0.5 ms + a 0.1 ms round
  // trip: the CPU takes every miss and a token is the resident 1 ms + 0.6 ms.
  sched::RoutingTrace one{1, 4, 1, {0, 1, 2, 3}};
  sched::TimeModel e{1e9, 1e-3, 0, 0, 2e9, 1e-4};
  const auto r = sched::simulate(one, {1000000}, 0, sched::CachePolicy::Lru, e);
  CHECK(r.cpu_experts == 4);
  CHECK(r.seconds == doctest::Approx(4 * 1.6e-3));
  // A round trip dearer than the whole saving: no token goes layer by layer.
  t.round_trip_s = 1.0;
  const auto slow_trip = sched::simulate(trace, bytes, 8, sched::CachePolicy::Lru, t);
  CHECK(slow_trip.cpu_experts == 0);
  CHECK(slow_trip.seconds == doctest::Approx(bus_only.seconds));
}
