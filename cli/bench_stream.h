// `moevk bench --gpu-mem LIST`: the expert-streaming sweep (issue 8). For each budget of the list
// (sizes, percentages of the resident size, or "min"), one engine: prompt and decode tok/s as
// measured here, the expert cache's figures per decoded token, and the tok/s the simulator
// (runtime/sched/simulate.h) predicts for a GPU with the given bus bandwidth and resident speed,
// labelled a prediction.
#pragma once

#include <cstdint>
#include <string>

#include "loader/gguf/gguf.h"
#include "runtime/model/engine.h"

namespace moevk::cli {

struct StreamBenchOptions {
  std::string budgets;          // "100%,50%,25%,min" or sizes
  uint32_t n_prompt = 64, n_gen = 32;
  double predict_bus_gbs = 55.0;      // the reference H100's pinned host-to-device rate
  double predict_resident_tok_s = 212.0;  // llama.cpp's resident decode there (../shared/perf)
  uint32_t predict_layers = 48;       // the full model's MoE layers (Qwen3-30B-A3B: 48)
  // CPU experts in the prediction (with --cpu-experts auto|on): the CPU's expert bandwidth (llama.cpp's
  // CPU path on the reference machine: ~22 GB/s) and a host round trip per layer.
  double predict_cpu_gbs = 22.0;
  double predict_round_trip_us = 20.0;
  uint64_t predict_tokens = 256;
};

// True when a --gpu-mem value asks for a sweep (a list, a percentage or "min").
bool is_budget_sweep(const std::string& value);
// UsageError naming --gpu-mem unless every item of the list is a size, a percentage in (0, 100] or
// "min".
void check_budget_list(const std::string& value);
int bench_streaming(const gguf::File& file, EngineOptions eo, const StreamBenchOptions& o);

}  // namespace moevk::cli
