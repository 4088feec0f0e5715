// `--backend cpu` (runtime/ref's forward on runtime/cpu's kernels) against llama.cpp's oracle
// (../shared/oracle) on every manifest file: prompt logits, teacher-forced decode, greedy ids, and
// prefill in one batch against token-by-token decode.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "loader/gguf/gguf.h"
#include "loader/model/model.h"
#include "runtime/model/engine.h"
#include "tests/support/engine_oracle.h"
#include "tests/support/oracle.h"
#include "tests/support/test_data.h"

using namespace moevk;
using namespace moevk::test;

namespace {
std::unique_ptr<Engine> cpu_engine(const gguf::File& f, uint32_t n_ctx) {
  EngineOptions o;
  o.backend = Backend::Cpu;
  o.n_ctx = n_ctx;
  o.progress = false;
  return make_engine(f, o);
}
}  // namespace

TEST_CASE("cpu backend matches the llama.cpp oracle on every manifest file") {
  check_engine_on_oracle("cpu", [](const gguf::File& f, uint32_t n_ctx) {
    auto e = cpu_engine(f, n_ctx);
    REQUIRE(e->backend_name() == "cpu");
    return e;
  });
}

TEST_CASE("cpu backend: prefill in one batch equals token-by-token decode; Logits::Last") {
  MOEVK_REQUIRE_SHARED(man_path, "oracle/manifest.json");
  for (const auto& [e, path] : oracle_models(man_path, {"F16", "Q4_K_M"})) {
    CAPTURE(path);
    const auto gf = gguf::File::open(path);
    const std::vector<int32_t> prompt = e["prompt_ids"].get<std::vector<int32_t>>();
    auto a = cpu_engine(gf, uint32_t(prompt.size()));
    const auto batch = a->eval(prompt, 0);
    auto b = cpu_engine(gf, uint32_t(prompt.size()));
    std::vector<float> steps;
    for (size_t i = 0; i < prompt.size(); ++i) {
      auto r = b->eval(std::span(&prompt[i], 1), uint32_t(i));
      steps.insert(steps.end(), r.begin(), r.end());
    }
    REQUIRE(steps.size() == batch.size());
    // Each token's activations are quantised and summed in the same order either way.
    CHECK(max_abs_diff(batch.data(), steps.data(), batch.size()) <= 1e-5);
    const size_t V = batch.size() / prompt.size();
    auto last = a->eval(prompt, 0, Logits::Last);
    REQUIRE(last.size() == V);
    CHECK(max_abs_diff(last.data(), batch.data() + batch.size() - V, V) <= 1e-5);
  }
}
