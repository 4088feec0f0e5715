// CPU-computed experts beside the GPU (issue 11 part 3; docs/DECISIONS.md 12 and 16).
//
// When experts stream on a discrete GPU, a miss costs its bytes over the bus (read in place by the
// kernel, or copied into a slot). The CPU reads host memory faster than the bus on most PCs, so a
// miss can instead be computed on the CPU while the GPU computes the hits. The pass already stops
// after each MoE layer's routing (split_point); with CPU experts it also copies the layer's
// normalised hidden state to the host. plan_cpu_experts then picks which misses the CPU takes and
// marks them kCpuSlot in the slot table, so the expert kernels skip their rows. After the layer's
// expert kernels are recorded, join_cpu_experts submits them (no wait), computes the CPU's pairs
// with runtime/cpu's kernels, and records copies of the results into ed before moe_combine.
//
// The cost model (auto): at load it measures the bus (host tier -> VRAM slot copies), the CPU
// kernels on one expert of every MoE layer, and a host round trip. A layer's GPU time grows by
// bytes / bus per miss read in place; the CPU's by bytes / cpu. Misses go one by one, largest first,
// to the side that finishes first, the CPU side starting at one round trip. A batch copies the
// experts that several of its tokens use (split_point does that first: one copy serves them all),
// so only single-use misses reach this choice. Decode goes layer by layer only when the measured
// misses make it pay: the split costs a round trip per MoE layer.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include "loader/error.h"
#include "runtime/cpu/ffn.h"
#include "runtime/cpu/kernels.h"
#include "runtime/cpu/pool.h"
#include "runtime/model/vk_model.h"
#include "runtime/model/vk_scratch.h"
#include "runtime/vk/check.h"

namespace moevk {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A bias tensor as floats, empty when the model has none.
std::vector<float> floats_of(const gguf::File& f, const std::string& name) {
  return f.find_tensor(name) ? ref::vector_of(f, name) : std::vector<float>{};
}

}  // namespace

void VkEngine::set_up_cpu_experts(const EngineOptions& o) {
  if (o.cpu_experts == "off") cpu_experts_ = CpuExperts::Off;
  else if (o.cpu_experts == "auto") cpu_experts_ = CpuExperts::Auto;
  else if (o.cpu_experts == "on") cpu_experts_ = CpuExperts::On;
  else fail("unknown --cpu-experts mode '{}' (known: auto, on, off)", o.cpu_experts);
  cpu_experts_note_ = o.cpu_experts;
  if (cpu_experts_ == CpuExperts::Off) return;
  if (!streaming_ || slot_views_.empty()) {
    // Resident experts, or a unified-memory device (its GPU reads every expert where it lies):
    // there is no bus to spare.
    cpu_experts_note_ = streaming_ ? "off (unified memory: nothing crosses a bus)" : "off (experts resident)";
    cpu_experts_ = CpuExperts::Off;
    return;
  }
  if (o.n_threads) cpu::ThreadPool::set_global_threads(o.n_threads);
  const uint32_t K = std::max(1u, d_.n_expert_used), E = d_.n_embd;
  for (const MoeLayer& m : moe_) {
    auto L = [&](const char* role) { return layer_tensor_name(m.layer, role); };
    CpuLayer c;
    c.w.gate = ref::matrix_of(file_, L("ffn_gate_exps.weight"));
    c.w.up = ref::matrix_of(file_, L("ffn_up_exps.weight"));
    c.w.down = ref::matrix_of(file_, L("ffn_down_exps.weight"));
    for (GgmlType t : {c.w.gate.type, c.w.up.type, c.w.down.type})
      if (!cpu::has_kernel(t)) fail("--cpu-experts: the CPU kernels do not support {}", traits(t).name);
    c.gate_b = floats_of(file_, L("ffn_gate_exps.bias"));
    c.up_b = floats_of(file_, L("ffn_up_exps.bias"));
    c.down_b = floats_of(file_, L("ffn_down_exps.bias"));
    c.w.n_expert = d_.n_expert, c.w.n_ff = d_.n_ff_exp, c.w.n_embd = E;
    c.w.act = d_.act, c.w.alpha = d_.swiglu_alpha, c.w.limit = d_.swiglu_limit;
    cpu_layers_.push_back(std::move(c));
  }
  for (CpuLayer& c : cpu_layers_) {  // spans into the vectors, now that they no longer move
    c.w.gate_b = c.gate_b;
    c.w.up_b = c.up_b;
    c.w.down_b = c.down_b;
  }
  h_readback_ = std::make_unique<vk::Buffer>(*ctx_, uint64_t(max_batch_) * E * 4, vk::MemoryKind::Readback,
                                             "hidden state readback (cpu experts)");
  cpu_out_ = std::make_unique<vk::Buffer>(*ctx_, uint64_t(max_batch_) * K * E * 4, vk::MemoryKind::Staging,
                                          "cpu expert results");

  // Calibration. The bus: the warm start's copies again (each slot gets the image it already
  // holds), at least 16 MiB, best of two.
  std::vector<std::pair<vk::View, vk::View>> copies;
  uint64_t bytes = 0;
  for (const PendingCopy& p : pending_) {
    ctx_->wait(p.done);
    if (bytes >= (16ull << 20)) continue;
    copies.push_back({moe_[p.key.layer].host[p.key.expert], slot_views_[p.slot]});
    bytes += moe_[p.key.layer].slot.bytes;
  }
  double best = 0;
  for (int rep = 0; rep < 2 && bytes; ++rep) {
    const auto t0 = Clock::now();
    for (const auto& [src, dst] : copies) copy_rec_->copy(src, dst, src.size);
    const vk::TimelinePoint done = copy_rec_->submit();
    ctx_->wait(done);
    const double s = seconds_since(t0);
    best = best == 0 ? s : std::min(best, s);
    for (PendingCopy& p : pending_) p.done = done;  // the first pass waits for the last writes
  }
  bus_bytes_per_s_ = best > 0 ? double(bytes) / best : 1e9;
  // A host round trip: an almost empty submission, waited for (median of 7).
  std::vector<double> trips;
  for (int rep = 0; rep < 7; ++rep) {
    const auto t0 = Clock::now();
    rec_->fill(s_->tokens.sub(0, 4), 0);
    rec_->host_barrier();
    rec_->submit_and_wait();
    trips.push_back(seconds_since(t0));
  }
  std::sort(trips.begin(), trips.end());
  round_trip_s_ = trips[trips.size() / 2];
  // The CPU kernels: one token through expert 0 of each MoE layer (best of three; the first run
  // also wakes the thread pool).
  std::vector<float> x(E), out(E);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (float& v : x) v = nd(rng);
  const int32_t id = 0;
  const float one = 1.0f;
  for (size_t mi = 0; mi < cpu_layers_.size(); ++mi) {
    double t = 0;
    for (int rep = 0; rep < 3; ++rep) {
      const auto t0 = Clock::now();
      cpu::expert_ffn(cpu_layers_[mi].w, x, 1, 1, std::span(&id, 1), std::span(&one, 1), out);
      const double s = seconds_since(t0);
      t = rep == 0 ? s : std::min(t, s);
    }
    cpu_layers_[mi].bytes_per_s = double(moe_[mi].slot.bytes) / std::max(t, 1e-7);
  }
  // Misses per layer and token at the start: a uniform router's, K x the share of experts not in
  // slots; measured from the first pass on.
  const double share = 1.0 - double(plan_.n_slots) / double(std::max<uint64_t>(1, plan_.total_experts));
  in_place_ema_ = K * share * double(plan_.slot_bytes);
}

bool VkEngine::cpu_split_decode() const {
  if (cpu_experts_ == CpuExperts::On) return true;
  if (cpu_experts_ != CpuExperts::Auto || cpu_layers_.empty()) return false;
  // Per MoE layer: in place alone takes m / bus; shared with the CPU about m / (bus + cpu). The
  // split pays when that saving exceeds the round trip it costs.
  double cpu = 0;
  for (const CpuLayer& c : cpu_layers_) cpu += c.bytes_per_s;
  cpu /= double(cpu_layers_.size());
  const double saving = in_place_ema_ / bus_bytes_per_s_ - in_place_ema_ / (bus_bytes_per_s_ + cpu);
  return saving > round_trip_s_;
}

void VkEngine::plan_cpu_experts(uint32_t mi, uint32_t T, const int32_t* ids,
                                const std::vector<std::pair<sched::ExpertKey, uint32_t>>& in_place) {
  cpu_sel_.clear();
  cpu_expert_of_.clear();
  cpu_layer_ = -1;
  if (cpu_experts_ == CpuExperts::Off || in_place.empty()) return;
  MoeLayer& m = moe_[mi];
  std::vector<uint32_t> to_cpu;
  if (cpu_experts_ == CpuExperts::On) {
    for (const auto& [key, uses] : in_place) to_cpu.push_back(key.expert);
  } else {
    // Largest first to whichever side finishes first; the CPU starts one round trip late.
    std::vector<std::pair<sched::ExpertKey, uint32_t>> order(in_place);
    std::stable_sort(order.begin(), order.end(), [](auto& a, auto& b) { return a.second > b.second; });
    const double b = double(m.slot.bytes), cpu_bps = cpu_layers_[mi].bytes_per_s;
    double gpu_s = 0, cpu_s = round_trip_s_;
    for (const auto& [key, uses] : order) {
      const double g = gpu_s + uses * b / bus_bytes_per_s_, c = cpu_s + b / cpu_bps;
      if (c < g) {
        cpu_s = c;
        to_cpu.push_back(key.expert);
      } else {
        gpu_s = g;
      }
    }
  }
  if (to_cpu.empty()) return;
  const uint32_t K = std::max(1u, d_.n_expert_used);
  for (uint32_t sel = 0; sel < T * K; ++sel)
    if (ids[sel] >= 0 && std::find(to_cpu.begin(), to_cpu.end(), uint32_t(ids[sel])) != to_cpu.end()) {
      cpu_sel_.push_back(sel);
      cpu_expert_of_.push_back(uint32_t(ids[sel]));
    }
  for (uint32_t e : to_cpu) {
    m.entries[e] = ops::kCpuSlot;
    m.dirty = true;
  }
  cpu_layer_ = int(mi);
}

void VkEngine::join_cpu_experts(vk::Recorder& rec, uint32_t il, uint32_t T) {
  if (cpu_layer_ < 0 || uint32_t(moe_of_layer_[il]) != uint32_t(cpu_layer_)) return;
  const uint32_t mi = uint32_t(cpu_layer_), E = d_.n_embd, K = std::max(1u, d_.n_expert_used);
  Scratch& s = *s_;
  LayerStreamStats& st = stats_.layers[mi];
  // The GPU's part of the layer runs while the CPU computes; a helper thread notes when it ends.
  const vk::TimelinePoint gpu_part = rec.submit(next_waits_);
  next_waits_.clear();
  const auto t0 = Clock::now();
  Clock::time_point gpu_done = t0;
  VkDevice device = ctx_->device();
  VkSemaphore sem = ctx_->queue(gpu_part.queue).timeline;
  std::thread waiter([&, device, sem] {
    VkSemaphoreWaitInfo wi{VK_STRUCTURE_TYPE_SEMAPHORE_WAIT_INFO};
    wi.semaphoreCount = 1;
    wi.pSemaphores = &sem;
    wi.pValues = &gpu_part.value;
    if (vkWaitSemaphores(device, &wi, UINT64_MAX) == VK_SUCCESS) gpu_done = Clock::now();
  });
  // Pairs as single-expert "tokens" of weight 1: out row p = FFN_{expert p}(h[t of p]), ready to
  // land in ed's row of the pair. Pairs of one expert share its weight reads.
  const uint32_t P = uint32_t(cpu_sel_.size());
  const auto* h = static_cast<const float*>(h_readback_->mapped());
  auto* out = static_cast<float*>(cpu_out_->mapped());
  std::vector<float> xs(uint64_t(P) * E), ones(P, 1.0f);
  std::vector<int32_t> ids(P);
  for (uint32_t p = 0; p < P; ++p) {
    std::memcpy(xs.data() + uint64_t(p) * E, h + uint64_t(cpu_sel_[p] / K) * E, E * 4ull);
    ids[p] = int32_t(cpu_expert_of_[p]);
  }
  std::exception_ptr error;
  try {
    cpu::expert_ffn(cpu_layers_[mi].w, xs, P, 1, ids, ones, std::span(out, uint64_t(P) * E));
  } catch (...) {
    error = std::current_exception();
  }
  const auto cpu_done = Clock::now();
  waiter.join();
  if (error) std::rethrow_exception(error);
  st.cpu_pairs += P;
  st.cpu_ms += std::chrono::duration<double, std::milli>(cpu_done - t0).count();
  st.gpu_wait_ms += std::max(0.0, std::chrono::duration<double, std::milli>(cpu_done - gpu_done).count());
  // The rows into ed, runs of consecutive pairs as one copy.
  for (uint32_t p = 0; p < P;) {
    uint32_t q = p + 1;
    while (q < P && cpu_sel_[q] == cpu_sel_[q - 1] + 1) ++q;
    const uint64_t n = uint64_t(q - p) * E * 4;
    rec.copy(vk::View{cpu_out_.get(), uint64_t(p) * E * 4, n}, s.ed.sub(uint64_t(cpu_sel_[p]) * E * 4, n), n);
    p = q;
  }
  // The experts read in place again from the next pass on (the copies above are ordered before the
  // table's next update by that pass's barriers).
  MoeLayer& m = moe_[mi];
  for (uint32_t e : cpu_expert_of_)
    if (m.entries[e] == ops::kCpuSlot) {
      m.entries[e] = m.host[e].address();
      m.dirty = true;
    }
  cpu_sel_.clear();
  cpu_expert_of_.clear();
  cpu_layer_ = -1;
  (void)T;
}

}  // namespace moevk
