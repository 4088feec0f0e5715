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
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "loader/error.h"
#include "runtime/model/progress.h"
#include "runtime/model/vk_model.h"
#include "runtime/model/vk_scratch.h"
#include "runtime/ops/gate_topk.h"
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
  if (streaming_) {
    prefetched_.assign(moe_.size() * d_.n_expert, 0);
    predicted_.assign(moe_.size(), {});
    accounted_.assign(moe_.size(), false);
    pred_readback_ = std::make_unique<vk::Buffer>(*ctx_, uint64_t(max_batch_) * std::max(1u, d_.n_expert_used) * 4,
                                                  vk::MemoryKind::Readback, "prefetch readback");
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

std::vector<std::pair<sched::ExpertKey, uint32_t>> VkEngine::account_layer(uint32_t mi, uint32_t T,
                                                                           const int32_t* ids) {
  const uint32_t K = std::max(1u, d_.n_expert_used);
  const MoeLayer& m = moe_[mi];
  LayerStreamStats& st = stats_.layers[mi];
  std::vector<std::pair<sched::ExpertKey, uint32_t>> missed;
  // A prediction made one layer earlier: how many of the experts it named this layer used.
  if (!predicted_[mi].empty()) {
    for (uint32_t e : predicted_[mi]) {
      bool used = false;
      for (uint64_t i = 0; i < uint64_t(T) * K && !used; ++i) used = ids[i] == int32_t(e);
      ++st.predicted;
      st.predicted_used += used;
    }
    predicted_[mi].clear();
  }
  for (uint64_t i = 0; i < uint64_t(T) * K; ++i) {
    const int32_t e = ids[i];
    if (e < 0 || uint32_t(e) >= d_.n_expert) continue;  // gate_topk never writes these
    const sched::ExpertKey key{mi, uint32_t(e)};
    if (m.entries[e] != m.host[e].address()) {  // the table points to a VRAM slot
      ++st.hits;
      uint8_t& pf = prefetched_[uint64_t(mi) * d_.n_expert + e];
      st.prefetch_hits += pf;
      pf = 0;
    } else {
      ++st.misses;
      if (!cache_policy_->slot_of(key)) {
        auto it = std::find_if(missed.begin(), missed.end(), [&](auto& p) { return p.first == key; });
        if (it == missed.end()) missed.push_back({key, 1});
        else ++it->second;
      }
    }
    cache_policy_->touch(key);
  }
  return missed;
}

vk::TimelinePoint VkEngine::admit(const std::vector<sched::ExpertKey>& keys,
                                  const std::vector<uint64_t>& busy, uint64_t cap_bytes, bool prefetch) {
  // The policy picks a slot, never one still being copied into (pending_) or one the current
  // layer reads (busy). The evicted expert's entry goes back to the host tier in the next table
  // update, recorded before any kernel that follows; the GPU runs nothing that reads the slot
  // now (every submission so far has completed), so the copy may overwrite it at once.
  std::vector<uint8_t> taken(slot_views_.size(), 0);  // one lookup per victim candidate
  for (const PendingCopy& p : pending_) taken[p.slot] = 1;
  for (uint64_t slot : busy) taken[slot] = 1;
  auto in_use = [&](uint64_t slot) { return taken[slot] != 0; };
  const size_t first = pending_.size();  // copies join pending_ at once: a later admission of
  uint64_t bytes = 0;                    // this loop never picks their slot
  for (const sched::ExpertKey& key : keys) {
    const MoeLayer& m = moe_[key.layer];
    if (cap_bytes && bytes + m.slot.bytes > cap_bytes) break;
    if (cache_policy_->slot_of(key)) continue;
    auto a = cache_policy_->admit(key, in_use, prefetch);  // a prediction: used now, not later
    if (!a) continue;
    if (a->evicted) {
      MoeLayer& old = moe_[a->evicted->layer];
      old.entries[a->evicted->expert] = old.host[a->evicted->expert].address();
      old.dirty = true;
      prefetched_[uint64_t(a->evicted->layer) * d_.n_expert + a->evicted->expert] = 0;
    }
    prefetched_[uint64_t(key.layer) * d_.n_expert + key.expert] = prefetch;
    copy_rec_->copy(m.host[key.expert], slot_views_[a->slot], m.slot.bytes);
    stats_.layers[key.layer].bytes_copied += m.slot.bytes;
    bytes += m.slot.bytes;
    pending_.push_back({key, a->slot, {}});
    taken[a->slot] = 1;
  }
  if (pending_.size() == first) return {};
  const vk::TimelinePoint done = copy_rec_->submit();
  for (size_t i = first; i < pending_.size(); ++i) pending_[i].done = done;
  return done;
}

void VkEngine::after_pass(uint32_t T, uint32_t pos0) {
  const uint32_t K = std::max(1u, d_.n_expert_used), B = max_batch_;
  const auto* ids = static_cast<const int32_t*>(ids_readback_->mapped());
  if (trace_) {
    for (uint32_t t = 0; t < T; ++t)
      for (const MoeLayer& m : moe_) {
        std::string line = fmt::format("{} {}", pos0 + t, m.layer);
        for (uint32_t k = 0; k < K; ++k) line += fmt::format(" {}", ids[uint64_t(m.layer) * B * K + t * K + k]);
        line += '\n';
        std::fwrite(line.data(), 1, line.size(), trace_.get());
      }
    if (std::fflush(trace_.get()) != 0 || std::ferror(trace_.get()))
      fail("cannot write the routing trace '{}': {}", trace_path_, std::strerror(errno ? errno : EIO));
  }
  if (!streaming_) return;
  // Decode (and passes not split by layer): misses were read in place; admit them now, their
  // copies run while the GPU goes on, and switch them to their slots once done.
  std::vector<sched::ExpertKey> missed;
  for (uint32_t mi = 0; mi < moe_.size(); ++mi) {
    if (accounted_[mi]) continue;
    for (const auto& [key, uses] : account_layer(mi, T, ids + uint64_t(moe_[mi].layer) * B * K)) {
      missed.push_back(key);
      stats_.layers[mi].bytes_in_place += uint64_t(uses) * moe_[mi].slot.bytes;
    }
  }
  for (uint32_t t = 0; t < T; ++t) cache_policy_->tick();
  admit(missed, {}, 0, false);
}

void VkEngine::split_point(vk::Recorder& rec, uint32_t il, uint32_t T) {
  const uint32_t K = std::max(1u, d_.n_expert_used), B = max_batch_;
  const uint32_t mi = uint32_t(moe_of_layer_[il]);
  Scratch& s = *s_;
  // This layer's routing to the host; with prefetch, the next MoE layer's router on this layer's
  // hidden state (its top-k ids go where that layer's own will be written later).
  const uint64_t off = uint64_t(il) * B * K * 4, len = uint64_t(T) * K * 4;
  rec.copy(s.layer_ids(il, K).sub(0, len), vk::View{ids_readback_.get(), off, len}, len);
  const bool prefetch = prefetch_ == Prefetch::On || (prefetch_ == Prefetch::Auto && T > 1);
  const uint32_t next = mi + 1 < moe_.size() ? moe_[mi + 1].layer : UINT32_MAX;
  if (prefetch && next != UINT32_MAX) {
    const LayerTensors& w = layers_[next];
    linear(rec, {w.router->w, s.h, s.router, w.router_b ? w.router_b->view() : vk::View{}, T});
    rec.barrier();
    ops::gate_topk(*ctx_, rec, gate_, s.router, w.sel_bias ? w.sel_bias->view() : vk::View{},
                   s.layer_ids(next, K), s.pred_wts, {}, T, d_.n_expert, K);
    rec.barrier();
    rec.copy(s.layer_ids(next, K).sub(0, len), vk::View{pred_readback_.get(), 0, len}, len);
  }
  if (cpu_experts_ != CpuExperts::Off)  // the experts' input, for those the CPU may compute
    rec.copy(s.h.sub(0, uint64_t(T) * d_.n_embd * 4), vk::View{h_readback_.get(), 0, uint64_t(T) * d_.n_embd * 4},
             uint64_t(T) * d_.n_embd * 4);
  rec.host_barrier();
  rec.submit_and_wait(next_waits_);
  next_waits_ = apply_finished_copies();

  // Hits and misses; a batch copies the experts that several of its tokens use into slots first
  // (one copy serves them all; the GPU waits for it), a single token reads its misses in place.
  const auto* ids = static_cast<const int32_t*>(ids_readback_->mapped()) + off / 4;
  std::vector<uint64_t> busy;  // slots this layer reads
  for (uint64_t i = 0; i < uint64_t(T) * K; ++i)
    if (ids[i] >= 0 && uint32_t(ids[i]) < d_.n_expert)
      if (auto sl = cache_policy_->slot_of({mi, uint32_t(ids[i])})) busy.push_back(*sl);
  auto missed = account_layer(mi, T, ids);
  accounted_[mi] = true;
  std::vector<sched::ExpertKey> copy_now;
  for (const auto& [key, uses] : missed)
    if (T > 1 && uses >= 2) copy_now.push_back(key);
  MoeLayer& m = moe_[mi];
  if (!copy_now.empty()) {
    const auto t0 = std::chrono::steady_clock::now();
    const vk::TimelinePoint done = admit(copy_now, busy, 0, false);
    if (done) {
      ctx_->wait(done);
      stats_.layers[mi].stall_ms +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      next_waits_.push_back(done);
      std::vector<PendingCopy> still;
      for (const PendingCopy& p : pending_) {
        if (p.done.value != done.value || p.done.queue != done.queue) {
          still.push_back(p);
          continue;
        }
        MoeLayer& pm = moe_[p.key.layer];
        pm.entries[p.key.expert] = slot_views_[p.slot].address();
        pm.dirty = true;
        busy.push_back(p.slot);
      }
      pending_ = std::move(still);
    }
  }
  // What is left is read in place or computed on the CPU (the cost model's choice); single
  // tokens admit their misses for later tokens.
  std::vector<std::pair<sched::ExpertKey, uint32_t>> in_place;
  for (const auto& [key, uses] : missed)
    if (m.entries[key.expert] == m.host[key.expert].address()) in_place.push_back({key, uses});
  plan_cpu_experts(mi, T, ids, in_place);
  std::vector<sched::ExpertKey> later;
  for (const auto& [key, uses] : in_place) {
    if (m.entries[key.expert] != ops::kCpuSlot)
      stats_.layers[mi].bytes_in_place += uint64_t(uses) * m.slot.bytes;
    later.push_back(key);
  }
  if (T == 1) admit(later, busy, 0, false);
  // Prefetch: the next MoE layer's predicted experts, capped by bytes.
  if (prefetch && next != UINT32_MAX) {
    const auto* pred = static_cast<const int32_t*>(pred_readback_->mapped());
    std::vector<sched::ExpertKey> want;
    std::vector<uint32_t>& named = predicted_[mi + 1];
    for (uint64_t i = 0; i < uint64_t(T) * K; ++i) {
      if (pred[i] < 0 || uint32_t(pred[i]) >= d_.n_expert) continue;
      const sched::ExpertKey key{mi + 1, uint32_t(pred[i])};
      if (std::find(want.begin(), want.end(), key) != want.end()) continue;
      want.push_back(key);
      named.push_back(key.expert);
    }
    const uint64_t cap = prefetch_cap_ ? prefetch_cap_ : 2ull * K * plan_.slot_bytes;
    admit(want, busy, cap, true);
  }
  record_table_updates(rec);
}

}  // namespace moevk
