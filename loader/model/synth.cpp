// Random-weight GGUF models of every supported architecture (see synth.h).
#include "loader/model/synth.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "loader/error.h"
#include "loader/gguf/gguf.h"
#include "loader/gguf/gguf_writer.h"

namespace moevk::synth {

namespace {

// ---- deterministic random numbers (not std::normal_distribution: its output is library-specific)

constexpr uint64_t kGamma = 0x9E3779B97F4A7C15ull;

uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ull;
  return h;
}

// Output k of the splitmix64 stream that starts at `base`, as an approximately standard normal
// value: the sum of its four 16-bit quarters (Irwin-Hall, mean 4 * 65535 / 2, variance
// 4 * (65536^2 - 1) / 12), centred and scaled to unit variance.
float normal_at(uint64_t base, uint64_t k) {
  const uint64_t x = mix64(base + (k + 1) * kGamma);
  const int64_t sum =
      static_cast<int64_t>((x & 0xFFFF) + ((x >> 16) & 0xFFFF) + ((x >> 32) & 0xFFFF) + (x >> 48));
  constexpr float kInvSd = 1.0f / 37837.23f;  // 1 / sqrt((65536^2 - 1) / 3)
  return static_cast<float>(sum - 131070) * kInvSd;
}

}  // namespace

ModelDesc make_desc(const Options& o) {
  // Mirrors read_hparams(): the synth test checks that describe() of the written file agrees.
  ModelDesc d;
  d.arch = o.arch;
  d.name = o.name.empty() ? "moevk-synth-" + std::string(arch_name(o.arch)) : o.name;
  d.n_layer = o.n_layer;
  d.n_embd = o.n_embd;
  d.n_vocab = static_cast<uint32_t>(make_vocab(o).tokens.size());
  d.n_ctx_train = o.n_ctx;
  d.n_head = o.n_head;
  d.n_head_kv = o.n_head_kv;
  d.n_embd_head_k = o.head_dim;
  d.n_embd_head_v = o.head_dim;
  d.n_rot = o.head_dim;
  d.rms_eps = o.rms_eps;
  d.n_expert = o.n_expert;
  d.n_expert_used = o.n_expert_used;
  d.n_ff_exp = o.n_ff_exp;
  d.n_ff = o.n_ff_exp;
  d.rope_freq_base = o.rope_freq_base > 0     ? o.rope_freq_base
                     : o.arch == Arch::GptOss ? 150000.0f
                                              : 10000.0f;
  d.rope_type =
      (o.arch == Arch::Llama || o.arch == Arch::Deepseek2) ? RopeType::Normal : RopeType::Neox;
  d.rope_scaling.n_ctx_orig = o.n_ctx;  // read_hparams' default without a scaling key
  set_arch_structure(d);
  Routing& r = d.routing;
  switch (o.arch) {
    case Arch::Qwen3Moe:
    case Arch::Llama:
    case Arch::Olmoe:
      break;
    case Arch::Qwen2Moe:
      d.n_ff_shexp = o.n_ff;
      d.n_expert_shared = 1;
      r.shared_gate = true;
      break;
    case Arch::Deepseek2:
      d.n_head_kv = 1;
      d.n_layer_dense_lead = o.n_layer > 1 ? 1 : 0;
      d.n_ff = o.n_ff;
      d.n_expert_shared = o.n_expert_shared > 0 ? o.n_expert_shared : 1;
      d.n_ff_shexp = o.n_ff_exp * d.n_expert_shared;
      d.q_lora_rank = o.q_lora_rank.value_or(o.n_embd);
      d.kv_lora_rank = o.kv_lora_rank > 0 ? o.kv_lora_rank : o.n_embd;
      d.n_rot = o.head_dim / 2;
      d.n_embd_head_k_mla = o.head_dim + o.head_dim / 2;  // nope head_dim + rope head_dim / 2
      d.n_embd_head_v_mla = o.head_dim;
      d.n_embd_head_k = d.kv_lora_rank + d.n_rot;  // absorbed MLA: MQA over the latent
      d.n_embd_head_v = d.kv_lora_rank;
      r.gating = GatingFunc::Sigmoid;
      r.selection_bias = true;
      r.norm_topk = true;
      r.weights_scale = 2.5f;
      break;
    case Arch::GptOss:
      d.sliding_window = o.sliding_window > 0
                             ? o.sliding_window
                             : std::max<uint32_t>(1, std::min<uint32_t>(32, o.n_ctx / 2));
      d.swa_pattern = 2;
      d.rope_scaling.type = RopeScalingType::Yarn;
      d.rope_scaling.factor = 4.0f;
      d.rope_scaling.n_ctx_orig = std::max<uint32_t>(1, o.n_ctx / 4);
      d.rope_scaling.yarn_ext_factor = 1.0f;
      break;
  }
  if (o.rope_scaling) d.rope_scaling = *o.rope_scaling;
  if (o.routing) d.routing = *o.routing;
  validate_hparams(d);
  return d;
}

GgmlType storage_type(const TensorSpec& s, GgmlType requested) {
  if (s.must_be_f32()) return GgmlType::F32;
  if (row_bytes(requested, s.ne[0])) return requested;
  if (row_bytes(GgmlType::Q8_0, s.ne[0]) && requested != GgmlType::F32 &&
      requested != GgmlType::F16 && requested != GgmlType::BF16)
    return GgmlType::Q8_0;
  return GgmlType::F16;
}

namespace {

void put_metadata(gguf::Writer& w, const ModelDesc& d, const Vocab& v) {
  const std::string a(arch_name(d.arch));
  auto k = [&](std::string_view key) { return a + "." + std::string(key); };
  w.add_string("general.architecture", a);
  w.add_string("general.name", d.name);
  w.add_u32(k("block_count"), d.n_layer);
  w.add_u32(k("context_length"), d.n_ctx_train);
  w.add_u32(k("embedding_length"), d.n_embd);
  w.add_u32(k("feed_forward_length"), d.n_ff);
  w.add_u32(k("attention.head_count"), d.n_head);
  w.add_u32(k("attention.head_count_kv"), d.n_head_kv);
  w.add_u32(k("attention.key_length"), d.n_embd_head_k);
  w.add_u32(k("attention.value_length"), d.n_embd_head_v);
  w.add_u32(k("rope.dimension_count"), d.n_rot);
  w.add_f32(k("rope.freq_base"), d.rope_freq_base);
  w.add_f32(k("attention.layer_norm_rms_epsilon"), d.rms_eps);
  w.add_u32(k("vocab_size"), d.n_vocab);
  w.add_u32(k("expert_count"), d.n_expert);
  w.add_u32(k("expert_used_count"), d.n_expert_used);
  if (d.arch != Arch::Llama && d.arch != Arch::Olmoe)
    w.add_u32(k("expert_feed_forward_length"), d.n_ff_exp);
  if (d.arch == Arch::Qwen2Moe) w.add_u32(k("expert_shared_feed_forward_length"), d.n_ff_shexp);
  if (d.arch == Arch::Deepseek2) {
    w.add_u32(k("leading_dense_block_count"), d.n_layer_dense_lead);
    w.add_u32(k("expert_shared_count"), d.n_expert_shared);
    if (d.q_lora_rank > 0) w.add_u32(k("attention.q_lora_rank"), d.q_lora_rank);
    w.add_u32(k("attention.kv_lora_rank"), d.kv_lora_rank);
    w.add_u32(k("attention.key_length_mla"), d.n_embd_head_k_mla);
    w.add_u32(k("attention.value_length_mla"), d.n_embd_head_v_mla);
    w.add_f32(k("expert_weights_scale"), d.routing.weights_scale);
    w.add_bool(k("expert_weights_norm"), d.routing.norm_topk);
    w.add_u32(k("expert_gating_func"), d.routing.gating == GatingFunc::Sigmoid ? 2 : 1);
  }
  if (d.arch == Arch::GptOss) {
    w.add_u32(k("attention.sliding_window"), d.sliding_window);
    w.add_u32(k("attention.sliding_window_pattern"), d.swa_pattern);
  }
  if (d.rope_scaling.type == RopeScalingType::Yarn) {
    w.add_string(k("rope.scaling.type"), "yarn");
    w.add_f32(k("rope.scaling.factor"), d.rope_scaling.factor);
    w.add_u32(k("rope.scaling.original_context_length"), d.rope_scaling.n_ctx_orig);
    if (d.rope_scaling.yarn_log_mul != 0.0f)
      w.add_f32(k("rope.scaling.yarn_log_multiplier"), d.rope_scaling.yarn_log_mul);
  }

  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string("tokenizer.ggml.pre", v.pre);
  w.add_array_string("tokenizer.ggml.tokens", v.tokens);
  w.add_array_i32("tokenizer.ggml.token_type", v.token_types);
  w.add_array_string("tokenizer.ggml.merges", v.merges);
  w.add_u32("tokenizer.ggml.bos_token_id", v.bos);
  w.add_u32("tokenizer.ggml.eos_token_id", v.eos);
  w.add_u32("tokenizer.ggml.padding_token_id", v.eos);
  w.add_bool("tokenizer.ggml.add_bos_token", false);
  w.add_string("tokenizer.chat_template", v.chat_template);
}

// Mean and spread of a tensor's values by kind.
std::pair<float, float> value_scale(const TensorSpec& s) {
  switch (s.kind) {
    case TensorKind::Matrix:
      if (s.name == "token_embd.weight") return {0.0f, 1.0f};
      return {0.0f, 1.0f / std::sqrt(static_cast<float>(s.ne[0]))};
    case TensorKind::Norm:
      return {1.0f, 0.05f};
    case TensorKind::Bias:
      return {0.0f, 0.02f};
    case TensorKind::Router:
    case TensorKind::Gate:
      return {0.0f, 1.0f / std::sqrt(static_cast<float>(s.ne[0]))};
    case TensorKind::Sinks:
      return {0.0f, 0.5f};
  }
  return {0.0f, 1.0f};
}

// ---- the file: header, then tensors streamed in chunks of rows

constexpr uint32_t kAlignment = 32;           // GGUF's default: no general.alignment key
constexpr uint64_t kChunkBytes = 4ull << 20;  // a chunk: whole rows, about this many bytes

uint64_t align_up(uint64_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

struct PlannedTensor {
  TensorSpec spec;
  GgmlType type;
  uint64_t row_bytes, n_rows;
  uint64_t offset;  // in the data section
  uint64_t base;    // the tensor's random stream (see normal_at)
  // Routing skew (Options::routing_skew): row r gets shift[r] * dir added (empty: nothing added;
  // one shift for every row when shift has a single entry).
  std::shared_ptr<const std::vector<float>> dir;
  std::vector<float> shift;
};

// The shared component of the token embeddings, relative to their random part's length: 0.5 from
// S = 1 on, S / 2 below (so that S -> 0 approaches the plain model: any shared component also
// reaches the routers through the attention and FFN outputs, and skews them a little by itself).
float skew_embd(double skew) { return static_cast<float>(0.5 * std::min(1.0, skew)); }

// The skew's shared direction: a seeded unit vector of length n.
std::vector<float> skew_direction(uint64_t seed, uint32_t n) {
  const uint64_t base = mix64(seed ^ fnv1a("moevk.routing_skew.direction"));
  std::vector<float> u(n);
  double ss = 0;
  for (uint32_t i = 0; i < n; ++i) ss += double(u[i] = normal_at(base, i)) * u[i];
  for (float& x : u) x = static_cast<float>(x / std::sqrt(ss));
  return u;
}

// Router row shifts of one layer: logit contributions -S ln(1 + rank) (centred) over a seeded
// permutation of the experts, divided by the expected h . u, c sqrt(n_embd / (1 + c^2)) with
// c = skew_embd(S): the normalised router input holds the embedding's shared component (c times
// the random part's length) next to the random part.
std::vector<float> skew_router_shifts(uint64_t seed, uint32_t layer, uint32_t n_expert,
                                      uint32_t n_embd, double skew) {
  std::vector<uint32_t> rank(n_expert);
  for (uint32_t e = 0; e < n_expert; ++e) rank[e] = e;
  const uint64_t base = mix64(seed ^ fnv1a("moevk.routing_skew.perm") ^ (uint64_t(layer) << 32));
  for (uint32_t i = n_expert; i > 1; --i)  // Fisher-Yates with the stream's outputs
    std::swap(rank[i - 1], rank[mix64(base + i * kGamma) % i]);
  std::vector<float> beta(n_expert);
  double mean = 0;
  for (uint32_t e = 0; e < n_expert; ++e) mean += beta[e] = float(-skew * std::log(1.0 + rank[e]));
  mean /= n_expert;
  const double c = skew_embd(skew);
  const double g = c * std::sqrt(double(n_embd) / (1.0 + c * c));
  for (float& b : beta) b = static_cast<float>((b - mean) / g);
  return beta;
}

struct Chunk {
  size_t tensor;
  uint64_t row0, n_rows;
  std::vector<uint8_t> bytes;  // filled by a worker, emptied once written
  bool ready = false;
};

// Quantises rows [row0, row0 + n_rows) of tensor t into out; row is one row of scratch floats.
void make_rows(const PlannedTensor& t, uint64_t row0, uint64_t n_rows, uint8_t* out,
               std::vector<float>& row) {
  const uint64_t row_len = t.spec.ne[0];
  const auto [mean, sd] = value_scale(t.spec);
  row.resize(row_len);
  for (uint64_t r = 0; r < n_rows; ++r) {
    const uint64_t k0 = (row0 + r) * row_len;
    for (uint64_t i = 0; i < row_len; ++i) row[i] = mean + sd * normal_at(t.base, k0 + i);
    if (t.dir) {
      const std::vector<float>& u = *t.dir;
      const float sh = t.shift.size() == 1 ? t.shift[0] : t.shift[row0 + r];
      // Router rows: the random part loses its component along u, so that only the shift
      // decides how the shared component of the input moves the logits.
      double along = 0;
      if (t.shift.size() > 1)
        for (uint64_t i = 0; i < row_len; ++i) along += double(row[i]) * u[i];
      for (uint64_t i = 0; i < row_len; ++i) row[i] += static_cast<float>(sh - along) * u[i];
    }
    quantize_row(t.type, row.data(), out + r * t.row_bytes, static_cast<int64_t>(row_len));
  }
}

// Everything before the data section. gguf::Writer holds tensor bytes in memory, so it serialises
// only the key-values here and the tensor infos are written alongside: a Writer with alignment 1
// puts exactly "GGUF", version, 0 tensors, n_kv, general.alignment = 1, then our key-values.
std::vector<uint8_t> header_bytes(const ModelDesc& d, const Vocab& v,
                                  const std::vector<PlannedTensor>& ts) {
  gguf::Writer w(1);
  put_metadata(w, d, v);
  const std::vector<uint8_t> meta = w.to_bytes();
  constexpr std::string_view kAlignKey = "general.alignment";
  constexpr size_t kFixed = 4 + 4 + 8 + 8, kAlignKv = 8 + kAlignKey.size() + 4 + 4;
  MOEVK_ASSERT(meta.size() > kFixed + kAlignKv &&
                   std::memcmp(meta.data() + kFixed + 8, kAlignKey.data(), kAlignKey.size()) == 0,
               "gguf::Writer(1) did not start with general.alignment");
  std::vector<uint8_t> out;
  auto put = [&](const void* p, size_t n) {
    out.insert(out.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
  };
  auto put32 = [&](uint32_t x) { put(&x, 4); };
  auto put64 = [&](uint64_t x) { put(&x, 8); };
  put("GGUF", 4);
  put32(3);
  put64(ts.size());
  put64(w.n_kv() - 1);
  out.insert(out.end(), meta.begin() + kFixed + kAlignKv, meta.end());
  for (const PlannedTensor& t : ts) {
    put64(t.spec.name.size());
    put(t.spec.name.data(), t.spec.name.size());
    put32(t.spec.n_dims);
    for (uint32_t i = 0; i < t.spec.n_dims; ++i) put64(t.spec.ne[i]);
    put32(static_cast<uint32_t>(t.type));
    put64(t.offset);
  }
  out.resize(align_up(out.size()), 0);
  return out;
}

// Worker threads quantise chunks (taken in file order, at most `window` ahead of the writer); the
// calling thread writes them in order. Stops the workers when either side throws.
class ChunkPipeline {
 public:
  ChunkPipeline(const std::vector<PlannedTensor>& ts, std::vector<Chunk>& chunks,
                uint32_t n_threads)
      : ts_(ts), chunks_(chunks), window_(2 * size_t{n_threads} + 2) {
    for (uint32_t i = 0; i < n_threads; ++i) threads_.emplace_back([this] { work(); });
  }
  ~ChunkPipeline() {
    {
      std::lock_guard lock(m_);
      stop_ = true;
    }
    space_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  // Waits for chunk i, then lets the workers move on past it once `write` returns.
  template <typename F>
  void consume(size_t i, F&& write) {
    {
      std::unique_lock lock(m_);
      ready_.wait(lock, [&] { return chunks_[i].ready || error_; });
      if (error_) std::rethrow_exception(error_);
    }
    write(chunks_[i]);
    std::vector<uint8_t>().swap(chunks_[i].bytes);
    {
      std::lock_guard lock(m_);
      written_ = i + 1;
    }
    space_.notify_all();
  }

 private:
  void work() {
    std::vector<float> row;
    for (;;) {
      size_t i;
      {
        std::unique_lock lock(m_);
        space_.wait(lock, [&] { return stop_ || error_ || next_ < written_ + window_; });
        if (stop_ || error_ || next_ == chunks_.size()) return;
        i = next_++;
      }
      Chunk& c = chunks_[i];
      std::exception_ptr error;
      try {
        const PlannedTensor& t = ts_[c.tensor];
        c.bytes.resize(c.n_rows * t.row_bytes);
        make_rows(t, c.row0, c.n_rows, c.bytes.data(), row);
      } catch (...) {
        error = std::current_exception();
      }
      {
        std::lock_guard lock(m_);
        c.ready = !error;
        if (error && !error_) error_ = error;
      }
      ready_.notify_all();
      if (error) space_.notify_all();
    }
  }

  const std::vector<PlannedTensor>& ts_;
  std::vector<Chunk>& chunks_;
  const size_t window_;
  std::mutex m_;
  std::condition_variable ready_, space_;
  size_t next_ = 0, written_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
  std::vector<std::thread> threads_;
};

}  // namespace

void stream_gguf(const Options& o, const Sink& sink, const Progress& progress) {
  const auto tt = type_traits(static_cast<uint32_t>(o.type));
  if (!tt || !tt->supported)
    fail("synth: unsupported weight type id {}", static_cast<uint32_t>(o.type));
  const Vocab v = make_vocab(o);
  const ModelDesc d = make_desc(o);

  std::vector<PlannedTensor> ts;
  std::vector<Chunk> chunks;
  std::shared_ptr<const std::vector<float>> skew_dir;
  uint64_t data_size = 0;
  for (const TensorSpec& s : expected_tensors(d)) {
    const GgmlType type = mix_type(s, d, o);
    const auto rb = row_bytes(type, s.ne[0]);
    MOEVK_ASSERT(rb.has_value(), "storage_type picked a type that does not fit the row");
    PlannedTensor t{.spec = s,
                    .type = type,
                    .row_bytes = *rb,
                    .n_rows = s.ne[1] * s.ne[2] * s.ne[3],
                    .offset = align_up(data_size),
                    .base = mix64(o.seed ^ fnv1a(s.name))};
    if (o.routing_skew > 0) {
      if (!skew_dir)
        skew_dir = std::make_shared<const std::vector<float>>(skew_direction(o.seed, d.n_embd));
      if (s.name == "token_embd.weight") {
        t.dir = skew_dir;
        t.shift = {skew_embd(o.routing_skew) * std::sqrt(static_cast<float>(d.n_embd))};
      } else if (s.kind == TensorKind::Router && s.ne[0] == d.n_embd) {
        t.dir = skew_dir;
        t.shift = skew_router_shifts(o.seed, uint32_t(s.layer), d.n_expert, d.n_embd,
                                     o.routing_skew);
      }
    }
    data_size = t.offset + t.row_bytes * t.n_rows;
    const uint64_t rows_per_chunk = std::max<uint64_t>(1, kChunkBytes / t.row_bytes);
    for (uint64_t r = 0; r < t.n_rows; r += rows_per_chunk)
      chunks.push_back({ts.size(), r, std::min(rows_per_chunk, t.n_rows - r), {}});
    ts.push_back(std::move(t));
  }
  const std::vector<uint8_t> header = header_bytes(d, v, ts);
  const uint64_t total = header.size() + data_size;

  uint64_t done = 0;  // bytes handed to the sink
  auto emit = [&](std::span<const uint8_t> bytes) {
    sink(bytes);
    done += bytes.size();
    if (progress) progress(done, total);
  };
  emit(header);
  const uint32_t n_threads =
      o.n_threads != 0 ? o.n_threads : std::max(1u, std::thread::hardware_concurrency());
  ChunkPipeline pipeline(ts, chunks, n_threads);
  static constexpr uint8_t kZeros[kAlignment] = {};
  for (size_t i = 0; i < chunks.size(); ++i) {
    pipeline.consume(i, [&](const Chunk& c) {
      if (c.row0 == 0) {  // a tensor starts: padding up to its aligned offset
        const uint64_t start = header.size() + ts[c.tensor].offset;
        MOEVK_ASSERT(start >= done && start - done < kAlignment, "synth: tensor offset mismatch");
        if (start != done) emit({kZeros, start - done});
      }
      emit(c.bytes);
    });
  }
  MOEVK_ASSERT(done == total, "synth: the streamed size differs from the planned one");
}

std::vector<uint8_t> synth_gguf(const Options& o) {
  std::vector<uint8_t> out;
  stream_gguf(o, [&](std::span<const uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); });
  return out;
}

}  // namespace moevk::synth
