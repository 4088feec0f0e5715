// Session: the generation loop shared by `moevk run`, `moevk chat` and the C API. It keeps the token
// history that is in the engine's KV cache, reuses the common prefix of a new prompt, samples, streams
// complete UTF-8 text, and stops at an end-of-generation token, at n_predict, at the context limit or
// when asked to.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "loader/tokenizer.h"
#include "runtime/model/engine.h"
#include "runtime/model/sampler.h"

namespace moevk {

enum class StopReason { EndOfGeneration, Length, ContextFull, Interrupted };
const char* stop_reason_text(StopReason r);

struct GenerationStats {
  uint64_t prompt_tokens = 0;
  double prompt_seconds = 0;
  uint64_t generated_tokens = 0;
  double generate_seconds = 0;
  EvalStats prompt_totals;  // the prompt's evaluation
  EvalStats decode_totals;  // summed over the decoded tokens
  StopReason stop = StopReason::Length;
};

class Session {
 public:
  Session(Engine& engine, const Tokenizer& tokenizer, const SamplerParams& params);

  // Makes the KV cache hold `prompt` (evaluating only what differs from the current history), then
  // generates up to n_predict tokens (< 0: until the context is full), calling on_text with each
  // complete piece of text. `stop` (may be null) interrupts generation between tokens.
  GenerationStats generate(const std::vector<int32_t>& prompt, int n_predict,
                           const std::function<void(const std::string&)>& on_text,
                           const std::atomic<bool>* stop = nullptr);

  const std::vector<int32_t>& history() const { return history_; }
  void reset() { history_.clear(); }
  bool is_end_of_generation(int32_t id) const;

 private:
  Engine& engine_;
  const Tokenizer& tokenizer_;
  Sampler sampler_;
  std::vector<int32_t> history_;  // tokens whose K/V are in the cache
};

}  // namespace moevk
