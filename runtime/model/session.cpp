#include "runtime/model/session.h"

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

GenerationStats Session::generate(const std::vector<int32_t>& prompt, int n_predict,
                                  const std::function<void(const std::string&)>& on_text,
                                  const std::atomic<bool>* stop) {
  using clock = std::chrono::steady_clock;
  GenerationStats st;
  const uint32_t n_ctx = engine_.n_ctx();
  if (prompt.empty()) fail("empty prompt: nothing to evaluate");
  if (prompt.size() >= n_ctx)
    fail("the prompt has {} tokens but the context holds {} (raise -c/--ctx-size)", prompt.size(), n_ctx);

  // Reuse the cached prefix; always evaluate at least the last prompt token (its logits are needed).
  size_t keep = 0;
  while (keep < history_.size() && keep < prompt.size() && history_[keep] == prompt[keep]) ++keep;
  if (keep == prompt.size()) --keep;
  history_.resize(keep);
  std::vector<int32_t> todo(prompt.begin() + static_cast<std::ptrdiff_t>(keep), prompt.end());
  auto t0 = clock::now();
  std::vector<float> logits = engine_.eval(todo, static_cast<uint32_t>(keep), Logits::Last);
  st.prompt_totals = engine_.last_stats();
  st.prompt_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  st.prompt_tokens = todo.size();
  history_.insert(history_.end(), todo.begin(), todo.end());
  const size_t n_vocab = engine_.desc().n_vocab;
  std::vector<float> row(logits.end() - static_cast<std::ptrdiff_t>(n_vocab), logits.end());

  StreamDecoder decoder(tokenizer_);
  auto t1 = clock::now();
  st.stop = StopReason::Length;
  for (int i = 0; n_predict < 0 || i < n_predict; ++i) {
    if (stop && stop->load()) {
      st.stop = StopReason::Interrupted;
      break;
    }
    int32_t next = sampler_.sample(row, history_);
    if (is_end_of_generation(next)) {
      st.stop = StopReason::EndOfGeneration;
      break;
    }
    std::string piece = decoder.push(next);
    if (!piece.empty()) on_text(piece);
    ++st.generated_tokens;
    if (history_.size() + 1 >= n_ctx) {
      st.stop = StopReason::ContextFull;  // `next` was printed; there is no room to cache it
      break;
    }
    std::vector<float> l =
        engine_.eval(std::span<const int32_t>(&next, 1), static_cast<uint32_t>(history_.size()), Logits::Last);
    st.decode_totals += engine_.last_stats();
    history_.push_back(next);
    row.assign(l.end() - static_cast<std::ptrdiff_t>(n_vocab), l.end());
  }
  std::string rest = decoder.flush();
  if (!rest.empty()) on_text(rest);
  st.generate_seconds = std::chrono::duration<double>(clock::now() - t1).count();
  return st;
}

}  // namespace moevk
