#include "runtime/sched/memory_plan.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <string_view>

#include "loader/error.h"
#include "loader/gguf.h"
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
  t.expert = role_of(n).ends_with("_exps");
}

uint64_t kv_cache_bytes(const PlanInput& in, uint64_t n_ctx, uint64_t n_batch) {
  uint64_t total = 0;
  for (const KvLayer& l : in.kv) {
    uint64_t tokens = n_ctx;
    if (l.window != 0) tokens = std::min<uint64_t>(n_ctx, add(l.window, n_batch, "KV window"));
    const uint64_t per_token = add(l.k_per_token, l.v_per_token, "KV row");
    total = add(total, mul(mul(per_token, tokens, "KV cache"), 2, "KV cache"), "KV cache");
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
    if (d.is_mla()) {
      l.k_per_token = uint64_t{d.kv_lora_rank} + d.n_rot;
    } else {
      l.k_per_token = uint64_t{d.n_head_kv} * d.n_embd_head_k;
      l.v_per_token = uint64_t{d.n_head_kv} * d.n_embd_head_v;
    }
    if (d.is_swa_layer(il)) l.window = d.sliding_window;
    in.kv.push_back(l);
  }
  for (TensorEntry& t : tensors) classify_tensor(t);
  in.tensors = std::move(tensors);
  return in;
}

PlanInput plan_input_from_file(const gguf::File& file) {
  const ModelDesc d = describe(file);
  std::vector<TensorEntry> tensors;
  tensors.reserve(file.tensors().size());
  for (const gguf::TensorInfo& t : file.tensors()) tensors.push_back({t.name, t.type, t.n_bytes});
  return plan_input(d, std::move(tensors));
}

MemoryPlan plan_memory(const PlanInput& in, const PlanOptions& opt) {
  if (opt.n_ctx == 0) fail("memory plan: context length must be at least 1");
  MemoryPlan p;
  p.options = opt;

  // Per-layer expert bytes and types.
  struct LayerAcc {
    uint64_t bytes = 0;
    std::vector<std::pair<int, std::string>> types;  // (gate 0, up 1, down 2, other 3; "up Q4_K")
  };
  std::map<int, LayerAcc> layers;
  for (const TensorEntry& t : in.tensors) {
    if (!t.expert) {
      p.non_expert_bytes = add(p.non_expert_bytes, t.n_bytes, "non-expert bytes");
      continue;
    }
    p.expert_total_bytes = add(p.expert_total_bytes, t.n_bytes, "expert bytes");
    if (in.n_expert == 0)
      fail("memory plan: tensor '{}' is a routed expert but the model has no experts", t.name);
    LayerAcc& acc = layers[t.layer];
    // Ceil so that a slot always holds one expert even if a tensor's size is not a multiple.
    acc.bytes = add(acc.bytes, (t.n_bytes + in.n_expert - 1) / in.n_expert, "expert bytes");
    std::string_view role = role_of(t.name);
    if (role.starts_with("ffn_")) role.remove_prefix(4);
    if (role.ends_with("_exps")) role.remove_suffix(5);
    if (!std::string_view(t.name).ends_with(".bias")) {
      const int rank = role == "gate" ? 0 : role == "up" ? 1 : role == "down" ? 2 : 3;
      acc.types.push_back({rank, fmt::format("{} {}", role, traits(t.type).name)});
    }
  }
  for (auto& [layer, acc] : layers) {
    std::sort(acc.types.begin(), acc.types.end());
    std::string types;
    for (const auto& [rank, s] : acc.types) types += (types.empty() ? "" : ", ") + s;
    p.moe_layers.push_back({static_cast<uint32_t>(std::max(layer, 0)), acc.bytes, types});
    p.slot_bytes = std::max(p.slot_bytes, acc.bytes);
  }
  p.total_experts = mul(layers.size(), in.n_expert, "expert count");
  p.kv_bytes = kv_cache_bytes(in, opt.n_ctx, opt.n_batch);
  p.scratch_bytes = scratch_bytes(in, opt.n_ctx, opt.n_batch);
  p.fixed_bytes = add(add(p.non_expert_bytes, p.kv_bytes, "plan"), p.scratch_bytes, "plan");
  p.resident_bytes = add(p.fixed_bytes, p.expert_total_bytes, "plan");

  p.min_slots = layers.empty() ? 0 : 2 * in.n_expert_used;
  const uint64_t streaming_min =
      add(p.fixed_bytes, mul(p.min_slots, p.slot_bytes, "slot pool"), "plan");
  const bool streaming_possible = p.min_slots > 0 && p.min_slots < p.total_experts;
  p.min_budget = streaming_possible ? std::min(streaming_min, p.resident_bytes) : p.resident_bytes;

  if (opt.budget == 0 || opt.budget >= p.resident_bytes) {
    p.mode = PlanMode::Resident;
    p.n_slots = p.total_experts;
    p.pool_bytes = p.expert_total_bytes;
  } else if (streaming_possible && opt.budget >= streaming_min) {
    p.mode = PlanMode::Streaming;
    // Below resident, so strictly fewer slots than experts fit.
    p.n_slots =
        std::min<uint64_t>((opt.budget - p.fixed_bytes) / p.slot_bytes, p.total_experts - 1);
    p.pool_bytes = p.n_slots * p.slot_bytes;
  } else {
    p.mode = PlanMode::Impossible;  // before describe(), which prints the mode
    p.error = fmt::format(
        "GPU memory budget {} is below the minimum {} this model needs at context {}:\n{}",
        both(opt.budget), both(p.min_budget), opt.n_ctx, p.describe());
    return p;
  }
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
