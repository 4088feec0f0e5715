// Helpers of the C API tests (tests/api/*.cpp): a small synthesised model written once per
// process, one runtime and model shared by the tests that need no special device, sessions,
// prompts, and a token collector.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "loader/model/synth.h"
#include "runtime/include/moevk.h"

namespace moevk::test_api {

// A small qwen3moe model (2 layers, 8 experts, top-2), written once per process.
inline const std::string& model_path() {
  static const std::string path = [] {
    std::string p = "/tmp/moevk-test-api-" + std::to_string(getpid()) + ".gguf";
    moevk::synth::Options o;
    o.arch = moevk::Arch::Qwen3Moe;
    o.type = moevk::GgmlType::Q8_0;
    o.seed = 11;
    moevk::synth::write_synth_file(o, p, true);
    std::atexit(
        [] { std::remove(("/tmp/moevk-test-api-" + std::to_string(getpid()) + ".gguf").c_str()); });
    return p;
  }();
  return path;
}

// One runtime on moevk's own device for the tests that need no special one (each runtime compiles
// its pipelines: lavapipe takes seconds).
inline moevk_runtime* shared_runtime() {
  static moevk_runtime* rt = [] {
    moevk_runtime* r = nullptr;
    REQUIRE(moevk_runtime_create(nullptr, &r) == MOEVK_OK);
    return r;
  }();
  return rt;
}

inline moevk_model* shared_model() {
  static moevk_model* m = [] {
    moevk_model_params p;
    moevk_model_params_init(&p);
    p.n_ctx = 128;
    moevk_model* mm = nullptr;
    const moevk_status s = moevk_model_load(shared_runtime(), model_path().c_str(), &p, &mm);
    INFO(moevk_last_error());
    REQUIRE(s == MOEVK_OK);
    return mm;
  }();
  return m;
}

inline moevk_session* new_session(moevk_model* m, uint64_t seed, float temperature = 0.8f) {
  moevk_session_params p;
  moevk_session_params_init(&p);
  p.seed = seed;
  p.temperature = temperature;
  p.min_p = 0;  // a random model's distribution is flat: keep the draw wide
  moevk_session* s = nullptr;
  const moevk_status st = moevk_session_create(m, &p, &s);
  INFO(moevk_last_error());
  REQUIRE(st == MOEVK_OK);
  return s;
}

inline std::vector<int32_t> prompt_of(moevk_model* m, const char* text) {
  std::vector<int32_t> ids(256);
  size_t n = 0;
  REQUIRE(moevk_tokenize(m, text, std::strlen(text), 0, 0, ids.data(), ids.size(), &n) == MOEVK_OK);
  ids.resize(n);
  return ids;
}

struct Collected {
  std::vector<int32_t> tokens;
  std::string text;
  int stop_after = -1;  // the callback asks to stop after this many tokens
};

inline int collect(void* user, int32_t token, const char* text, size_t len) {
  auto* c = static_cast<Collected*>(user);
  if (token >= 0) c->tokens.push_back(token);
  c->text.append(text, len);
  return c->stop_after >= 0 && int(c->tokens.size()) >= c->stop_after ? 1 : 0;
}

// One uninterrupted generation.
inline std::vector<int32_t> generate_all(moevk_session* s, const std::vector<int32_t>& prompt,
                                         int n_predict) {
  REQUIRE(moevk_session_start(s, prompt.data(), prompt.size(), n_predict) == MOEVK_OK);
  Collected c;
  moevk_generate_result r;
  moevk_generate_result_init(&r);
  REQUIRE(moevk_session_generate(s, nullptr, collect, &c, &r) == MOEVK_OK);
  CHECK(r.stop != MOEVK_STOP_NONE);
  CHECK(r.n_tokens == c.tokens.size());
  return c.tokens;
}

}  // namespace moevk::test_api
