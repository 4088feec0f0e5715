// VkEngine: loading (weights upload with progress, expert slot pools, KV cache, scratch) and eval().
// The forward pass itself is recorded in vk_forward.cpp.
#include "runtime/model/vk_engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "loader/error.h"
#include "runtime/model/output_file.h"
#include "runtime/model/progress.h"
#include "runtime/model/vk_model.h"
#include "runtime/model/vk_scratch.h"
#include "runtime/sched/memory_plan.h"
#include "runtime/sched/size.h"

namespace moevk {

std::unique_ptr<Engine> make_vulkan_engine(const gguf::File& file, const EngineOptions& options) {
  return std::make_unique<VkEngine>(file, options);
}

std::unique_ptr<VkEngine> make_vulkan_engine(const gguf::File& file, const EngineOptions& options,
                                             const VkEngineSetup& setup) {
  return std::make_unique<VkEngine>(file, options, setup);
}

// A session's KV cache (VkEngine::new_kv_state): per layer the K and V views, and the position.
struct VkEngine::KvState {
  std::unique_ptr<vk::Arena> arena;  // null: the engine's own cache_
  std::vector<vk::View> k, v;
  uint32_t n_past = 0;
};

// One resident single-pass eval between eval_begin and eval_finish (others run in eval_begin).
struct VkEngine::PendingEval {
  uint32_t T = 0, pos0 = 0, head0 = 0;
  bool all = false, sync = false;
  uint64_t bytes = 0;
  vk::Counters before;
  vk::TimelinePoint done;
  std::vector<float> logits;  // sync: the result already
};

namespace {

constexpr uint64_t kStaging = 64ull << 20;

// A routed expert's matrix (its bias is an ordinary tensor): laid out in slots, not as a tensor.
bool is_expert_matrix(const std::string& name) {
  sched::TensorEntry t{name};
  sched::classify_tensor(t);
  return t.expert;
}

}  // namespace

VkEngine::VkEngine(const gguf::File& file, const EngineOptions& o, const VkEngineSetup& setup)
    : file_(file), d_(describe(file)) {
  n_ctx_ = default_ctx(d_, o.n_ctx);
  // Prefill passes of up to 512 tokens: enough tokens per expert for full matmul tiles (512 x top-8
  // over 128 experts is 32 per expert). The output head keeps 64 rows (logits of a big vocabulary
  // are large).
  max_batch_ = std::min<uint32_t>(n_ctx_, 512);
  logit_rows_ = std::min<uint32_t>(max_batch_, 64);
  sched::PlanInput plan_in = sched::plan_input_from_file(file);  // validates before the device

  if (setup.context) {
    ctx_ = setup.context;
  } else {
    vk::DeviceOptions dopt = vk::DeviceOptions::from_env();
    if (o.device >= 0) dopt.device_index = o.device;
    ctx_ = std::make_shared<vk::Context>(dopt);
  }
  const uint64_t allocated_before = ctx_->memory().allocated;  // a shared context's other models
  progress_ = setup.progress;
  mv_cfg_ = ops::matvec_config_for(ctx_->features());

  // The memory plan: resident when the budget allows, else a slot pool with the rest streamed.
  // Every device allocation below follows it (vk::Arena with the plan's chunks), and the context
  // refuses any allocation past the budget.
  const vk::Features& f = ctx_->features();
  sched::PlanOptions po;
  po.n_ctx = n_ctx_;
  po.n_batch = max_batch_;
  po.alloc_cap = std::min<uint64_t>(1ull << 30, f.max_allocation ? f.max_allocation : 1ull << 30);
  po.unified = f.unified_memory;
  po.budget = o.gpu_mem;
  bool auto_budget = false;
  if (po.budget == 0) {  // free VRAM minus a margin, or the device-local heap
    const uint64_t free = ctx_->device_memory_free();
    po.budget = free ? free - std::min(free, std::max<uint64_t>(free / 10, 256ull << 20))
                     : f.device_local_bytes;
    auto_budget = true;
  }
  plan_ = sched::plan_memory(plan_in, po);
  if (plan_.mode == sched::PlanMode::Impossible)
    fail("{}{}", auto_budget ? "the free GPU memory is too small for this model: " : "", plan_.error);
  streaming_ = plan_.mode == sched::PlanMode::Streaming;
  if (streaming_ && auto_budget && o.progress)
    std::fprintf(stderr, "moevk: the model does not fit the free GPU memory (%s): streaming experts\n",
                 sched::format_size(po.budget).c_str());
  if (!setup.context) ctx_->set_memory_budget(po.budget);
  else if (!ctx_->memory().budget) ctx_->set_memory_budget(allocated_before + po.budget);
  const uint64_t cap = po.alloc_cap;
  weights_ = std::make_unique<vk::Arena>(*ctx_, vk::MemoryKind::Device, plan_.weights.chunks, cap,
                                         "non-expert weights");
  slots_arena_ = std::make_unique<vk::Arena>(*ctx_, vk::MemoryKind::Device, plan_.slots.chunks, cap,
                                             "expert slots");
  cache_ = std::make_unique<vk::Arena>(*ctx_, vk::MemoryKind::Device, plan_.kv.chunks, cap, "KV cache");
  scratch_arena_ = std::make_unique<vk::Arena>(*ctx_, vk::MemoryKind::Device, plan_.scratch.chunks, cap,
                                               "activations");
  const sched::CachePolicy policy = sched::cache_policy_from_name(o.cache_policy);
  if (o.prefetch == "auto") prefetch_ = Prefetch::Auto;
  else if (o.prefetch == "on") prefetch_ = Prefetch::On;
  else if (o.prefetch == "off") prefetch_ = Prefetch::Off;
  else fail("unknown --prefetch mode '{}' (known: auto, on, off)", o.prefetch);
  prefetch_cap_ = o.prefetch_cap;
  if (streaming_)
    cache_policy_ = std::make_unique<sched::ExpertCache>(uint32_t(plan_.moe_layers.size()),
                                                         d_.n_expert, plan_.n_slots, policy);
  if (!o.trace_path.empty()) {
    trace_.reset(open_output_file(o.trace_path, "the trace file", file.path()));
    trace_path_ = o.trace_path;
    std::fputs("# moevk routing trace: one line per token and MoE layer: position, layer, expert ids\n", trace_.get());
  }

  rope_ = ref::rope_params(d_);
  gate_ = ref::GateParams::of(d_);
  upload_weights(o.progress);
  alloc_kv_and_scratch();
  weight_bytes_per_token_ = moevk::weight_bytes_per_token(file, d_);
  output_head_bytes_ = (d_.tied_output ? tensor("token_embd.weight") : tensor("output.weight"))->bytes;
  // --profile: room for a timestamp before and after every dispatch of a command buffer.
  rec_ = std::make_unique<vk::Recorder>(*ctx_, false, o.profile ? 16384 : 0);
  set_up_cpu_experts(o);
  MOEVK_ASSERT(ctx_->memory().allocated - allocated_before <= plan_.used_bytes,
               fmt::format("allocated {} bytes, more than the plan's {}",
                           ctx_->memory().allocated - allocated_before, plan_.used_bytes));
  kv_ = std::make_shared<KvState>();
  for (const LayerTensors& w : layers_) {
    kv_->k.push_back(w.k_cache);
    kv_->v.push_back(w.v_cache);
  }
  own_kv_ = kv_;
  progress_ = nullptr;
}

VkEngine::~VkEngine() {
  // Copies into expert slots may still run: nothing they touch is freed before they finish.
  for (const PendingCopy& p : pending_) {
    try {
      ctx_->wait(p.done);
    } catch (...) {
    }
  }
  if (ctx_) {
    try {
      ctx_->wait_idle();  // never vkDeviceWaitIdle: the device may be the application's
    } catch (...) {
    }
  }
}

std::shared_ptr<VkEngine::KvState> VkEngine::new_kv_state() {
  auto kv = std::make_shared<KvState>();
  kv->arena = std::make_unique<vk::Arena>(*ctx_, vk::MemoryKind::Device, plan_.kv.chunks,
                                          plan_.options.alloc_cap, "KV cache");
  // The same allocations in the same order as alloc_kv_and_scratch(), so the planned chunks hold them.
  for (const LayerTensors& w : layers_) {
    kv->k.push_back(kv->arena->alloc(w.k_layout.bytes()));
    kv->v.push_back(d_.is_mla() ? kv->k.back() : kv->arena->alloc(w.v_layout.bytes()));
  }
  return kv;
}

void VkEngine::bind_kv_state(const std::shared_ptr<KvState>& kv_in) {
  MOEVK_ASSERT(!pending_eval_, "bind_kv_state() between eval_begin and eval_finish");
  const std::shared_ptr<KvState>& kv = kv_in ? kv_in : own_kv_;
  if (kv == kv_) return;
  kv_->n_past = n_past_;
  kv_ = kv;
  for (size_t il = 0; il < layers_.size(); ++il) {
    layers_[il].k_cache = kv_->k[il];
    layers_[il].v_cache = kv_->v[il];
  }
  n_past_ = kv_->n_past;
}

vk::TimelinePoint VkEngine::eval_begin(std::span<const int32_t> tokens, uint32_t pos0, Logits which) {
  MOEVK_ASSERT(!pending_eval_, "eval_begin() twice without eval_finish()");
  auto pe = std::make_unique<PendingEval>();
  const uint32_t T = static_cast<uint32_t>(tokens.size());
  const bool all = which == Logits::All;
  // Streaming (host round trips), several passes or dumps: evaluated here, finished already.
  if (streaming_ || dump_ || T == 0 || T > (all ? logit_rows_ : max_batch_)) {
    pe->sync = true;
    pe->logits = eval(tokens, pos0, which);
    pending_eval_ = std::move(pe);
    return {};
  }
  // The resident single pass of eval(), submitted without waiting.
  check_eval(tokens, pos0);
  n_past_ = pos0;
  stats_ = {};
  pe->T = T;
  pe->pos0 = pos0;
  pe->all = all;
  pe->head0 = all ? 0 : T - 1;
  auto* tok = static_cast<int32_t*>(s_->tokens.buffer->mapped()) + s_->tokens.offset / 4;
  auto* pos = static_cast<int32_t*>(s_->pos.buffer->mapped()) + s_->pos.offset / 4;
  for (uint32_t t = 0; t < T; ++t) {
    tok[t] = tokens[t];
    pos[t] = static_cast<int32_t>(pos0 + t);
  }
  if (d_.is_mla()) {
    auto* ph = static_cast<int32_t*>(s_->pos_heads.buffer->mapped()) + s_->pos_heads.offset / 4;
    for (uint32_t t = 0; t < T; ++t)
      for (uint32_t h = 0; h < d_.n_head; ++h) ph[t * d_.n_head + h] = static_cast<int32_t>(pos0 + t);
  }
  vk::Recorder& rec = *rec_;
  pe->before = rec.counters();
  record_table_updates(rec);
  record_forward(rec, T, pos0, pe->head0);
  pe->bytes = uint64_t(T - pe->head0) * d_.n_vocab * 4;
  rec.copy(s_->logits, s_->readback, pe->bytes);
  rec.host_barrier();
  pe->done = rec.submit();
  pending_eval_ = std::move(pe);
  return pending_eval_->done;
}

std::vector<float> VkEngine::eval_finish() {
  MOEVK_ASSERT(pending_eval_, "eval_finish() without eval_begin()");
  std::unique_ptr<PendingEval> pe = std::move(pending_eval_);
  if (pe->sync) return std::move(pe->logits);
  ctx_->wait(pe->done);
  std::vector<float> logits(uint64_t(pe->all ? pe->T : 1) * d_.n_vocab);
  std::memcpy(logits.data(), static_cast<const char*>(s_->readback.buffer->mapped()) + s_->readback.offset,
              pe->bytes);
  const vk::Recorder& rec = *rec_;
  stats_.dispatches = rec.counters().dispatches - pe->before.dispatches;
  stats_.barriers = rec.counters().barriers - pe->before.barriers;
  stats_.submits = rec.counters().submits - pe->before.submits;
  stats_.tokens = pe->T;
  stats_.weight_bytes = weight_bytes_per_token_;
  n_past_ = pe->pos0 + pe->T;
  return logits;
}

std::string VkEngine::backend_name() const { return "vulkan (" + ctx_->features().name + ")"; }

uint64_t VkEngine::device_bytes() const { return ctx_->memory().allocated; }

MemoryReport VkEngine::memory_report() const {
  MemoryReport r;
  r.mode = sched::plan_mode_name(plan_.mode);
  r.budget = plan_.options.budget;
  r.planned = plan_.used_bytes;
  r.allocated = ctx_->memory().allocated;
  r.peak = ctx_->memory().peak;
  r.n_slots = plan_.n_slots;
  r.total_experts = plan_.total_experts;
  r.cpu_experts = cpu_experts_note_;
  r.bus_gbs = bus_bytes_per_s_ / 1e9;
  for (const CpuLayer& c : cpu_layers_) r.cpu_gbs += c.bytes_per_s / 1e9 / double(cpu_layers_.size());
  r.round_trip_us = round_trip_s_ * 1e6;
  return r;
}

void VkEngine::upload_weights(bool progress) {
  uint64_t total = 0;
  for (const auto& t : file_.tensors())
    if (!is_expert_matrix(t.name)) total += t.n_bytes;
  Progress bar("uploading weights", total, progress);
  uint64_t done_bytes = 0;
  vk::Buffer staging(*ctx_, std::min<uint64_t>(kStaging, std::max<uint64_t>(total, 4)), vk::MemoryKind::Staging,
                     "weight upload staging");
  // The shaders read norms, biases and sinks as float32 vectors: any other type is refused up front,
  // by name (the CPU backends dequantise them; a GPU op would read the wrong bytes).
  for (const auto& t : file_.tensors()) {
    const bool vector = t.name.ends_with("norm.weight") || t.name.ends_with(".bias") || t.name.find("sinks") != std::string::npos ||
                        t.name.ends_with("exp_probs_b");
    if (vector && t.type != GgmlType::F32)
      fail("tensor '{}' is {}; the vulkan backend needs float32 norms, biases and sinks (try --backend cpu)", t.name,
           traits(t.type).name);
  }
  for (const auto& t : file_.tensors()) {
    if (is_expert_matrix(t.name)) continue;  // set_up_experts() lays them out in slots
    auto bytes = file_.tensor_data(t);
    vk::View dst = weights_->alloc(t.n_bytes);
    for (uint64_t off = 0; off < t.n_bytes; off += staging.size()) {
      uint64_t n = std::min<uint64_t>(staging.size(), t.n_bytes - off);
      std::memcpy(staging.mapped(), bytes.data() + off, n);
      vk::Recorder rec(*ctx_, ctx_->has_transfer_queue());
      rec.copy(vk::View{&staging, 0, n}, dst.sub(off, n), n);
      rec.submit_and_wait();
      bar.advance(n);
      done_bytes += n;
      if (progress_ && !progress_("weights", done_bytes, total)) throw LoadCancelled();
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
  set_up_experts(progress);
  if (progress_ && !progress_("experts", 1, 1)) throw LoadCancelled();

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
      w.wk_b = head_pool(L(il, "attn_k_b.weight"), d_.n_head);
      w.wv_b = head_pool(L(il, "attn_v_b.weight"), d_.n_head);
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
    // The experts' matrices inside each slot, found through the layer's table.
    const MoeLayer& m = moe_[moe_of_layer_[il]];
    auto pool = [&](const char* role, uint64_t offset) {
      const gguf::TensorInfo* t = file_.find_tensor(L(il, role));
      if (!t) fail("missing tensor '{}'", L(il, role));
      ops::ExpertPool p;
      p.slots = m.table;
      p.offset = offset;
      p.slot_bytes = m.slot.bytes;
      p.n_expert = d_.n_expert;
      p.type = t->type;
      p.n_cols = static_cast<uint32_t>(t->ne[0]);
      p.n_rows = static_cast<uint32_t>(t->n_elements / t->ne[0] / d_.n_expert);
      return p;
    };
    w.gate_exps = pool("ffn_gate_exps.weight", m.slot.gate_offset);
    w.up_exps = pool("ffn_up_exps.weight", m.slot.up_offset);
    w.down_exps = pool("ffn_down_exps.weight", m.slot.down_offset);
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

ops::ExpertPool VkEngine::head_pool(const std::string& name, uint32_t n_head) {
  const DeviceTensor* t = tensor(name);
  MOEVK_ASSERT(t->w.n_rows % n_head == 0, "per-head tensor rows not divisible by the head count");
  ops::ExpertPool p;
  const uint64_t stride = t->bytes / n_head;
  std::vector<uint64_t> table(n_head);
  for (uint32_t h = 0; h < n_head; ++h) table[h] = t->w.data.address() + h * stride;
  p.slots = weights_->alloc(n_head * 8ull);
  vk::upload(*ctx_, p.slots, table.data(), n_head * 8ull);
  p.offset = 0;
  p.slot_bytes = stride;
  p.n_expert = n_head;
  p.type = t->w.type;
  p.n_rows = t->w.n_rows / n_head;
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

void VkEngine::check_eval(std::span<const int32_t> tokens, uint32_t pos0) const {
  const uint32_t T = static_cast<uint32_t>(tokens.size());
  if (pos0 > n_past_) fail("eval: start position {} is past the {} cached positions", pos0, n_past_);
  if (uint64_t(pos0) + T > n_ctx_)
    fail("context overflow: positions {}..{} exceed the context size {}", pos0, uint64_t(pos0) + T - 1,
         n_ctx_);
  for (uint32_t t = 0; t < T; ++t)
    if (tokens[t] < 0 || uint32_t(tokens[t]) >= d_.n_vocab)
      fail("token id {} (at index {}) is outside the vocabulary [0, {})", tokens[t], t, d_.n_vocab);
}

std::vector<float> VkEngine::eval(std::span<const int32_t> tokens, uint32_t pos0, Logits which) {
  const uint32_t T = static_cast<uint32_t>(tokens.size());
  if (T == 0) return {};
  check_eval(tokens, pos0);
  n_past_ = pos0;
  stats_ = {};
  const bool all = which == Logits::All;
  const uint32_t batch = all ? logit_rows_ : max_batch_;
  std::vector<float> logits(uint64_t(all ? T : 1) * d_.n_vocab);
  uint32_t passes = 0, headless = 0;  // passes, and those that skipped the output head
  std::vector<uint64_t> misses_before;  // per MoE layer, before this pass
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
    std::vector<vk::TimelinePoint> waits;
    if (streaming_) {
      waits = apply_finished_copies();
      const bool discrete = !slot_views_.empty();
      split_ = discrete && (n > 1 || prefetch_ == Prefetch::On || cpu_split_decode());
      accounted_.assign(moe_.size(), false);
      if (stats_.layers.size() < moe_.size()) stats_.layers.resize(moe_.size());
      stats_.streaming = true;
      next_waits_ = waits;
      misses_before.clear();
      for (const LayerStreamStats& l : stats_.layers) misses_before.push_back(l.misses);
    }
    record_table_updates(rec);
    record_forward(rec, n, pos0 + c0, head0);
    const uint64_t bytes = uint64_t(n - head0) * d_.n_vocab * 4;
    if (bytes) rec.copy(s_->logits, s_->readback, bytes);
    const uint32_t K = std::max(1u, d_.n_expert_used);
    if (ids_readback_)  // each MoE layer's routing, for the cache and the trace
      for (const MoeLayer& m : moe_) {
        const uint64_t off = uint64_t(m.layer) * max_batch_ * K * 4, len = uint64_t(n) * K * 4;
        rec.copy(s_->layer_ids(m.layer, K).sub(0, len), vk::View{ids_readback_.get(), off, len}, len);
      }
    rec.host_barrier();
    rec.submit_and_wait(split_ ? next_waits_ : waits);
    if (ids_readback_) after_pass(n, pos0 + c0);
    if (streaming_ && n == 1 && !moe_.empty()) {  // decode's misses per MoE layer (the cost model)
      uint64_t miss_bytes = 0;
      for (uint32_t mi = 0; mi < moe_.size(); ++mi)
        miss_bytes += (stats_.layers[mi].misses - misses_before[mi]) * moe_[mi].slot.bytes;
      in_place_ema_ = 0.8 * in_place_ema_ + 0.2 * double(miss_bytes) / double(moe_.size());
    }
    split_ = false;
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
