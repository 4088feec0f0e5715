#include "runtime/sched/memory_plan.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <string_view>

#include "loader/error.h"
#include "loader/gguf/gguf.h"
#include "runtime/sched/packer.h"
#include "runtime/sched/scratch_layout.h"
#include "runtime/sched/size.h"

namespace moevk::sched {

namespace {

// a * b, failing on overflow (sizes come from untrusted files).
uint64_t mul(uint64_t a, uint64_t b, const char* what) {
  if (a != 0 && b > UINT64_MAX / a) fail("memory plan: {} overflows 64 bits", what);
  return a * b;
}
uint64_t add(uint64_t a, uint64_t b, const char* what) {
  if (b > UINT64_MAX - a) fail("memory plan: {} overflows 64 bits", what);
  return a + b;
}

std::string both(uint64_t bytes) { return fmt::format("{} ({} bytes)", format_size(bytes), bytes); }

// "ffn_gate_exps" from "blk.3.ffn_gate_exps.weight".
std::string_view role_of(std::string_view name) {
  if (name.starts_with("blk.")) {
    name.remove_prefix(4);
    const size_t dot = name.find('.');
    if (dot == std::string_view::npos) return name;
    name.remove_prefix(dot + 1);
  }
  const size_t dot = name.find('.');
  return dot == std::string_view::npos ? name : name.substr(0, dot);
}

}  // namespace

const char* plan_mode_name(PlanMode m) {
  switch (m) {
    case PlanMode::Resident:
      return "resident";
    case PlanMode::Streaming:
      return "streaming";
    case PlanMode::Impossible:
      return "impossible";
  }
  return "?";
}

void classify_tensor(TensorEntry& t) {
  std::string_view n = t.name;
  t.layer = -1;
  if (n.starts_with("blk.")) {
    std::string_view rest = n.substr(4);
    const size_t dot = rest.find('.');
    int layer = -1;
    if (dot != std::string_view::npos && dot > 0) {
      auto [p, ec] = std::from_chars(rest.data(), rest.data() + dot, layer);
      if (ec != std::errc() || p != rest.data() + dot) layer = -1;
    }
    t.layer = layer;
  }
  // Expert biases are small ([n_expert][n_rows] f32): they stay resident with the weights.
  t.expert = role_of(n).ends_with("_exps") && !n.ends_with(".bias");
}

ExpertSlot expert_slot(uint64_t gate_bytes, uint64_t up_bytes, uint64_t down_bytes) {
  ExpertSlot s;
  s.gate_bytes = gate_bytes;
  s.up_bytes = up_bytes;
  s.down_bytes = down_bytes;
  s.gate_offset = 0;
  s.up_offset = align_up(gate_bytes, kAllocAlign);
  s.down_offset = s.up_offset + align_up(up_bytes, kAllocAlign);
  s.bytes = s.down_offset + align_up(down_bytes, kAllocAlign);
  return s;
}

uint64_t kv_cache_bytes(const PlanInput& in, uint64_t n_ctx, uint64_t n_batch) {
  uint64_t total = 0;
  (void)n_batch;  // the cache holds the whole context on every layer, windowed or not
  for (const KvLayer& l : in.kv) {
    const uint64_t per_token = add(l.k_per_token, l.v_per_token, "KV row");
    total = add(total, mul(mul(per_token, n_ctx, "KV cache"), 2, "KV cache"), "KV cache");
  }
  return total;
}

uint64_t scratch_bytes(const PlanInput& in, uint64_t n_ctx, uint64_t n_batch) {
  const uint64_t b = std::max<uint64_t>(1, std::min(n_batch, n_ctx));
  uint64_t kv_max = 0;
  for (const KvLayer& l : in.kv) kv_max = std::max({kv_max, l.k_per_token, l.v_per_token});
  uint64_t per_token = 4 * in.n_embd;
  per_token = add(per_token, in.q_dim, "scratch");
  per_token = add(per_token, 2 * kv_max, "scratch");
  per_token = add(per_token, mul(2ull * in.n_expert_used, in.n_ff_expert, "scratch"), "scratch");
  per_token = add(per_token, 2 * in.n_ff_max, "scratch");
  per_token = add(per_token, in.n_expert, "scratch");
  uint64_t floats = mul(b, per_token, "scratch");
  floats = add(floats, mul(mul(in.n_head, std::min<uint64_t>(b, 32), "scratch"), n_ctx, "scratch"),
               "scratch");
  floats = add(floats, in.n_vocab, "scratch");
  return mul(floats, 4, "scratch");
}

PlanInput plan_input(const ModelDesc& d, std::vector<TensorEntry> tensors) {
  PlanInput in;
  in.arch = std::string(arch_name(d.arch));
  in.n_layer = d.n_layer;
  in.n_expert = d.n_expert;
  in.n_expert_used = d.n_expert_used;
  in.n_embd = d.n_embd;
  in.n_vocab = d.n_vocab;
  in.n_head = d.n_head;
  in.q_dim = d.is_mla() ? uint64_t{d.n_head} * d.n_embd_head_k_mla : d.q_dim();
  in.n_ff_max = std::max({d.n_ff, d.n_ff_exp, d.n_ff_shexp});
  in.n_ff_expert = d.n_ff_exp;
  for (uint32_t il = 0; il < d.n_layer; ++il) {
    KvLayer l;
    auto even = [](uint64_t n) { return n + (n & 1); };  // cache rows are padded to even
    if (d.is_mla()) {
      l.k_per_token = even(uint64_t{d.kv_lora_rank} + d.n_rot);
    } else {
      l.k_per_token = uint64_t{d.n_head_kv} * even(d.n_embd_head_k);
      l.v_per_token = uint64_t{d.n_head_kv} * even(d.n_embd_head_v);
    }
    if (d.is_swa_layer(il)) l.window = d.sliding_window;
    in.kv.push_back(l);
  }
  for (TensorEntry& t : tensors) classify_tensor(t);
  in.tensors = std::move(tensors);
  in.desc = d;
  in.mla_tables = d.is_mla() ? d.n_layer : 0;
  return in;
}

PlanInput plan_input_from_file(const gguf::File& file) {
  const ModelDesc d = describe(file);
  std::vector<TensorEntry> tensors;
  tensors.reserve(file.tensors().size());
  for (const gguf::TensorInfo& t : file.tensors()) tensors.push_back({t.name, t.type, t.n_bytes});
  return plan_input(d, std::move(tensors));
}

namespace {

// The slot banks of n slots of `slot` bytes: as many whole slots per bank as the cap allows.
std::vector<uint64_t> slot_banks(uint64_t n, uint64_t slot, uint64_t cap, uint64_t* per_bank) {
  std::vector<uint64_t> banks;
  const uint64_t k = std::max<uint64_t>(1, cap / std::max<uint64_t>(slot, 1));
  if (per_bank) *per_bank = k;
  for (uint64_t done = 0; done < n; done += k) banks.push_back(std::min(k, n - done) * slot);
  return banks;
}

Region region(std::vector<uint64_t> allocs, uint64_t cap) {
  Region r;
  r.allocs = std::move(allocs);
  r.chunks = pack(r.allocs, cap);
  for (uint64_t c : r.chunks) r.bytes = add(r.bytes, c, "region");
  return r;
}

}  // namespace

MemoryPlan plan_memory(const PlanInput& in, const PlanOptions& opt) {
  if (opt.n_ctx == 0) fail("memory plan: context length must be at least 1");
  MemoryPlan p;
  p.options = opt;
  const uint64_t cap = std::max<uint64_t>(opt.alloc_cap, kChunkGranule);

  // Per-layer expert matrices (gate, up, down) and the non-expert allocations in file order.
  struct LayerAcc {
    uint64_t bytes = 0, role[3] = {0, 0, 0};
    std::vector<std::pair<int, std::string>> types;  // (gate 0, up 1, down 2, other 3; "up Q4_K")
  };
  std::map<int, LayerAcc> layers;
  std::vector<uint64_t> weight_allocs;
  for (const TensorEntry& t : in.tensors) {
    if (!t.expert) {
      p.non_expert_bytes = add(p.non_expert_bytes, t.n_bytes, "non-expert bytes");
      weight_allocs.push_back(t.n_bytes);
      continue;
    }
    p.expert_total_bytes = add(p.expert_total_bytes, t.n_bytes, "expert bytes");
    if (in.n_expert == 0)
      fail("memory plan: tensor '{}' is a routed expert but the model has no experts", t.name);
    if (t.n_bytes % in.n_expert != 0)
      fail("memory plan: tensor '{}' ({} bytes) does not split into {} experts", t.name, t.n_bytes,
           in.n_expert);
    LayerAcc& acc = layers[t.layer];
    const uint64_t one = t.n_bytes / in.n_expert;
    acc.bytes = add(acc.bytes, one, "expert bytes");
    std::string_view role = role_of(t.name);
    if (role.starts_with("ffn_")) role.remove_prefix(4);
    if (role.ends_with("_exps")) role.remove_suffix(5);
    const int rank = role == "gate" ? 0 : role == "up" ? 1 : role == "down" ? 2 : 3;
    if (rank == 3) fail("memory plan: tensor '{}' is not an expert's gate, up or down", t.name);
    if (acc.role[rank] != 0) fail("memory plan: layer {} has two expert {} tensors", t.layer, role);
    acc.role[rank] = one;
    acc.types.push_back({rank, fmt::format("{} {}", role, traits(t.type).name)});
  }
  uint64_t resident_slot_bytes_total = 0;
  std::vector<uint64_t> resident_banks;
  for (auto& [layer, acc] : layers) {
    std::sort(acc.types.begin(), acc.types.end());
    std::string types;
    for (const auto& [rank, s] : acc.types) types += (types.empty() ? "" : ", ") + s;
    MoeLayerSize l{static_cast<uint32_t>(std::max(layer, 0)), acc.bytes,
                   expert_slot(acc.role[0], acc.role[1], acc.role[2]), types};
    p.slot_bytes = std::max(p.slot_bytes, l.slot.bytes);
    for (uint64_t b : slot_banks(in.n_expert, l.slot.bytes, cap, nullptr)) resident_banks.push_back(b);
    resident_slot_bytes_total = add(resident_slot_bytes_total, mul(in.n_expert, l.slot.bytes, "slots"), "slots");
    p.moe_layers.push_back(std::move(l));
  }
  // Slot tables after the weights: one per MoE layer, then MLA's two per layer.
  for (size_t i = 0; i < layers.size(); ++i) weight_allocs.push_back(uint64_t(in.n_expert) * 8);
  for (uint32_t i = 0; i < 2 * in.mla_tables; ++i) weight_allocs.push_back(in.n_head * 8);
  p.weights = region(std::move(weight_allocs), cap);

  p.total_experts = mul(layers.size(), in.n_expert, "expert count");
  p.kv_bytes = kv_cache_bytes(in, opt.n_ctx, opt.n_batch);
  std::vector<uint64_t> kv_allocs;
  for (const KvLayer& l : in.kv) {
    kv_allocs.push_back(mul(mul(l.k_per_token, opt.n_ctx, "KV cache"), 2, "KV cache"));
    if (l.v_per_token) kv_allocs.push_back(mul(mul(l.v_per_token, opt.n_ctx, "KV cache"), 2, "KV cache"));
  }
  p.kv = region(std::move(kv_allocs), cap);
  const uint64_t batch = std::max<uint64_t>(1, std::min(opt.n_batch, opt.n_ctx));
  if (in.desc) {
    std::vector<uint64_t> scratch_allocs;
    lay_out_scratch<uint64_t>(*in.desc, uint32_t(batch), uint32_t(std::min<uint64_t>(batch, 64)),
                              [&](uint64_t n) {
                                scratch_allocs.push_back(n);
                                return n;
                              });
    p.scratch = region(std::move(scratch_allocs), cap);
  } else {
    p.scratch = region({scratch_bytes(in, opt.n_ctx, opt.n_batch)}, cap);
  }
  p.scratch_bytes = p.scratch.bytes;
  p.fixed_bytes = add(add(p.weights.bytes, p.kv.bytes, "plan"), p.scratch.bytes, "plan");
  const Region resident_slots = region(resident_banks, cap);
  p.resident_bytes = add(p.fixed_bytes, resident_slots.bytes, "plan");
  (void)resident_slot_bytes_total;

  // Streaming with n slots: the banks and what they cost.
  auto streaming_slots = [&](uint64_t n) {
    return region(opt.unified ? std::vector<uint64_t>{} : slot_banks(n, p.slot_bytes, cap, &p.slots_per_bank), cap);
  };
  p.min_slots = layers.empty() ? 0 : 2 * in.n_expert_used;
  const uint64_t streaming_min = add(p.fixed_bytes, streaming_slots(p.min_slots).bytes, "plan");
  const bool streaming_possible = p.min_slots > 0 && p.min_slots < p.total_experts;
  p.min_budget = streaming_possible ? std::min(streaming_min, p.resident_bytes) : p.resident_bytes;

  if (opt.budget == 0 || opt.budget >= p.resident_bytes) {
    p.mode = PlanMode::Resident;
    p.n_slots = p.total_experts;
    p.slots = resident_slots;
  } else if (streaming_possible && opt.budget >= streaming_min) {
    p.mode = PlanMode::Streaming;
    // The most slots whose banks fit (below resident, so fewer slots than experts).
    const uint64_t room = opt.budget - p.fixed_bytes;
    uint64_t lo = p.min_slots, hi = std::min<uint64_t>(room / p.slot_bytes, p.total_experts - 1);
    if (opt.unified) lo = hi = p.total_experts - 1;
    while (lo < hi) {  // the largest n in [lo, hi] whose banks fit (lo always fits)
      const uint64_t mid = lo + (hi - lo + 1) / 2;
      if (streaming_slots(mid).bytes <= room) lo = mid;
      else hi = mid - 1;
    }
    p.n_slots = lo;
    p.slots = streaming_slots(p.n_slots);
    if (opt.unified) p.n_slots = 0;
  } else {
    p.mode = PlanMode::Impossible;  // before describe(), which prints the mode
    p.error = fmt::format(
        "GPU memory budget {} is below the minimum {} this model needs at context {}:\n{}",
        both(opt.budget), both(p.min_budget), opt.n_ctx, p.describe());
    return p;
  }
  p.pool_bytes = p.slots.bytes;
  p.used_bytes = p.fixed_bytes + p.pool_bytes;
  return p;
}

MemoryPlan require_plan(const PlanInput& in, const PlanOptions& opt) {
  MemoryPlan p = plan_memory(in, opt);
  if (p.mode == PlanMode::Impossible) throw Error(p.error);
  return p;
}

std::string MemoryPlan::describe() const {
  std::string s;
  auto line = [&s](std::string_view what, uint64_t bytes) {
    s += fmt::format("  {:<34} {:>12} {:>16}\n", what, format_size(bytes), bytes);
  };
  line("non-expert weights", non_expert_bytes);
  line(fmt::format("KV cache (f16, ctx {})", options.n_ctx), kv_bytes);
  line(fmt::format("scratch (batch {})", std::min(options.n_batch, options.n_ctx)), scratch_bytes);
  line(fmt::format("routed experts, all {}", total_experts), expert_total_bytes);
  line("expert slot (largest one expert)", slot_bytes);
  line("resident total", resident_bytes);
  line(fmt::format("minimum ({} slots)", min_slots), min_budget);
  line("allocated: weights + slot tables", weights.bytes);
  line("allocated: KV cache", kv.bytes);
  line("allocated: scratch", scratch.bytes);
  line(fmt::format("allocated: expert slots ({} banks)", slots.chunks.size()), slots.bytes);
  switch (mode) {
    case PlanMode::Resident:
      s += fmt::format("  plan: resident, every expert on the GPU ({} experts), uses {}\n",
                       total_experts, both(used_bytes));
      break;
    case PlanMode::Streaming:
      s += fmt::format(
          "  plan: streaming, {} of {} experts in {}-byte slots ({}), uses {} of budget {}\n",
          n_slots, total_experts, slot_bytes, format_size(pool_bytes), both(used_bytes),
          both(options.budget));
      break;
    case PlanMode::Impossible:
      s += fmt::format("  plan: impossible, budget {} < minimum {}\n", both(options.budget),
                       both(min_budget));
      break;
  }
  return s;
}

}  // namespace moevk::sched
