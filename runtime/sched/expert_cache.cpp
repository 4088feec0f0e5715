#include "runtime/sched/expert_cache.h"

#include <cmath>

#include "loader/error.h"

namespace moevk::sched {

CachePolicy cache_policy_from_name(const std::string& name) {
  if (name == "lru") return CachePolicy::Lru;
  if (name == "lfu") return CachePolicy::Lfu;
  fail("unknown cache policy '{}' (known: lru, lfu)", name);
}

const char* cache_policy_name(CachePolicy p) { return p == CachePolicy::Lru ? "lru" : "lfu"; }

ExpertCache::ExpertCache(uint32_t n_layers, uint32_t n_expert, uint64_t n_slots, CachePolicy policy)
    : n_layers_(n_layers), n_expert_(n_expert), policy_(policy) {
  const uint64_t n_keys = uint64_t(n_layers) * n_expert;
  key_slot_.assign(n_keys, -1);
  freq_.assign(n_keys, 0.0);
  last_.assign(n_keys, 0);
  slot_owner_.assign(n_slots, -1);
  free_.reserve(n_slots);
  for (uint64_t s = n_slots; s-- > 0;) free_.push_back(s);  // slot 0 is handed out first
}

std::optional<uint64_t> ExpertCache::slot_of(ExpertKey k) const {
  const int64_t s = key_slot_[key_index(k)];
  if (s < 0) return std::nullopt;
  return uint64_t(s);
}

std::optional<ExpertKey> ExpertCache::owner(uint64_t slot) const {
  const int64_t key = slot_owner_[slot];
  if (key < 0) return std::nullopt;
  return ExpertKey{uint32_t(key / n_expert_), uint32_t(key % n_expert_)};
}

double ExpertCache::score(uint64_t key) const {
  return policy_ == CachePolicy::Lru ? double(last_[key]) : freq_[key];
}

void ExpertCache::renormalise() {
  // Scores are counts scaled by 2^(t / half-life); divide everything by the current scale.
  for (double& f : freq_) f /= scale_;
  scale_ = 1.0;
  order_.clear();
  for (uint64_t s = 0; s < slot_owner_.size(); ++s)
    if (slot_owner_[s] >= 0) order_.insert({score(uint64_t(slot_owner_[s])), s});
}

void ExpertCache::touch(ExpertKey k) {
  const uint64_t key = key_index(k);
  const int64_t slot = key_slot_[key];
  if (slot >= 0) order_.erase({score(key), uint64_t(slot)});
  ++touches_;
  last_[key] = touches_;
  if (policy_ == CachePolicy::Lfu) {
    // Adding 2^(t / h) now is adding 1 to a count that decays by half every h ticks.
    const double w = std::exp2(double(tick_) / kHalfLifeTokens);
    freq_[key] += w;
    scale_ = std::max(scale_, w);
  }
  if (slot >= 0) order_.insert({score(key), uint64_t(slot)});
  if (scale_ > 1e200) {  // keep the scaled counts finite: divide by 2^(tick / h), restart the clock
    renormalise();
    tick_ = 0;
  }
}

std::optional<ExpertCache::Admission> ExpertCache::admit(ExpertKey k,
                                                        const std::function<bool(uint64_t)>& busy,
                                                        bool force) {
  const uint64_t key = key_index(k);
  MOEVK_ASSERT(key_slot_[key] < 0, "admit: the expert already has a slot");
  Admission a;
  if (!free_.empty()) {
    a.slot = free_.back();
    free_.pop_back();
  } else {
    bool found = false;
    for (const auto& [sc, slot] : order_) {
      if (busy && busy(slot)) continue;
      if (policy_ == CachePolicy::Lfu && !force && sc >= score(key)) return std::nullopt;
      a.slot = slot;
      found = true;
      break;
    }
    if (!found) return std::nullopt;
    const uint64_t old = uint64_t(slot_owner_[a.slot]);
    order_.erase({score(old), a.slot});
    key_slot_[old] = -1;
    a.evicted = ExpertKey{uint32_t(old / n_expert_), uint32_t(old % n_expert_)};
  }
  slot_owner_[a.slot] = int64_t(key);
  key_slot_[key] = int64_t(a.slot);
  order_.insert({score(key), a.slot});
  return a;
}

}  // namespace moevk::sched
