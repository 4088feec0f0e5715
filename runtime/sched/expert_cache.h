// The expert cache (DESIGN.md decision 5/8): which experts of which MoE layer sit in the VRAM slot
// pool, and which one a policy evicts to admit another. Pure host logic: the Vulkan engine and the
// simulator (sched/simulate.h) drive the same object, so policies are tested without a GPU.
//
// Policies, behind one interface (`--cache-policy`):
//   lru  evict the slot used longest ago; admit every miss.
//   lfu  frequency with exponential decay (half-life kHalfLifeTokens tokens): evict the slot with the
//        lowest decayed count; admit a miss only when its decayed count (kept for every expert,
//        cached or not) exceeds the victim's, so one-off experts do not flush frequent ones.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace moevk::sched {

enum class CachePolicy { Lru, Lfu };
CachePolicy cache_policy_from_name(const std::string& name);  // "lru" | "lfu"; moevk::Error otherwise
const char* cache_policy_name(CachePolicy p);

constexpr double kHalfLifeTokens = 64.0;

struct ExpertKey {
  uint32_t layer = 0;  // index among the MoE layers
  uint32_t expert = 0;
  bool operator==(const ExpertKey&) const = default;
};

class ExpertCache {
 public:
  ExpertCache(uint32_t n_layers, uint32_t n_expert, uint64_t n_slots, CachePolicy policy);

  uint64_t n_slots() const { return slot_owner_.size(); }
  uint32_t n_layers() const { return n_layers_; }
  uint32_t n_expert() const { return n_expert_; }
  CachePolicy policy() const { return policy_; }
  // The slot that holds an expert, or nullopt.
  std::optional<uint64_t> slot_of(ExpertKey k) const;
  std::optional<ExpertKey> owner(uint64_t slot) const;

  // One token (or batch) used an expert: updates its recency / decayed frequency.
  void touch(ExpertKey k);
  // Time moves on by one token (the decay clock of lfu; lru's order is by touch).
  void tick() { ++tick_; }

  struct Admission {
    uint64_t slot = 0;
    std::optional<ExpertKey> evicted;
  };
  // Gives k a slot: a free one, else the policy's victim among slots for which busy(slot) is false.
  // nullopt when no slot is free of `busy` or the policy would rather keep the victim (lfu; not
  // when `force`: a prefetch is admitted because it is predicted to be used now).
  // The caller must not admit a key that already has a slot.
  std::optional<Admission> admit(ExpertKey k, const std::function<bool(uint64_t)>& busy = {},
                                 bool force = false);

 private:
  uint64_t key_index(ExpertKey k) const { return uint64_t(k.layer) * n_expert_ + k.expert; }
  double score(uint64_t key) const;  // what the policy keeps: higher stays
  void renormalise();

  uint32_t n_layers_, n_expert_;
  CachePolicy policy_;
  uint64_t tick_ = 0, touches_ = 0;
  std::vector<int64_t> key_slot_;          // [layer * n_expert + expert] -> slot or -1
  std::vector<int64_t> slot_owner_;        // [slot] -> key index or -1
  std::vector<double> freq_;               // lfu: decayed count, scaled by 2^(t / half-life)
  std::vector<uint64_t> last_;             // lru: the touch counter of the last touch
  double scale_ = 1.0;                     // lfu: 2^(tick / half-life) since the last renormalise
  std::set<std::pair<double, uint64_t>> order_;  // (score, slot) of occupied slots
  std::vector<uint64_t> free_;             // free slots (a stack)
};

}  // namespace moevk::sched
