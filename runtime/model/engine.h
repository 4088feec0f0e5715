// Engine: one loaded model that turns token ids into logits, on the GPU (Vulkan) or the CPU (SIMD
// kernels, or the double-precision reference forward pass). The CLI, the session and the C API
// speak only to this interface.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "loader/model/model.h"

namespace moevk {

namespace gguf {
class File;
}

// Cpu: the forward pass on runtime/cpu's SIMD kernels; Ref: the double-precision reference
// (runtime/ref), for tests and debugging.
enum class Backend { Vulkan, Cpu, Ref };
Backend backend_from_name(const std::string& s);  // "vulkan" | "cpu" | "ref"; moevk::Error otherwise

struct EngineOptions {
  Backend backend = Backend::Vulkan;
  uint32_t n_ctx = 0;        // 0: the model's context_length (capped at 4096 to bound the KV cache)
  // GPU memory budget in bytes. 0: the free VRAM VK_EXT_memory_budget reports minus a margin (the
  // device-local heap where the extension is missing); below the resident size experts stream.
  uint64_t gpu_mem = 0;
  std::string cache_policy = "lfu";  // expert cache policy when streaming: lfu | lru
  std::string trace_path;            // when set: every token's expert ids per MoE layer (text)
  // Streaming, per MoE layer: apply the next MoE layer's router to this layer's hidden state and
  // start copies of the experts it predicts. auto: for batches (prefill) only; on: decode too (one
  // host round trip per MoE layer); off: never.
  std::string prefetch = "auto";
  uint64_t prefetch_cap = 0;  // bytes of prefetch copies per layer step; 0: 2 x top-k experts
  // Streaming on a discrete GPU: experts missing from VRAM may be computed on the CPU while the
  // GPU computes the rest (the layer's normalised hidden state goes to the host, the results come
  // back before the combine). auto: a cost model calibrated at load decides per layer and pass;
  // on: every miss that is not copied; off: never.
  std::string cpu_experts = "auto";
  int device = -1;           // Vulkan device index, -1: best / MOEVK_DEVICE
  bool progress = true;      // progress bar while uploading weights (stderr)
  unsigned n_threads = 0;    // cpu backend threads, 0: the physical cores
  // GPU timestamps around every dispatch (`--profile`): Engine::set_profiling turns collection on.
  bool profile = false;
};

// Per-token figures of the last eval() (for --stats): what decides speed on a GPU.
// Expert streaming figures of one MoE layer, summed over the tokens of an eval (a hit: a token's
// selected expert was in a VRAM slot; a miss: the kernel read it in place from host memory).
struct LayerStreamStats {
  uint64_t hits = 0, misses = 0, prefetch_hits = 0;
  uint64_t predicted = 0, predicted_used = 0;  // prefetch predictions, and those the layer used
  uint64_t bytes_copied = 0;    // host -> VRAM slot copies started (admissions)
  uint64_t bytes_in_place = 0;  // expert bytes the kernels read over the bus
  double stall_ms = 0;          // time the GPU waited for copies
  // CPU-computed experts (--cpu-experts): (token, expert) pairs the CPU computed, the CPU's time,
  // and the time the GPU waited for the CPU's results (idle between its part and the join).
  uint64_t cpu_pairs = 0;
  double cpu_ms = 0, gpu_wait_ms = 0;
  LayerStreamStats& operator+=(const LayerStreamStats& o);
};

struct EvalStats {
  uint64_t tokens = 0;
  uint64_t dispatches = 0;
  uint64_t barriers = 0;
  uint64_t submits = 0;       // host-device round trips
  uint64_t weight_bytes = 0;  // bytes of weights read
  bool streaming = false;
  std::vector<LayerStreamStats> layers;  // one per MoE layer (empty unless streaming)
  EvalStats& operator+=(const EvalStats& o);
  LayerStreamStats total() const;
};

// Device memory of an engine: what the plan promised and what was allocated (counted at
// vkAllocateMemory).
struct MemoryReport {
  std::string mode;  // "resident", "streaming"
  uint64_t budget = 0, planned = 0, allocated = 0, peak = 0;
  uint64_t n_slots = 0, total_experts = 0;
  // CPU-computed experts: the mode in effect ("off" with the reason when not available) and what
  // the cost model measured at load.
  std::string cpu_experts = "off";
  double bus_gbs = 0, cpu_gbs = 0, round_trip_us = 0;
};

// GPU time of one op (a pipeline variant: op and weight type) summed over the evaluations profiled:
// dispatches, nanoseconds between the timestamps around them, and the weight bytes they read (0
// where the op does not say).
struct OpTime {
  uint64_t dispatches = 0;
  double ns = 0;
  uint64_t bytes = 0;
};

// Which logits eval() returns: a row per token (the logits command, tests), or only the last
// token's (generation: prefill then skips the output head, and runs in larger batches).
enum class Logits { All, Last };

class Engine {
 public:
  virtual ~Engine() = default;
  virtual const ModelDesc& desc() const = 0;
  virtual uint32_t n_ctx() const = 0;
  virtual uint32_t n_past() const = 0;
  // Evaluates tokens at positions start_pos.. (the KV cache is truncated to start_pos first) and
  // returns logits [tokens.size()][n_vocab] (Logits::All) or [1][n_vocab] (Logits::Last). Errors: a
  // token outside the vocabulary, a context overflow (both moevk::Error with the numbers).
  virtual std::vector<float> eval(std::span<const int32_t> tokens, uint32_t start_pos,
                                  Logits which = Logits::All) = 0;
  virtual EvalStats last_stats() const { return {}; }
  virtual uint64_t device_bytes() const { return 0; }  // device memory held
  virtual MemoryReport memory_report() const { return {}; }
  virtual std::string backend_name() const = 0;
  // --profile (EngineOptions::profile): collection on or off, the figures since the last reset.
  // Engines without GPU timestamps return an empty map.
  virtual void set_profiling(bool) {}
  virtual std::map<std::string, OpTime> op_profile() const { return {}; }
  virtual void reset_profile() {}
};

// Bytes of weights one decoded token reads: every non-expert tensor once (one row of token_embd,
// unless it is also the output head), and n_expert_used / n_expert of each expert tensor. The
// Vulkan engine's --stats figure, and the numerator of the decode floor.
uint64_t weight_bytes_per_token(const gguf::File& file, const ModelDesc& d);

// The file must outlive the engine.
std::unique_ptr<Engine> make_engine(const gguf::File& file, const EngineOptions& options);

}  // namespace moevk
