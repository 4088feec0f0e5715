#include "runtime/model/session.h"

#include <cmath>

#include <algorithm>

#include "loader/error.h"

namespace moevk {

const char* stop_reason_text(StopReason r) {
  switch (r) {
    case StopReason::EndOfGeneration: return "end of generation";
    case StopReason::Length: return "token limit";
    case StopReason::ContextFull: return "context full";
    case StopReason::Interrupted: return "interrupted";
  }
  return "?";
}

Session::Session(Engine& engine, const Tokenizer& tokenizer, const SamplerParams& params)
    : engine_(engine), tokenizer_(tokenizer), sampler_(params) {}

bool Session::is_end_of_generation(int32_t id) const { return tokenizer_.vocab().is_eog(id); }

void Session::start(const std::vector<int32_t>& prompt, int n_predict, uint32_t n_ctx_limit) {
  n_ctx_ = n_ctx_limit ? std::min(n_ctx_limit, engine_.n_ctx()) : engine_.n_ctx();
  if (prompt.empty()) fail("empty prompt: nothing to evaluate");
  if (prompt.size() >= n_ctx_)
    fail("the prompt has {} tokens but the context holds {} (raise -c/--ctx-size)", prompt.size(), n_ctx_);
  // Reuse the cached prefix; always evaluate at least the last prompt token (its logits are needed).
  size_t keep = 0;
  while (keep < history_.size() && keep < prompt.size() && history_[keep] == prompt[keep]) ++keep;
  if (keep == prompt.size()) --keep;
  history_.resize(keep);
  pending_.assign(prompt.begin() + static_cast<std::ptrdiff_t>(keep), prompt.end());
  active_ = true;
  prompt_done_ = false;
  n_predict_ = n_predict;
  decoder_.emplace(tokenizer_);
  st_ = {};
  st_.stop = StopReason::Length;
}

Session::Input Session::step_input() const {
  if (!active_) return {};
  return {pending_, static_cast<uint32_t>(history_.size())};
}

void Session::finish(StopReason why, const TokenFn& on_token) {
  st_.stop = why;
  active_ = false;
  std::string rest = decoder_ ? decoder_->flush() : std::string();
  if (!rest.empty() && on_token) on_token(-1, rest);
}

void Session::interrupt() {
  if (!active_) return;
  st_.stop = StopReason::Interrupted;
  active_ = false;
}

void Session::end_at_length(const TokenFn& on_token) {
  if (!ending()) return;
  pending_.clear();
  finish(StopReason::Length, on_token);
}

bool Session::finish_step(std::span<const float> logits, const EvalStats& eval_stats, double eval_seconds,
                          const TokenFn& on_token, const std::atomic<bool>* stop) {
  using clock = std::chrono::steady_clock;
  MOEVK_ASSERT(active_, "finish_step() without a running generation");
  auto t0 = clock::now();
  history_.insert(history_.end(), pending_.begin(), pending_.end());
  if (!prompt_done_) {
    st_.prompt_totals = eval_stats;
    st_.prompt_seconds = eval_seconds;
    st_.prompt_tokens = pending_.size();
    prompt_done_ = true;
  } else {
    st_.decode_totals += eval_stats;
    st_.generate_seconds += eval_seconds;
  }
  pending_.clear();
  bool produced = false;
  const size_t n_vocab = engine_.desc().n_vocab;
  MOEVK_ASSERT(logits.size() >= n_vocab, "finish_step() needs a row of logits");
  std::span<const float> row = logits.subspan(logits.size() - n_vocab);
  if (n_predict_ >= 0 && st_.generated_tokens >= uint64_t(n_predict_)) {
    finish(StopReason::Length, on_token);
  } else if (stop && stop->load()) {
    finish(StopReason::Interrupted, on_token);
  } else {
    // A model whose weights hold NaN or infinity gives NaN logits: say so instead of sampling
    // token 0 from them.
    for (float v : row)
      if (std::isnan(v))
        fail("the model produced NaN logits after {} tokens: its weights may hold NaN or infinity",
             history_.size());
    if (sampler_.params().ignore_eos) {  // the end-of-generation tokens masked out of this row
      masked_.assign(row.begin(), row.end());
      for (int32_t id : tokenizer_.vocab().eog_ids())
        if (id >= 0 && size_t(id) < masked_.size()) masked_[size_t(id)] = -INFINITY;
      row = masked_;
    }
    const int32_t next = sampler_.sample(row, history_);
    if (is_end_of_generation(next)) {
      finish(StopReason::EndOfGeneration, on_token);
    } else {
      const std::string piece = decoder_->push(next);
      ++st_.generated_tokens;
      produced = true;
      if (on_token) on_token(next, piece);
      if (history_.size() + 1 >= n_ctx_) {
        finish(StopReason::ContextFull, on_token);  // `next` was emitted; there is no room to cache it
      } else {  // evaluated by the next step (which ends the generation at n_predict)
        pending_.push_back(next);
      }
    }
  }
  st_.generate_seconds += std::chrono::duration<double>(clock::now() - t0).count();
  return produced;
}

bool Session::step(const TokenFn& on_token, const std::atomic<bool>* stop) {
  using clock = std::chrono::steady_clock;
  if (!active_) return false;
  Input in = step_input();
  auto t0 = clock::now();
  std::vector<float> logits = engine_.eval(in.tokens, in.pos, Logits::Last);
  const double secs = std::chrono::duration<double>(clock::now() - t0).count();
  return finish_step(logits, engine_.last_stats(), secs, on_token, stop);
}

GenerationStats Session::generate(const std::vector<int32_t>& prompt, int n_predict,
                                  const std::function<void(const std::string&)>& on_text,
                                  const std::atomic<bool>* stop) {
  start(prompt, n_predict);
  const TokenFn on_token = [&](int32_t, const std::string& text) {
    if (!text.empty()) on_text(text);
  };
  while (active_) step(on_token, stop);
  return st_;
}

}  // namespace moevk
