// Decode's MoE block start in one dispatch (moe_router: the ffn rms_norm, the router and gate_topk)
// against the three dispatches it replaces (MOEVK_DISABLE=moe_router), on the six oracle models:
// the same logits token by token, and two dispatches fewer per MoE layer and decoded token.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "loader/gguf/gguf.h"
#include "loader/model/model.h"
#include "runtime/model/engine.h"
#include "tests/support/disable_features.h"
#include "tests/support/test_data.h"

using namespace moevk;
using namespace moevk::test;

namespace {

const int32_t kPrompt[] = {335, 845, 831, 620, 617, 563, 319, 696};

std::unique_ptr<Engine> vulkan(const gguf::File& f) {
  EngineOptions o;
  o.backend = Backend::Vulkan;
  o.n_ctx = 32;
  o.progress = false;
  return make_engine(f, o);
}

// Logits of a 4-token prompt, then of 4 tokens decoded one at a time; the dispatches of each
// decoded token.
struct Run {
  std::vector<std::vector<float>> logits;
  std::vector<uint64_t> dispatches;
};

Run run(const gguf::File& f) {
  auto e = vulkan(f);
  Run r;
  r.logits.push_back(e->eval(std::span(kPrompt, 4), 0));
  for (uint32_t i = 4; i < 8; ++i) {
    r.logits.push_back(e->eval(std::span(&kPrompt[i], 1), i));
    r.dispatches.push_back(e->last_stats().dispatches);
  }
  return r;
}

}  // namespace

TEST_CASE("vulkan decode: moe_router (one dispatch) equals rms_norm + router + gate_topk") {
  for (const char* model : {"qwen3moe", "mixtral", "olmoe", "qwen2moe", "deepseek2", "gptoss"}) {
    CAPTURE(std::string(model));
    MOEVK_REQUIRE_SHARED(path, std::string("oracle/models/") + model + "-F16.gguf");
    gguf::File f = gguf::File::open(path);
    const ModelDesc d = read_hparams(f);
    uint64_t moe_layers = 0;
    for (uint32_t il = 0; il < d.n_layer; ++il) moe_layers += d.is_moe_layer(il) ? 1 : 0;
    REQUIRE(moe_layers > 0);
    const Run fused = run(f);
    Run apart;
    {
      DisableFeatures off("moe_router");
      apart = run(f);
    }
    REQUIRE(fused.logits.size() == apart.logits.size());
    for (size_t t = 0; t < fused.logits.size(); ++t) {
      CAPTURE(t);
      const std::vector<float>&a = fused.logits[t], &b = apart.logits[t];
      REQUIRE(a.size() == b.size());
      double mx = 0, scale = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        mx = std::max(mx, double(std::fabs(a[i] - b[i])));
        scale = std::max(scale, double(std::fabs(b[i])));
      }
      // h's sum of squares in another order (an ulp or two), carried through two or three
      // layers: ~1e-6 of the scale; a wrong row, weight or id is off by the scale itself.
      CHECK_MESSAGE(mx <= 1e-4 * std::max(1.0, scale), "max abs diff " << mx << " (scale " << scale << ")");
    }
    // Every router of these files is a float tensor, so every MoE layer takes the fused path.
    for (size_t t = 0; t < fused.dispatches.size(); ++t) {
      CAPTURE(t);
      CHECK(apart.dispatches[t] == fused.dispatches[t] + 2 * moe_layers);
    }
  }
}
