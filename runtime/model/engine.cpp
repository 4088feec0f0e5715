#include "runtime/model/engine.h"

#include <algorithm>

#include "loader/error.h"
#include "loader/gguf/gguf.h"
#include "runtime/cpu/ffn.h"
#include "runtime/cpu/matmul.h"
#include "runtime/model/vk_engine.h"
#include "runtime/ref/forward.h"

namespace moevk {

Backend backend_from_name(const std::string& s) {
  if (s == "vulkan") return Backend::Vulkan;
  if (s == "cpu") return Backend::Cpu;
  if (s == "ref") return Backend::Ref;
  fail("unknown backend '{}' (expected vulkan, cpu or ref)", s);
}

namespace {

// The CPU forward pass behind the Engine interface: runtime/ref's forward on runtime/cpu's kernels
// (cpu), or on the double-precision reference products (ref).
class CpuEngine final : public Engine {
 public:
  CpuEngine(const gguf::File& f, uint32_t n_ctx, bool fast, unsigned n_threads)
      : fwd_(f, n_ctx), fast_(fast) {
    if (!fast) return;
    pool_ = std::make_unique<cpu::ThreadPool>(n_threads);  // 0: the physical cores
    cpu::ThreadPool* pool = pool_.get();
    ref::ForwardKernels k;
    k.matmul = [pool](const ref::QMatrix& w, std::span<const float> x, uint32_t n_tok,
                      std::span<float> y) { cpu::matmul(w, x, n_tok, y, *pool); };
    k.experts = [pool](const ref::ExpertWeights& w, std::span<const float> x, uint32_t n_tok,
                       uint32_t n_used, std::span<const int32_t> ids,
                       std::span<const float> weights, std::span<float> out) {
      cpu::expert_ffn(w, x, n_tok, n_used, ids, weights, out, *pool);
    };
    fwd_.set_kernels(std::move(k));
  }
  const ModelDesc& desc() const override { return fwd_.desc(); }
  uint32_t n_ctx() const override { return fwd_.n_ctx(); }
  uint32_t n_past() const override { return fwd_.n_past(); }
  std::vector<float> eval(std::span<const int32_t> tokens, uint32_t start_pos,
                          Logits which) override {
    return fwd_.eval(tokens, start_pos, which == Logits::Last);
  }
  std::string backend_name() const override { return fast_ ? "cpu" : "ref"; }

 private:
  std::unique_ptr<cpu::ThreadPool> pool_;  // cpu: this engine's threads (declared before fwd_,
                                           // whose kernels point at it, so it outlives them)
  ref::Forward fwd_;
  bool fast_;
};

}  // namespace

LayerStreamStats& LayerStreamStats::operator+=(const LayerStreamStats& o) {
  hits += o.hits;
  misses += o.misses;
  prefetch_hits += o.prefetch_hits;
  predicted += o.predicted;
  predicted_used += o.predicted_used;
  bytes_copied += o.bytes_copied;
  bytes_in_place += o.bytes_in_place;
  stall_ms += o.stall_ms;
  cpu_pairs += o.cpu_pairs;
  cpu_ms += o.cpu_ms;
  gpu_wait_ms += o.gpu_wait_ms;
  return *this;
}

EvalStats& EvalStats::operator+=(const EvalStats& o) {
  tokens += o.tokens;
  dispatches += o.dispatches;
  barriers += o.barriers;
  submits += o.submits;
  weight_bytes += o.weight_bytes;
  streaming = streaming || o.streaming;
  if (layers.size() < o.layers.size()) layers.resize(o.layers.size());
  for (size_t i = 0; i < o.layers.size(); ++i) layers[i] += o.layers[i];
  return *this;
}

LayerStreamStats EvalStats::total() const {
  LayerStreamStats t;
  for (const LayerStreamStats& l : layers) t += l;
  return t;
}

uint64_t weight_bytes_per_token(const gguf::File& file, const ModelDesc& d) {
  uint64_t n = 0;
  for (const auto& t : file.tensors()) {
    if (t.name.find("_exps.") != std::string::npos) {
      if (d.n_expert) n += t.n_bytes / d.n_expert * d.n_expert_used;
    } else if (t.name == "token_embd.weight") {
      n += t.n_bytes / std::max<uint64_t>(1, t.ne[1]);
      if (d.tied_output) n += t.n_bytes;
    } else {
      n += t.n_bytes;
    }
  }
  return n;
}

uint32_t default_ctx(const ModelDesc& d, uint32_t requested) {
  if (requested) return requested;
  uint32_t n = d.n_ctx_train ? d.n_ctx_train : 4096;
  return n > 4096 ? 4096 : n;
}

std::unique_ptr<Engine> make_engine(const gguf::File& file, const EngineOptions& o) {
  if (o.backend == Backend::Cpu || o.backend == Backend::Ref) {
    ModelDesc d = describe(file);
    return std::make_unique<CpuEngine>(file, default_ctx(d, o.n_ctx), o.backend == Backend::Cpu,
                                       o.n_threads);
  }
  return make_vulkan_engine(file, o);
}

}  // namespace moevk
