// gate_topk.comp against runtime/ref/gate_topk, and that reference against llama.cpp's routing
// (the oracle dumps of the six models) and against ref::route (the CPU forward pass's router).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>

#include "loader/gguf/gguf.h"
#include "loader/model/model.h"
#include "runtime/ops/gate_topk.h"
#include "runtime/ref/gate_topk.h"
#include "runtime/ref/ops.h"
#include "tests/support/test_data.h"
#include "tests/support/vk_test.h"

using namespace moevk;
using test::DeviceArray;

namespace {

struct GateOut {
  std::vector<int32_t> ids;
  std::vector<float> weights, probs;
};

GateOut run_gpu(vk::Context& ctx, const ref::GateParams& p, const std::vector<float>& logits,
                const std::vector<float>& bias, uint32_t n_tokens, uint32_t n_expert, uint32_t k,
                bool want_probs = true) {
  DeviceArray dl(ctx, logits.size() * 4ull), db(ctx, std::max<size_t>(bias.size(), 1) * 4),
      di(ctx, uint64_t(n_tokens) * k * 4), dw(ctx, uint64_t(n_tokens) * k * 4),
      dp(ctx, logits.size() * 4ull);
  dl.upload(logits);
  if (!bias.empty()) db.upload(bias);
  vk::Recorder rec(ctx);
  ops::gate_topk(ctx, rec, p, dl.view(), bias.empty() ? vk::View{} : db.view(), di.view(),
                 dw.view(), want_probs ? dp.view() : vk::View{}, n_tokens, n_expert, k);
  rec.submit_and_wait();
  GateOut o{di.read_i32(), dw.read_f32(), {}};
  if (want_probs)
    o.probs = dp.read_f32();
  else
    dp.read_f32(false);  // still checks the guard: nothing written when probs are off
  return o;
}

// Checks ids and weights of the GPU against the reference. f32 gating on the GPU and double gating
// on the CPU may order two scores within ~1e-6 of each other differently: such a near-tie is
// accepted (its token's weights are then not compared); any other difference fails.
void check_routing(const GateOut& got, const GateOut& want, const std::vector<float>& bias,
                   const ref::GateParams& p, uint32_t n_tokens, uint32_t n_expert, uint32_t k) {
  std::vector<float> gw, ww;
  uint32_t near_ties = 0, bad_ids = 0;
  for (uint32_t t = 0; t < n_tokens; ++t) {
    bool same = true;
    std::set<int32_t> seen;
    for (uint32_t j = 0; j < k; ++j) {
      const int32_t g = got.ids[t * k + j], w = want.ids[t * k + j];
      if (g < 0 || g >= int32_t(n_expert) || !seen.insert(g).second) {
        ++bad_ids;
        continue;
      }
      if (g == w) continue;
      same = false;
      auto score = [&](int32_t e) {
        return double(want.probs[uint64_t(t) * n_expert + e]) + (bias.empty() ? 0.0 : bias[e]);
      };
      if (std::fabs(score(g) - score(w)) > 1e-5 * std::max(1.0, std::fabs(score(w)))) {
        if (bad_ids < 5) MESSAGE("token " << t << " slot " << j << ": got " << g << " want " << w);
        ++bad_ids;
      }
    }
    if (!same) {
      ++near_ties;
      continue;
    }
    double sum = 0;
    for (uint32_t j = 0; j < k; ++j) {
      gw.push_back(got.weights[t * k + j]);
      ww.push_back(want.weights[t * k + j]);
      sum += got.weights[t * k + j];
    }
    if (p.norm || p.gating == GatingFunc::SoftmaxSelected)  // weights sum to weights_scale
      CHECK(std::fabs(sum - p.weights_scale) <= 1e-5 * p.weights_scale);
  }
  CHECK_MESSAGE(bad_ids == 0, bad_ids << " wrong ids");
  CHECK_MESSAGE(near_ties <= n_tokens / 50 + 1, near_ties << " tokens with near-tie reorderings");
  // f32 math with a few-ulp exp and another summation order: about 1e-6 relative.
  test::check_close(gw, ww, {1e-7, 1e-5, 1e-6});
  if (!got.probs.empty()) test::check_close(got.probs, want.probs, {1e-7, 1e-5, 1e-6});
}

struct Case {
  const char* what;
  ref::GateParams p;
  bool bias;
};

std::vector<Case> model_cases() {
  std::vector<Case> c;
  ref::GateParams sm;  // olmoe, qwen2moe
  c.push_back({"softmax", sm, false});
  sm.norm = true;  // qwen3moe, mixtral
  sm.norm_min = 6.103515625e-5f;
  c.push_back({"softmax+norm", sm, false});
  ref::GateParams ds;  // deepseek2
  ds.gating = GatingFunc::Sigmoid;
  ds.norm = true;
  ds.norm_min = 6.103515625e-5f;
  ds.weights_scale = 2.5f;
  c.push_back({"sigmoid+bias+norm+scale", ds, true});
  ref::GateParams go;  // gpt-oss
  go.gating = GatingFunc::SoftmaxSelected;
  c.push_back({"softmax over selected", go, false});
  return c;
}

void run_case(vk::Context& ctx, const Case& c, uint32_t n_tokens, uint32_t n_expert, uint32_t k,
              uint64_t seed) {
  const std::string what = c.what;
  CAPTURE(what);
  CAPTURE(n_tokens);
  CAPTURE(n_expert);
  CAPTURE(k);
  CAPTURE(seed);
  CAPTURE(c.p.n_group);
  auto logits = test::random_floats(seed, uint64_t(n_tokens) * n_expert, -3.0f, 3.0f);
  std::vector<float> bias =
      c.bias ? test::random_floats(seed + 1, n_expert, -0.2f, 0.2f) : std::vector<float>{};
  GateOut want{std::vector<int32_t>(n_tokens * k), std::vector<float>(n_tokens * k),
               std::vector<float>(uint64_t(n_tokens) * n_expert)};
  ref::gate_topk(c.p, logits, bias, n_expert, k, want.ids, want.weights, want.probs);
  GateOut got = run_gpu(ctx, c.p, logits, bias, n_tokens, n_expert, k);
  check_routing(got, want, bias, c.p, n_tokens, n_expert, k);
}

std::vector<float> read_f32_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE_MESSAGE(f.good(), "cannot open " << path);
  std::vector<char> b((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

std::vector<float> tensor_f32(const gguf::File& f, const std::string& name) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  REQUIRE_MESSAGE(t != nullptr, "missing tensor " << name);
  REQUIRE(t->type == GgmlType::F32);
  auto d = f.tensor_data(*t);
  std::vector<float> v(t->n_elements);
  std::memcpy(v.data(), d.data(), v.size() * 4);
  return v;
}

}  // namespace

TEST_CASE("gate_topk reference: llama.cpp's selected experts and probs for the six oracle models") {
  for (const std::string m : {"qwen3moe", "mixtral", "olmoe", "qwen2moe", "deepseek2", "gptoss"}) {
    CAPTURE(m);
    MOEVK_REQUIRE_SHARED(model_path, std::string("oracle/models/") + m + "-F16.gguf");
    const std::string dir =
        model_path.substr(0, model_path.rfind("/models/")) + "/dumps/" + m + "-F16/";
    gguf::File f = gguf::File::open(model_path);
    const ModelDesc d = read_hparams(f);
    const ref::GateParams p = ref::GateParams::of(d);
    const uint32_t n = d.n_expert, k = d.n_expert_used;
    uint32_t checked = 0;
    for (uint32_t il = 0; il < d.n_layer; ++il) {
      if (!d.is_moe_layer(il)) continue;
      CAPTURE(il);
      const std::string L = std::to_string(il);
      auto logits = read_f32_file(dir + "ffn_moe_logits-" + L + ".bin");
      auto want_probs = read_f32_file(dir + "ffn_moe_probs-" + L + ".bin");
      auto topk = read_f32_file(dir + "ffn_moe_topk-" + L + ".bin");  // int32 bits
      const uint32_t n_tok = uint32_t(logits.size() / n);
      REQUIRE(topk.size() == size_t(n_tok) * k);
      if (d.routing.router_bias) {  // gpt-oss: the dumped logits are before ffn_gate_inp.bias
        auto rb = tensor_f32(f, layer_tensor_name(il, "ffn_gate_inp.bias"));
        for (size_t i = 0; i < logits.size(); ++i) logits[i] += rb[i % n];
      }
      std::vector<float> bias;
      if (d.routing.selection_bias) bias = tensor_f32(f, layer_tensor_name(il, "exp_probs_b.bias"));
      std::vector<int32_t> ids(n_tok * k);
      std::vector<float> w(n_tok * k), probs(logits.size());
      ref::gate_topk(p, logits, bias, n, k, ids, w, probs);
      std::vector<int32_t> want_ids(topk.size());
      std::memcpy(want_ids.data(), topk.data(), topk.size() * 4);
      CHECK(ids == want_ids);
      // llama.cpp's softmax/sigmoid in f32 against ours in double, rounded: a few ulp.
      test::check_close(probs, want_probs, {1e-7, 1e-5, 1e-6});
      // The CPU forward pass's router (ref::route) agrees token by token.
      for (uint32_t t = 0; t < n_tok; ++t) {
        std::vector<int32_t> rid(k);
        std::vector<float> rw(k);
        ref::route(d.routing, std::span<const float>(logits).subspan(t * n, n), bias, rid, rw);
        CHECK(std::equal(rid.begin(), rid.end(), ids.begin() + t * k));
        for (uint32_t j = 0; j < k; ++j) CHECK(std::fabs(rw[j] - w[t * k + j]) <= 1e-6f);
      }
      ++checked;
    }
    CHECK(checked > 0);
  }
}

TEST_CASE("gate_topk reference: expert groups drop the best expert of a weak group") {
  // 4 groups of 2; group sums of sigmoid: g0 {5,-5} ~1.0, g1 {2,2} ~1.76, g2 {1.5,1.5} ~1.64, g3
  // low.
  const std::vector<float> logits = {5, -5, 2, 2, 1.5f, 1.5f, -1, -1};
  ref::GateParams p;
  p.gating = GatingFunc::Sigmoid;
  std::vector<int32_t> ids(2);
  std::vector<float> w(2);
  ref::gate_topk(p, logits, {}, 8, 2, ids, w);
  CHECK(ids == std::vector<int32_t>{0, 2});  // no groups: expert 0 wins, then the first of the tie
  p.n_group = 4;
  p.topk_group = 2;
  ref::gate_topk(p, logits, {}, 8, 2, ids, w);
  CHECK(ids == std::vector<int32_t>{2, 3});
  GateOut got = run_gpu(test::gpu(), p, logits, {}, 1, 8, 2);
  CHECK(got.ids == ids);
  test::check_close(got.weights, w, {1e-7, 1e-5, 1e-6});  // f32 sigmoid against double: an ulp
}

TEST_CASE("gate_topk: shapes 1, primes, non-multiples of the block, model shapes; every gating") {
  const uint32_t shapes[][3] = {// n_tokens, n_expert, k
                                {1, 1, 1},   {1, 8, 2},   {7, 7, 3},    {13, 8, 4},   {5, 32, 4},
                                {33, 97, 5}, {3, 200, 7}, {17, 128, 8}, {9, 256, 16}, {2, 60, 4}};
  for (bool no_subgroup : {false, true}) {
    CAPTURE(no_subgroup);
    vk::Context& ctx = no_subgroup ? test::gpu_without("subgroup") : test::gpu();
    for (const Case& c : model_cases())
      for (auto& s : shapes) run_case(ctx, c, s[0], s[1], s[2], 100 + s[0] * 7 + s[1] + s[2]);
  }
}

TEST_CASE("gate_topk: DeepSeek-V3 shape, 256 experts in 8 groups, top-4 groups, top-8") {
  Case c = model_cases()[2];
  c.p.n_group = 8;
  c.p.topk_group = 4;
  for (bool no_subgroup : {false, true}) {
    CAPTURE(no_subgroup);
    run_case(no_subgroup ? test::gpu_without("subgroup") : test::gpu(), c, 21, 256, 8, 77);
  }
  c.p.n_group = 5;  // groups of 7, keep 2 of 5
  c.p.topk_group = 2;
  run_case(test::gpu(), c, 11, 35, 6, 78);
}

TEST_CASE("gate_topk: more tokens than one dispatch row of workgroups (65535)") {
  run_case(test::gpu(), model_cases()[1], 65537, 8, 2, 5);
}

TEST_CASE("gate_topk: equal logits -> lowest indices, weights exact (compared with ==)") {
  for (bool no_subgroup : {false, true}) {
    CAPTURE(no_subgroup);
    vk::Context& ctx = no_subgroup ? test::gpu_without("subgroup") : test::gpu();
    // softmax of 128 equal logits = 1/128 exactly; renormalised top-8 = 1/8 exactly.
    ref::GateParams p;
    p.norm = true;
    const uint32_t T = 3, n = 128, k = 8;
    std::vector<float> logits(T * n, 0.25f);
    GateOut got = run_gpu(ctx, p, logits, {}, T, n, k);
    for (uint32_t t = 0; t < T; ++t)
      for (uint32_t j = 0; j < k; ++j) {
        CHECK(got.ids[t * k + j] == int32_t(j));
        CHECK(got.weights[t * k + j] == 0.125f);
      }
    CHECK(got.probs == std::vector<float>(T * n, 1.0f / 128));
    // sigmoid(0) = 0.5 exactly; bias from {-0.5, 0, 0.5, 1, 1.5} gives exact scores with many
    // ties; renormalised 0.5s are 1/8, times 2.5 = 0.3125: ids and weights equal the reference.
    p.gating = GatingFunc::Sigmoid;
    p.norm_min = 6.103515625e-5f;
    p.weights_scale = 2.5f;
    std::vector<float> zeros(T * n, 0.0f);
    auto bias = test::exact_floats(9, n);
    std::vector<int32_t> want_ids(T * k);
    std::vector<float> want_w(T * k);
    ref::gate_topk(p, zeros, bias, n, k, want_ids, want_w);
    got = run_gpu(ctx, p, zeros, bias, T, n, k, false);
    CHECK(got.ids == want_ids);
    CHECK(want_w == std::vector<float>(T * k, 0.3125f));
    test::check_equal(got.weights, want_w);
  }
}

TEST_CASE("gate_topk: ties in exact inputs resolve like the reference (lowest index first)") {
  ref::GateParams p;
  p.norm = true;
  const uint32_t T = 40, n = 64, k = 16;
  auto logits = test::exact_floats(11, T * n);
  std::vector<int32_t> want_ids(T * k);
  std::vector<float> want_w(T * k);
  ref::gate_topk(p, logits, {}, n, k, want_ids, want_w);
  for (bool no_subgroup : {false, true}) {
    CAPTURE(no_subgroup);
    GateOut got =
        run_gpu(no_subgroup ? test::gpu_without("subgroup") : test::gpu(), p, logits, {}, T, n, k);
    CHECK(got.ids == want_ids);  // 5 distinct values among 64: every slot past the 5th is a tie
  }
}

TEST_CASE("gate_topk: NaN, +-inf, -0 and all-equal rows route like the reference, ids always in range") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const uint32_t n = 37, k = 6;
  // Rows built from exact values (the f32 and double gating keep their order) plus special values.
  std::vector<std::vector<float>> rows;
  auto base = test::exact_floats(21, n);
  rows.push_back(std::vector<float>(n, nan));                          // all NaN
  rows.push_back(std::vector<float>(n, inf));                          // all +inf
  rows.push_back(std::vector<float>(n, -inf));                         // all -inf
  rows.push_back(std::vector<float>(n, 0.5f));                         // all equal
  for (uint32_t pos : {0u, 1u, 5u, 36u}) {                             // one NaN among numbers
    rows.push_back(base);
    rows.back()[pos] = nan;
  }
  rows.push_back(base);  // NaN in every other slot, -inf and +inf among them
  for (uint32_t i = 0; i < n; i += 2) rows.back()[i] = nan;
  rows.back()[3] = -inf;
  rows.back()[7] = inf;
  rows.push_back(base);  // -inf everywhere but two slots
  for (uint32_t i = 0; i < n; ++i) rows.back()[i] = i == 9 || i == 30 ? 1.0f : -inf;
  rows.push_back(std::vector<float>(n, 0.0f));  // -0 and +0 tie
  for (uint32_t i = 0; i < n; i += 3) rows.back()[i] = -0.0f;
  const uint32_t T = uint32_t(rows.size());
  std::vector<float> logits;
  for (auto& r : rows) logits.insert(logits.end(), r.begin(), r.end());
  std::vector<Case> cases = model_cases();
  for (bool no_subgroup : {false, true}) {
    CAPTURE(no_subgroup);
    vk::Context& ctx = no_subgroup ? test::gpu_without("subgroup") : test::gpu();
    for (const Case& c : cases) {
      const std::string what = c.what;
      CAPTURE(what);
      std::vector<float> bias = c.bias ? test::exact_floats(22, n) : std::vector<float>{};
      GateOut want{std::vector<int32_t>(T * k), std::vector<float>(T * k), {}};
      ref::gate_topk(c.p, logits, bias, n, k, want.ids, want.weights);
      GateOut got = run_gpu(ctx, c.p, logits, bias, T, n, k, false);
      for (uint32_t t = 0; t < T; ++t) {
        CAPTURE(t);
        std::set<int32_t> seen;
        for (uint32_t j = 0; j < k; ++j) {
          const int32_t id = got.ids[t * k + j];
          CHECK((id >= 0 && id < int32_t(n)));
          CHECK(seen.insert(id).second);
          CHECK(id == want.ids[t * k + j]);
          // Weights only where every logit is finite: Vulkan does not promise IEEE NaN/inf
          // arithmetic (inf - inf), so those rows' weights may differ; their ids may not.
          const float g = got.weights[t * k + j], w = want.weights[t * k + j];
          if (std::all_of(rows[t].begin(), rows[t].end(), [](float x) { return std::isfinite(x); }))
            CHECK(std::fabs(g - w) <= 1e-5f * std::max(1.0f, std::fabs(w)));
        }
      }
      // Any NaN under softmax makes every prob NaN: the first k experts in order.
      if (c.p.gating == GatingFunc::Softmax)
        for (uint32_t j = 0; j < k; ++j) CHECK(want.ids[j] == int32_t(j));
    }
    // Expert groups (36 experts in 6 groups, keep 2) with NaN and -inf rows.
    Case g = cases[2];
    g.p.n_group = 6;
    g.p.topk_group = 2;
    const uint32_t n6 = 36;
    std::vector<float> l6;
    for (auto& r : rows) l6.insert(l6.end(), r.begin(), r.begin() + n6);
    std::vector<float> bias6 = test::exact_floats(23, n6);
    GateOut want{std::vector<int32_t>(T * k), std::vector<float>(T * k), {}};
    ref::gate_topk(g.p, l6, bias6, n6, k, want.ids, want.weights);
    GateOut got = run_gpu(ctx, g.p, l6, bias6, T, n6, k, false);
    CHECK(got.ids == want.ids);
    for (int32_t id : got.ids) CHECK((id >= 0 && id < int32_t(n6)));
  }
}
