// Expert streaming against the resident engine on every oracle model (issue 8): at budgets from
// resident down to the minimum the logits are bit-identical (a miss is read in place or served from
// a slot holding the same bytes), misses happen below resident, and the device memory allocated
// (counted at vkAllocateMemory) equals the plan and never exceeds the budget. Lavapipe reports
// unified memory, so the discrete-GPU path (VRAM slots, host tier, copies) is forced with
// MOEVK_DISABLE=unified; the unified path (every expert read in place) runs too.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>

#include "loader/error.h"
#include "loader/gguf/gguf.h"
#include "runtime/model/engine.h"
#include "runtime/sched/memory_plan.h"
#include "tests/support/disable_features.h"
#include "tests/support/engine_oracle.h"
#include "tests/support/oracle.h"
#include "tests/support/test_data.h"

using namespace moevk;
using namespace moevk::test;

namespace {

struct Run {
  std::vector<float> logits;  // prompt rows then decode rows
  EvalStats stats;
  MemoryReport mem;
};

// Bit-identity needs every expert on the GPU: CPU-computed experts (tested below) sum in another
// order, so these runs turn them off.
Run run(const gguf::File& f, const OracleEntry& o, uint64_t budget, const char* policy = "lru",
        const char* prefetch = "auto") {
  EngineOptions opt;
  opt.n_ctx = 256;
  opt.gpu_mem = budget;
  opt.progress = false;
  opt.cache_policy = policy;
  opt.prefetch = prefetch;
  opt.cpu_experts = "off";
  auto eng = make_engine(f, opt);
  Run r;
  r.logits = eng->eval(o.prompt, 0);
  r.stats = eng->last_stats();
  for (size_t i = 0; i < o.greedy.size(); ++i) {
    auto row = eng->eval(std::span(&o.greedy[i], 1), uint32_t(o.prompt.size() + i));
    r.logits.insert(r.logits.end(), row.begin(), row.end());
    r.stats += eng->last_stats();
  }
  r.mem = eng->memory_report();
  return r;
}

sched::MemoryPlan plan_for(const gguf::File& f, bool unified) {
  sched::PlanOptions po;
  po.n_ctx = 256;
  po.n_batch = 256;
  po.unified = unified;
  return sched::plan_memory(sched::plan_input_from_file(f), po);
}

void check_identical(const Run& a, const Run& b) {
  REQUIRE(a.logits.size() == b.logits.size());
  CHECK(std::memcmp(a.logits.data(), b.logits.data(), a.logits.size() * 4) == 0);
}

void check_memory(const Run& r, uint64_t budget) {
  CHECK(r.mem.allocated == r.mem.planned);
  CHECK(r.mem.peak <= budget);
}

}  // namespace

TEST_CASE("streaming: every oracle model, resident down to the minimum budget, bit-identical") {
  MOEVK_REQUIRE_SHARED(man_path, "oracle/manifest.json");
  const std::string dir = dir_of(man_path);
  const auto man = read_json(man_path);
  REQUIRE(man["models"].size() >= 25);
  DisableFeatures discrete("unified");
  uint64_t compared = 0;
  for (const auto& e : man["models"]) {
    const std::string file = e["file"];
    CAPTURE(file);
    const OracleEntry o = load_oracle_entry(man, e, dir);
    const auto gf = gguf::File::open(dir + file);
    const sched::MemoryPlan p = plan_for(gf, false);
    REQUIRE(p.min_budget < p.resident_bytes);
    const Run resident = run(gf, o, p.resident_bytes);
    CHECK(resident.mem.mode == "resident");
    CHECK_FALSE(resident.stats.streaming);
    check_memory(resident, p.resident_bytes);
    const bool all_budgets = file.find("Q4_K_M") != std::string::npos;
    for (uint64_t budget : {p.resident_bytes - 1, (p.resident_bytes + p.min_budget) / 2, p.min_budget}) {
      if (!all_budgets && budget != p.min_budget) continue;
      CAPTURE(budget);
      const Run s = run(gf, o, budget);
      CHECK(s.mem.mode == "streaming");
      CHECK(s.stats.streaming);
      CHECK(s.stats.total().misses > 0);
      const uint64_t k = e["hparams"]["n_expert_used"];  // every (token, layer, k) counted once
      CHECK(s.stats.total().hits + s.stats.total().misses ==
            (o.prompt.size() + o.greedy.size()) * s.stats.layers.size() * k);
      check_memory(s, budget);
      check_identical(resident, s);
      ++compared;
    }
  }
  CHECK(compared >= 25);
}

TEST_CASE("streaming: lfu, prefetch on and off, and the unified-memory path (all read in place)") {
  MOEVK_REQUIRE_SHARED(man_path, "oracle/manifest.json");
  const std::string dir = dir_of(man_path);
  const auto man = read_json(man_path);
  uint64_t compared = 0;
  for (const auto& m : oracle_models(man_path, {"Q4_K_M", "MXFP4_MOE"})) {
    CAPTURE(m.path);
    const OracleEntry o = load_oracle_entry(man, m.entry, dir);
    const auto gf = gguf::File::open(m.path);
    Run resident;
    {
      DisableFeatures discrete("unified");
      const sched::MemoryPlan p = plan_for(gf, false);
      resident = run(gf, o, p.resident_bytes);
      const Run lfu = run(gf, o, p.min_budget, "lfu");
      CHECK(lfu.stats.total().misses > 0);
      check_memory(lfu, p.min_budget);
      check_identical(resident, lfu);
      const uint64_t mid = (p.min_budget + p.resident_bytes) / 2;
      const Run on = run(gf, o, mid, "lru", "on");  // decode layer by layer, predictions copied
      CHECK(on.stats.total().predicted > 0);
      CHECK(on.stats.total().predicted_used <= on.stats.total().predicted);
      check_memory(on, mid);
      check_identical(resident, on);
      const Run off = run(gf, o, mid, "lru", "off");
      CHECK(off.stats.total().predicted == 0);
      check_identical(resident, off);
    }
    const sched::MemoryPlan u = plan_for(gf, true);
    const Run unified = run(gf, o, u.min_budget);
    CHECK(unified.mem.n_slots == 0);
    CHECK(unified.stats.total().hits == 0);
    CHECK(unified.stats.total().bytes_copied == 0);
    check_memory(unified, u.min_budget);
    check_identical(resident, unified);
    ++compared;
  }
  CHECK(compared >= 4);
}

TEST_CASE("streaming: a budget below the minimum is refused with the plan") {
  MOEVK_REQUIRE_SHARED(man_path, "oracle/manifest.json");
  const std::string dir = dir_of(man_path);
  const auto man = read_json(man_path);
  const std::string file = man["models"][0]["file"];
  const auto gf = gguf::File::open(dir + file);
  DisableFeatures discrete("unified");
  const sched::MemoryPlan p = plan_for(gf, false);
  EngineOptions opt;
  opt.n_ctx = 256;
  opt.gpu_mem = p.min_budget - 1;
  opt.progress = false;
  try {
    make_engine(gf, opt);
    FAIL("an engine was made below the minimum budget");
  } catch (const std::exception& ex) {
    CHECK(std::string(ex.what()).find(std::to_string(p.min_budget)) != std::string::npos);
  }
}

namespace {

// An engine that sums the streaming figures of every eval() (the oracle check owns the engine).
class Counting final : public Engine {
 public:
  Counting(std::unique_ptr<Engine> e, LayerStreamStats& sum) : e_(std::move(e)), sum_(sum) {}
  const ModelDesc& desc() const override { return e_->desc(); }
  uint32_t n_ctx() const override { return e_->n_ctx(); }
  uint32_t n_past() const override { return e_->n_past(); }
  std::vector<float> eval(std::span<const int32_t> t, uint32_t pos, Logits w) override {
    auto r = e_->eval(t, pos, w);
    sum_ += e_->last_stats().total();
    return r;
  }
  std::string backend_name() const override { return e_->backend_name(); }
  MemoryReport memory_report() const override { return e_->memory_report(); }

 private:
  std::unique_ptr<Engine> e_;
  LayerStreamStats& sum_;
};

}  // namespace

TEST_CASE("cpu experts: every oracle model at its minimum budget with --cpu-experts on, within the oracle bars") {
  DisableFeatures discrete("unified");
  LayerStreamStats sum;
  uint64_t models = 0;
  check_engine_on_oracle("vk+cpu experts", [&](const gguf::File& f, uint32_t n_ctx) -> std::unique_ptr<Engine> {
    sched::PlanOptions po;
    po.n_ctx = n_ctx;
    po.n_batch = std::min<uint32_t>(n_ctx, 512);
    EngineOptions opt;
    opt.n_ctx = n_ctx;
    opt.gpu_mem = sched::plan_memory(sched::plan_input_from_file(f), po).min_budget;
    opt.progress = false;
    opt.cpu_experts = "on";
    auto eng = make_engine(f, opt);
    const MemoryReport m = eng->memory_report();
    CHECK(m.mode == "streaming");
    CHECK(m.cpu_experts == "on");
    CHECK(m.bus_gbs > 0);
    CHECK(m.cpu_gbs > 0);
    CHECK(m.round_trip_us > 0);
    ++models;
    return std::make_unique<Counting>(std::move(eng), sum);
  });
  CHECK(models >= 25);
  MESSAGE("cpu-computed (token, expert) pairs: " << sum.cpu_pairs << " of " << sum.misses << " misses");
  CHECK(sum.cpu_pairs > 0);
  CHECK(sum.cpu_pairs <= sum.misses);
  CHECK(sum.gpu_wait_ms >= 0);
}

TEST_CASE("cpu experts: auto runs within the bars of the GPU-only run; off where nothing crosses a bus") {
  MOEVK_REQUIRE_SHARED(man_path, "oracle/manifest.json");
  const std::string dir = dir_of(man_path);
  const auto man = read_json(man_path);
  uint64_t compared = 0;
  for (const auto& m : oracle_models(man_path, {"Q4_K_M"})) {
    CAPTURE(m.path);
    const OracleEntry o = load_oracle_entry(man, m.entry, dir);
    const auto gf = gguf::File::open(m.path);
    EngineOptions opt;
    opt.n_ctx = 256;
    opt.progress = false;
    opt.cpu_experts = "auto";
    {
      DisableFeatures discrete("unified");
      const sched::MemoryPlan p = plan_for(gf, false);
      opt.gpu_mem = p.min_budget;
      auto eng = make_engine(gf, opt);
      CHECK(eng->memory_report().cpu_experts == "auto");
      const auto logits = eng->eval(o.prompt, 0);
      const Run gpu = run(gf, o, p.min_budget);
      const size_t n = logits.size();
      REQUIRE(gpu.logits.size() >= n);
      CHECK(max_abs_diff(logits.data(), gpu.logits.data(), n) <= o.tol);
      opt.gpu_mem = p.resident_bytes;
      CHECK(make_engine(gf, opt)->memory_report().cpu_experts == "off (experts resident)");
    }
    opt.gpu_mem = plan_for(gf, true).min_budget;
    CHECK(make_engine(gf, opt)->memory_report().cpu_experts.find("unified memory") != std::string::npos);
    opt.cpu_experts = "sometimes";
    CHECK_THROWS_WITH_AS(make_engine(gf, opt), doctest::Contains("unknown --cpu-experts mode 'sometimes'"),
                         moevk::Error);
    ++compared;
  }
  CHECK(compared >= 3);
}
