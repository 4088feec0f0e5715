// The Vulkan forward pass against llama.cpp's oracle (../shared/oracle) for every file of the manifest:
// prompt logits vs the exact-fp32 logits, teacher-forced decode vs llama.cpp's decode logits, greedy
// ids, and prefill vs token-by-token decode.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "loader/gguf/gguf.h"
#include "runtime/model/engine.h"
#include "tests/support/disable_features.h"
#include "tests/support/engine_oracle.h"
#include "tests/support/oracle.h"
#include "tests/support/test_data.h"

using namespace moevk;
using namespace moevk::test;

namespace {

std::unique_ptr<Engine> vulkan(const gguf::File& f, uint32_t n_ctx) {
  EngineOptions o;
  o.backend = Backend::Vulkan;
  o.n_ctx = n_ctx;
  o.progress = false;
  return make_engine(f, o);
}

}  // namespace

TEST_CASE("vulkan forward matches the llama.cpp oracle on every manifest file") {
  check_engine_on_oracle("vk", vulkan);  // lavapipe: the row-lane kernels, its default
}

// What a GPU takes: the block-per-lane kernels with the device's paths (lavapipe has both: 16-bit
// weight loads, and integer dot products on activations quantised to int8, which the engine uses
// for batches of 2-7 tokens on the matvecs: here the prompts, with the tiled prefill off).
TEST_CASE("vulkan forward on the GPU kernels (MOEVK_DISABLE=row_lanes,tiled: 16-bit storage, integer dot) matches the oracle") {
  DisableFeatures gpu_kernels("row_lanes,tiled");
  check_engine_on_oracle("vk-gpu-kernels", vulkan);
}

TEST_CASE("vulkan forward on the GPU kernels' float path (MOEVK_DISABLE=row_lanes,int_dot,storage16) matches the oracle") {
  DisableFeatures gpu_kernels("row_lanes,int_dot,storage16");
  check_engine_on_oracle("vk-gpu-float", vulkan);
}

TEST_CASE("vulkan forward: prefill in one batch equals token-by-token decode") {
  MOEVK_REQUIRE_SHARED(man_path, "oracle/manifest.json");
  for (const auto& [e, path] : oracle_models(man_path, {"F16", "Q4_K_M"})) {
    CAPTURE(path);
    const auto gf = gguf::File::open(path);
    const std::vector<int32_t> prompt = e["prompt_ids"].get<std::vector<int32_t>>();
    const double llama_dev = e["stats"]["vs_own_f32ref"]["max_abs"];
    const double tol = std::max(0.05, 1.5 * llama_dev);
    auto a = vulkan(gf, uint32_t(prompt.size()));
    const auto batch = a->eval(prompt, 0);
    auto b = vulkan(gf, uint32_t(prompt.size()));
    std::vector<float> steps;
    for (size_t i = 0; i < prompt.size(); ++i) {
      auto r = b->eval(std::span(&prompt[i], 1), uint32_t(i));
      steps.insert(steps.end(), r.begin(), r.end());
    }
    REQUIRE(steps.size() == batch.size());
    // Same kernels, different batch shapes: only summation order may differ.
    CHECK(max_abs_diff(batch.data(), steps.data(), batch.size()) <= tol);
    // Re-evaluating from an earlier position truncates the cache and reproduces the rows.
    const size_t V = batch.size() / prompt.size();
    auto again = a->eval(std::span(prompt).subspan(10), 10);
    CHECK(max_abs_diff(again.data(), batch.data() + 10 * V, again.size()) <= 1e-5);
  }
}

TEST_CASE("vulkan forward: a long prompt in 512-token passes (last logits only) equals 64-token passes") {
  // Logits::Last runs passes of up to 512 tokens with the output head on the last token only;
  // Logits::All runs passes of 64 (the output head's rows). 150 tokens: one pass against three,
  // with the tiled and grouped kernels either way; MOEVK_DISABLE=tiled is covered by the CLI test.
  MOEVK_REQUIRE_SHARED(man_path, "oracle/manifest.json");
  for (const auto& [e, path] : oracle_models(man_path, {"Q4_K_M"})) {
    CAPTURE(path);
    const auto gf = gguf::File::open(path);
    const auto ids = e["prompt_ids"].get<std::vector<int32_t>>();
    std::vector<int32_t> prompt;
    for (size_t i = 0; prompt.size() < 150; ++i) prompt.push_back(ids[(i * 7) % ids.size()]);
    auto eng = vulkan(gf, 256);
    const uint64_t per_pass = weight_bytes_per_token(gf, eng->desc());
    const auto all = eng->eval(prompt, 0);
    CHECK(eng->last_stats().weight_bytes == 3 * per_pass);  // three passes of 64, 64, 22
    const auto last = eng->eval(prompt, 0, Logits::Last);
    CHECK(eng->last_stats().weight_bytes == per_pass);  // one pass
    if (path.find("qwen3moe") != std::string::npos) {  // 600 tokens: a pass of 512 without the head
      auto big = vulkan(gf, 1024);
      std::vector<int32_t> p600;
      for (size_t i = 0; p600.size() < 600; ++i) p600.push_back(ids[(i * 5) % ids.size()]);
      const auto l600 = big->eval(p600, 0, Logits::Last);
      CHECK(l600.size() == last.size());
      CHECK(big->last_stats().weight_bytes ==
            2 * per_pass - gf.find_tensor("output.weight")->n_bytes);
    }
    const size_t V = last.size();
    REQUIRE(all.size() == prompt.size() * V);
    CHECK(max_abs_diff(last.data(), all.data() + all.size() - V, V) <= 1e-3);
    CHECK(eng->n_past() == prompt.size());
  }
}

TEST_CASE("vulkan engine: bad input gets a clear error") {
  MOEVK_REQUIRE_SHARED(path, "oracle/models/qwen3moe-Q8_0.gguf");
  const auto gf = gguf::File::open(path);
  auto eng = vulkan(gf, 8);
  const int32_t bad[] = {5, 100000};
  CHECK_THROWS_WITH_AS(eng->eval(bad, 0), doctest::Contains("outside the vocabulary"), Error);
  const int32_t many[9] = {};
  CHECK_THROWS_WITH_AS(eng->eval(many, 0), doctest::Contains("context"), Error);
  const int32_t one[] = {1};
  CHECK_THROWS_WITH_AS(eng->eval(one, 3), doctest::Contains("past the"), Error);
  EngineOptions o;
  o.gpu_mem = 1 << 20;  // 1 MiB: below the minimum
  o.progress = false;
  CHECK_THROWS_WITH_AS(make_engine(gf, o), doctest::Contains("budget"), Error);
}
