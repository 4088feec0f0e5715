// Session: the generation loop shared by `moevk run`, `moevk chat` and the C API. It keeps the token
// history that is in the engine's KV cache, reuses the common prefix of a new prompt, samples, streams
// complete UTF-8 text, and stops at an end-of-generation token, at n_predict, at the context limit or
// when asked to.
//
// A generation is a state machine that advances one token per step, so a caller can spread it over
// several calls (the C API's per-call budget): start() then step() until done(); the tokens are the
// same however the steps are grouped, since the sampler, the decoder and the last logits live here.
// A step evaluates what the KV cache lacks (the prompt, or the token sampled last) and then samples;
// step_input() and finish_step() split it around an evaluation the caller runs itself (asynchronously).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "loader/tokenizer/tokenizer.h"
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
  // on_token: the token id and the complete text it ends (may be empty: an unfinished UTF-8 sequence).
  using TokenFn = std::function<void(int32_t token, const std::string& text)>;

  Session(Engine& engine, const Tokenizer& tokenizer, const SamplerParams& params);

  // Makes the KV cache hold `prompt` (evaluating only what differs from the current history), then
  // generates up to n_predict tokens (< 0: until the context is full), calling on_text with each
  // complete piece of text. `stop` (may be null) interrupts generation between tokens.
  GenerationStats generate(const std::vector<int32_t>& prompt, int n_predict,
                           const std::function<void(const std::string&)>& on_text,
                           const std::atomic<bool>* stop = nullptr);

  // The step-wise form of generate(). start() validates the prompt (moevk::Error) and keeps the
  // common prefix of the history; nothing is evaluated yet. n_ctx_limit (0: the engine's) caps
  // the positions this session may use.
  void start(const std::vector<int32_t>& prompt, int n_predict, uint32_t n_ctx_limit = 0);
  // One step: evaluates, then samples and emits at most one token (the prompt's step too). Returns
  // whether a token was produced. The remaining text is flushed when the generation ends.
  bool step(const TokenFn& on_token, const std::atomic<bool>* stop = nullptr);
  // The tokens the next step evaluates, at positions pos.. (empty when done()).
  struct Input {
    std::vector<int32_t> tokens;
    uint32_t pos = 0;
  };
  Input step_input() const;
  // Completes a step with the logits of step_input() (Logits::Last: the last row is used), the
  // evaluation's stats and its duration.
  bool finish_step(std::span<const float> logits, const EvalStats& eval_stats, double eval_seconds,
                   const TokenFn& on_token, const std::atomic<bool>* stop = nullptr);
  // Ends the running generation now (reason Interrupted unless it already ended).
  void interrupt();
  // Ends a generation that reached n_predict (ending()) without evaluating its last token: it
  // stays out of the cache (a later prompt that holds it evaluates it then).
  void end_at_length(const TokenFn& on_token);
  bool active() const { return active_; }
  bool done() const { return !active_; }
  // Whether the next step only evaluates the last token and ends (n_predict reached).
  bool ending() const { return active_ && prompt_done_ && n_predict_ >= 0 && st_.generated_tokens >= uint64_t(n_predict_); }
  const GenerationStats& stats() const { return st_; }

  const std::vector<int32_t>& history() const { return history_; }
  void reset() {
    history_.clear();
    pending_.clear();
    active_ = false;
  }
  bool is_end_of_generation(int32_t id) const;
  const SamplerParams& sampler_params() const { return sampler_.params(); }

 private:
  void finish(StopReason why, const TokenFn& on_token);
  Engine& engine_;
  const Tokenizer& tokenizer_;
  Sampler sampler_;
  std::vector<float> masked_;  // the logits row without end-of-generation tokens (--ignore-eos)
  std::vector<int32_t> history_;  // tokens whose K/V are in the cache
  // The running generation.
  std::vector<int32_t> pending_;  // tokens to evaluate at the next step (after history_)
  bool active_ = false, prompt_done_ = false;
  int n_predict_ = -1;
  uint32_t n_ctx_ = 0;
  std::optional<StreamDecoder> decoder_;
  GenerationStats st_;
};

}  // namespace moevk
