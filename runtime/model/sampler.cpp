#include "runtime/model/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_set>

#include "loader/error.h"

namespace moevk {

void SamplerParams::validate() const {
  if (!std::isfinite(temperature)) fail("--temp must be a finite number (got {})", temperature);
  if (!(top_p > 0.0f) || !std::isfinite(top_p) || top_p > 1.0f)
    fail("--top-p must be in (0, 1] (got {})", top_p);
  if (!(min_p >= 0.0f) || min_p > 1.0f) fail("--min-p must be in [0, 1] (got {})", min_p);
  if (!(repeat_penalty > 0.0f) || !std::isfinite(repeat_penalty))
    fail("--repeat-penalty must be a positive number (got {})", repeat_penalty);
  if (top_k < 0) fail("--top-k must be >= 0 (got {})", top_k);
  if (repeat_last_n < 0) fail("--repeat-last-n must be >= 0 (got {})", repeat_last_n);
}

Sampler::Sampler(const SamplerParams& p) : p_(p), rng_(p.seed) { p_.validate(); }

int32_t argmax(std::span<const float> logits) {
  int32_t best = 0;
  for (size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = static_cast<int32_t>(i);
  return best;
}

int32_t Sampler::sample(std::span<const float> logits_in, std::span<const int32_t> history) {
  MOEVK_ASSERT(!logits_in.empty(), "sampling from an empty row");
  std::vector<float> logits(logits_in.begin(), logits_in.end());
  if (p_.repeat_penalty != 1.0f && p_.repeat_last_n > 0) {
    size_t n = std::min<size_t>(history.size(), static_cast<size_t>(p_.repeat_last_n));
    std::unordered_set<int32_t> seen(history.end() - n, history.end());
    for (int32_t t : seen) {
      if (t < 0 || static_cast<size_t>(t) >= logits.size()) continue;
      float& l = logits[t];
      l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
    }
  }
  if (p_.temperature <= 0.0f) return argmax(logits);

  // Candidates sorted by logit, descending (ties: lower id first).
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  size_t k = ids.size();
  if (p_.top_k > 0) k = std::min<size_t>(k, static_cast<size_t>(p_.top_k));
  auto by_logit = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), by_logit);
  ids.resize(k);

  // Softmax over the candidates (at temperature 1 for top-p/min-p, as llama.cpp orders them).
  auto softmax = [&](float temp) {
    std::vector<double> p(ids.size());
    double mx = logits[ids[0]], sum = 0;
    for (size_t i = 0; i < ids.size(); ++i) sum += p[i] = std::exp((logits[ids[i]] - mx) / temp);
    for (double& x : p) x /= sum;
    return p;
  };
  std::vector<double> probs = softmax(1.0f);
  if (p_.top_p < 1.0f) {
    double cum = 0;
    size_t keep = ids.size();
    for (size_t i = 0; i < ids.size(); ++i) {
      cum += probs[i];
      if (cum >= p_.top_p) {
        keep = i + 1;
        break;
      }
    }
    ids.resize(keep);
    probs.resize(keep);
  }
  if (p_.min_p > 0.0f) {
    double floor = probs[0] * p_.min_p;
    size_t keep = 1;
    while (keep < ids.size() && probs[keep] >= floor) ++keep;
    ids.resize(keep);
  }
  probs = softmax(p_.temperature);
  std::discrete_distribution<size_t> draw(probs.begin(), probs.end());
  return ids[draw(rng_)];
}

}  // namespace moevk
