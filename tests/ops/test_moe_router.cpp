// moe_router.comp (decode's rms_norm + router matvec + gate_topk in one dispatch) against the
// references of the three ops it replaces: ref::rms_norm, ref::matvec, ref::gate_topk. Every body
// (row lanes, the GPU body with subgroup and with shared-memory reductions), every gating mode,
// both biases, expert groups; each case dispatches twice in a row on different inputs (the
// workgroup counter must be back at 0 after each dispatch, or the second selection never runs).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "loader/quants/quants.h"
#include "runtime/ops/moe_router.h"
#include "runtime/ref/gate_topk.h"
#include "runtime/ref/ops.h"
#include "tests/support/vk_test.h"

using namespace moevk;
using test::DeviceArray;

namespace {

// The bodies: the device's (row lanes on a CPU device), the GPU body with subgroup reductions, and
// the GPU body with shared-memory reductions.
const char* const kBodies[] = {"", "row_lanes", "subgroup"};

vk::Context& device(const std::string& disabled) {
  return disabled.empty() ? test::gpu() : test::gpu_without(disabled);
}

struct Inputs {
  std::vector<float> x, nw, w, rbias, sbias;  // w: [n_expert][n_embd] as the router type rounds it
};

struct Outputs {
  std::vector<float> h, logits, weights;
  std::vector<int32_t> ids;
};

struct Shape {
  uint32_t n_embd, n_expert, k;
};

// The router's bytes in type t, and w replaced by what those bytes hold.
std::vector<uint8_t> router_bytes(GgmlType t, std::vector<float>& w, const Shape& s) {
  const uint64_t rb = *row_bytes(t, s.n_embd);
  std::vector<uint8_t> b(rb * s.n_expert);
  for (uint32_t r = 0; r < s.n_expert; ++r) {
    quantize_row(t, w.data() + uint64_t(r) * s.n_embd, b.data() + r * rb, s.n_embd);
    dequantize_row(t, b.data() + r * rb, w.data() + uint64_t(r) * s.n_embd, s.n_embd);
  }
  return b;
}

// Two dispatches in one command buffer (a barrier between them), on in[0] and in[1], into separate
// poisoned outputs; afterwards the counter must read 0 again.
std::vector<Outputs> run_gpu(vk::Context& ctx, GgmlType t, const ref::GateParams& p,
                             Inputs (&in)[2], const Shape& s, float eps, bool rbias, bool sbias) {
  const uint32_t E = s.n_embd, X = s.n_expert, K = s.k;
  const ops::MatvecConfig cfg = ops::matvec_config_for(ctx.features());
  DeviceArray count(ctx, ops::kMoeRouterCounterBytes);
  count.upload(std::vector<uint32_t>{0});
  std::vector<std::unique_ptr<DeviceArray>> keep;
  auto array = [&](uint64_t bytes) -> DeviceArray& {
    keep.push_back(std::make_unique<DeviceArray>(ctx, bytes));
    return *keep.back();
  };
  struct Out {
    DeviceArray *h, *logits, *ids, *weights;
  };
  std::vector<Out> outs;
  vk::Recorder rec(ctx);
  for (Inputs& i : in) {
    DeviceArray& dx = array(E * 4ull);
    DeviceArray& dn = array(E * 4ull);
    dx.upload(i.x);
    dn.upload(i.nw);
    const std::vector<uint8_t> wb = router_bytes(t, i.w, s);
    DeviceArray& dw = array(wb.size());
    dw.upload(wb);
    DeviceArray& drb = array(X * 4ull);
    DeviceArray& dsb = array(X * 4ull);
    if (rbias) drb.upload(i.rbias);
    if (sbias) dsb.upload(i.sbias);
    Out o{&array(E * 4ull), &array(X * 4ull), &array(K * 4ull), &array(K * 4ull)};
    ops::MoeRouterArgs a;
    a.x = dx.view();
    a.norm = dn.view();
    a.eps = eps;
    a.router = ops::WeightView{dw.view(), t, X, E};
    a.router_bias = rbias ? drb.view() : vk::View{};
    a.sel_bias = sbias ? dsb.view() : vk::View{};
    a.h = o.h->view();
    a.logits = o.logits->view();
    a.ids = o.ids->view();
    a.weights = o.weights->view();
    a.counter = count.view();
    a.k = K;
    ops::moe_router(ctx, rec, p, a, cfg);
    rec.barrier();
    outs.push_back(o);
    // The inputs' guards: nothing written past them either (read without the written check).
  }
  rec.submit_and_wait();
  std::vector<Outputs> r;
  for (Out& o : outs)
    r.push_back({o.h->read_f32(), o.logits->read_f32(), o.weights->read_f32(), o.ids->read_i32()});
  for (auto& a : keep) (void)a->read_bytes();
  CHECK(count.read_i32() == std::vector<int32_t>{0});
  return r;
}

// h and logits against the references, the selection against ref::gate_topk on the GPU's own
// logits (f32 gating against double: near-ties may reorder, as in test_gate_topk.cpp).
void check(const Outputs& got, const Inputs& in, const ref::GateParams& p, const Shape& s,
           float eps, bool rbias, bool sbias, bool exact) {
  const uint32_t E = s.n_embd, X = s.n_expert, K = s.k;
  std::vector<float> h(E), logits(X);
  ref::rms_norm(in.x, in.nw, eps, E, h);
  ref::matvec(ref::f32_matrix(in.w, E), h, logits);
  if (rbias)
    for (uint32_t r = 0; r < X; ++r) logits[r] += in.rbias[r];
  if (exact) {
    test::check_equal(got.h, h);
    test::check_equal(got.logits, logits);
  } else {
    // rms_norm: fp32 sum of squares in another order, rsqrt, two multiplies (as test_rms_norm).
    test::check_close(got.h, h, {1e-6, 1e-5, 2e-6});
    // The router product of those h: an fp32 sum of n_embd terms of |w h| <= ~2 (test_matvec's
    // bound, sqrt(n) terms times 1e-4) plus h's 1e-5 relative error carried through.
    double w_rms = 0;
    for (float v : in.w) w_rms += double(v) * v;
    w_rms = std::sqrt(w_rms / double(in.w.size()));
    const double term = std::max(w_rms, 1e-3) * 2.0;
    test::check_close(got.logits, logits, {1e-4 * std::sqrt(double(E)) * term, 1e-4, 1e-4});
  }
  const std::vector<float> no_bias;
  std::vector<int32_t> want_ids(K);
  std::vector<float> want_w(K), probs(X);
  ref::gate_topk(p, got.logits, sbias ? in.sbias : no_bias, X, K, want_ids, want_w, probs);
  std::set<int32_t> seen;
  bool same = true;
  for (uint32_t j = 0; j < K; ++j) {
    const int32_t g = got.ids[j], w = want_ids[j];
    CAPTURE(j);
    REQUIRE((g >= 0 && g < int32_t(X)));
    CHECK(seen.insert(g).second);
    if (g == w) continue;
    same = false;
    auto score = [&](int32_t e) { return double(probs[e]) + (sbias ? in.sbias[e] : 0.0); };
    CHECK(std::fabs(score(g) - score(w)) <= 1e-5 * std::max(1.0, std::fabs(score(w))));
  }
  if (same) {
    test::check_close(got.weights, want_w, {1e-7, 1e-5, 1e-6});  // f32 exp against double
    double sum = 0;
    for (float v : got.weights) sum += v;
    if (p.norm || p.gating == GatingFunc::SoftmaxSelected)  // the weights sum to weights_scale
      CHECK(std::fabs(sum - p.weights_scale) <= 1e-5 * p.weights_scale);
  }
}

struct Case {
  const char* what;
  ref::GateParams p;
  bool rbias, sbias;
};

std::vector<Case> cases() {
  std::vector<Case> c;
  ref::GateParams sm;  // olmoe, qwen2moe
  c.push_back({"softmax", sm, false, false});
  sm.norm = true;  // qwen3moe, mixtral
  sm.norm_min = 6.103515625e-5f;
  c.push_back({"softmax+norm", sm, false, false});
  ref::GateParams ds;  // deepseek2
  ds.gating = GatingFunc::Sigmoid;
  ds.norm = true;
  ds.norm_min = 6.103515625e-5f;
  ds.weights_scale = 2.5f;
  c.push_back({"sigmoid+selection bias+norm+scale", ds, false, true});
  ref::GateParams go;  // gpt-oss (router bias)
  go.gating = GatingFunc::SoftmaxSelected;
  c.push_back({"softmax over selected+router bias", go, true, false});
  return c;
}

void run_case(const char* body, GgmlType t, const Case& c, const Shape& s, uint64_t seed) {
  const std::string what = c.what, type(traits(t).name), disabled = body;
  CAPTURE(disabled);
  CAPTURE(type);
  CAPTURE(what);
  CAPTURE(s.n_embd);
  CAPTURE(s.n_expert);
  CAPTURE(s.k);
  CAPTURE(c.p.n_group);
  CAPTURE(seed);
  const float eps = 1e-6f;
  Inputs in[2];
  for (uint64_t i = 0; i < 2; ++i) {
    const uint64_t sd = seed * 16 + i * 8;
    in[i].x = test::random_floats(sd, s.n_embd, -2.0f, 2.0f);
    in[i].nw = test::random_floats(sd + 1, s.n_embd, 0.5f, 1.5f);
    // Router rows of about the scale real ones have, so the logits spread over a few units.
    const float a = 3.0f / std::sqrt(float(s.n_embd));
    in[i].w = test::random_floats(sd + 2, uint64_t(s.n_expert) * s.n_embd, -a, a);
    in[i].rbias = test::random_floats(sd + 3, s.n_expert, -0.5f, 0.5f);
    in[i].sbias = test::random_floats(sd + 4, s.n_expert, -0.2f, 0.2f);
  }
  auto got = run_gpu(device(body), t, c.p, in, s, eps, c.rbias, c.sbias);
  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    check(got[i], in[i], c.p, s, eps, c.rbias, c.sbias, false);
  }
}

}  // namespace

TEST_CASE("moe_router: shapes 1, primes, non-multiples of the workgroup rows, model shapes") {
  const Shape shapes[] = {{32, 1, 1},   {64, 8, 2},     {96, 7, 3},    {100, 13, 4},   {160, 33, 5},
                          {256, 60, 4}, {2048, 128, 8}, {2880, 32, 4}, {128, 256, 16}, {7, 5, 2}};
  for (const char* body : kBodies)
    for (const Case& c : cases())
      for (const Shape& s : shapes)
        run_case(body, GgmlType::F32, c, s, s.n_embd * 7 + s.n_expert * 3 + s.k);
}

TEST_CASE("moe_router: F16 and BF16 routers") {
  const Shape shapes[] = {{64, 8, 2}, {100, 13, 4}, {2048, 60, 4}, {2880, 32, 4}};
  for (const char* body : kBodies)
    for (GgmlType t : {GgmlType::F16, GgmlType::BF16})
      for (const Shape& s : shapes) run_case(body, t, cases()[1], s, 50 + s.n_expert);
}

TEST_CASE("moe_router: expert groups (DeepSeek-V3's 256 experts in 8 groups, top-4 groups)") {
  Case c = cases()[2];
  c.p.n_group = 8;
  c.p.topk_group = 4;
  for (const char* body : kBodies) run_case(body, GgmlType::F32, c, {256, 256, 8}, 77);
  c.p.n_group = 5;  // groups of 7, keep 2 of 5
  c.p.topk_group = 2;
  run_case("", GgmlType::F32, c, {96, 35, 6}, 78);
}

TEST_CASE("moe_router: exact inputs, h and logits compared with ==") {
  // x = +-0.5 has mean(x^2) = 0.25, so with eps = 0 the scale is rsqrt(0.25) = 2 (exact for a
  // power of four) and h = +-nw exactly; nw and W from {-0.5, 0, 0.5, 1, 1.5} make every product a
  // multiple of 0.25 and every partial sum exact in fp32, whatever the order.
  const Shape s{256, 37, 6};
  ref::GateParams p;
  p.norm = true;
  for (const char* body : kBodies)
    for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
      const std::string disabled = body, type(traits(t).name);
      CAPTURE(disabled);
      CAPTURE(type);
      Inputs in[2];
      for (uint64_t i = 0; i < 2; ++i) {
        in[i].x = test::exact_floats(30 + i, s.n_embd);
        for (float& v : in[i].x) v = v < 0.5f ? -0.5f : 0.5f;
        in[i].nw = test::exact_floats(40 + i, s.n_embd);
        in[i].w = test::exact_floats(50 + i, uint64_t(s.n_expert) * s.n_embd);
      }
      auto got = run_gpu(device(body), t, p, in, s, 0.0f, false, false);
      for (int i = 0; i < 2; ++i) {
        CAPTURE(i);
        check(got[i], in[i], p, s, 0.0f, false, false, true);
        // Many equal logits: the selection must break ties to the lowest index, as the reference.
        std::vector<int32_t> ids(s.k);
        std::vector<float> w(s.k);
        ref::gate_topk(p, got[i].logits, {}, s.n_expert, s.k, ids, w);
        CHECK(got[i].ids == ids);
      }
    }
}
