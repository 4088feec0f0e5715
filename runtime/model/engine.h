// Engine: one loaded model that turns token ids into logits, on the GPU (Vulkan) or the CPU (the
// reference forward pass). The CLI, the session and the C API speak only to this interface.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "loader/model.h"

namespace moevk {

namespace gguf {
class File;
}

enum class Backend { Vulkan, Cpu };
Backend backend_from_name(const std::string& s);  // "vulkan" | "cpu"; moevk::Error otherwise

struct EngineOptions {
  Backend backend = Backend::Vulkan;
  uint32_t n_ctx = 0;        // 0: the model's context_length (capped at 4096 to bound the KV cache)
  uint64_t gpu_mem = 0;      // 0: no budget (every expert resident)
  int device = -1;           // Vulkan device index, -1: best / MOEVK_DEVICE
  bool progress = true;      // progress bar while uploading weights (stderr)
};

// Per-token figures of the last eval() (for --stats): what decides speed on a GPU.
struct EvalStats {
  uint64_t tokens = 0;
  uint64_t dispatches = 0;
  uint64_t barriers = 0;
  uint64_t submits = 0;       // host-device round trips
  uint64_t weight_bytes = 0;  // bytes of weights read
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
  virtual std::string backend_name() const = 0;
};

// Bytes of weights one decoded token reads: every non-expert tensor once (one row of token_embd,
// unless it is also the output head), and n_expert_used / n_expert of each expert tensor. The
// Vulkan engine's --stats figure, and the numerator of the decode floor.
uint64_t weight_bytes_per_token(const gguf::File& file, const ModelDesc& d);

// The file must outlive the engine.
std::unique_ptr<Engine> make_engine(const gguf::File& file, const EngineOptions& options);

}  // namespace moevk
