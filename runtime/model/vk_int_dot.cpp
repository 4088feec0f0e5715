// The integer-dot path's activations: before a product that takes it (ops::uses_int_dot: a
// quantised weight type on a device with shaderIntegerDotProduct, the block-per-lane kernels, a
// batch of more than one token on the matvecs), x is quantised to int8 blocks in scratch xq. q, k and v (matvec_multi), or an expert's gate and
// up, read one x: the quantisation is kept while the same x is asked for with no barrier recorded
// since, because any op that rewrote x would have needed one before the product read it.
#include "runtime/model/vk_model.h"
#include "runtime/model/vk_scratch.h"

namespace moevk {

namespace {

constexpr uint32_t kIntDotMinTokens = 2;

bool same_x(const ops::QuantizeArgs& a, const ops::QuantizeArgs& b) {
  return a.x.buffer == b.x.buffer && a.x.offset == b.x.offset && a.n_cols == b.n_cols &&
         a.n_tok == b.n_tok && a.n_per == b.n_per && a.tok_stride == b.tok_stride &&
         a.per_stride == b.per_stride;
}

}  // namespace

vk::View VkEngine::quantized_x(vk::Recorder& rec, GgmlType t, const ops::QuantizeArgs& q) {
  // Decode (one token) keeps the float path: it is bound by the weight bytes, which the integer
  // path does not change, and the quantisation would add a dispatch and two barriers per input
  // (4 per MoE layer, past the 8 a layer has). Batches of 2-7 tokens (and prefill under
  // MOEVK_DISABLE=tiled) amortise it over their tokens.
  if (q.n_tok < kIntDotMinTokens) return {};
  if (!ops::uses_int_dot(*ctx_, mv_cfg_, t, q.n_cols)) return {};
  const uint64_t bytes = uint64_t(q.n_tok) * q.n_per * ops::q8_words(q.n_cols) * 4;
  if (bytes > s_->xq.size) return {};  // wider than the scratch plans for: the float path
  const vk::View out = s_->xq.sub(0, bytes);
  const vk::Counters& n = rec.counters();
  const bool same_epoch = xq_.rec == &rec && xq_.barriers == n.barriers && xq_.submits == n.submits;
  if (same_epoch && same_x(xq_.args, q)) return out;
  rec.barrier();  // products recorded since the last quantisation may still read xq
  ops::QuantizeArgs a = q;
  a.q = out;
  ops::quantize_q8(*ctx_, rec, a);
  rec.barrier();
  xq_ = {&rec, n.barriers, n.submits, a};
  return out;
}

ops::MatvecArgs VkEngine::with_xq(vk::Recorder& rec, const ops::MatvecArgs& a) {
  ops::MatvecArgs b = a;
  ops::QuantizeArgs q;
  q.x = a.x;
  q.n_cols = a.w.n_cols;
  q.n_tok = a.n_batch;
  b.xq = quantized_x(rec, a.w.type, q);
  return b;
}

ops::MatvecIdArgs VkEngine::with_xq(vk::Recorder& rec, const ops::MatvecIdArgs& a) {
  ops::MatvecIdArgs b = a;
  ops::QuantizeArgs q;
  q.x = a.x;
  q.n_cols = a.experts.n_cols;
  q.n_tok = a.n_tok;
  q.n_per = a.x_vectors_per_tok();
  q.per_stride = a.x_expert_stride;
  q.tok_stride = a.x_tok_stride;
  b.xq = quantized_x(rec, a.experts.type, q);
  return b;
}

}  // namespace moevk
