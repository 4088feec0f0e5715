// VkEngine: loading (weights upload with progress, expert slot pools, KV cache, scratch) and eval().
// The forward pass itself is recorded in vk_forward.cpp.
#include "runtime/model/vk_engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "loader/error.h"
#include "runtime/model/progress.h"
#include "runtime/model/vk_model.h"
#include "runtime/model/vk_scratch.h"
#include "runtime/sched/memory_plan.h"
#include "runtime/sched/size.h"

namespace moevk {

std::unique_ptr<Engine> make_vulkan_engine(const gguf::File& file, const EngineOptions& options) {
  return std::make_unique<VkEngine>(file, options);
}

namespace {

constexpr uint64_t kChunk = 256ull << 20;  // arena chunk (capped by maxMemoryAllocationSize)
constexpr uint64_t kStaging = 64ull << 20;

bool is_expert_tensor(const std::string& name) { return name.find("_exps.") != std::string::npos; }

}  // namespace

VkEngine::VkEngine(const gguf::File& file, const EngineOptions& o) : file_(file), d_(describe(file)) {
  n_ctx_ = default_ctx(d_, o.n_ctx);
  // Prefill passes of up to 512 tokens: enough tokens per expert for full matmul tiles (512 x top-8
  // over 128 experts is 32 per expert). The output head keeps 64 rows (logits of a big vocabulary
  // are large).
  max_batch_ = std::min<uint32_t>(n_ctx_, 512);
  logit_rows_ = std::min<uint32_t>(max_batch_, 64);

  // The memory plan decides resident vs streaming; this engine keeps every expert resident.
  sched::PlanOptions po;
  po.n_ctx = n_ctx_;
  po.n_batch = max_batch_;
  po.budget = o.gpu_mem;
  sched::MemoryPlan plan = sched::require_plan(sched::plan_input_from_file(file), po);
  if (plan.mode == sched::PlanMode::Streaming)
    fail("--gpu-mem {} is below what keeping every expert resident needs ({}); expert streaming is "
         "not implemented yet, so raise the budget or leave --gpu-mem out\n{}",
         sched::format_size(o.gpu_mem), sched::format_size(plan.resident_bytes), plan.describe());

  vk::DeviceOptions dopt = vk::DeviceOptions::from_env();
  if (o.device >= 0) dopt.device_index = o.device;
  ctx_ = std::make_unique<vk::Context>(dopt);
  mv_cfg_ = ops::matvec_config_for(ctx_->features());
  // Arenas sized to what they will hold (each tensor 256-byte aligned), so small models stay small.
  uint64_t non_expert = 4096, expert = 4096;
  for (const auto& t : file.tensors()) (is_expert_tensor(t.name) ? expert : non_expert) += t.n_bytes + 256;
  non_expert += 256 * 1024;  // slot tables
  weights_ = std::make_unique<vk::Arena>(*ctx_, vk::MemoryKind::Device, std::min(kChunk, non_expert),
                                         "non-expert weights");
  experts_ = std::make_unique<vk::Arena>(*ctx_, vk::MemoryKind::Device, std::min(kChunk, expert), "expert pool");
  cache_ = std::make_unique<vk::Arena>(*ctx_, vk::MemoryKind::Device, std::min(kChunk, plan.kv_bytes + 65536),
                                       "KV cache");
  scratch_arena_ = std::make_unique<vk::Arena>(*ctx_, vk::MemoryKind::Device, 16ull << 20, "activations");

  rope_ = ref::rope_params(d_);
  gate_ = ref::GateParams::of(d_);
  upload_weights(o.progress);
  alloc_kv_and_scratch();
  weight_bytes_per_token_ = moevk::weight_bytes_per_token(file, d_);
  output_head_bytes_ = (d_.tied_output ? tensor("token_embd.weight") : tensor("output.weight"))->bytes;
  rec_ = std::make_unique<vk::Recorder>(*ctx_);
}

VkEngine::~VkEngine() = default;

std::string VkEngine::backend_name() const { return "vulkan (" + ctx_->features().name + ")"; }

uint64_t VkEngine::device_bytes() const {
  return weights_->reserved() + experts_->reserved() + cache_->reserved() + scratch_arena_->reserved();
}

void VkEngine::upload_weights(bool progress) {
  uint64_t total = 0;
  for (const auto& t : file_.tensors()) total += t.n_bytes;
  Progress bar("uploading weights", total, progress);
  vk::Buffer staging(*ctx_, std::min<uint64_t>(kStaging, std::max<uint64_t>(total, 4)), vk::MemoryKind::Staging,
                     "weight upload staging");
  for (const auto& t : file_.tensors()) {
    auto bytes = file_.tensor_data(t);
    vk::Arena& arena = is_expert_tensor(t.name) ? *experts_ : *weights_;
    vk::View dst = arena.alloc(t.n_bytes);
    for (uint64_t off = 0; off < t.n_bytes; off += staging.size()) {
      uint64_t n = std::min<uint64_t>(staging.size(), t.n_bytes - off);
      std::memcpy(staging.mapped(), bytes.data() + off, n);
      vk::Recorder rec(*ctx_, ctx_->has_transfer_queue());
      rec.copy(vk::View{&staging, 0, n}, dst.sub(off, n), n);
      rec.submit_and_wait();
      bar.advance(n);
    }
    DeviceTensor dt;
    dt.w.data = dst;
    dt.w.type = t.type;
    dt.w.n_cols = static_cast<uint32_t>(t.ne[0]);
    dt.w.n_rows = static_cast<uint32_t>(t.n_elements / t.ne[0]);
    dt.bytes = t.n_bytes;
    tensors_.emplace(t.name, dt);
  }
  bar.finish();

  // The slot table of resident mode: expert (or MLA head) i lives in slot i.
  uint32_t n_ids = std::max({d_.n_expert, d_.n_head, 1u});
  std::vector<uint32_t> ident(n_ids);
  for (uint32_t i = 0; i < n_ids; ++i) ident[i] = i;
  identity_slots_ = weights_->alloc(n_ids * 4ull);
  vk::upload(*ctx_, identity_slots_, ident.data(), n_ids * 4ull);

  auto L = [](uint32_t il, const char* s) { return layer_tensor_name(il, s); };
  layers_.resize(d_.n_layer);
  for (uint32_t il = 0; il < d_.n_layer; ++il) {
    LayerTensors& w = layers_[il];
    w.attn_norm = tensor(L(il, "attn_norm.weight"));
    w.ffn_norm = tensor(L(il, d_.arch == Arch::GptOss ? "post_attention_norm.weight" : "ffn_norm.weight"));
    w.wo = tensor(L(il, "attn_output.weight"));
    if (d_.is_mla()) {
      if (d_.q_lora_rank > 0) {
        w.wq_a = tensor(L(il, "attn_q_a.weight"));
        w.q_a_norm = tensor(L(il, "attn_q_a_norm.weight"));
        w.wq_b = tensor(L(il, "attn_q_b.weight"));
      } else {
        w.wq = tensor(L(il, "attn_q.weight"));
      }
      w.wkv_a = tensor(L(il, "attn_kv_a_mqa.weight"));
      w.kv_a_norm = tensor(L(il, "attn_kv_a_norm.weight"));
      w.wk_b = expert_pool(L(il, "attn_k_b.weight"), d_.n_head, identity_slots_);
      w.wv_b = expert_pool(L(il, "attn_v_b.weight"), d_.n_head, identity_slots_);
    } else {
      w.wq = tensor(L(il, "attn_q.weight"));
      w.wk = tensor(L(il, "attn_k.weight"));
      w.wv = tensor(L(il, "attn_v.weight"));
      if (d_.qkv_bias) {
        w.bq = tensor(L(il, "attn_q.bias"));
        w.bk = tensor(L(il, "attn_k.bias"));
        w.bv = tensor(L(il, "attn_v.bias"));
      }
      if (d_.out_bias) w.bo = tensor(L(il, "attn_output.bias"));
      if (d_.qk_norm != QkNorm::None) {
        w.q_norm = tensor(L(il, "attn_q_norm.weight"));
        w.k_norm = tensor(L(il, "attn_k_norm.weight"));
      }
      if (d_.attn_sinks) w.sinks = tensor(L(il, "attn_sinks.weight"));
    }
    if (!d_.is_moe_layer(il)) {
      w.ffn_gate = tensor(L(il, "ffn_gate.weight"));
      w.ffn_up = tensor(L(il, "ffn_up.weight"));
      w.ffn_down = tensor(L(il, "ffn_down.weight"));
      continue;
    }
    w.router = tensor(L(il, "ffn_gate_inp.weight"));
    if (d_.routing.router_bias) w.router_b = tensor(L(il, "ffn_gate_inp.bias"));
    if (d_.routing.selection_bias) w.sel_bias = tensor(L(il, "exp_probs_b.bias"));
    w.gate_exps = expert_pool(L(il, "ffn_gate_exps.weight"), d_.n_expert, identity_slots_);
    w.up_exps = expert_pool(L(il, "ffn_up_exps.weight"), d_.n_expert, identity_slots_);
    w.down_exps = expert_pool(L(il, "ffn_down_exps.weight"), d_.n_expert, identity_slots_);
    if (d_.arch == Arch::GptOss) {
      w.gate_exps_b = tensor(L(il, "ffn_gate_exps.bias"));
      w.up_exps_b = tensor(L(il, "ffn_up_exps.bias"));
      w.down_exps_b = tensor(L(il, "ffn_down_exps.bias"));
    }
    if (d_.n_ff_shexp > 0) {
      w.gate_sh = tensor(L(il, "ffn_gate_shexp.weight"));
      w.up_sh = tensor(L(il, "ffn_up_shexp.weight"));
      w.down_sh = tensor(L(il, "ffn_down_shexp.weight"));
      if (d_.routing.shared_gate) w.gate_inp_sh = tensor(L(il, "ffn_gate_inp_shexp.weight"));
    }
  }
}

const DeviceTensor* VkEngine::tensor(const std::string& name, bool required) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    if (required) fail("missing tensor '{}'", name);
    return nullptr;
  }
  return &it->second;
}

ops::ExpertPool VkEngine::expert_pool(const std::string& name, uint32_t n_expert, vk::View slots) const {
  const DeviceTensor* t = tensor(name);
  MOEVK_ASSERT(t->w.n_rows % n_expert == 0, "expert tensor rows not divisible by the expert count");
  ops::ExpertPool p;
  p.pool = t->w.data;
  p.slot_stride = t->bytes / n_expert;
  p.slots = slots;
  p.n_expert = n_expert;
  p.type = t->w.type;
  p.n_rows = t->w.n_rows / n_expert;
  p.n_cols = t->w.n_cols;
  return p;
}

void VkEngine::alloc_kv_and_scratch() {
  for (uint32_t il = 0; il < d_.n_layer; ++il) {
    LayerTensors& w = layers_[il];
    if (d_.is_mla()) {
      // One cache row per position: [rmsnorm(c_kv) | rope(k_pe)]; V is a view of its first kv_lora dims.
      uint32_t row = d_.kv_lora_rank + d_.n_rot;
      w.k_layout = {1, n_ctx_, row + (row & 1)};
      w.v_layout = w.k_layout;
      w.k_cache = cache_->alloc(w.k_layout.bytes());
      w.v_cache = w.k_cache;
    } else {
      w.k_layout = {d_.n_head_kv, n_ctx_, d_.n_embd_head_k + (d_.n_embd_head_k & 1)};
      w.v_layout = {d_.n_head_kv, n_ctx_, d_.n_embd_head_v + (d_.n_embd_head_v & 1)};
      w.k_cache = cache_->alloc(w.k_layout.bytes());
      w.v_cache = cache_->alloc(w.v_layout.bytes());
    }
  }
  s_ = std::make_unique<Scratch>(*ctx_, *scratch_arena_, d_, max_batch_, logit_rows_);
  if (d_.is_mla()) {
    const double ln = d_.rope_scaling.type == RopeScalingType::Yarn ? std::log(double(d_.rope_scaling.factor)) : 0;
    attn_scale_ = 1.0f / std::sqrt(float(d_.n_embd_head_k_mla));
    if (d_.rope_scaling.type == RopeScalingType::Yarn) {
      const double mscale = 1.0 + d_.rope_scaling.yarn_log_mul * ln;
      rope_.attn_factor = static_cast<float>(1.0 / (1.0 + 0.1 * ln));
      attn_scale_ = static_cast<float>(mscale * mscale / std::sqrt(double(d_.n_embd_head_k_mla)));
    }
  } else {
    attn_scale_ = 1.0f / std::sqrt(float(d_.n_embd_head_k));
  }
}

std::vector<float> VkEngine::eval(std::span<const int32_t> tokens, uint32_t pos0, Logits which) {
  const uint32_t T = static_cast<uint32_t>(tokens.size());
  if (T == 0) return {};
  if (pos0 > n_past_) fail("eval: start position {} is past the {} cached positions", pos0, n_past_);
  if (uint64_t(pos0) + T > n_ctx_)
    fail("context overflow: positions {}..{} exceed the context size {}", pos0, uint64_t(pos0) + T - 1,
         n_ctx_);
  for (uint32_t t = 0; t < T; ++t)
    if (tokens[t] < 0 || uint32_t(tokens[t]) >= d_.n_vocab)
      fail("token id {} (at index {}) is outside the vocabulary [0, {})", tokens[t], t, d_.n_vocab);
  n_past_ = pos0;
  stats_ = {};
  const bool all = which == Logits::All;
  const uint32_t batch = all ? logit_rows_ : max_batch_;
  std::vector<float> logits(uint64_t(all ? T : 1) * d_.n_vocab);
  uint32_t passes = 0, headless = 0;  // passes, and those that skipped the output head
  for (uint32_t c0 = 0; c0 < T; c0 += batch, ++passes) {
    const uint32_t n = std::min(batch, T - c0);
    // Rows [head0, n) of this pass go through the output head.
    const uint32_t head0 = all ? 0 : (c0 + n == T ? n - 1 : n);
    if (head0 == n) ++headless;
    auto* tok = static_cast<int32_t*>(s_->tokens.buffer->mapped()) + s_->tokens.offset / 4;
    auto* pos = static_cast<int32_t*>(s_->pos.buffer->mapped()) + s_->pos.offset / 4;
    for (uint32_t t = 0; t < n; ++t) {
      tok[t] = tokens[c0 + t];
      pos[t] = static_cast<int32_t>(pos0 + c0 + t);
    }
    if (d_.is_mla()) {
      auto* ph = static_cast<int32_t*>(s_->pos_heads.buffer->mapped()) + s_->pos_heads.offset / 4;
      for (uint32_t t = 0; t < n; ++t)
        for (uint32_t h = 0; h < d_.n_head; ++h) ph[t * d_.n_head + h] = static_cast<int32_t>(pos0 + c0 + t);
    }
    vk::Recorder& rec = *rec_;
    const vk::Counters before = rec.counters();
    record_forward(rec, n, pos0 + c0, head0);
    const uint64_t bytes = uint64_t(n - head0) * d_.n_vocab * 4;
    if (bytes) rec.copy(s_->logits, s_->readback, bytes);
    rec.host_barrier();
    rec.submit_and_wait();
    if (bytes)
      std::memcpy(logits.data() + (all ? uint64_t(c0) * d_.n_vocab : 0),
                  static_cast<const char*>(s_->readback.buffer->mapped()) + s_->readback.offset, bytes);
    for (PendingDump& pd : pending_dumps_)
      dump_(pd.name, std::span(static_cast<const float*>(pd.buf->mapped()), pd.buf->size() / 4), pd.row_len);
    pending_dumps_.clear();
    stats_.dispatches += rec.counters().dispatches - before.dispatches;
    stats_.barriers += rec.counters().barriers - before.barriers;
    stats_.submits += rec.counters().submits - before.submits;
    n_past_ = pos0 + c0 + n;
  }
  stats_.tokens = T;
  stats_.weight_bytes = weight_bytes_per_token_ * passes - output_head_bytes_ * headless;
  return logits;
}

}  // namespace moevk
