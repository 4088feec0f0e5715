// CPU reference of gate_topk (see gate_topk.h): naive loops, double math, f32 storage.
#include "runtime/ref/gate_topk.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "loader/error.h"
#include "runtime/ref/ops.h"

namespace moevk::ref {

GateParams GateParams::of(const ModelDesc& d) {
  GateParams p;
  p.gating = d.routing.gating;
  p.norm = d.routing.norm_topk;
  p.norm_min = d.routing.norm_min;
  p.weights_scale = d.routing.weights_scale;
  return p;
}

namespace {

// The k best of s in descending order (ref::top_k: NaN lowest, ties to the lowest index).
void best_k(const std::vector<float>& s, uint32_t k, int32_t* out) { top_k(s, std::span<int32_t>(out, k)); }

// A group's score: the sum of its two best scores in the same order (the shader's loop, in f32).
float group_score(const std::vector<float>& score, uint32_t first, uint32_t gs) {
  auto beats = [&](uint32_t a, uint32_t b) {
    const uint32_t ka = score_order_key(score[a]), kb = score_order_key(score[b]);
    return ka > kb || (ka == kb && a < b);
  };
  uint32_t i1 = first, i2 = first + 1;
  if (beats(i2, i1)) std::swap(i1, i2);
  for (uint32_t i = first + 2; i < first + gs; ++i) {
    if (beats(i, i1)) {
      i2 = i1;
      i1 = i;
    } else if (beats(i, i2)) {
      i2 = i;
    }
  }
  return score[i1] + score[i2];
}

}  // namespace

void gate_topk(const GateParams& p, std::span<const float> logits, std::span<const float> sel_bias,
               uint32_t n_expert, uint32_t k, std::span<int32_t> ids, std::span<float> weights,
               std::span<float> probs_out) {
  MOEVK_ASSERT(n_expert > 0 && k > 0 && k <= n_expert, "gate_topk: bad n_expert/k");
  MOEVK_ASSERT(logits.size() % n_expert == 0, "gate_topk: logits size");
  const uint64_t n_tokens = logits.size() / n_expert;
  MOEVK_ASSERT(ids.size() >= n_tokens * k && weights.size() >= n_tokens * k, "gate_topk: out size");
  MOEVK_ASSERT(sel_bias.empty() || sel_bias.size() == n_expert, "gate_topk: sel_bias size");
  MOEVK_ASSERT(probs_out.empty() || probs_out.size() >= n_tokens * n_expert,
               "gate_topk: probs size");
  MOEVK_ASSERT(p.n_group >= 1 && n_expert % p.n_group == 0 && p.topk_group >= 1 &&
                   p.topk_group <= p.n_group && (p.n_group == 1 || n_expert / p.n_group >= 2),
               "gate_topk: bad expert groups");
  const float neg_inf = -std::numeric_limits<float>::infinity();
  std::vector<float> probs(n_expert), score(n_expert);
  for (uint64_t t = 0; t < n_tokens; ++t) {
    const float* l = logits.data() + t * n_expert;
    switch (p.gating) {
      case GatingFunc::Softmax: {
        double m = l[0], sum = 0.0;
        for (uint32_t i = 0; i < n_expert; ++i) m = std::max(m, double(l[i]));
        for (uint32_t i = 0; i < n_expert; ++i) sum += std::exp(double(l[i]) - m);
        for (uint32_t i = 0; i < n_expert; ++i)
          probs[i] = static_cast<float>(std::exp(double(l[i]) - m) / sum);
        break;
      }
      case GatingFunc::Sigmoid:
        for (uint32_t i = 0; i < n_expert; ++i)
          probs[i] = static_cast<float>(1.0 / (1.0 + std::exp(-double(l[i]))));
        break;
      case GatingFunc::SoftmaxSelected:
        std::copy(l, l + n_expert, probs.begin());
        break;
    }
    if (!probs_out.empty()) std::copy(probs.begin(), probs.end(), probs_out.begin() + t * n_expert);
    for (uint32_t i = 0; i < n_expert; ++i)
      score[i] = sel_bias.empty() ? probs[i] : probs[i] + sel_bias[i];
    if (p.n_group > 1) {
      const uint32_t gs = n_expert / p.n_group;
      std::vector<float> gscore(p.n_group);
      for (uint32_t g = 0; g < p.n_group; ++g) gscore[g] = group_score(score, g * gs, gs);
      std::vector<int32_t> keep(p.topk_group);
      best_k(gscore, p.topk_group, keep.data());
      for (uint32_t g = 0; g < p.n_group; ++g)
        if (std::find(keep.begin(), keep.end(), int32_t(g)) == keep.end())
          std::fill(score.begin() + g * gs, score.begin() + (g + 1) * gs, neg_inf);
    }
    int32_t* id = ids.data() + t * k;
    float* w = weights.data() + t * k;
    best_k(score, k, id);
    std::vector<double> wd(k);
    for (uint32_t j = 0; j < k; ++j) wd[j] = probs[id[j]];
    if (p.gating == GatingFunc::SoftmaxSelected) {
      const double m = *std::max_element(wd.begin(), wd.end());
      double sum = 0.0;
      for (double& v : wd) sum += (v = std::exp(v - m));
      for (double& v : wd) v /= sum;
    }
    if (p.norm) {
      double sum = 0.0;
      for (double v : wd) sum += v;
      sum = std::max(sum, double(p.norm_min));
      for (double& v : wd) v /= sum;
    }
    for (uint32_t j = 0; j < k; ++j) w[j] = static_cast<float>(wd[j] * p.weights_scale);
  }
}

}  // namespace moevk::ref
