// What run, chat and logits share: the engine options every one of them takes, and printing stats.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "cli/args.h"
#include "loader/gguf/gguf.h"
#include "loader/tokenizer/tokenizer.h"
#include "runtime/model/engine.h"
#include "runtime/model/sampler.h"
#include "runtime/model/session.h"

namespace moevk::cli {

// Declares -c/--ctx-size, --backend, --gpu-mem, --device, --cache-policy, --trace on args.
void engine_options(Args& args);
EngineOptions engine_options_from(const Args& args);
// Declares --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n, --seed.
void sampler_options(Args& args);
SamplerParams sampler_params_from(const Args& args);

extern const char* const kEngineHelp;   // help lines of engine_options
extern const char* const kSamplerHelp;  // help lines of sampler_options

// The tokenizer and the engine of an open model. The tokenizer is built on a second thread while
// the engine uploads the weights (a large vocabulary takes tens of milliseconds); the file must
// outlive the engine.
struct LoadedModel {
  Tokenizer tokenizer;
  std::unique_ptr<Engine> engine;
};
LoadedModel load_model(const gguf::File& file, const EngineOptions& options);

// Device memory (planned, allocated) and, when streaming, the expert cache per MoE layer and one
// total line with "misses N" (stderr).
// --profile: the engine's GPU time per op over `tokens` tokens, sorted by time, with the weight bytes
// each op read, the GB/s that makes and its share of bandwidth_gbs (0: not known).
void print_profile(FILE* out, const std::string& title, const Engine& engine, uint64_t tokens,
                   double bandwidth_gbs);
void print_memory_and_streaming(const Engine& engine, const EvalStats& stats);

// Prompt and generation speed and memory (stderr); with `stats`, per decoded token figures.
void print_generation_stats(const GenerationStats& st, const Engine& engine, bool stats);

}  // namespace moevk::cli
