// Expert slots and streaming (DESIGN.md decisions 5, 7, 8; docs/DECISIONS.md 12).
//
// Every MoE layer has a slot table [n_expert] of 64-bit addresses that the expert kernels read on
// the GPU. Resident: each expert has a VRAM slot of its own. Streaming: every expert lives in the
// host tier (host-visible memory the GPU reads over the bus) and n_slots VRAM slots hold the
// cached ones; a table entry points to the VRAM slot of a cached expert and to the host tier
// otherwise, so a miss is read in place by the kernel itself: a decode pass never waits for the
// host, and a layer whose experts all hit reads only VRAM. After each pass the host reads back
// the routing, counts hits and misses, and the cache policy admits missed experts: their copies
// run on the transfer queue (the compute queue where there is none) while the GPU goes on, and
// their table entries switch to the slot in the first pass recorded after the copy finished
// (that pass waits on the copy's timeline point, which costs nothing then, for visibility).
// An evicted expert's entry switches back to the host tier before its slot is overwritten.
#include <algorithm>
#include <cstring>

#include "loader/error.h"
#include "runtime/model/progress.h"
#include "runtime/model/vk_model.h"
#include "runtime/model/vk_scratch.h"
#include "runtime/sched/size.h"

namespace moevk {

namespace {

// Writes one expert's slot image (gate, up, down at the slot's offsets) into dst.
void write_slot_image(uint8_t* dst, const sched::ExpertSlot& s, const uint8_t* gate,
                      const uint8_t* up, const uint8_t* down) {
  std::memset(dst, 0, s.bytes);
  std::memcpy(dst + s.gate_offset, gate, s.gate_bytes);
  std::memcpy(dst + s.up_offset, up, s.up_bytes);
  std::memcpy(dst + s.down_offset, down, s.down_bytes);
}

}  // namespace

void VkEngine::set_up_experts(bool progress) {
  moe_of_layer_.assign(d_.n_layer, -1);
  size_t mi = 0;
  for (uint32_t il = 0; il < d_.n_layer; ++il) {
    if (!d_.is_moe_layer(il)) continue;
    MOEVK_ASSERT(mi < plan_.moe_layers.size() && plan_.moe_layers[mi].layer == il,
                 "the memory plan's MoE layers differ from the model's");
    MoeLayer m;
    m.layer = il;
    m.slot = plan_.moe_layers[mi].slot;
    m.table = weights_->alloc(uint64_t(d_.n_expert) * 8);
    m.entries.assign(d_.n_expert, ops::kNoSlot);
    moe_of_layer_[il] = int(mi);
    moe_.push_back(std::move(m));
    ++mi;
  }
  if (moe_.empty()) return;

  auto part = [&](uint32_t il, const char* role, uint32_t e, uint64_t n) {
    const gguf::TensorInfo* t = file_.find_tensor(layer_tensor_name(il, role));
    if (!t) fail("missing tensor '{}'", layer_tensor_name(il, role));
    MOEVK_ASSERT(t->n_bytes == n * d_.n_expert, "expert tensor size differs from the plan");
    return file_.tensor_data(*t).data() + uint64_t(e) * n;
  };
  auto image = [&](const MoeLayer& m, uint32_t e, uint8_t* dst) {
    write_slot_image(dst, m.slot, part(m.layer, "ffn_gate_exps.weight", e, m.slot.gate_bytes),
                     part(m.layer, "ffn_up_exps.weight", e, m.slot.up_bytes),
                     part(m.layer, "ffn_down_exps.weight", e, m.slot.down_bytes));
  };
  const uint64_t total = plan_.expert_total_bytes;

  if (!streaming_) {
    // Resident: each layer's experts in VRAM banks of its own slot size, as the plan packed them.
    Progress bar("uploading experts", total, progress);
    vk::Buffer staging(*ctx_, 64ull << 20, vk::MemoryKind::Staging, "expert upload staging");
    for (MoeLayer& m : moe_) {
      const uint64_t per_bank = std::max<uint64_t>(1, plan_.options.alloc_cap / m.slot.bytes);
      vk::View bank;
      uint64_t off = 0;
      vk::Recorder rec(*ctx_, ctx_->has_transfer_queue());
      for (uint32_t e = 0; e < d_.n_expert; ++e) {
        if (e % per_bank == 0)
          bank = slots_arena_->alloc(std::min<uint64_t>(per_bank, d_.n_expert - e) * m.slot.bytes);
        const vk::View slot = bank.sub((e % per_bank) * m.slot.bytes, m.slot.bytes);
        if (off + m.slot.bytes > staging.size()) {
          rec.submit_and_wait();
          off = 0;
        }
        image(m, e, static_cast<uint8_t*>(staging.mapped()) + off);
        rec.copy(vk::View{&staging, off, m.slot.bytes}, slot, m.slot.bytes);
        off += m.slot.bytes;
        m.entries[e] = slot.address();
        bar.advance(m.slot.gate_bytes + m.slot.up_bytes + m.slot.down_bytes);
      }
      rec.submit_and_wait();
      m.dirty = true;
    }
    bar.finish();
  } else {
    // Streaming: the host tier holds every expert; the VRAM slots start with an even share of
    // each layer's experts (a warm start; the policy takes over from the first token).
    Progress bar("staging experts in host memory", total, progress);
    host_tier_ = std::make_unique<vk::Arena>(*ctx_, vk::MemoryKind::Host, plan_.options.alloc_cap,
                                             "expert host tier");
    for (MoeLayer& m : moe_) {
      m.host.resize(d_.n_expert);
      for (uint32_t e = 0; e < d_.n_expert; ++e) {
        m.host[e] = host_tier_->alloc(m.slot.bytes);
        image(m, e, static_cast<uint8_t*>(m.host[e].buffer->mapped()) + m.host[e].offset);
        m.entries[e] = m.host[e].address();
        bar.advance(m.slot.gate_bytes + m.slot.up_bytes + m.slot.down_bytes);
      }
      m.dirty = true;
    }
    bar.finish();
    const uint64_t per_bank = std::max<uint64_t>(1, plan_.slots_per_bank);
    vk::View bank;
    for (uint64_t s = 0; s < plan_.n_slots; ++s) {
      if (s % per_bank == 0)
        bank = slots_arena_->alloc(std::min<uint64_t>(per_bank, plan_.n_slots - s) * plan_.slot_bytes);
      slot_views_.push_back(bank.sub((s % per_bank) * plan_.slot_bytes, plan_.slot_bytes));
    }
    copy_rec_ = std::make_unique<vk::Recorder>(*ctx_, ctx_->has_transfer_queue());
    const uint32_t n_moe = uint32_t(moe_.size());
    for (uint64_t i = 0; i < plan_.n_slots; ++i) {
      const sched::ExpertKey k{uint32_t(i % n_moe), uint32_t(i / n_moe % d_.n_expert)};
      if (cache_policy_->slot_of(k)) continue;
      auto a = cache_policy_->admit(k);
      if (!a) break;
      const MoeLayer& m = moe_[k.layer];
      copy_rec_->copy(m.host[k.expert], slot_views_[a->slot], m.slot.bytes);
      pending_.push_back({k, a->slot, {}});
    }
    if (!pending_.empty()) {
      const vk::TimelinePoint done = copy_rec_->submit();
      for (PendingCopy& p : pending_) p.done = done;
    }
  }
  if (streaming_ || trace_)
    ids_readback_ = std::make_unique<vk::Buffer>(
        *ctx_, uint64_t(d_.n_layer) * max_batch_ * std::max(1u, d_.n_expert_used) * 4,
        vk::MemoryKind::Readback, "routing readback");
  for (MoeLayer& m : moe_) {
    vk::upload(*ctx_, m.table, m.entries.data(), m.entries.size() * 8);
    m.dirty = false;
  }
}

std::vector<vk::TimelinePoint> VkEngine::apply_finished_copies() {
  std::vector<vk::TimelinePoint> waits;
  std::vector<PendingCopy> still;
  for (const PendingCopy& p : pending_) {
    if (!ctx_->done(p.done)) {
      still.push_back(p);
      continue;
    }
    MoeLayer& m = moe_[p.key.layer];
    m.entries[p.key.expert] = slot_views_[p.slot].address();
    m.dirty = true;
    if (waits.empty() || waits.back().value < p.done.value) waits.push_back(p.done);
  }
  pending_ = std::move(still);
  return waits;
}

void VkEngine::record_table_updates(vk::Recorder& rec) {
  bool any = false;
  for (MoeLayer& m : moe_) {
    if (!m.dirty) continue;
    for (uint64_t off = 0; off < m.entries.size() * 8; off += 65536) {
      const uint64_t n = std::min<uint64_t>(65536, m.entries.size() * 8 - off);
      rec.update(m.table.sub(off, n), reinterpret_cast<const uint8_t*>(m.entries.data()) + off, n);
    }
    m.dirty = false;
    any = true;
  }
  if (any) rec.barrier();
}

void VkEngine::after_pass(uint32_t T, uint32_t pos0) {
  const uint32_t K = std::max(1u, d_.n_expert_used), B = max_batch_;
  const auto* ids = static_cast<const int32_t*>(ids_readback_->mapped());
  if (trace_) {
    for (uint32_t t = 0; t < T; ++t)
      for (const MoeLayer& m : moe_) {
        *trace_ << (pos0 + t) << ' ' << m.layer;
        for (uint32_t k = 0; k < K; ++k) *trace_ << ' ' << ids[uint64_t(m.layer) * B * K + t * K + k];
        *trace_ << '\n';
      }
    trace_->flush();
    if (!*trace_) fail("writing the routing trace failed");
  }
  if (!streaming_) return;
  if (stats_.layers.size() < moe_.size()) stats_.layers.resize(moe_.size());
  stats_.streaming = true;
  auto pending = [&](uint64_t slot) {
    for (const PendingCopy& p : pending_)
      if (p.slot == slot) return true;
    return false;
  };
  // Hits and misses as the pass saw them: the entry pointed to a VRAM slot or to the host tier.
  std::vector<sched::ExpertKey> missed;
  for (uint32_t mi = 0; mi < moe_.size(); ++mi) {
    const MoeLayer& m = moe_[mi];
    LayerStreamStats& st = stats_.layers[mi];
    for (uint32_t t = 0; t < T; ++t) {
      for (uint32_t k = 0; k < K; ++k) {
        const int32_t e = ids[uint64_t(m.layer) * B * K + t * K + k];
        if (e < 0 || uint32_t(e) >= d_.n_expert) continue;  // gate_topk never writes these
        const sched::ExpertKey key{mi, uint32_t(e)};
        const bool hit = m.entries[e] != m.host[e].address();
        if (hit) {
          ++st.hits;
        } else {
          ++st.misses;
          st.bytes_in_place += m.slot.gate_bytes + m.slot.up_bytes + m.slot.down_bytes;
          if (!cache_policy_->slot_of(key) &&
              std::find(missed.begin(), missed.end(), key) == missed.end())
            missed.push_back(key);
        }
        cache_policy_->touch(key);
      }
    }
  }
  for (uint32_t t = 0; t < T; ++t) cache_policy_->tick();

  // Admissions: the policy picks a slot (never one still being copied into); the evicted
  // expert's entry goes back to the host tier in the next pass's table update, recorded before
  // any kernel of that pass, and the GPU is idle now, so the slot can be overwritten at once.
  // Copies join pending_ at once, so a later admission of this loop never picks their slot.
  const size_t first_fresh = pending_.size();
  for (const sched::ExpertKey& key : missed) {
    auto a = cache_policy_->admit(key, pending);
    if (!a) continue;
    if (a->evicted) {
      MoeLayer& old = moe_[a->evicted->layer];
      old.entries[a->evicted->expert] = old.host[a->evicted->expert].address();
      old.dirty = true;
    }
    const MoeLayer& m = moe_[key.layer];
    copy_rec_->copy(m.host[key.expert], slot_views_[a->slot], m.slot.bytes);
    stats_.layers[key.layer].bytes_copied += m.slot.bytes;
    pending_.push_back({key, a->slot, {}});
  }
  if (pending_.size() > first_fresh) {
    const vk::TimelinePoint done = copy_rec_->submit();
    for (size_t i = first_fresh; i < pending_.size(); ++i) pending_[i].done = done;
  }
}

}  // namespace moevk
