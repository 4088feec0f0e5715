// The expert FFN on the CPU: gate, up, SwiGLU (or gpt-oss's clamped SwiGLU, with the expert
// biases), down and the weighted sum, for one token or a small batch, on the kernels of kernels.h.
//
// The hook for the streaming engine's CPU-computed misses: given one layer's expert tensors
// (ExpertWeights views the GGUF bytes, or host copies of them), the normalised hidden rows x of the
// layer's tokens and, per token, the expert ids to compute here (the misses; -1 for slots the GPU
// computes), expert_ffn writes each token's weighted sum of those experts. The GPU's partial sum
// for the hits is then added to out before the combine. Results do not depend on the thread count.
#pragma once

#include <cstdint>
#include <span>

#include "runtime/cpu/pool.h"
#include "runtime/ref/forward.h"

namespace moevk::cpu {

using ref::ExpertWeights;

// out[t] = sum over j < n_used with ids[t][j] >= 0 of weights[t][j] * FFN_{ids[t][j]}(x[t]), summed
// in ascending expert order (0 for a token without ids). x, out: [n_tok][n_embd]; ids, weights:
// [n_tok][n_used]. The same contract as ref::expert_ffn. Activations are quantised once per token
// for gate/up and once per (token, expert) for down. Threads split each expert's rows.
void expert_ffn(const ExpertWeights& w, std::span<const float> x, uint32_t n_tok, uint32_t n_used,
                std::span<const int32_t> ids, std::span<const float> weights, std::span<float> out,
                ThreadPool& pool = ThreadPool::global());

// SwiGLU of one row in place of g: g = silu(g) * u, or gpt-oss's clamp (w.act) with w's alpha,
// limit. Float math (expf).
void swiglu_row(const ExpertWeights& w, float* g, const float* u, uint32_t n);

}  // namespace moevk::cpu
