// The Vulkan engine's state: weights uploaded once into device arenas (non-expert tensors, and every
// expert in its layer's slot pool with a slot table), the f16 KV cache, activation scratch for one
// batch, and the forward pass that records one command buffer per eval().
#pragma once

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loader/gguf/gguf.h"
#include "runtime/sched/expert_cache.h"
#include "runtime/sched/memory_plan.h"
#include "runtime/model/engine.h"
#include "runtime/model/vk_engine.h"
#include "runtime/ops/kv_store.h"
#include "runtime/ops/matvec.h"
#include "runtime/ops/matvec_id.h"
#include "runtime/ops/quantize.h"
#include "runtime/ref/forward.h"
#include "runtime/ref/gate_topk.h"
#include "runtime/ref/ops.h"
#include "runtime/vk/buffer.h"
#include "runtime/vk/context.h"
#include "runtime/vk/recorder.h"

namespace moevk {

// A weight on the device.
struct DeviceTensor {
  ops::WeightView w;  // rows x cols (all dims past ne[0] folded into rows)
  uint64_t bytes = 0;
  vk::View view() const { return w.data; }
};

struct LayerTensors {
  const DeviceTensor* attn_norm = nullptr;
  const DeviceTensor *wq = nullptr, *wk = nullptr, *wv = nullptr, *wo = nullptr;
  const DeviceTensor *bq = nullptr, *bk = nullptr, *bv = nullptr, *bo = nullptr;
  const DeviceTensor *q_norm = nullptr, *k_norm = nullptr, *sinks = nullptr;
  // MLA
  const DeviceTensor *wq_a = nullptr, *q_a_norm = nullptr, *wq_b = nullptr, *wkv_a = nullptr,
                     *kv_a_norm = nullptr;
  ops::ExpertPool wk_b, wv_b;  // per-head matrices, addressed as "experts" by head index
  // FFN
  const DeviceTensor* ffn_norm = nullptr;
  const DeviceTensor *ffn_gate = nullptr, *ffn_up = nullptr, *ffn_down = nullptr;  // dense
  const DeviceTensor *router = nullptr, *router_b = nullptr, *sel_bias = nullptr;
  ops::ExpertPool gate_exps, up_exps, down_exps;
  const DeviceTensor *gate_exps_b = nullptr, *up_exps_b = nullptr, *down_exps_b = nullptr;
  const DeviceTensor *gate_sh = nullptr, *up_sh = nullptr, *down_sh = nullptr, *gate_inp_sh = nullptr;
  // KV cache
  vk::View k_cache, v_cache;
  ops::KvLayout k_layout, v_layout;
};

class VkEngine final : public Engine {
 public:
  VkEngine(const gguf::File& file, const EngineOptions& options, const VkEngineSetup& setup = {});
  ~VkEngine() override;

  const ModelDesc& desc() const override { return d_; }
  uint32_t n_ctx() const override { return n_ctx_; }
  uint32_t n_past() const override { return n_past_; }
  std::vector<float> eval(std::span<const int32_t> tokens, uint32_t start_pos,
                          Logits which = Logits::All) override;
  EvalStats last_stats() const override { return stats_; }
  uint64_t device_bytes() const override;
  MemoryReport memory_report() const override;
  std::string backend_name() const override;
  void set_profiling(bool on) override { rec_->set_profile(on ? &profile_ : nullptr); }
  std::map<std::string, OpTime> op_profile() const override {
    std::map<std::string, OpTime> out;
    for (const auto& [name, p] : profile_) out[name] = {p.dispatches, p.ns, p.bytes};
    return out;
  }
  void reset_profile() override { profile_.clear(); }
  // Receives intermediate tensors of each eval() batch, named as the oracle dumps name them
  // (ffn_inp-L, l_out-L, ffn_moe_logits-L, ffn_moe_out-L, result_norm). Debugging and tests only:
  // it adds copies to the command buffer.
  void set_dump(ref::DumpFn fn) { dump_ = std::move(fn); }

  // Embedding (the C API, vk_engine.cpp): sessions on one engine share the weights and the expert
  // cache; each holds its own KV cache and position (a KvState) and binds it before evaluating.
  // Callers serialise everything that evaluates on one context.
  struct KvState;
  std::shared_ptr<KvState> new_kv_state();  // a KV cache like the engine's (counted in the budget)
  void bind_kv_state(const std::shared_ptr<KvState>& kv);  // null: the engine's own
  uint64_t kv_state_bytes() const { return plan_.kv.bytes; }
  // eval() in two halves: eval_begin records and submits (the earlier passes of a long batch run
  // to completion) and returns the point the GPU signals when done; eval_finish waits for it and
  // returns the logits. Nothing else may evaluate in between.
  vk::TimelinePoint eval_begin(std::span<const int32_t> tokens, uint32_t start_pos, Logits which);
  std::vector<float> eval_finish();
  bool eval_pending() const { return pending_eval_ != nullptr; }
  vk::Context& context() { return *ctx_; }

 private:
  struct Scratch;
  void upload_weights(bool progress);
  const DeviceTensor* tensor(const std::string& name, bool required = true) const;
  // A per-head matrix of MLA addressed as experts: table i -> the tensor's rows of head i.
  ops::ExpertPool head_pool(const std::string& name, uint32_t n_head);
  void alloc_kv_and_scratch();
  // Expert slots (vk_stream.cpp): the VRAM slot pool, the host tier when streaming, the tables.
  void set_up_experts(bool progress);
  // Streaming: before recording a pass, table entries of finished copies point to their slots;
  // returns the copies the pass must wait for (already done: memory visibility only).
  std::vector<vk::TimelinePoint> apply_finished_copies();
  void record_table_updates(vk::Recorder& rec);
  // Streaming: after a pass of T tokens, counts hits and misses from the ids it read back, admits
  // missed experts (copies on the transfer queue) and writes the trace.
  void after_pass(uint32_t T, uint32_t pos0);
  // Streaming, layer by layer (batches; decode with --prefetch on): the pass stops after layer
  // il's routing, the host serves its misses (batches: copies into slots first) and starts the
  // next MoE layer's predicted copies, then recording goes on in the next command buffer.
  void split_point(vk::Recorder& rec, uint32_t il, uint32_t T);
  // Counts hits and misses of MoE layer mi for T tokens of ids ([T][K]); returns the missed
  // experts (without a slot) with their number of uses.
  std::vector<std::pair<sched::ExpertKey, uint32_t>> account_layer(uint32_t mi, uint32_t T,
                                                                   const int32_t* ids);
  // Admits experts (copies on the transfer queue, in flight when this returns); busy slots are
  // never evicted. Returns the copies' point (none: empty).
  vk::TimelinePoint admit(const std::vector<sched::ExpertKey>& keys, const std::vector<uint64_t>& busy,
                          uint64_t cap_bytes, bool prefetch);
  // CPU-computed experts (vk_hybrid.cpp). set_up_cpu_experts: the mode, the host views of the
  // expert weights, and the cost model's calibration (bus, CPU kernels, a host round trip).
  void set_up_cpu_experts(const EngineOptions& o);
  // eval()'s argument checks (a start past the cache, a context overflow, an id outside the
  // vocabulary): moevk::Error with the numbers.
  void check_eval(std::span<const int32_t> tokens, uint32_t pos0) const;
  // Whether this decode pass should go layer by layer so that misses can go to the CPU.
  bool cpu_split_decode() const;
  // At layer mi's split point: which of the misses still read in place (expert, uses) the CPU
  // computes instead; marks them kCpuSlot in the table for this pass.
  void plan_cpu_experts(uint32_t mi, uint32_t T, const int32_t* ids,
                        const std::vector<std::pair<sched::ExpertKey, uint32_t>>& in_place);
  // After layer il's expert kernels are recorded: submits them, computes the CPU's pairs while
  // the GPU runs, and records the copies of their rows into ed (before the combine).
  void join_cpu_experts(vk::Recorder& rec, uint32_t il, uint32_t T);
  // Records the forward pass of T tokens at positions pos0.. into rec; the logits of tokens
  // [head0, T) land in scratch (head0 == T: no output head).
  void record_forward(vk::Recorder& rec, uint32_t T, uint32_t pos0, uint32_t head0);
  void record_attention(vk::Recorder& rec, uint32_t il, uint32_t T, uint32_t pos0);
  void record_attention_mla(vk::Recorder& rec, uint32_t il, uint32_t T, uint32_t pos0);
  // The FFN block; returns whether it also left rms_norm(x) * next_norm in scratch h (MoE layers:
  // moe_combine does the next block's norm).
  bool record_ffn(vk::Recorder& rec, uint32_t il, uint32_t T, vk::View next_norm);
  // W x for a batch: the tiled matmul for prefill batches (tiled(T)), else the matvec.
  bool tiled(uint32_t T) const;
  // Whether a batch's expert products go grouped by expert (moe_route + matmul_id).
  bool grouped(uint32_t T, uint32_t n_expert) const;
  void linear(vk::Recorder& rec, const ops::MatvecArgs& a);
  // Up to three products of one x (q, k, v): consecutive parts of one type and n_cols share a
  // matvec_multi dispatch where linear() would take the matvec.
  void linear_multi(vk::Recorder& rec, const ops::MatvecArgs* parts, uint32_t n_parts);
  // The expert product: grouped by expert (matmul_id over `route`, which moe_route filled from
  // a.ids) when route is given and the weights allow it, else matvec_id over the pairs.
  void linear_id(vk::Recorder& rec, const ops::MatvecIdArgs& a, vk::View route);
  // The integer-dot path (ops::uses_int_dot, vk_int_dot.cpp): the product's arguments with x
  // quantised into scratch xq, or unchanged where it takes the float path. Products of one x in a
  // row share one quantisation.
  ops::MatvecArgs with_xq(vk::Recorder& rec, const ops::MatvecArgs& a);
  ops::MatvecIdArgs with_xq(vk::Recorder& rec, const ops::MatvecIdArgs& a);
  vk::View quantized_x(vk::Recorder& rec, GgmlType t, const ops::QuantizeArgs& q);
  struct XqState {
    const vk::Recorder* rec = nullptr;
    uint64_t barriers = 0, submits = 0;  // rec's counters after the quantisation's barrier
    ops::QuantizeArgs args;
  } xq_;
  void dump(vk::Recorder& rec, const std::string& name, const vk::View& v, uint32_t row_len, uint32_t T);
  struct PendingDump {
    std::string name;
    uint32_t row_len;
    std::unique_ptr<vk::Buffer> buf;
  };
  ref::DumpFn dump_;
  std::vector<PendingDump> pending_dumps_;

  const gguf::File& file_;
  ModelDesc d_;
  // max_batch_: tokens per forward pass (scratch rows); logit_rows_: rows of the output head per
  // pass (Logits::All evaluates in passes of at most that many tokens).
  uint32_t n_ctx_ = 0, n_past_ = 0, max_batch_ = 0, logit_rows_ = 0;
  std::shared_ptr<vk::Context> ctx_;
  sched::MemoryPlan plan_;
  bool streaming_ = false;
  std::unique_ptr<vk::Arena> weights_, slots_arena_, cache_, scratch_arena_, host_tier_;
  std::map<std::string, DeviceTensor> tensors_;
  std::vector<LayerTensors> layers_;
  // Expert slots. Per MoE layer (index among MoE layers): the slot layout, the device table and
  // its host copy, and where each expert sits in the host tier (streaming).
  struct MoeLayer {
    uint32_t layer = 0;
    sched::ExpertSlot slot;
    vk::View table;                    // [n_expert] uint64 device addresses
    std::vector<uint64_t> entries;     // host copy of the table
    bool dirty = false;                // entries changed since the last upload
    std::vector<vk::View> host;        // [n_expert] the expert's slot image in the host tier
  };
  std::vector<MoeLayer> moe_;
  std::vector<int> moe_of_layer_;      // layer -> index in moe_, or -1
  std::vector<vk::View> slot_views_;   // streaming: the VRAM slots
  std::unique_ptr<sched::ExpertCache> cache_policy_;
  std::unique_ptr<vk::Recorder> copy_rec_;  // copies into slots (the transfer queue where it exists)
  struct PendingCopy {
    sched::ExpertKey key;
    uint64_t slot;
    vk::TimelinePoint done;
  };
  std::vector<PendingCopy> pending_;
  std::vector<vk::TimelinePoint> flip_waits_;
  std::unique_ptr<vk::Buffer> ids_readback_;  // [n_layer][B][K] i32 (streaming)
  std::unique_ptr<vk::Buffer> pred_readback_;  // [B][K] i32: a prefetch prediction
  enum class Prefetch { Off, Auto, On } prefetch_ = Prefetch::Auto;
  uint64_t prefetch_cap_ = 0;
  bool split_ = false;                          // this pass goes layer by layer
  std::vector<bool> accounted_;                 // MoE layers this pass already counted
  std::vector<vk::TimelinePoint> next_waits_;   // what the pass's next submission waits for
  std::vector<uint8_t> prefetched_;             // [mi * n_expert + e]: slot filled by a prefetch
  std::vector<std::vector<uint32_t>> predicted_;  // [mi]: the experts last predicted for it
  std::unique_ptr<FILE, decltype(&std::fclose)> trace_{nullptr, &std::fclose};  // --trace
  std::string trace_path_;
  // CPU-computed experts (vk_hybrid.cpp).
  enum class CpuExperts { Off, Auto, On } cpu_experts_ = CpuExperts::Off;
  std::string cpu_experts_note_ = "off";  // why off, or the mode
  struct CpuLayer {
    ref::ExpertWeights w;  // views of the file's expert tensors (biases dequantised below)
    std::vector<float> gate_b, up_b, down_b;
    double bytes_per_s = 0;  // the CPU kernels on one token, measured at load
  };
  std::vector<CpuLayer> cpu_layers_;           // per MoE layer
  double bus_bytes_per_s_ = 0, round_trip_s_ = 0;
  double in_place_ema_ = 0;                    // bytes read in place per MoE layer and token
  std::unique_ptr<vk::Buffer> h_readback_;     // [B][n_embd] f32: the layer's normalised input
  std::unique_ptr<vk::Buffer> cpu_out_;        // [B * K][n_embd] f32: the CPU's expert rows
  std::vector<uint32_t> cpu_sel_;              // this layer's pairs (t * K + k) for the CPU, sorted
  std::vector<uint32_t> cpu_expert_of_;        // their experts
  int cpu_layer_ = -1;                         // the MoE layer they belong to (-1: none)
  std::unique_ptr<Scratch> s_;
  ref::RopeParams rope_;
  ref::GateParams gate_;
  float attn_scale_ = 1.0f;
  EvalStats stats_;
  uint64_t weight_bytes_per_token_ = 0, output_head_bytes_ = 0;
  ops::MatvecConfig mv_cfg_;  // the matvecs' workgroup shape on this device
  vk::Profile profile_;  // --profile (filled by rec_ while set)
  std::unique_ptr<vk::Recorder> rec_;  // reused by every eval (one command buffer, re-recorded)
  std::shared_ptr<KvState> kv_;          // the KV cache bound now (the engine's own by default)
  std::shared_ptr<KvState> own_kv_;      // the engine's own (in cache_)
  std::function<bool(const char*, uint64_t, uint64_t)> progress_;  // VkEngineSetup::progress (load)
  struct PendingEval;
  std::unique_ptr<PendingEval> pending_eval_;  // between eval_begin and eval_finish
  void begin_pass(PendingEval& pe);
  void end_pass(PendingEval& pe);
};

}  // namespace moevk
