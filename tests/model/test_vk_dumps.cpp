// The Vulkan forward pass against llama.cpp's intermediate tensors (../shared/oracle/dumps): layer by
// layer, so a wrong op shows up where it first goes wrong rather than only in the logits.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "loader/gguf/gguf.h"
#include "runtime/model/vk_model.h"
#include "tests/support/oracle.h"
#include "tests/support/test_data.h"

using namespace moevk;
using namespace moevk::test;

namespace {

const int32_t kPrompt[] = {335, 845, 831, 620, 617, 563, 319, 696, 269, 476, 791, 963,
                           743, 379, 667, 554, 458, 602, 883, 487, 795, 582, 278, 952};

}  // namespace

TEST_CASE("vulkan forward: F16 models match llama.cpp's dumps layer by layer") {
  for (const char* model : {"qwen3moe", "mixtral", "olmoe", "qwen2moe", "deepseek2", "gptoss"}) {
    CAPTURE(std::string(model));
    const std::string stem = std::string(model) + "-F16";
    MOEVK_REQUIRE_SHARED(path, "oracle/models/" + stem + ".gguf");
    gguf::File f = gguf::File::open(path);
    EngineOptions o;
    o.n_ctx = 64;
    o.progress = false;
    VkEngine engine(f, o);
    std::map<std::string, std::vector<float>> got;
    engine.set_dump([&](const std::string& name, std::span<const float> data, uint32_t) {
      got[name].assign(data.begin(), data.end());
    });
    engine.eval(kPrompt, 0);
    // The dumps present (index.json, required: under CI=true a missing file fails the test); every
    // one the forward pass is expected to produce must be there and match.
    MOEVK_REQUIRE_SHARED(index_path, "oracle/dumps/" + stem + "/index.json");
    const std::string dir = index_path.substr(0, index_path.rfind('/') + 1);
    std::ifstream index_file(index_path);
    const nlohmann::json index = nlohmann::json::parse(index_file);
    size_t compared = 0;
    for (const auto& [name, info] : index.items()) {
      const bool expected = name.starts_with("ffn_inp-") || name.starts_with("l_out-") ||
                            name == "result_norm" || name.starts_with("ffn_moe_out-");
      auto it = got.find(name);
      if (it == got.end()) {
        CHECK_MESSAGE(!expected, "the forward pass did not dump " << name);
        continue;
      }
      const std::vector<float>& v = it->second;
      CAPTURE(name);
      std::vector<float> want = read_f32(dir + name + ".bin");
      REQUIRE(want.size() == v.size());
      ++compared;
      double mx = 0, ref = 0;
      for (size_t i = 0; i < v.size(); ++i) {
        mx = std::max(mx, double(std::fabs(v[i] - want[i])));
        ref = std::max(ref, double(std::fabs(want[i])));
      }
      // llama.cpp rounds activations to F16 before F16 matmuls: relative differences ~1e-3 of the
      // tensor's scale are legitimate; a wrong op is off by the scale itself.
      CHECK_MESSAGE(mx <= 5e-3 * std::max(1.0, ref), name << ": max abs diff " << mx << " (scale " << ref << ")");
    }
    // At least the first layer's input and output and the final norm.
    CHECK_MESSAGE(compared >= 3, "only " << compared << " dumped tensors compared");
    CHECK(got.count("result_norm") == 1);
  }
}
