// matvec.comp (every weight type, subgroup and shared-memory reductions) and the tiled prefill
// matmul (matmul.comp) against ref::matmul, and the GLSL dequantisers against the oracle values of
// ../shared/oracle/dequant.
#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <random>
#include <tuple>

#include "loader/gguf/gguf.h"
#include "runtime/ops/matmul.h"
#include "runtime/ops/matvec.h"
#include "tests/ops/test_matvec_util.h"
#include "tests/support/test_data.h"

using namespace moevk;
using test::DeviceArray;

namespace {

struct Case {
  GgmlType type;
  uint32_t n_rows, n_cols, n_batch;
  bool bias;
  ops::MatvecConfig cfg;
};

void run_case(vk::Context& ctx, const Case& c, uint64_t seed) {
  CAPTURE(traits(c.type).name);
  CAPTURE(c.n_rows);
  CAPTURE(c.n_cols);
  CAPTURE(c.n_batch);
  CAPTURE(c.cfg.wg);
  CAPTURE(c.cfg.rows);
  CAPTURE(c.cfg.row_lanes);
  CAPTURE(c.cfg.lane_wg);
  CAPTURE(c.cfg.lane_tokens);
  CAPTURE(seed);
  auto w = test::random_weights(c.type, c.n_rows, c.n_cols, seed);
  auto x = test::random_floats(seed + 1, size_t(c.n_batch) * c.n_cols);
  auto bias = test::random_floats(seed + 2, c.n_rows);
  DeviceArray dw(ctx, w.bytes.size()), dx(ctx, x.size() * 4), db(ctx, bias.size() * 4),
      dy(ctx, uint64_t(c.n_batch) * c.n_rows * 4);
  dw.upload(w.bytes);
  dx.upload(x);
  db.upload(bias);
  ops::MatvecArgs a;
  a.w = {dw.view(), c.type, c.n_rows, c.n_cols};
  a.x = dx.view();
  a.y = dy.view();
  if (c.bias) a.bias = db.view();
  a.n_batch = c.n_batch;
  // The integer-dot path reads x quantised on the device; x itself is then an unwritten (NaN)
  // buffer, so a product that read it would fail.
  const bool idot = ops::uses_int_dot(ctx, c.cfg, c.type, c.n_cols);
  CAPTURE(idot);
  test::QuantizedX qx;
  DeviceArray dnan(ctx, dx.bytes());
  if (idot) {
    qx = test::quantize_on_device(ctx, x, dx.view(), c.n_cols, c.n_batch);
    a.xq = qx.q->view();
    a.x = dnan.view();
  }
  vk::Recorder rec(ctx);
  ops::matvec(ctx, rec, a, c.cfg);
  rec.submit_and_wait();
  auto reference = [&](const std::vector<float>& xs) {
    std::vector<float> want(size_t(c.n_batch) * c.n_rows);
    ref::matmul(w.matrix(), xs, c.n_batch, want);
    if (c.bias) ref::add_bias(want, bias);
    return want;
  };
  const auto want = reference(x);
  const auto tol = test::matvec_tolerance(c.n_cols, test::weight_rms(w));
  test::check_close(dy.read_f32(), idot ? reference(qx.x) : want, tol);
  const bool default_cfg = c.cfg.wg == ops::MatvecConfig{}.wg && c.cfg.rows == ops::MatvecConfig{}.rows;
  if (default_cfg && ops::matmul_supports(c.type, c.n_cols)) {  // the tiled prefill kernel
    INFO("matmul");
    DeviceArray dy2(ctx, dy.bytes());
    a.x = dx.view();
    a.y = dy2.view();
    vk::Recorder rec2(ctx);
    ops::matmul(ctx, rec2, a, c.cfg);
    rec2.submit_and_wait();
    test::check_close(dy2.read_f32(), want, tol);
  }
}

// n_cols of one block, three blocks (plus, for the one-element "blocks" of F32/F16/BF16, lengths
// that leave a tail after the 8-element units).
std::vector<uint32_t> small_cols(GgmlType t) {
  const uint32_t qk = traits(t).block_size;
  if (qk == 1) return {1, 3, 37, 256};
  return {qk, 3 * qk};
}

void small_shapes(vk::Context& ctx, const ops::MatvecConfig& cfg = {}) {
  uint64_t seed = 100;
  for (GgmlType t : test::kMatvecTypes)
    for (uint32_t n_rows : {1u, 7u, 67u, 257u})
      for (uint32_t n_cols : small_cols(t))
        for (uint32_t n_batch : {1u, 3u})
          run_case(ctx, {t, n_rows, n_cols, n_batch, n_batch == 3, cfg}, seed++);
}

}  // namespace

TEST_CASE(
    "matvec: every type, rows 1/7/67/257, 1 and 3 blocks, batch 1 and 3 (subgroup reduction)") {
  small_shapes(test::gpu());
}

// The GPU paths the engine picks where the device has the features (MatvecConfig::storage16 and
// int_dot): 16-bit weight loads for every type (and the tiled matmul), integer dot products for the
// quantised types (the float types keep the float path), both together. The float path with 32-bit
// words is the case above.
TEST_CASE("matvec: every type, small shapes, 16-bit storage (and matmul)") {
  small_shapes(test::gpu(), test::gpu_path(true, false));
}

TEST_CASE("matvec: every type, small shapes, integer dot (activations quantised on the device)") {
  small_shapes(test::gpu(), test::gpu_path(false, true));
}

TEST_CASE("matvec: every type, small shapes, integer dot with 16-bit storage; model shapes") {
  small_shapes(test::gpu(), test::gpu_path(true, true));
  uint64_t seed = 7000;
  for (GgmlType t : test::kMatvecTypes)  // a qwen3moe attention-sized product, batch 1 and 3
    for (uint32_t n_batch : {1u, 3u})
      run_case(test::gpu(), {t, 512, 2048, n_batch, n_batch == 3, test::gpu_path(true, true)}, seed++);
  // lavapipe's block-per-lane shape with the paths on ({32, 8}: matvec_config_for on CPU devices)
  run_case(test::gpu(), {GgmlType::Q4_K, 259, 768, 5, true, test::gpu_path(true, true, {32, 8})}, seed++);
}

TEST_CASE("matvec: every type, small shapes, shared-memory reduction (no subgroup ops)") {
  small_shapes(test::gpu_without("subgroup"));
}

// The row-lane kernels (matvec_rows.comp; CPU devices): a row per invocation, lane_tokens vectors
// per pass over a row.
static ops::MatvecConfig row_lanes(uint32_t lane_wg = 32, uint32_t lane_tokens = 8) {
  ops::MatvecConfig c = ops::matvec_config_for(test::gpu().features());
  REQUIRE(c.row_lanes);  // lavapipe (a CPU device with subgroup ballot) takes them by default
  c.lane_wg = lane_wg;
  c.lane_tokens = lane_tokens;
  return c;
}

TEST_CASE("matvec rows: every type, rows 1/7/67/257, 1 and 3 blocks, batches 1/3/17 (row lanes)") {
  uint64_t seed = 5100;
  for (GgmlType t : test::kMatvecTypes) {
    const uint32_t qk = std::max(traits(t).block_size, 32u);
    for (uint32_t n_rows : {1u, 7u, 67u, 257u})
      for (uint32_t n_cols : {qk, 3 * qk})
        for (uint32_t n_batch : {1u, 3u, 17u})
          run_case(test::gpu(), {t, n_rows, n_cols, n_batch, n_batch != 1, row_lanes()}, seed++);
  }
}

TEST_CASE("matvec rows: rows per workgroup, vectors per pass, model shapes, fallback for n_cols % 32") {
  uint64_t seed = 5500;
  for (auto cfg : {row_lanes(8, 1), row_lanes(64, 4), row_lanes(16, 3)})
    for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q8_0, GgmlType::MXFP4, GgmlType::F16})
      for (uint32_t n_batch : {1u, 5u, 9u}) run_case(test::gpu(), {t, 67, 768, n_batch, true, cfg}, seed++);
  for (GgmlType t : test::kMatvecTypes) run_case(test::gpu(), {t, 768, 2048, 2, false, row_lanes()}, seed++);
  // 37 and 1003 columns are no multiple of 32: the block-per-lane kernel runs instead.
  run_case(test::gpu(), {GgmlType::F32, 67, 37, 3, true, row_lanes()}, seed++);
  run_case(test::gpu(), {GgmlType::F16, 67, 1003, 9, true, row_lanes()}, seed++);
  // 151936 rows / 32 per workgroup = 4748 groups; the largest vocabulary in one dispatch.
  run_case(test::gpu(), {GgmlType::Q6_K, 151936, 256, 1, false, row_lanes()}, seed++);
}

TEST_CASE("matvec: workgroup sizes and rows per workgroup (spec constants)") {
  const ops::MatvecConfig cfgs[] = {{32, 1}, {32, 8}, {128, 4}, {256, 8}, {16, 4}};  // {32, 8}: lavapipe's
  uint64_t seed = 500;
  for (vk::Context* ctx : {&test::gpu(), &test::gpu_without("subgroup")})
    for (auto cfg : cfgs)
      for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q8_0, GgmlType::F16})
        for (uint32_t n_batch : {1u, 5u}) run_case(*ctx, {t, 67, 768, n_batch, true, cfg}, seed++);
}

TEST_CASE("matvec: model shapes 2048x768 and 768x2048 for every type") {
  uint64_t seed = 700;
  for (GgmlType t : test::kMatvecTypes) {
    run_case(test::gpu(), {t, 2048, 768, 1, false, {}}, seed++);
    run_case(test::gpu(), {t, 768, 2048, t == GgmlType::Q4_K ? 3u : 1u, false, {}}, seed++);
  }
  run_case(test::gpu_without("subgroup"), {GgmlType::Q6_K, 768, 2048, 2, true, {}}, seed++);
}

TEST_CASE("matvec: model shapes 2880x2880 (gpt-oss) and 4096x14336") {
  uint64_t seed = 800;
  for (GgmlType t : {GgmlType::MXFP4, GgmlType::Q8_0, GgmlType::BF16})
    run_case(test::gpu(), {t, 2880, 2880, 1, true, {}}, seed++);
  run_case(test::gpu(), {GgmlType::Q4_K, 4096, 14336, 1, false, {}}, seed++);
}

TEST_CASE("matmul: prefill batches (tiles of 64 rows x 32 tokens with tails) for every type") {
  uint64_t seed = 850;
  for (GgmlType t : test::kMatvecTypes) {
    const uint32_t qk = std::max(traits(t).block_size, 8u);
    run_case(test::gpu(), {t, 67, 3 * qk, 33, true, {}}, seed++);
    run_case(test::gpu(), {t, 130, qk, 70, false, {}}, seed++);
  }
  run_case(test::gpu(), {GgmlType::Q4_K, 2048, 768, 64, false, {}}, seed++);
  run_case(test::gpu(), {GgmlType::Q6_K, 1000, 2048, 100, true, {}}, seed++);
}

TEST_CASE("matvec and matmul: fused residual, y += W x (+ bias) in place") {
  uint64_t seed = 870;
  for (vk::Context* ctx : {&test::gpu(), &test::gpu_without("subgroup")})
    for (GgmlType t : {GgmlType::Q4_K, GgmlType::Q8_0, GgmlType::F16, GgmlType::MXFP4})
      for (uint32_t n_batch : {1u, 5u, 40u}) {
        const uint32_t n_rows = 67, n_cols = 512;
        const bool bias = n_batch != 5;
        CAPTURE(traits(t).name);
        CAPTURE(n_batch);
        CAPTURE(seed);
        auto w = test::random_weights(t, n_rows, n_cols, seed);
        auto x = test::random_floats(seed + 1, size_t(n_batch) * n_cols);
        auto b = test::random_floats(seed + 2, n_rows);
        auto res = test::random_floats(seed + 3, size_t(n_batch) * n_rows);
        ++seed;
        std::vector<float> want(size_t(n_batch) * n_rows);
        ref::matmul(w.matrix(), x, n_batch, want);
        if (bias) ref::add_bias(want, b);
        for (size_t i = 0; i < want.size(); ++i) want[i] += res[i];
        const auto tol = test::matvec_tolerance(n_cols, test::weight_rms(w));
        for (int kind : {0, 1, 2}) {  // the matvec, the tiled matmul, the row lanes
          CAPTURE(kind);
          DeviceArray dw(*ctx, w.bytes.size()), dx(*ctx, x.size() * 4), db(*ctx, b.size() * 4),
              dy(*ctx, res.size() * 4);
          dw.upload(w.bytes);
          dx.upload(x);
          db.upload(b);
          dy.upload(res);  // y holds the residual: the op adds to it in place
          ops::MatvecArgs a{{dw.view(), t, n_rows, n_cols}, dx.view(), dy.view(),
                            bias ? db.view() : vk::View{}, n_batch, dy.view()};
          vk::Recorder rec(*ctx);
          if (kind == 1)
            ops::matmul(*ctx, rec, a);
          else
            ops::matvec(*ctx, rec, a, kind == 2 ? row_lanes() : ops::MatvecConfig{});
          rec.submit_and_wait();
          test::check_close(dy.read_f32(), want, tol);
        }
      }
}

TEST_CASE("matvec: more row groups than one dispatch dimension (vocab-sized output)") {
  // 151936 rows / 2 per workgroup = 75968 groups > 65535: the host splits them over x and y.
  run_case(test::gpu(), {GgmlType::Q8_0, 151936, 32, 1, false, {}}, 900);
  run_case(test::gpu_without("subgroup"), {GgmlType::F16, 70001, 24, 2, true, {64, 1}}, 901);
}

TEST_CASE(
    "matvec: exact inputs (F32/F16/BF16 weights, x and bias from {-0.5, 0, 0.5, 1, 1.5}) with ==") {
  // Every product is a multiple of 0.25 below 2.25 and every partial sum stays far below 2^22 *
  // 0.25, so fp32 sums in any order equal the double reference exactly; f16 and bf16 hold these
  // values.
  for (vk::Context* ctx : {&test::gpu(), &test::gpu_without("subgroup")})
    for (GgmlType t : {GgmlType::F32, GgmlType::F16, GgmlType::BF16})
      for (uint32_t n_cols : {4096u, 1003u})
        for (bool lanes : {false, true}) {
        CAPTURE(traits(t).name);
        CAPTURE(n_cols);
        CAPTURE(lanes);
        const uint32_t n_rows = 67, n_batch = 3;
        auto wf = test::exact_floats(11 + n_cols, size_t(n_rows) * n_cols);
        auto x = test::exact_floats(12, size_t(n_batch) * n_cols);
        auto bias = test::exact_floats(13, n_rows);
        std::vector<uint8_t> wb(*row_bytes(t, n_cols) * n_rows);
        quantize_row(t, wf.data(), wb.data(), int64_t(wf.size()));
        DeviceArray dw(*ctx, wb.size()), dx(*ctx, x.size() * 4), db(*ctx, n_rows * 4),
            dy(*ctx, uint64_t(n_batch) * n_rows * 4);
        dw.upload(wb);
        dx.upload(x);
        db.upload(bias);
        ops::MatvecArgs a{{dw.view(), t, n_rows, n_cols}, dx.view(), dy.view(), db.view(), n_batch};
        vk::Recorder rec(*ctx);
        ops::matvec(*ctx, rec, a, lanes ? row_lanes() : ops::MatvecConfig{});
        rec.submit_and_wait();
        std::vector<float> want(size_t(n_batch) * n_rows);
        ref::matmul(ref::f32_matrix(wf, n_cols), x, n_batch, want);
        ref::add_bias(want, bias);
        test::check_equal(dy.read_f32(), want);
        if (ops::matmul_supports(t, n_cols)) {
          INFO("matmul");
          DeviceArray dy2(*ctx, dy.bytes());
          a.y = dy2.view();
          vk::Recorder rec2(*ctx);
          ops::matmul(*ctx, rec2, a);
          rec2.submit_and_wait();
          test::check_equal(dy2.read_f32(), want);
        }
      }
}

namespace {

// One entry of ../shared/oracle/dequant/index.json: the first n_values values of a tensor as the
// reference implementation (gguf-py) dequantises them.
struct OracleEntry {
  const char* type;
  const char* file;
  const char* tensor;
  uint32_t row_len;  // ne[0]
};
const OracleEntry kOracle[] = {
    {"F16", "models/deepseek2-F16.gguf", "token_embd.weight", 256},
    {"Q6_K", "models/deepseek2-Q4_0.gguf", "output.weight", 256},
    {"Q4_0", "models/deepseek2-Q4_0.gguf", "token_embd.weight", 256},
    {"Q4_K", "models/deepseek2-Q4_K_M.gguf", "token_embd.weight", 256},
    {"Q5_0", "models/deepseek2-Q4_K_M.gguf", "blk.0.attn_k_b.weight", 64},
    {"Q5_K", "models/deepseek2-Q4_K_M.gguf", "blk.0.attn_output.weight", 256},
    {"Q8_0", "models/deepseek2-Q8_0.gguf", "output.weight", 256},
    {"MXFP4", "models/gptoss-MXFP4_MOE.gguf", "blk.0.ffn_down_exps.weight", 256},
    {"IQ4_XS", "models/qwen3moe-IQ4_XS.gguf", "token_embd.weight", 256},
    {"Q2_K", "models/qwen3moe-Q2_K.gguf", "token_embd.weight", 256},
    {"Q3_K", "models/qwen3moe-Q2_K.gguf", "blk.0.ffn_down_exps.weight", 256},
};
constexpr uint32_t kOracleValues = 65536;

std::vector<float> read_f32_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  std::vector<float> v(kOracleValues);
  f.read(reinterpret_cast<char*>(v.data()), std::streamsize(v.size() * 4));
  REQUIRE(f.gcount() == std::streamsize(v.size() * 4));
  return v;
}

}  // namespace

TEST_CASE("matvec: GLSL dequantisers equal the oracle (one-hot x, every type in oracle/dequant)") {
  // y[b][r] = W[r][b] when x[b] is the b-th unit vector: every other product is +-0 and adding
  // zeros is exact, so the output is the GPU's dequantised weight itself.
  MOEVK_REQUIRE_SHARED(index, "oracle/dequant/index.json");
  (void)index;
  for (const OracleEntry& e : kOracle) {
    CAPTURE(e.type);
    CAPTURE(e.tensor);
    MOEVK_REQUIRE_SHARED(model, std::string("oracle/") + e.file);
    MOEVK_REQUIRE_SHARED(values, std::string("oracle/dequant/") + e.type + ".f32");
    const GgmlType t = *type_from_name(e.type);
    gguf::File f = gguf::File::open(model);
    const gguf::TensorInfo* ti = f.find_tensor(e.tensor);
    REQUIRE(ti != nullptr);
    REQUIRE(ti->ne[0] == e.row_len);
    const uint32_t n_cols = e.row_len, n_rows = kOracleValues / n_cols;
    const uint64_t n_bytes = *row_bytes(t, n_cols) * n_rows;
    auto data = f.tensor_data(*ti);
    REQUIRE(data.size() >= n_bytes);
    std::vector<float> want = read_f32_file(values), eye(size_t(n_cols) * n_cols, 0.0f);
    for (uint32_t b = 0; b < n_cols; ++b) eye[size_t(b) * n_cols + b] = 1.0f;
    for (auto [ctx, cfg] : {std::pair{&test::gpu(), ops::MatvecConfig{}},
                            std::pair{&test::gpu_without("subgroup"), ops::MatvecConfig{}},
                            std::pair{&test::gpu(), row_lanes()},
                            std::pair{&test::gpu(), test::gpu_path(true, false)}}) {
      CAPTURE(cfg.row_lanes);
      CAPTURE(cfg.storage16);
      DeviceArray dw(*ctx, n_bytes), dx(*ctx, eye.size() * 4),
          dy(*ctx, uint64_t(n_cols) * n_rows * 4);
      dw.upload(data.data(), n_bytes);
      dx.upload(eye);
      ops::MatvecArgs a{{dw.view(), t, n_rows, n_cols}, dx.view(), dy.view(), {}, n_cols};
      vk::Recorder rec(*ctx);
      ops::matvec(*ctx, rec, a, cfg);
      rec.submit_and_wait();
      std::vector<float> y = dy.read_f32(), got(kOracleValues);
      for (uint32_t r = 0; r < n_rows; ++r)
        for (uint32_t b = 0; b < n_cols; ++b)
          got[size_t(r) * n_cols + b] = y[size_t(b) * n_rows + r];
      test::check_equal(got, want);
    }
  }
}

namespace {

// Sets every f16 scale field of the blocks (d, and dmin or m where the type has one) to 2^-6 and
// MXFP4's exponent to 2^-6 too: every weight is then an integer multiple of 2^-6 small enough that
// the integer-dot sums stay exact in fp32.
void power_of_two_scales(test::HostWeights& w) {
  std::vector<uint32_t> fields;
  switch (w.type) {
    case GgmlType::Q4_1: case GgmlType::Q5_1: case GgmlType::Q4_K: case GgmlType::Q5_K:
      fields = {0, 2};
      break;
    case GgmlType::Q2_K: fields = {80, 82}; break;
    case GgmlType::Q3_K: fields = {108}; break;
    case GgmlType::Q6_K: fields = {208}; break;
    case GgmlType::MXFP4: fields = {}; break;
    default: fields = {0}; break;
  }
  const uint64_t bs = traits(w.type).type_size, n_blocks = w.bytes.size() / bs;
  for (uint64_t b = 0; b < n_blocks; ++b) {
    uint8_t* blk = w.bytes.data() + b * bs;
    for (uint32_t f : fields) {
      blk[f] = 0x00;  // 2^-6 as f16: 0x2400
      blk[f + 1] = 0x24;
    }
    if (w.type == GgmlType::MXFP4) blk[0] = 127 - 6;  // E8M0: 2^(e - 127)
  }
}

}  // namespace

TEST_CASE("matvec: integer dot, exact inputs with == (every quantised type)") {
  // x in {-127, 0, 127} with a 127 in every block quantises to d = 1 and p = x exactly (quantised
  // here on the host, so only the product is under test); with power-of-two scales every weight is
  // k * 2^-6 with |k| < 2^12, so every product term, unit sum and partial sum of 256 columns is an
  // integer multiple of 127 * 2^-6 below 2^24 of them: exact in fp32 in any order, as in the
  // double reference.
  uint64_t seed = 7300;
  for (GgmlType t : test::kMatvecTypes) {
    if (!ops::int_dot_supports(t, 256)) continue;
    for (bool s16 : {false, true}) {
      CAPTURE(traits(t).name);
      CAPTURE(s16);
      const uint32_t n_rows = 67, n_cols = 256, n_batch = 3;
      auto w = test::random_weights(t, n_rows, n_cols, seed++);
      power_of_two_scales(w);
      std::vector<float> x(size_t(n_batch) * n_cols);
      std::mt19937_64 rng(seed++);
      for (size_t i = 0; i < x.size(); ++i) x[i] = i % 32 == 0 ? 127.0f : float(int(rng() % 3) - 1) * 127.0f;
      std::vector<uint32_t> xq(uint64_t(n_batch) * ops::q8_words(n_cols));
      ref::quantize_q8(x, n_cols, xq);
      DeviceArray dw(test::gpu(), w.bytes.size()), dx(test::gpu(), x.size() * 4),
          dq(test::gpu(), xq.size() * 4), dy(test::gpu(), uint64_t(n_batch) * n_rows * 4);
      dw.upload(w.bytes);
      dq.upload(xq);  // dx stays unwritten (NaN): the integer-dot path must not read it
      ops::MatvecArgs a{{dw.view(), t, n_rows, n_cols}, dx.view(), dy.view(), {}, n_batch};
      a.xq = dq.view();
      vk::Recorder rec(test::gpu());
      ops::matvec(test::gpu(), rec, a, test::gpu_path(s16, true));
      rec.submit_and_wait();
      std::vector<float> want(size_t(n_batch) * n_rows);
      ref::matmul(w.matrix(), x, n_batch, want);
      test::check_equal(dy.read_f32(), want);
    }
  }
}

TEST_CASE("quantize_q8: random vectors, strided vectors, exact blocks, zero blocks") {
  vk::Context& ctx = test::gpu();
  uint64_t seed = 7400;
  for (auto [n_cols, n_tok, n_per] : {std::tuple{32u, 1u, 1u}, {2048u, 3u, 1u}, {768u, 2u, 8u}}) {
    CAPTURE(n_cols);
    CAPTURE(n_tok);
    CAPTURE(n_per);
    auto x = test::random_floats(seed++, size_t(n_tok) * n_per * n_cols, -3.0f, 3.0f);
    DeviceArray dx(ctx, x.size() * 4);
    dx.upload(x);
    test::quantize_on_device(ctx, x, dx.view(), n_cols, n_tok, n_per);  // checks against the reference
  }
  // Strided input: vector (t, i) at t * 5000 + i * 1000 floats; the output is packed.
  {
    const uint32_t n_cols = 96, n_tok = 2, n_per = 3;
    auto big = test::random_floats(seed++, 10000);
    std::vector<float> packed;
    for (uint32_t t = 0; t < n_tok; ++t)
      for (uint32_t i = 0; i < n_per; ++i)
        packed.insert(packed.end(), big.begin() + t * 5000 + i * 1000, big.begin() + t * 5000 + i * 1000 + n_cols);
    std::vector<uint32_t> want(uint64_t(n_tok) * n_per * ops::q8_words(n_cols));
    ref::quantize_q8(packed, n_cols, want);
    DeviceArray dx(ctx, big.size() * 4), dq(ctx, want.size() * 4);
    dx.upload(big);
    ops::QuantizeArgs a{dx.view(), dq.view(), n_cols, n_tok, n_per, 5000, 1000};
    vk::Recorder rec(ctx);
    ops::quantize_q8(ctx, rec, a);
    rec.submit_and_wait();
    const auto got = dq.read_i32();
    for (size_t b = 0; b < want.size() / 9; ++b) {  // scales to 1e-6, codes within one
      CAPTURE(b);
      float dg, dw;
      std::memcpy(&dg, &got[9 * b + 8], 4);
      std::memcpy(&dw, &want[9 * b + 8], 4);
      CHECK(std::fabs(dg - dw) <= 1e-6f * dw);
      for (int k = 0; k < 32; ++k)
        CHECK(std::abs(int(int8_t(uint8_t(uint32_t(got[9 * b + k / 4]) >> (8 * (k % 4))))) -
                       int(int8_t(uint8_t(want[9 * b + k / 4] >> (8 * (k % 4)))))) <= 1);
    }
  }
  // Exact: integers with a 127 in each block give d = 1 and p = x; a zero block gives d = 0, p = 0.
  {
    const uint32_t n_cols = 128;
    std::vector<float> x(n_cols);
    for (uint32_t i = 0; i < 96; ++i) x[i] = i % 32 == 5 ? -127.0f : float(int(i * 37 % 255) - 127);
    DeviceArray dx(ctx, x.size() * 4), dq(ctx, ops::q8_words(n_cols) * 4);
    dx.upload(x);
    vk::Recorder rec(ctx);
    ops::quantize_q8(ctx, rec, {dx.view(), dq.view(), n_cols});
    rec.submit_and_wait();
    const auto got = dq.read_i32();
    std::vector<uint32_t> q(got.begin(), got.end());
    CHECK(ref::dequantize_q8(q, n_cols) == x);
    for (uint32_t b = 0; b < 3; ++b) CHECK(got[9 * b + 8] == 0x3F800000);  // d = 1.0f
    for (uint32_t w = 27; w < 36; ++w) CHECK(got[w] == 0);                  // the zero block
  }
}
