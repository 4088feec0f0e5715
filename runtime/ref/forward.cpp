// CPU reference forward pass: weights, the per-layer loop, FFN and MoE, output head.
// Attention (standard and MLA) is in forward_attn.cpp.
#include <cmath>

#include "loader/error.h"
#include "loader/gguf/gguf.h"
#include "runtime/ref/forward_impl.h"

namespace moevk::ref {

QMatrix matrix_of(const gguf::File& f, const std::string& name) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  if (!t) fail("missing tensor '{}'", name);
  auto rb = row_bytes(t->type, t->ne[0]);
  if (!rb) fail("tensor '{}': row length {} does not fit its type", name, t->ne[0]);
  QMatrix m;
  m.type = t->type;
  m.data = f.tensor_data(*t).data();
  m.row_len = t->ne[0];
  m.n_rows = t->ne[1] * t->ne[2] * t->ne[3];
  m.row_bytes = *rb;
  return m;
}

std::vector<float> vector_of(const gguf::File& f, const std::string& name) {
  const QMatrix m = matrix_of(f, name);
  std::vector<float> v(m.row_len * m.n_rows);
  for (uint64_t r = 0; r < m.n_rows; ++r) m.dequant_row(r, v.data() + r * m.row_len);
  return v;
}

void Forward::Impl::load() {
  const gguf::File& f = *file;
  auto L = [](uint32_t il, const char* s) { return layer_tensor_name(il, s); };
  tok_embd = matrix_of(f, "token_embd.weight");
  output = d.tied_output ? tok_embd : matrix_of(f, "output.weight");
  output_norm = vector_of(f, "output_norm.weight");
  rope_p = rope_params(d);
  if (d.is_mla()) {
    k_row = d.kv_lora_rank + d.n_rot;  // [normalised c_kv | roped k_pe], shared by all heads
    v_row = d.kv_lora_rank;            // c_kv
    attn_p = {d.n_head, 1, k_row, v_row, 1.0f / std::sqrt(float(d.n_embd_head_k_mla)), 0};
    if (d.rope_scaling.type == RopeScalingType::Yarn) {
      // deepseek2 YaRN: rope's magnitude correction is cancelled and moved into the kq scale.
      const double ln = std::log(double(d.rope_scaling.factor));
      const double mscale = 1.0 + d.rope_scaling.yarn_log_mul * ln;
      rope_p.attn_factor = static_cast<float>(1.0 / (1.0 + 0.1 * ln));
      attn_p.scale = static_cast<float>(mscale * mscale / std::sqrt(double(d.n_embd_head_k_mla)));
    }
  } else {
    k_row = d.n_head_kv * d.n_embd_head_k;
    v_row = d.n_head_kv * d.n_embd_head_v;
    attn_p = {d.n_head,
              d.n_head_kv,
              d.n_embd_head_k,
              d.n_embd_head_v,
              1.0f / std::sqrt(float(d.n_embd_head_k)),
              0};
  }

  layers.resize(d.n_layer);
  for (uint32_t il = 0; il < d.n_layer; ++il) {
    LayerWeights& w = layers[il];
    w.attn_norm = vector_of(f, L(il, "attn_norm.weight"));
    w.ffn_norm = vector_of(
        f, L(il, d.arch == Arch::GptOss ? "post_attention_norm.weight" : "ffn_norm.weight"));
    if (d.is_mla()) {
      if (d.q_lora_rank > 0) {
        w.wq_a = matrix_of(f, L(il, "attn_q_a.weight"));
        w.q_a_norm = vector_of(f, L(il, "attn_q_a_norm.weight"));
        w.wq_b = matrix_of(f, L(il, "attn_q_b.weight"));
      } else {
        w.wq = matrix_of(f, L(il, "attn_q.weight"));
      }
      w.wkv_a = matrix_of(f, L(il, "attn_kv_a_mqa.weight"));
      w.kv_a_norm = vector_of(f, L(il, "attn_kv_a_norm.weight"));
      w.wk_b = matrix_of(f, L(il, "attn_k_b.weight"));
      w.wv_b = matrix_of(f, L(il, "attn_v_b.weight"));
    } else {
      w.wq = matrix_of(f, L(il, "attn_q.weight"));
      w.wk = matrix_of(f, L(il, "attn_k.weight"));
      w.wv = matrix_of(f, L(il, "attn_v.weight"));
      if (d.qkv_bias) {
        w.bq = vector_of(f, L(il, "attn_q.bias"));
        w.bk = vector_of(f, L(il, "attn_k.bias"));
        w.bv = vector_of(f, L(il, "attn_v.bias"));
      }
      if (d.out_bias) w.bo = vector_of(f, L(il, "attn_output.bias"));
      if (d.qk_norm != QkNorm::None) {
        w.q_norm = vector_of(f, L(il, "attn_q_norm.weight"));
        w.k_norm = vector_of(f, L(il, "attn_k_norm.weight"));
      }
      if (d.attn_sinks) w.sinks = vector_of(f, L(il, "attn_sinks.weight"));
    }
    w.wo = matrix_of(f, L(il, "attn_output.weight"));

    if (!d.is_moe_layer(il)) {
      w.ffn_gate = matrix_of(f, L(il, "ffn_gate.weight"));
      w.ffn_up = matrix_of(f, L(il, "ffn_up.weight"));
      w.ffn_down = matrix_of(f, L(il, "ffn_down.weight"));
    } else {
      w.router = matrix_of(f, L(il, "ffn_gate_inp.weight"));
      if (d.routing.router_bias) w.router_b = vector_of(f, L(il, "ffn_gate_inp.bias"));
      if (d.routing.selection_bias) w.sel_bias = vector_of(f, L(il, "exp_probs_b.bias"));
      w.gate_exps = matrix_of(f, L(il, "ffn_gate_exps.weight"));
      w.up_exps = matrix_of(f, L(il, "ffn_up_exps.weight"));
      w.down_exps = matrix_of(f, L(il, "ffn_down_exps.weight"));
      if (d.arch == Arch::GptOss) {
        w.gate_exps_b = vector_of(f, L(il, "ffn_gate_exps.bias"));
        w.up_exps_b = vector_of(f, L(il, "ffn_up_exps.bias"));
        w.down_exps_b = vector_of(f, L(il, "ffn_down_exps.bias"));
      }
      if (d.n_ff_shexp > 0) {
        w.gate_sh = matrix_of(f, L(il, "ffn_gate_shexp.weight"));
        w.up_sh = matrix_of(f, L(il, "ffn_up_shexp.weight"));
        w.down_sh = matrix_of(f, L(il, "ffn_down_shexp.weight"));
        if (d.routing.shared_gate) w.gate_inp_sh = vector_of(f, L(il, "ffn_gate_inp_shexp.weight"));
      }
    }
    w.k_cache.assign(uint64_t(n_ctx) * k_row, 0.0f);
    w.v_cache.assign(uint64_t(n_ctx) * v_row, 0.0f);
  }
}

std::vector<float> Forward::Impl::eval(std::span<const int32_t> tokens, uint32_t pos0,
                                      bool last_only) {
  const uint32_t T = static_cast<uint32_t>(tokens.size());
  const uint32_t E = d.n_embd;
  if (T == 0) return {};
  if (pos0 > n_past) fail("eval: start position {} is past the {} cached positions", pos0, n_past);
  if (uint64_t(pos0) + T > n_ctx)
    fail("eval: positions {}..{} exceed the context size {}", pos0, uint64_t(pos0) + T - 1, n_ctx);
  for (uint32_t t = 0; t < T; ++t)
    if (tokens[t] < 0 || uint32_t(tokens[t]) >= d.n_vocab)
      fail("token id {} (at index {}) is outside the vocabulary [0, {})", tokens[t], t, d.n_vocab);
  n_past = pos0;

  // x: the residual stream [T][n_embd].
  std::vector<float> x(uint64_t(T) * E), h(x.size()), y(x.size());
  for (uint32_t t = 0; t < T; ++t)
    tok_embd.dequant_row(uint64_t(tokens[t]), x.data() + uint64_t(t) * E);

  for (uint32_t il = 0; il < d.n_layer; ++il) {
    const LayerWeights& w = layers[il];
    rms_norm(x, w.attn_norm, d.rms_eps, E, h);
    if (d.is_mla())
      attn_mla(il, h, T, pos0, y);
    else
      attn_standard(il, h, T, pos0, y);
    for (size_t i = 0; i < x.size(); ++i) x[i] += y[i];
    emit(fmt::format("ffn_inp-{}", il), x, E);

    rms_norm(x, w.ffn_norm, d.rms_eps, E, h);
    if (d.is_moe_layer(il))
      ffn_moe(il, h, T, y);
    else
      ffn_dense(w.ffn_gate, w.ffn_up, w.ffn_down, h, T, y);
    for (size_t i = 0; i < x.size(); ++i) x[i] += y[i];
    emit(fmt::format("l_out-{}", il), x, E);
  }
  n_past = pos0 + T;

  rms_norm(x, output_norm, d.rms_eps, E, h);
  emit("result_norm", h, E);
  const uint32_t n_out = last_only ? 1 : T;
  std::vector<float> logits(uint64_t(n_out) * d.n_vocab);
  mm(output, std::span(h).subspan(uint64_t(T - n_out) * E), n_out, logits);
  return logits;
}

void Forward::Impl::ffn_dense(const QMatrix& gate, const QMatrix& up, const QMatrix& down,
                              std::span<const float> h, uint32_t T, std::span<float> out) {
  const uint64_t F = gate.n_rows;
  if (kernels.experts) {  // one expert of weight 1 for every token
    ExpertWeights w;
    w.gate = gate, w.up = up, w.down = down;
    w.n_expert = 1, w.n_ff = uint32_t(F), w.n_embd = uint32_t(down.n_rows);
    const std::vector<int32_t> ids(T, 0);
    const std::vector<float> ones(T, 1.0f);
    kernels.experts(w, h, T, 1, ids, ones, out);
    return;
  }
  std::vector<float> g(F * T), u(F * T);
  mm(gate, h, T, g);
  mm(up, h, T, u);
  swiglu(g, u, g);
  mm(down, g, T, out);
}

void Forward::Impl::ffn_moe(uint32_t il, std::span<const float> h, uint32_t T,
                            std::span<float> out) {
  const LayerWeights& w = layers[il];
  const uint32_t E = d.n_embd, X = d.n_expert, K = d.n_expert_used, F = d.n_ff_exp;

  // Router: logits [T][X] -> ids [T][K], weights [T][K].
  std::vector<float> logits(uint64_t(T) * X), probs(logits.size());
  mm(w.router, h, T, logits);
  emit(fmt::format("ffn_moe_logits-{}", il), logits, X);  // before the router bias, as llama.cpp
  if (!w.router_b.empty()) add_bias(logits, w.router_b);
  std::vector<int32_t> ids(uint64_t(T) * K);
  std::vector<float> wts(ids.size());
  for (uint32_t t = 0; t < T; ++t)
    route(d.routing, std::span(logits).subspan(uint64_t(t) * X, X), w.sel_bias,
          std::span(ids).subspan(uint64_t(t) * K, K), std::span(wts).subspan(uint64_t(t) * K, K),
          std::span(probs).subspan(uint64_t(t) * X, X));
  if (dump) {
    emit(fmt::format("ffn_moe_probs-{}", il), probs, X);
    if (!w.sel_bias.empty()) {
      std::vector<float> biased(probs);
      add_bias(biased, w.sel_bias);
      emit(fmt::format("ffn_moe_probs_biased-{}", il), biased, X);
    }
    std::vector<float> fid(ids.begin(), ids.end());
    emit(fmt::format("ffn_moe_topk-{}", il), fid, K);
  }

  // Routed experts.
  ExpertWeights ew;
  ew.gate = w.gate_exps, ew.up = w.up_exps, ew.down = w.down_exps;
  ew.gate_b = w.gate_exps_b, ew.up_b = w.up_exps_b, ew.down_b = w.down_exps_b;
  ew.n_expert = X, ew.n_ff = F, ew.n_embd = E;
  ew.act = d.act, ew.alpha = d.swiglu_alpha, ew.limit = d.swiglu_limit;
  if (kernels.experts)
    kernels.experts(ew, h, T, K, ids, wts, out);
  else
    expert_ffn(ew, h, T, K, ids, wts, out);
  emit(fmt::format("ffn_moe_out-{}", il), out.subspan(0, uint64_t(T) * E), E);

  // Shared expert(s): qwen2moe scales them by sigmoid(gate_inp_shexp . x).
  if (d.n_ff_shexp > 0) {
    std::vector<float> sh(uint64_t(T) * E);
    ffn_dense(w.gate_sh, w.up_sh, w.down_sh, h, T, sh);
    for (uint32_t t = 0; t < T; ++t) {
      float s = 1.0f;
      if (!w.gate_inp_sh.empty()) {
        double dot = 0.0;
        for (uint32_t c = 0; c < E; ++c) dot += double(w.gate_inp_sh[c]) * h[uint64_t(t) * E + c];
        s = sigmoid(static_cast<float>(dot));
      }
      for (uint32_t c = 0; c < E; ++c) out[uint64_t(t) * E + c] += s * sh[uint64_t(t) * E + c];
    }
  }
}

void expert_ffn(const ExpertWeights& w, std::span<const float> x, uint32_t n_tok, uint32_t n_used,
                std::span<const int32_t> ids, std::span<const float> weights, std::span<float> out) {
  const uint32_t E = w.n_embd, F = w.n_ff;
  MOEVK_ASSERT(x.size() >= uint64_t(n_tok) * E && out.size() >= uint64_t(n_tok) * E,
               "expert_ffn: x/out too small");
  MOEVK_ASSERT(ids.size() >= uint64_t(n_tok) * n_used && weights.size() >= ids.size(),
               "expert_ffn: ids/weights too small");
  // Grouped by expert so each expert's rows are dequantised once per batch.
  std::fill(out.begin(), out.begin() + uint64_t(n_tok) * E, 0.0f);
  std::vector<float> xs, g, u, ys;
  for (uint32_t e = 0; e < w.n_expert; ++e) {
    std::vector<std::pair<uint32_t, float>> users;  // (token, weight)
    for (uint32_t t = 0; t < n_tok; ++t)
      for (uint32_t j = 0; j < n_used; ++j)
        if (ids[uint64_t(t) * n_used + j] == int32_t(e))
          users.emplace_back(t, weights[uint64_t(t) * n_used + j]);
    if (users.empty()) continue;
    const uint32_t n = static_cast<uint32_t>(users.size());
    xs.resize(uint64_t(n) * E);
    for (uint32_t i = 0; i < n; ++i)
      std::copy_n(x.data() + uint64_t(users[i].first) * E, E, xs.data() + uint64_t(i) * E);
    g.resize(uint64_t(n) * F);
    u.resize(g.size());
    ys.resize(uint64_t(n) * E);
    matmul(w.gate.rows(uint64_t(e) * F, F), xs, n, g);
    matmul(w.up.rows(uint64_t(e) * F, F), xs, n, u);
    if (!w.gate_b.empty()) add_bias(g, w.gate_b.subspan(uint64_t(e) * F, F));
    if (!w.up_b.empty()) add_bias(u, w.up_b.subspan(uint64_t(e) * F, F));
    if (w.act == FfnAct::SwigluClamped)
      swiglu_clamped(g, u, w.alpha, w.limit, g);
    else
      swiglu(g, u, g);
    matmul(w.down.rows(uint64_t(e) * E, E), g, n, ys);
    if (!w.down_b.empty()) add_bias(ys, w.down_b.subspan(uint64_t(e) * E, E));
    for (uint32_t i = 0; i < n; ++i) {
      float* o = out.data() + uint64_t(users[i].first) * E;
      const float* yi = ys.data() + uint64_t(i) * E;
      for (uint32_t c = 0; c < E; ++c) o[c] += users[i].second * yi[c];
    }
  }
}

Forward::Forward(const gguf::File& f, uint32_t n_ctx) : Forward(f, describe(f), n_ctx) {}

Forward::Forward(const gguf::File& f, const ModelDesc& d, uint32_t n_ctx)
    : impl_(std::make_unique<Impl>()) {
  impl_->file = &f;
  impl_->d = d;
  impl_->n_ctx = n_ctx ? n_ctx : d.n_ctx_train;
  if (impl_->n_ctx == 0) fail("context size is zero");
  impl_->load();
}

Forward::~Forward() = default;
Forward::Forward(Forward&&) noexcept = default;
Forward& Forward::operator=(Forward&&) noexcept = default;

const ModelDesc& Forward::desc() const { return impl_->d; }
uint32_t Forward::n_ctx() const { return impl_->n_ctx; }
uint32_t Forward::n_past() const { return impl_->n_past; }
std::vector<float> Forward::eval(std::span<const int32_t> tokens, uint32_t start_pos) {
  return impl_->eval(tokens, start_pos, false);
}
std::vector<float> Forward::eval(std::span<const int32_t> tokens, uint32_t start_pos,
                                 bool last_only) {
  return impl_->eval(tokens, start_pos, last_only);
}
void Forward::reset() { impl_->n_past = 0; }
void Forward::set_dump(DumpFn fn) { impl_->dump = std::move(fn); }
void Forward::set_kernels(ForwardKernels k) { impl_->kernels = std::move(k); }

}  // namespace moevk::ref
