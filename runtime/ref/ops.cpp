// CPU reference ops (see ops.h).
#include "runtime/ref/ops.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <thread>

#include "loader/error.h"

namespace moevk::ref {

namespace {
std::atomic<unsigned> g_threads{0};
}

void set_num_threads(unsigned n) { g_threads = n; }

unsigned num_threads() {
  unsigned n = g_threads.load();
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  return n;
}

void parallel_for(uint64_t n, const std::function<void(uint64_t, uint64_t)>& fn,
                  uint64_t min_per_thread) {
  if (n == 0) return;
  uint64_t nt = std::min<uint64_t>(
      num_threads(), std::max<uint64_t>(1, n / std::max<uint64_t>(1, min_per_thread)));
  if (nt <= 1) {
    fn(0, n);
    return;
  }
  std::vector<std::thread> threads;
  threads.reserve(nt - 1);
  std::exception_ptr err;
  std::atomic<bool> failed{false};
  auto run = [&](uint64_t b, uint64_t e) {
    try {
      fn(b, e);
    } catch (...) {
      if (!failed.exchange(true)) err = std::current_exception();
    }
  };
  const uint64_t chunk = (n + nt - 1) / nt;
  for (uint64_t i = 1; i < nt; ++i) {
    const uint64_t b = i * chunk, e = std::min(n, b + chunk);
    if (b < e) threads.emplace_back(run, b, e);
  }
  run(0, std::min(n, chunk));
  for (auto& t : threads) t.join();
  if (err) std::rethrow_exception(err);
}

QMatrix QMatrix::rows(uint64_t row0, uint64_t n) const {
  MOEVK_ASSERT(row0 + n <= n_rows, "QMatrix::rows out of range");
  QMatrix m = *this;
  m.data = data + row0 * row_bytes;
  m.n_rows = n;
  return m;
}

void QMatrix::dequant_row(uint64_t r, float* out) const {
  MOEVK_ASSERT(r < n_rows, "QMatrix::dequant_row out of range");
  dequantize_row(type, data + r * row_bytes, out, static_cast<int64_t>(row_len));
}

QMatrix f32_matrix(std::span<const float> w, uint64_t row_len) {
  MOEVK_ASSERT(row_len > 0 && w.size() % row_len == 0,
               "f32_matrix: size not a multiple of row_len");
  QMatrix m;
  m.type = GgmlType::F32;
  m.data = reinterpret_cast<const uint8_t*>(w.data());
  m.row_len = row_len;
  m.n_rows = w.size() / row_len;
  m.row_bytes = row_len * sizeof(float);
  return m;
}

void matmul(const QMatrix& w, std::span<const float> x, uint32_t n_tok, std::span<float> y) {
  MOEVK_ASSERT(x.size() >= uint64_t(n_tok) * w.row_len, "matmul: x too small");
  MOEVK_ASSERT(y.size() >= uint64_t(n_tok) * w.n_rows, "matmul: y too small");
  const uint64_t n = w.row_len;
  // Rows per thread: at least enough work to amortise a thread start.
  const uint64_t min_rows = std::max<uint64_t>(1, (1u << 16) / std::max<uint64_t>(1, n * n_tok));
  parallel_for(
      w.n_rows,
      [&](uint64_t r0, uint64_t r1) {
        std::vector<float> row(n);
        for (uint64_t r = r0; r < r1; ++r) {
          w.dequant_row(r, row.data());
          for (uint32_t t = 0; t < n_tok; ++t) {
            const float* xt = x.data() + uint64_t(t) * n;
            double acc = 0.0;
            for (uint64_t c = 0; c < n; ++c) acc += double(row[c]) * double(xt[c]);
            y[uint64_t(t) * w.n_rows + r] = static_cast<float>(acc);
          }
        }
      },
      min_rows);
}

void rms_norm(std::span<const float> x, std::span<const float> w, float eps, uint32_t n,
              std::span<float> y) {
  MOEVK_ASSERT(n > 0 && x.size() % n == 0 && y.size() >= x.size(), "rms_norm: bad sizes");
  MOEVK_ASSERT(w.empty() || w.size() == n, "rms_norm: weight size");
  for (uint64_t r = 0; r < x.size() / n; ++r) {
    const float* xr = x.data() + r * n;
    double ss = 0.0;
    for (uint32_t i = 0; i < n; ++i) ss += double(xr[i]) * double(xr[i]);
    const double s = 1.0 / std::sqrt(ss / n + double(eps));
    float* yr = y.data() + r * n;
    for (uint32_t i = 0; i < n; ++i)
      yr[i] = static_cast<float>(double(xr[i]) * s * (w.empty() ? 1.0 : double(w[i])));
  }
}

void add_bias(std::span<float> x, std::span<const float> b) {
  MOEVK_ASSERT(!b.empty() && x.size() % b.size() == 0, "add_bias: bad sizes");
  for (size_t i = 0; i < x.size(); ++i) x[i] += b[i % b.size()];
}

RopeParams rope_params(const ModelDesc& d) {
  RopeParams p;
  p.n_rot = d.n_rot;
  p.type = d.rope_type;
  p.freq_base = d.rope_freq_base;
  p.freq_scale = d.freq_scale();
  p.ext_factor = d.rope_scaling.yarn_ext_factor;
  p.attn_factor = d.rope_scaling.yarn_attn_factor;
  p.beta_fast = d.rope_scaling.yarn_beta_fast;
  p.beta_slow = d.rope_scaling.yarn_beta_slow;
  p.n_ctx_orig = d.rope_scaling.n_ctx_orig;
  return p;
}

void rope(std::span<float> x, uint32_t n_head, uint32_t head_dim, int64_t pos,
          const RopeParams& p) {
  MOEVK_ASSERT(x.size() >= uint64_t(n_head) * head_dim, "rope: x too small");
  MOEVK_ASSERT(p.n_rot % 2 == 0 && p.n_rot <= head_dim, "rope: bad n_rot");
  const uint32_t half = p.n_rot / 2;
  const double base = p.freq_base;
  // YaRN correction range (ggml_rope_yarn_corr_dims).
  double lo = 0.0, hi = 0.0;
  const bool yarn = p.ext_factor != 0.0f;
  if (yarn) {
    auto corr_dim = [&](double n_rot_beta) {
      return p.n_rot * std::log(double(p.n_ctx_orig) / (n_rot_beta * 2.0 * M_PI)) /
             (2.0 * std::log(base));
    };
    lo = std::max(0.0, std::floor(corr_dim(p.beta_fast)));
    hi = std::min(double(p.n_rot) - 1.0, std::ceil(corr_dim(p.beta_slow)));
  }
  double mscale = p.attn_factor;
  if (yarn) mscale *= 1.0 + 0.1 * std::log(1.0 / p.freq_scale);
  for (uint32_t i = 0; i < half; ++i) {
    const double theta_extrap = double(pos) * std::pow(base, -2.0 * i / p.n_rot);
    double theta = p.freq_scale * theta_extrap;
    if (yarn) {
      const double y = (double(i) - lo) / std::max(0.001, hi - lo);
      const double ramp = (1.0 - std::min(1.0, std::max(0.0, y))) * p.ext_factor;
      theta = theta * (1.0 - ramp) + theta_extrap * ramp;
    }
    const double c = std::cos(theta) * mscale, s = std::sin(theta) * mscale;
    for (uint32_t h = 0; h < n_head; ++h) {
      float* v = x.data() + uint64_t(h) * head_dim;
      const uint32_t ia = p.type == RopeType::Neox ? i : 2 * i;
      const uint32_t ib = p.type == RopeType::Neox ? i + half : 2 * i + 1;
      const double a = v[ia], b = v[ib];
      v[ia] = static_cast<float>(a * c - b * s);
      v[ib] = static_cast<float>(a * s + b * c);
    }
  }
}

void softmax(std::span<float> x) {
  if (x.empty()) return;
  const float m = *std::max_element(x.begin(), x.end());
  double sum = 0.0;
  for (float v : x) sum += std::exp(double(v) - m);
  for (float& v : x) v = static_cast<float>(std::exp(double(v) - m) / sum);
}

float sigmoid(float x) { return static_cast<float>(1.0 / (1.0 + std::exp(-double(x)))); }
float silu(float x) { return static_cast<float>(double(x) / (1.0 + std::exp(-double(x)))); }

uint32_t score_order_key(float s) {
  uint32_t u;
  std::memcpy(&u, &s, 4);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return 0;  // NaN: below everything
  if ((u & 0x7FFFFFFFu) == 0) u = 0;               // -0 == +0
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

void top_k(std::span<const float> scores, std::span<int32_t> ids) {
  MOEVK_ASSERT(ids.size() <= scores.size(), "top_k: k > n");
  std::vector<uint32_t> key(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) key[i] = score_order_key(scores[i]);
  std::vector<int32_t> idx(scores.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + ids.size(), idx.end(), [&](int32_t a, int32_t b) {
    return key[a] > key[b] || (key[a] == key[b] && a < b);
  });
  std::copy(idx.begin(), idx.begin() + ids.size(), ids.begin());
}

void route(const Routing& r, std::span<const float> logits, std::span<const float> sel_bias,
           std::span<int32_t> ids, std::span<float> weights, std::span<float> probs_out) {
  const size_t n = logits.size(), k = ids.size();
  MOEVK_ASSERT(weights.size() == k && k <= n && k > 0, "route: bad sizes");
  std::vector<float> probs(logits.begin(), logits.end());
  switch (r.gating) {
    case GatingFunc::Softmax:
      softmax(probs);
      break;
    case GatingFunc::Sigmoid:
      for (float& p : probs) p = sigmoid(p);
      break;
    case GatingFunc::SoftmaxSelected:
      break;
  }
  if (!probs_out.empty()) std::copy(probs.begin(), probs.end(), probs_out.begin());
  if (!sel_bias.empty()) {
    MOEVK_ASSERT(sel_bias.size() == n, "route: selection bias size");
    std::vector<float> sel(n);
    for (size_t i = 0; i < n; ++i) sel[i] = probs[i] + sel_bias[i];
    top_k(sel, ids);
  } else {
    top_k(probs, ids);
  }
  for (size_t j = 0; j < k; ++j) weights[j] = probs[ids[j]];
  if (r.gating == GatingFunc::SoftmaxSelected) softmax(weights);
  if (r.norm_topk) {
    double sum = 0.0;
    for (float w : weights) sum += w;
    sum = std::max(sum, double(r.norm_min));
    for (float& w : weights) w = static_cast<float>(w / sum);
  }
  if (r.weights_scale != 1.0f)
    for (float& w : weights) w *= r.weights_scale;
}

void swiglu(std::span<const float> gate, std::span<const float> up, std::span<float> out) {
  MOEVK_ASSERT(gate.size() == up.size() && out.size() >= gate.size(), "swiglu: sizes");
  for (size_t i = 0; i < gate.size(); ++i)
    out[i] = static_cast<float>(double(silu(gate[i])) * up[i]);
}

void swiglu_clamped(std::span<const float> gate, std::span<const float> up, float alpha,
                    float limit, std::span<float> out) {
  MOEVK_ASSERT(gate.size() == up.size() && out.size() >= gate.size(), "swiglu_clamped: sizes");
  for (size_t i = 0; i < gate.size(); ++i) {
    const double g = std::min(double(gate[i]), double(limit));
    const double u = std::clamp(double(up[i]), -double(limit), double(limit));
    out[i] = static_cast<float>(g / (1.0 + std::exp(-double(alpha) * g)) * (u + 1.0));
  }
}

void attention(std::span<const float> q, std::span<const float> k_cache,
               std::span<const float> v_cache, int64_t pos, const AttnParams& p,
               std::span<const float> sinks, std::span<float> out) {
  MOEVK_ASSERT(p.n_head > 0 && p.n_head_kv > 0 && p.n_head % p.n_head_kv == 0, "attention: heads");
  const uint64_t n_kv = uint64_t(pos) + 1;
  const uint64_t ks = uint64_t(p.n_head_kv) * p.head_dim_k,
                 vs = uint64_t(p.n_head_kv) * p.head_dim_v;
  MOEVK_ASSERT(q.size() >= uint64_t(p.n_head) * p.head_dim_k, "attention: q size");
  MOEVK_ASSERT(k_cache.size() >= n_kv * ks && v_cache.size() >= n_kv * vs, "attention: cache size");
  MOEVK_ASSERT(out.size() >= uint64_t(p.n_head) * p.head_dim_v, "attention: out size");
  MOEVK_ASSERT(sinks.empty() || sinks.size() == p.n_head, "attention: sinks size");
  const uint64_t first = (p.window > 0 && n_kv > p.window) ? n_kv - p.window : 0;
  const uint32_t group = p.n_head / p.n_head_kv;
  std::vector<double> s(n_kv);
  std::vector<double> acc(p.head_dim_v);
  for (uint32_t h = 0; h < p.n_head; ++h) {
    const uint32_t hk = h / group;
    const float* qh = q.data() + uint64_t(h) * p.head_dim_k;
    double m = -std::numeric_limits<double>::infinity();
    for (uint64_t j = first; j < n_kv; ++j) {
      const float* kj = k_cache.data() + j * ks + uint64_t(hk) * p.head_dim_k;
      double d = 0.0;
      for (uint32_t i = 0; i < p.head_dim_k; ++i) d += double(qh[i]) * double(kj[i]);
      s[j] = d * p.scale;
      m = std::max(m, s[j]);
    }
    if (!sinks.empty()) m = std::max(m, double(sinks[h]));
    double den = sinks.empty() ? 0.0 : std::exp(double(sinks[h]) - m);
    std::fill(acc.begin(), acc.end(), 0.0);
    for (uint64_t j = first; j < n_kv; ++j) {
      const double e = std::exp(s[j] - m);
      den += e;
      const float* vj = v_cache.data() + j * vs + uint64_t(hk) * p.head_dim_v;
      for (uint32_t i = 0; i < p.head_dim_v; ++i) acc[i] += e * vj[i];
    }
    float* oh = out.data() + uint64_t(h) * p.head_dim_v;
    for (uint32_t i = 0; i < p.head_dim_v; ++i) oh[i] = static_cast<float>(acc[i] / den);
  }
}

}  // namespace moevk::ref
