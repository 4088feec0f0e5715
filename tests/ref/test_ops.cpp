// Unit tests of the CPU reference ops on tiny inputs whose results are exact (values from
// {-0.5, 0, 0.5, 1, 1.5}) or known in closed form.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>
#include <vector>

#include "loader/quants/quants.h"
#include "runtime/ref/ops.h"

using namespace moevk;
using namespace moevk::ref;

TEST_CASE("ref matmul: exact f32 products, batches, row slices") {
  // W [3 rows][4 cols]
  const std::vector<float> w = {1, 0.5f, -0.5f, 0, 1.5f, 1, 0, -0.5f, 0, 0, 1, 1};
  const std::vector<float> x = {1, 1, 1, 1, 0.5f, -0.5f, 1.5f, 0};  // 2 tokens
  std::vector<float> y(6, NAN);
  matmul(f32_matrix(w, 4), x, 2, y);
  CHECK(y == std::vector<float>{1, 2, 2, -0.5f, 0.25f, 1.5f});
  std::vector<float> y1(1, NAN);
  matvec(f32_matrix(w, 4).rows(2, 1), std::span(x).subspan(4, 4), y1);
  CHECK(y1[0] == 1.5f);
}

TEST_CASE("ref matmul: quantised rows are dequantised exactly once per row") {
  const int n = 256, rows = 5;
  std::vector<float> src(n * rows);
  for (int i = 0; i < n * rows; ++i) src[i] = float((i * 7) % 5) * 0.5f - 0.5f;  // {-0.5..1.5}
  const std::vector<float> x = [&] {
    std::vector<float> v(2 * n);
    for (int i = 0; i < 2 * n; ++i) v[i] = float((i * 3) % 5) * 0.5f - 0.5f;
    return v;
  }();
  for (GgmlType t : {GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_K}) {
    CAPTURE(traits(t).name);
    const uint64_t rb = *row_bytes(t, n);
    std::vector<uint8_t> q(rb * rows);
    for (int r = 0; r < rows; ++r) quantize_row(t, src.data() + r * n, q.data() + r * rb, n);
    QMatrix m{t, q.data(), uint64_t(n), uint64_t(rows), rb};
    std::vector<float> deq(n * rows);
    for (int r = 0; r < rows; ++r) m.dequant_row(r, deq.data() + r * n);
    if (t == GgmlType::F16) CHECK(deq == src);  // these values are exact in f16
    std::vector<float> a(2 * rows), b(2 * rows);
    matmul(m, x, 2, a);
    matmul(f32_matrix(deq, n), x, 2, b);
    CHECK(a == b);
  }
}

TEST_CASE("ref rms_norm and add_bias") {
  const std::vector<float> x = {1, -1, 1, -1, 0.5f, 0.5f, -0.5f, 0.5f};
  const std::vector<float> w = {1, 0.5f, 1.5f, 0};
  std::vector<float> y(8);
  rms_norm(x, w, 0.0f, 4, y);
  CHECK(y == std::vector<float>{1, -0.5f, 1.5f, 0, 1, 0.5f, -1.5f, 0});
  rms_norm(x, {}, 1e-5f, 4, y);  // no weight; eps perturbs the scale slightly
  CHECK(y[0] == doctest::Approx(1.0 / std::sqrt(1.0 + 1e-5)).epsilon(1e-7));
  std::vector<float> v = {0, 1, 0, 1};
  add_bias(v, std::vector<float>{0.5f, -0.5f});
  CHECK(v == std::vector<float>{0.5f, 0.5f, 0.5f, 0.5f});
}

TEST_CASE("ref rope: identity at 0, normal vs NeoX pairs, partial rotation, YaRN ramp and mscale") {
  RopeParams p;
  p.n_rot = 4;
  p.freq_base = 10000.0f;
  std::vector<float> x = {1, 0.5f, -0.5f, 1.5f};
  std::vector<float> y = x;
  rope(y, 1, 4, 0, p);
  CHECK(y == x);

  // pos 1: pair i rotates by theta_i = base^(-2i/4) = {1, 0.01}.
  const double c0 = std::cos(1.0), s0 = std::sin(1.0), c1 = std::cos(0.01), s1 = std::sin(0.01);
  y = {1, 0, 0, 1};  // normal: pairs (0,1), (2,3)
  rope(y, 1, 4, 1, p);
  CHECK(y[0] == doctest::Approx(c0));
  CHECK(y[1] == doctest::Approx(s0));
  CHECK(y[2] == doctest::Approx(-s1));
  CHECK(y[3] == doctest::Approx(c1));
  p.type = RopeType::Neox;  // pairs (0,2), (1,3)
  y = {1, 0, 0, 1};
  rope(y, 1, 4, 1, p);
  CHECK(y[0] == doctest::Approx(c0));
  CHECK(y[2] == doctest::Approx(s0));
  CHECK(y[1] == doctest::Approx(-s1));
  CHECK(y[3] == doctest::Approx(c1));

  // n_rot 2 of head_dim 4, two heads: dims 2,3 of each head pass through.
  p.n_rot = 2;
  y = {1, 0, 0.5f, -0.5f, 0, 1, 1.5f, 1};
  rope(y, 2, 4, 1, p);
  CHECK(y[0] == doctest::Approx(c0));
  CHECK(y[1] == doctest::Approx(s0));
  CHECK(y[2] == 0.5f);
  CHECK(y[3] == -0.5f);
  CHECK(y[4] == doctest::Approx(-s0));
  CHECK(y[5] == doctest::Approx(c0));
  CHECK(y[6] == 1.5f);
  CHECK(y[7] == 1.0f);

  // YaRN (gpt-oss shape: n_rot 64, base 150000, factor 4, original context 64): the correction
  // range is [0, 7]; pair 0 keeps the extrapolated angle, pairs >= 7 use theta / 4, and cos/sin are
  // scaled by 1 + 0.1 ln 4.
  RopeParams yp;
  yp.n_rot = 64;
  yp.type = RopeType::Neox;
  yp.freq_base = 150000.0f;
  yp.freq_scale = 0.25f;
  yp.ext_factor = 1.0f;
  yp.n_ctx_orig = 64;
  const double ms = 1.0 + 0.1 * std::log(4.0);
  for (int i : {0, 7, 20}) {
    CAPTURE(i);
    std::vector<float> v(64, 0.0f);
    v[i] = 1.0f;
    rope(v, 1, 64, 5, yp);
    const double te = 5.0 * std::pow(150000.0, -2.0 * i / 64);
    const double th = i == 0 ? te : te * 0.25;
    CHECK(v[i] == doctest::Approx(std::cos(th) * ms));
    CHECK(v[i + 32] == doctest::Approx(std::sin(th) * ms));
  }
}

TEST_CASE("ref softmax, top_k ties to the lowest index") {
  std::vector<float> s = {1, 1, 1, 1};
  softmax(s);
  CHECK(s == std::vector<float>{0.25f, 0.25f, 0.25f, 0.25f});
  const std::vector<float> sc = {0.5f, 1, 1, 0.5f, 1};
  std::vector<int32_t> ids(3);
  top_k(sc, ids);
  CHECK(ids == std::vector<int32_t>{1, 2, 4});
  ids.resize(4);
  top_k(sc, ids);
  CHECK(ids == std::vector<int32_t>{1, 2, 4, 0});
}

TEST_CASE("ref route: the gating variants") {
  const std::vector<float> logits = {0, 1.5f, -0.5f, 1, 0.5f};
  std::vector<int32_t> ids(2);
  std::vector<float> w(2);

  Routing soft;  // olmoe / qwen2moe: softmax, no renormalisation
  route(soft, logits, {}, ids, w);
  CHECK(ids == std::vector<int32_t>{1, 3});
  std::vector<float> p(logits);
  softmax(p);
  CHECK(w[0] == p[1]);
  CHECK(w[1] == p[3]);

  soft.norm_topk = true;  // qwen3moe / mixtral: weights sum to 1
  route(soft, logits, {}, ids, w);
  CHECK(w[0] + w[1] == doctest::Approx(1.0));
  CHECK(w[0] / w[1] == doctest::Approx(std::exp(0.5)));

  Routing sig;  // deepseek2: sigmoid, selection bias only for the choice, renorm, scale 2.5
  sig.gating = GatingFunc::Sigmoid;
  sig.norm_topk = true;
  sig.weights_scale = 2.5f;
  const std::vector<float> bias = {0, 0, 1, 0, 0};
  std::vector<float> probs(5);
  route(sig, logits, bias, ids, w, probs);
  CHECK(ids == std::vector<int32_t>{2, 1});  // expert 2 selected by its bias
  CHECK(probs[2] == sigmoid(-0.5f));
  const double sum = double(sigmoid(-0.5f)) + sigmoid(1.5f);
  CHECK(w[0] == doctest::Approx(2.5 * sigmoid(-0.5f) / sum));
  CHECK(w[0] + w[1] == doctest::Approx(2.5));

  Routing sel;  // gpt-oss: top-k of the logits, softmax over the selected
  sel.gating = GatingFunc::SoftmaxSelected;
  route(sel, logits, {}, ids, w);
  CHECK(ids == std::vector<int32_t>{1, 3});
  CHECK(w[0] == doctest::Approx(1.0 / (1.0 + std::exp(-0.5))));
  CHECK(w[0] + w[1] == doctest::Approx(1.0));

  // A tie at the k-th place goes to the lower index.
  const std::vector<float> tie = {1, 0, 1, 1};
  route(Routing{}, tie, {}, ids, w);
  CHECK(ids == std::vector<int32_t>{0, 2});
}

TEST_CASE("ref top_k and route: NaN ranks lowest, +-inf and -0 order, ids always distinct and in range") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  // A strict order for every input: NaN below -inf, -0 == +0 (ties to the lower index).
  CHECK(score_order_key(nan) < score_order_key(-inf));
  CHECK(score_order_key(-nan) == score_order_key(nan));
  CHECK(score_order_key(-inf) < score_order_key(-3.0e38f));
  CHECK(score_order_key(-1.0f) < score_order_key(-0.0f));
  CHECK(score_order_key(-0.0f) == score_order_key(0.0f));
  CHECK(score_order_key(0.0f) < score_order_key(1e-45f));
  CHECK(score_order_key(3.0e38f) < score_order_key(inf));
  std::vector<int32_t> ids(4);
  top_k(std::vector<float>{nan, 1, nan, -inf, 0, -0.0f, inf, nan}, ids);
  CHECK(ids == std::vector<int32_t>{6, 1, 4, 5});
  ids.resize(8);
  top_k(std::vector<float>{nan, 1, nan, -inf, 0, -0.0f, inf, nan}, ids);
  CHECK(ids == std::vector<int32_t>{6, 1, 4, 5, 3, 0, 2, 7});
  // Many NaNs: without a strict order partial_sort may read outside the range or repeat an id.
  std::vector<float> many(1000, nan);
  for (size_t i = 0; i < many.size(); i += 7) many[i] = float(i % 13);
  ids.assign(64, -1);
  top_k(many, ids);
  std::set<int32_t> seen(ids.begin(), ids.end());
  CHECK(seen.size() == ids.size());
  for (int32_t id : ids) CHECK((id >= 0 && id < 1000));
  for (int32_t id : ids) CHECK(!std::isnan(many[size_t(id)]));  // 143 numbers rank above the NaNs
  // route with each gating on NaN, inf and all-equal rows.
  for (GatingFunc g : {GatingFunc::Softmax, GatingFunc::Sigmoid, GatingFunc::SoftmaxSelected}) {
    Routing r;
    r.gating = g;
    r.norm_topk = true;
    for (const std::vector<float>& row : {std::vector<float>(6, nan), std::vector<float>(6, inf),
                                          std::vector<float>(6, -inf), std::vector<float>(6, 2.0f),
                                          std::vector<float>{0, nan, 1, -inf, inf, nan}}) {
      std::vector<int32_t> rid(3);
      std::vector<float> rw(3);
      route(r, row, {}, rid, rw);
      std::set<int32_t> s(rid.begin(), rid.end());
      CHECK(s.size() == 3);
      for (int32_t id : rid) CHECK((id >= 0 && id < 6));
    }
  }
  std::vector<int32_t> rid(2);
  std::vector<float> rw(2);
  Routing sig;
  sig.gating = GatingFunc::Sigmoid;
  route(sig, std::vector<float>{nan, -inf, 0.5f, nan, inf}, {}, rid, rw);
  CHECK(rid == std::vector<int32_t>{4, 2});
}

TEST_CASE("ref swiglu and clamped swiglu") {
  const std::vector<float> g = {0, 1, -1, 10}, u = {1.5f, 1, 0.5f, 10};
  std::vector<float> o(4);
  swiglu(g, u, o);
  CHECK(o[0] == 0.0f);
  CHECK(o[1] == doctest::Approx(1.0 / (1.0 + std::exp(-1.0))));
  CHECK(o[2] == doctest::Approx(-0.5 / (1.0 + std::exp(1.0))));
  swiglu_clamped(g, u, 1.702f, 7.0f, o);
  CHECK(o[0] == 0.0f);
  CHECK(o[1] == doctest::Approx(1.0 / (1.0 + std::exp(-1.702)) * 2.0));
  // gate 10 -> 7, up 10 -> 7: 7 * sigmoid(1.702 * 7) * 8
  CHECK(o[3] == doctest::Approx(7.0 / (1.0 + std::exp(-1.702 * 7.0)) * 8.0));
  const std::vector<float> gn = {-10}, un = {-10};
  std::vector<float> on(1);
  swiglu_clamped(gn, un, 1.702f, 7.0f,
                 on);  // up clamps to -7: (u + 1) = -6; gate not clamped below
  CHECK(on[0] == doctest::Approx(-10.0 / (1.0 + std::exp(17.02)) * -6.0));
}

TEST_CASE("ref attention: GQA head mapping, equal keys average, window, sinks") {
  AttnParams p{4, 2, 2, 2, 1.0f, 0};
  // one position: every head returns its kv head's value exactly
  const std::vector<float> q(8, 0.5f);
  const std::vector<float> k1 = {1, 0, 0, 1};
  const std::vector<float> v1 = {1, -0.5f, 1.5f, 0.5f};
  std::vector<float> out(8, NAN);
  attention(q, k1, v1, 0, p, {}, out);
  CHECK(out == std::vector<float>{1, -0.5f, 1, -0.5f, 1.5f, 0.5f, 1.5f, 0.5f});

  // two positions with equal keys: the mean of the values
  const std::vector<float> k2 = {1, 0, 0, 1, 1, 0, 0, 1};
  const std::vector<float> v2 = {1, -0.5f, 1.5f, 0.5f, 0, 0.5f, 0.5f, 1.5f};
  attention(q, k2, v2, 1, p, {}, out);
  CHECK(out == std::vector<float>{0.5f, 0, 0.5f, 0, 1, 1, 1, 1});

  // window 1: only the current position
  p.window = 1;
  attention(q, k2, v2, 1, p, {}, out);
  CHECK(out == std::vector<float>{0, 0.5f, 0, 0.5f, 0.5f, 1.5f, 0.5f, 1.5f});

  // sinks: an extra logit in the denominator scales the output by 1 / (1 + e^(sink - s))
  p.window = 0;
  const std::vector<float> sinks = {0, 0.5f, -100, 0.5f};  // score of k1 for q = 0.5 is 0.5
  attention(q, k1, v1, 0, p, sinks, out);
  CHECK(out[0] == doctest::Approx(1.0 / (1.0 + std::exp(-0.5))));
  CHECK(out[2] == doctest::Approx(0.5));  // sink == score: half the weight
  CHECK(out[4] == doctest::Approx(1.5));  // negligible sink
  CHECK(out[6] == doctest::Approx(0.75));
}
