// Sampler: picks the next token from a row of logits. Greedy when temperature <= 0; otherwise
// repeat penalty -> top-k -> top-p -> min-p -> temperature -> a seeded draw (llama.cpp's order of
// the common samplers).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace moevk {

struct SamplerParams {
  float temperature = 0.8f;  // <= 0: greedy (argmax, ties to the lowest id)
  int32_t top_k = 40;        // <= 0: off
  float top_p = 0.95f;       // >= 1: off
  float min_p = 0.05f;       // <= 0: off
  float repeat_penalty = 1.0f;  // 1: off; applied to the last repeat_last_n tokens
  int32_t repeat_last_n = 64;
  uint64_t seed = 0xC0FFEE;
  // The vocabulary's end-of-generation tokens are never drawn (Session masks them), so generation
  // ends only at -n or a full context (llama.cpp's --ignore-eos).
  bool ignore_eos = false;

  // Throws moevk::Error naming the parameter when a value is out of range (NaN, negative...).
  void validate() const;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p);
  // history: the tokens seen so far (for the repeat penalty).
  int32_t sample(std::span<const float> logits, std::span<const int32_t> history);
  const SamplerParams& params() const { return p_; }

 private:
  SamplerParams p_;
  std::mt19937_64 rng_;
};

int32_t argmax(std::span<const float> logits);  // lowest id on ties

}  // namespace moevk
