// Memory plan and size parsing: hand-built PlanInputs with numbers checked by hand.
#include <doctest/doctest.h>

#include "loader/error.h"
#include "runtime/sched/memory_plan.h"
#include "runtime/sched/packer.h"
#include "runtime/sched/size.h"

using namespace moevk;
using namespace moevk::sched;

TEST_CASE("parse_size: units are binary, fractions round down") {
  CHECK(parse_size("123456") == 123456);
  CHECK(parse_size("0") == 0);
  CHECK(parse_size("6G") == 6ull << 30);
  CHECK(parse_size("6g") == 6ull << 30);
  CHECK(parse_size("6GB") == 6ull << 30);
  CHECK(parse_size("6GiB") == 6ull << 30);
  CHECK(parse_size("512M") == 512ull << 20);
  CHECK(parse_size("512 MiB") == 512ull << 20);
  CHECK(parse_size("1.5GiB") == 3ull << 29);
  CHECK(parse_size("  2k ") == 2048);
  CHECK(parse_size("1T") == 1ull << 40);
  CHECK(parse_size("100B") == 100);
  CHECK(parse_size("0.5K") == 512);
  CHECK(parse_size("1.0") == 1);     // a zero fraction is whole
  CHECK(parse_size("0.001K") == 1);  // 1.024 rounds down
  CHECK(parse_size(".5M") == 512ull << 10);
  CHECK(parse_size("18446744073709551615") == UINT64_MAX);
}

TEST_CASE("parse_size: bad input is a clear error") {
  auto msg = [](const char* s) {
    try {
      parse_size(s);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(msg("").find("empty") != std::string::npos);
  CHECK(msg("   ").find("empty") != std::string::npos);
  CHECK(msg("-1G").find("negative") != std::string::npos);
  CHECK(msg("6X").find("unknown unit 'X'") != std::string::npos);
  CHECK(msg("6Gb2").find("unknown unit") != std::string::npos);
  CHECK(msg("G").find("no number") != std::string::npos);
  CHECK(msg("1.5").find("whole") != std::string::npos);
  CHECK(msg("18446744073709551616").find("too large") != std::string::npos);
  CHECK(msg("17179869184G").find("too large") != std::string::npos);
  CHECK(msg("1.2.3G").find("unknown unit") != std::string::npos);
  CHECK(msg("abc").find("'abc'") != std::string::npos);
}

TEST_CASE("format_size") {
  CHECK(format_size(0) == "0 B");
  CHECK(format_size(1023) == "1023 B");
  CHECK(format_size(1024) == "1.00 KiB");
  CHECK(format_size(3ull << 29) == "1.50 GiB");
}

TEST_CASE("classify_tensor") {
  TensorEntry t{"blk.12.ffn_down_exps.weight"};
  classify_tensor(t);
  CHECK(t.layer == 12);
  CHECK(t.expert);
  t = {"blk.3.ffn_gate_exps.bias"};  // biases stay resident with the weights
  classify_tensor(t);
  CHECK(t.layer == 3);
  CHECK(!t.expert);
  t = {"blk.0.ffn_up_shexp.weight"};
  classify_tensor(t);
  CHECK(t.layer == 0);
  CHECK(!t.expert);
  t = {"token_embd.weight"};
  classify_tensor(t);
  CHECK(t.layer == -1);
  CHECK(!t.expert);
  t = {"blk.x.ffn_up_exps.weight"};
  classify_tensor(t);
  CHECK(t.layer == -1);
}

namespace {

constexpr uint64_t kE = 65536;  // one expert matrix of the toy

// Two MoE layers, 8 experts, top-2. Layer 0's experts are 3 x 64 KiB, layer 1's 4 x 64 KiB (its
// down matrix is twice as large).
PlanInput toy() {
  PlanInput in;
  in.arch = "toy";
  in.n_layer = 2;
  in.n_expert = 8;
  in.n_expert_used = 2;
  in.n_embd = 16;
  in.n_vocab = 100;
  in.n_head = 2;
  in.q_dim = 16;
  in.n_ff_max = 32;
  in.n_ff_expert = 32;
  in.kv = {{8, 8, 0}, {8, 8, 4}};
  auto add = [&](const char* name, uint64_t bytes) {
    TensorEntry t{name, GgmlType::F16, bytes};
    classify_tensor(t);
    in.tensors.push_back(t);
  };
  add("token_embd.weight", 1000);
  add("output.weight", 1000);
  add("blk.0.attn_q.weight", 500);
  add("blk.0.ffn_gate_exps.weight", 8 * kE);
  add("blk.0.ffn_up_exps.weight", 8 * kE);
  add("blk.0.ffn_down_exps.weight", 8 * kE);
  add("blk.0.ffn_gate_exps.bias", 8 * 32 * 4);  // biases stay with the weights
  add("blk.1.attn_q.weight", 500);
  add("blk.1.ffn_gate_exps.weight", 8 * kE);
  add("blk.1.ffn_up_exps.weight", 8 * kE);
  add("blk.1.ffn_down_exps.weight", 16 * kE);
  return in;
}

uint64_t sum(const std::vector<uint64_t>& v) {
  uint64_t n = 0;
  for (uint64_t x : v) n += x;
  return n;
}

}  // namespace

TEST_CASE("packer: the chunks vk::Arena allocates") {
  Packer p(1 << 20);
  CHECK(p.alloc(1000).offset == 0);
  CHECK(p.alloc(10).offset == 1024);                    // 256-byte aligned
  CHECK(p.alloc((1 << 20) - 100).chunk == 1);           // does not fit: a new chunk
  CHECK(p.alloc(5ull << 20).chunk == 2);                // larger than the cap: a chunk of its own
  CHECK(p.chunks() == std::vector<uint64_t>{kChunkGranule, 1 << 20, 5ull << 20});
  CHECK(pack({100, 100}, 1 << 20) == std::vector<uint64_t>{kChunkGranule});
}

TEST_CASE("expert slot layout: gate, up, down 256-byte aligned") {
  ExpertSlot s = expert_slot(100, 300, 256);
  CHECK(s.gate_offset == 0);
  CHECK(s.up_offset == 256);
  CHECK(s.down_offset == 256 + 512);
  CHECK(s.bytes == 256 + 512 + 256);
}

TEST_CASE("KV cache and scratch formulas") {
  PlanInput in = toy();
  // ctx 100: every layer holds the whole context (as the engine allocates it); 16 f16 a token.
  CHECK(kv_cache_bytes(in, 100, 10) == 2 * 16 * 200);
  // B = 10: per token 4*16 + 16 + 2*8 + 2*2*32 + 2*32 + 8 = 296; scores 2*10*100; logits 100.
  CHECK(scratch_bytes(in, 100, 10) == 4 * (10 * 296 + 2 * 10 * 100 + 100));
  // B limited by the context.
  CHECK(scratch_bytes(in, 5, 512) == 4 * (5 * 296 + 2 * 5 * 5 + 100));
}

TEST_CASE("plan: resident, streaming, impossible and the minimum") {
  PlanInput in = toy();
  PlanOptions opt;
  opt.n_ctx = 100;
  opt.n_batch = 10;
  MemoryPlan r = plan_memory(in, opt);
  CHECK(r.mode == PlanMode::Resident);
  CHECK(r.non_expert_bytes == 3000 + 8 * 32 * 4);
  CHECK(r.expert_total_bytes == 56 * kE);
  REQUIRE(r.moe_layers.size() == 2);
  CHECK(r.moe_layers[0].expert_bytes == 3 * kE);
  CHECK(r.moe_layers[1].expert_bytes == 4 * kE);
  CHECK(r.moe_layers[1].slot.down_offset == 2 * kE);
  CHECK(r.moe_layers[1].types == "gate F16, up F16, down F16");
  CHECK(r.slot_bytes == 4 * kE);
  CHECK(r.total_experts == 16);
  // Every region is what its allocations pack into; fixed = weights + KV + scratch.
  for (const Region* g : {&r.weights, &r.kv, &r.scratch, &r.slots}) {
    CHECK(g->chunks == pack(g->allocs, opt.alloc_cap));
    CHECK(g->bytes == sum(g->chunks));
  }
  CHECK(r.weights.allocs.size() == 5 + 2);  // 5 tensors (a bias among them), 2 slot tables
  CHECK(r.weights.allocs.back() == 8 * 8);
  CHECK(r.kv.allocs == std::vector<uint64_t>{1600, 1600, 1600, 1600});
  CHECK(r.fixed_bytes == r.weights.bytes + r.kv.bytes + r.scratch.bytes);
  CHECK(r.slots.allocs == std::vector<uint64_t>{8 * 3 * kE, 8 * 4 * kE});  // a bank per layer
  CHECK(r.resident_bytes == r.fixed_bytes + 56 * kE);
  CHECK(r.min_slots == 4);
  CHECK(r.min_budget == r.fixed_bytes + 4 * 4 * kE);
  CHECK(r.used_bytes == r.resident_bytes);

  SUBCASE("exactly resident") {
    opt.budget = r.resident_bytes;
    MemoryPlan p = plan_memory(in, opt);
    CHECK(p.mode == PlanMode::Resident);
    CHECK(p.n_slots == 16);
  }
  SUBCASE("one byte short of resident streams with the most slots that fit") {
    opt.budget = r.resident_bytes - 1;
    MemoryPlan p = plan_memory(in, opt);
    CHECK(p.mode == PlanMode::Streaming);
    CHECK(p.n_slots == (56 * kE - 1) / (4 * kE));  // 13 uniform slots of the largest size
    CHECK(p.pool_bytes == p.n_slots * 4 * kE);
    CHECK(p.used_bytes <= opt.budget);
  }
  SUBCASE("a small allocation cap: slots in several banks, none over the cap") {
    opt.alloc_cap = 3 * 4 * kE;  // three slots per bank
    opt.budget = r.resident_bytes - 1;
    MemoryPlan p = plan_memory(in, opt);
    CHECK(p.slots_per_bank == 3);
    CHECK(p.slots.allocs.size() == (p.n_slots + 2) / 3);
    for (uint64_t c : p.slots.chunks) CHECK(c <= opt.alloc_cap);
    CHECK(p.used_bytes <= opt.budget);
  }
  SUBCASE("unified memory: streaming reads every expert in place, no slot pool") {
    opt.unified = true;
    opt.budget = r.min_budget;
    MemoryPlan p = plan_memory(in, opt);
    CHECK(p.mode == PlanMode::Streaming);
    CHECK(p.n_slots == 0);
    CHECK(p.pool_bytes == 0);
  }
  SUBCASE("exactly the minimum") {
    opt.budget = r.min_budget;
    MemoryPlan p = plan_memory(in, opt);
    CHECK(p.mode == PlanMode::Streaming);
    CHECK(p.n_slots == 4);
    CHECK(p.used_bytes == r.min_budget);
  }
  SUBCASE("one byte below the minimum is refused with the breakdown") {
    opt.budget = r.min_budget - 1;
    MemoryPlan p = plan_memory(in, opt);
    CHECK(p.mode == PlanMode::Impossible);
    CHECK(p.error.find(std::to_string(r.min_budget - 1)) != std::string::npos);
    CHECK(p.error.find(std::to_string(r.min_budget)) != std::string::npos);
    CHECK(p.error.find("non-expert weights") != std::string::npos);
    CHECK(p.error.find("KV cache") != std::string::npos);
    CHECK_THROWS_AS(require_plan(in, opt), Error);
  }
  SUBCASE("top-k so large that streaming saves nothing: minimum is resident") {
    in.n_expert_used = 8;  // 16 min slots >= 16 experts
    MemoryPlan p = plan_memory(in, opt);
    CHECK(p.min_budget == p.resident_bytes);
    opt.budget = p.resident_bytes - 1;
    CHECK(plan_memory(in, opt).mode == PlanMode::Impossible);
  }
  SUBCASE("the context length scales the KV cache") {
    opt.n_ctx = 1000;
    MemoryPlan p = plan_memory(in, opt);
    CHECK(p.kv_bytes == 2 * 16 * 2000);
  }
}

TEST_CASE("plan: a dense model (no experts) is resident-only") {
  PlanInput in = toy();
  std::erase_if(in.tensors, [](const TensorEntry& t) { return t.name.find("_exps") != std::string::npos; });
  MemoryPlan p = plan_memory(in, {100, 10, 0});
  CHECK(p.mode == PlanMode::Resident);
  CHECK(p.min_slots == 0);
  CHECK(p.min_budget == p.resident_bytes);
  CHECK(plan_memory(in, {100, 10, p.min_budget - 1}).mode == PlanMode::Impossible);
}

TEST_CASE("plan: sizes that overflow are errors, not wraparound") {
  PlanInput in = toy();
  in.tensors[0].n_bytes = UINT64_MAX - 10;
  CHECK_THROWS_AS(plan_memory(in, {100, 10, 0}), Error);
  in = toy();
  CHECK_THROWS_AS(plan_memory(in, {0, 10, 0}), Error);
  in = toy();
  in.tensors[3].n_bytes += 1;  // an expert tensor that does not split into 8 experts
  CHECK_THROWS_AS(plan_memory(in, {100, 10, 0}), Error);
}

TEST_CASE("plan: a Qwen3-30B-A3B shape in Q4_K streams in 6 GiB and is resident in 20 GiB") {
  // DESIGN.md's example shape; every matrix Q4_K (4.5 bits), norms and routers F32.
  ModelDesc d;
  d.arch = Arch::Qwen3Moe;
  d.n_layer = 48;
  d.n_embd = 2048;
  d.n_vocab = 151936;
  d.n_ctx_train = 40960;
  d.n_head = 32;
  d.n_head_kv = 4;
  d.n_embd_head_k = d.n_embd_head_v = d.n_rot = 128;
  d.n_expert = 128;
  d.n_expert_used = 8;
  d.n_ff = d.n_ff_exp = 768;
  d.qk_norm = QkNorm::PerHead;
  std::vector<TensorEntry> tensors;
  for (const TensorSpec& s : expected_tensors(d)) {
    const GgmlType t = s.must_be_f32() ? GgmlType::F32 : GgmlType::Q4_K;
    const uint64_t bytes = *row_bytes(t, s.ne[0]) * s.ne[1] * s.ne[2] * s.ne[3];
    tensors.push_back({s.name, t, bytes});
  }
  const PlanInput in = plan_input(d, tensors);
  PlanOptions opt;  // ctx 4096, batch 512
  const MemoryPlan r = plan_memory(in, opt);
  const uint64_t one_expert = 3ull * 2048 * 768 / 256 * 144;  // gate + up + down, Q4_K blocks
  CHECK(r.slot_bytes == one_expert);
  CHECK(r.expert_total_bytes == 48ull * 128 * one_expert);
  CHECK(r.kv_bytes == 48ull * 4096 * (512 + 512) * 2);
  CHECK(r.min_slots == 16);
  CHECK(r.min_budget == r.fixed_bytes + 16 * one_expert);  // 16 slots: a whole number of granules
  CHECK(r.used_bytes == r.fixed_bytes + r.slots.bytes);
  CHECK(r.min_budget < (2ull << 30));
  CHECK(r.resident_bytes > (16ull << 30));
  CHECK(r.resident_bytes < (20ull << 30));

  opt.budget = parse_size("6G");
  const MemoryPlan s = plan_memory(in, opt);
  CHECK(s.mode == PlanMode::Streaming);
  const uint64_t room = (6ull << 30) - s.fixed_bytes;
  CHECK(s.n_slots <= room / one_expert);
  CHECK(s.n_slots + 8 >= room / one_expert);  // banks round up to 64 KiB: a few slots less
  CHECK(s.slots_per_bank == (1ull << 30) / one_expert);
  CHECK(s.n_slots > 1500);  // about a third of the 6144 experts
  CHECK(s.used_bytes <= opt.budget);
  opt.budget = parse_size("20G");
  CHECK(plan_memory(in, opt).mode == PlanMode::Resident);
}
