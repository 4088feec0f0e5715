// The memory plan (DESIGN.md, decision 5): how a model fits a GPU memory budget.
//
// Device memory holds four regions, each a list of allocations packed into chunks by
// sched::Packer (the same packing vk::Arena does, so planned bytes are allocated bytes):
//   weights   every tensor that is not a routed expert matrix, in file order (embeddings, output
//             head, norms, attention, routers, shared experts, dense FFN layers, expert biases,
//             sinks), then the slot tables (one per MoE layer, [n_expert] uint64 addresses; MLA: two
//             per layer, [n_head]);
//   KV cache  f16 K and V per layer and token (see KvLayer), the whole context on every layer;
//   scratch   activations of one batch (sched/scratch_layout.h; the formula of scratch_bytes()
//             only for hand-built inputs without a ModelDesc);
//   slots     the expert slots, in banks of at most alloc_cap bytes (1 GiB, or less where the
//             device's maxMemoryAllocationSize is less).
//
// Experts: one expert of one layer is its share of its layer's "*_exps.weight" tensors (n_bytes /
// n_expert; GGUF stores each expert as one contiguous slab). A slot holds gate, up and down of one
// expert, each 256-byte aligned (ExpertSlot). Sizes depend on the layer (quantisers mix types), so:
//   resident   every expert has a slot of its own layer's size;
//   streaming  one pool of equal slots, slot_bytes = the largest slot of any MoE layer; n_slots =
//              what fits in budget - fixed, capped below the total number of experts. Every expert
//              also lives in host memory the GPU can read (the host tier, not counted here).
//
// Minimum budget (the rule):
//   min = non-expert + KV + scratch + min_slots * slot_bytes, min_slots = 2 * n_expert_used
//   (the experts of the layer being computed plus one layer of prefetch headroom), unless resident
//   costs less than that (tiny models), in which case min = the resident total.
//
// A budget of 0 (none given) plans resident and reports what resident needs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "loader/model/model.h"
#include "loader/quants/quants.h"

namespace moevk::sched {

// KV cache of one layer, in elements per token (stored f16).
// f16 elements per token, each row padded to an even length as the cache lays it out.
struct KvLayer {
  uint64_t k_per_token = 0;  // n_head_kv * head_dim_k; MLA: kv_lora_rank + n_rot (latent + rope key)
  uint64_t v_per_token = 0;  // n_head_kv * head_dim_v; MLA: 0 (V is read from the latent part of K)
  uint32_t window = 0;       // sliding window in tokens (informational: the cache holds n_ctx)
};

struct TensorEntry {
  std::string name;
  GgmlType type = GgmlType::F32;
  uint64_t n_bytes = 0;
  int layer = -1;       // blk.N -> N; -1 for global tensors (embeddings, output)
  bool expert = false;  // a routed-expert tensor ("*_exps.*")
};

// Everything the plan needs to know about a model: pure data, so tests build it by hand.
struct PlanInput {
  std::string arch;
  uint32_t n_layer = 0;
  uint32_t n_expert = 0;       // routed experts per MoE layer
  uint32_t n_expert_used = 0;  // top-k
  uint64_t n_embd = 0;
  uint64_t n_vocab = 0;
  uint64_t n_head = 0;
  uint64_t q_dim = 0;        // width of the query projection (n_head * head_dim_k)
  uint64_t n_ff_max = 0;     // widest FFN intermediate (dense, shared or expert)
  uint64_t n_ff_expert = 0;  // expert intermediate width
  std::vector<KvLayer> kv;   // one per layer
  std::vector<TensorEntry> tensors;
  std::optional<ModelDesc> desc;  // when known: the scratch layout of sched/scratch_layout.h
  uint32_t mla_tables = 0;        // MLA: per-head slot tables (2 per layer) of n_head entries
};

// Plan input of a model description and its tensors (each classified with classify_tensor()).
// KV per layer: MLA caches kv_lora_rank + n_rot per token (no V); others n_head_kv * head_dim for
// K and V, with the sliding window on SWA layers.
PlanInput plan_input(const ModelDesc& desc, std::vector<TensorEntry> tensors);
// The same for an opened GGUF file: describe() (throws moevk::Error on an unknown architecture, a
// missing key or tensor) and every tensor of the file.
PlanInput plan_input_from_file(const gguf::File& file);

// Classifies a tensor name: "blk.7.ffn_up_exps.weight" -> layer 7, expert true.
void classify_tensor(TensorEntry& t);

struct PlanOptions {
  uint64_t n_ctx = 4096;   // context length the KV cache is sized for
  uint64_t n_batch = 512;  // tokens per prefill batch (scratch and sliding-window headroom)
  uint64_t budget = 0;     // GPU bytes available to moevk; 0 = no budget: plan resident
  uint64_t alloc_cap = 1ull << 30;  // largest single allocation (slot banks and chunks)
  bool unified = false;    // unified memory: streaming reads every expert in place, no slot pool
};

enum class PlanMode { Resident, Streaming, Impossible };
const char* plan_mode_name(PlanMode m);

// One expert's matrices inside its slot: gate at 0, up and down after it, 256-byte aligned.
struct ExpertSlot {
  uint64_t gate_offset = 0, up_offset = 0, down_offset = 0;
  uint64_t gate_bytes = 0, up_bytes = 0, down_bytes = 0;
  uint64_t bytes = 0;  // the slot this layer needs (aligned)
};

struct MoeLayerSize {
  uint32_t layer = 0;
  uint64_t expert_bytes = 0;  // one expert of this layer (gate + up + down), unaligned
  ExpertSlot slot;
  std::string types;          // "gate Q4_K, up Q4_K, down Q6_K"
};

// One region of device memory: its allocations in order and the chunks they pack into.
struct Region {
  std::vector<uint64_t> allocs;
  std::vector<uint64_t> chunks;
  uint64_t bytes = 0;  // sum of chunks: what the device allocates
};

struct MemoryPlan {
  PlanMode mode = PlanMode::Impossible;
  PlanOptions options;

  uint64_t non_expert_bytes = 0;
  uint64_t expert_total_bytes = 0;  // all routed experts, resident layout
  std::vector<MoeLayerSize> moe_layers;
  uint64_t slot_bytes = 0;     // largest one-expert size (streaming slot)
  uint64_t total_experts = 0;  // n_moe_layers * n_expert
  uint64_t kv_bytes = 0;
  uint64_t scratch_bytes = 0;
  uint64_t fixed_bytes = 0;  // non-expert + KV + scratch

  uint64_t resident_bytes = 0;  // fixed + expert_total
  uint32_t min_slots = 0;       // 2 * n_expert_used (0 for a model without MoE layers)
  uint64_t min_budget = 0;      // see the rule above

  uint64_t n_slots = 0;     // streaming: slots in the pool; resident: total_experts
  uint64_t pool_bytes = 0;  // device bytes of experts in the chosen mode
  uint64_t used_bytes = 0;  // fixed + pool: every byte the engine allocates on the device

  Region weights, kv, scratch, slots;  // the layout the engine allocates (fixed = the first three)
  uint64_t slots_per_bank = 0;         // streaming: slots in one bank

  std::string error;  // Impossible: names the budget, the minimum and the breakdown

  // Multi-line human-readable breakdown (used by `moevk info` and the error message).
  std::string describe() const;
};

uint64_t kv_cache_bytes(const PlanInput& in, uint64_t n_ctx, uint64_t n_batch);
// Activation scratch for one batch of B = min(n_batch, n_ctx) tokens, f32 (4 bytes) each:
//   B * (4 n_embd + q_dim + 2 kv_max + 2 n_expert_used n_ff_expert + 2 n_ff_max + n_expert)
//   + n_head * min(B, 32) * n_ctx   (attention scores, computed 32 query rows at a time)
//   + n_vocab                        (logits of the last token)
// where kv_max is the widest K or V row of any layer.
uint64_t scratch_bytes(const PlanInput& in, uint64_t n_ctx, uint64_t n_batch);

// The slot layout of one MoE layer from its per-expert gate, up and down bytes.
ExpertSlot expert_slot(uint64_t gate_bytes, uint64_t up_bytes, uint64_t down_bytes);

// Computes the plan. Never throws for a too-small budget: mode Impossible with `error` set.
MemoryPlan plan_memory(const PlanInput& in, const PlanOptions& opt);

// plan_memory, then throws moevk::Error(plan.error) when Impossible.
MemoryPlan require_plan(const PlanInput& in, const PlanOptions& opt);

}  // namespace moevk::sched
