// CPU reference of the MoE router's expert selection (oracle of gate_topk.comp): llama.cpp's
// build_moe_ffn routing for all six architectures, plus DeepSeek-V3 style expert groups.
#pragma once

#include <cstdint>
#include <span>

#include "loader/model/model.h"

namespace moevk::ref {

struct GateParams {
  GatingFunc gating = GatingFunc::Softmax;
  bool norm = false;  // renormalise the k weights to sum 1 (denominator >= norm_min)
  float norm_min = 0.0f;
  float weights_scale = 1.0f;  // multiply the final weights
  uint32_t n_group = 1;        // expert groups (1 = none): experts [g*n/n_group, (g+1)*n/n_group)
  uint32_t topk_group = 1;     // groups kept: those with the largest sum of their top-2 scores

  // The routing of a model (no groups: none of the supported GGUF archs sets them today).
  static GateParams of(const ModelDesc& d);
};

// For each of n_tokens rows of logits [n_tokens][n_expert]:
//   probs = softmax(logits) | sigmoid(logits) | logits (SoftmaxSelected), rounded to f32;
//   score = probs + sel_bias (sel_bias empty: none), in f32; groups outside the top topk_group get
//   score -inf (a group's score: the sum of its two best); ids = the k best scores in descending
//   order (ties: lowest index; NaN ranks lowest, below -inf: ref::score_order_key), so the ids are
//   distinct and in [0, n_expert) for every input;
//   weights = probs[ids] (softmax over them for SoftmaxSelected), / max(sum, norm_min) when norm,
//   * weights_scale.
// ids, weights: [n_tokens][k]; probs_out: [n_tokens][n_expert] or empty.
void gate_topk(const GateParams& p, std::span<const float> logits, std::span<const float> sel_bias,
               uint32_t n_expert, uint32_t k, std::span<int32_t> ids, std::span<float> weights,
               std::span<float> probs_out = {});

}  // namespace moevk::ref
