// matvec.comp (every weight type, subgroup and shared-memory reductions) and the tiled prefill
// matmul (matmul.comp) against ref::matmul, and the GLSL dequantisers against the oracle values of
// ../shared/oracle/dequant.
#include <doctest/doctest.h>

#include <cstring>
#include <fstream>

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
  vk::Recorder rec(ctx);
  ops::matvec(ctx, rec, a, c.cfg);
  rec.submit_and_wait();
  std::vector<float> want(size_t(c.n_batch) * c.n_rows);
  ref::matmul(w.matrix(), x, c.n_batch, want);
  if (c.bias) ref::add_bias(want, bias);
  const auto tol = test::matvec_tolerance(c.n_cols, test::weight_rms(w));
  test::check_close(dy.read_f32(), want, tol);
  const bool default_cfg = c.cfg.wg == ops::MatvecConfig{}.wg && c.cfg.rows == ops::MatvecConfig{}.rows;
  if (default_cfg && ops::matmul_supports(c.type, c.n_cols)) {  // the tiled prefill kernel
    INFO("matmul");
    DeviceArray dy2(ctx, dy.bytes());
    a.y = dy2.view();
    vk::Recorder rec2(ctx);
    ops::matmul(ctx, rec2, a);
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

void small_shapes(vk::Context& ctx) {
  uint64_t seed = 100;
  for (GgmlType t : test::kMatvecTypes)
    for (uint32_t n_rows : {1u, 7u, 67u, 257u})
      for (uint32_t n_cols : small_cols(t))
        for (uint32_t n_batch : {1u, 3u})
          run_case(ctx, {t, n_rows, n_cols, n_batch, n_batch == 3, {}}, seed++);
}

}  // namespace

TEST_CASE(
    "matvec: every type, rows 1/7/67/257, 1 and 3 blocks, batch 1 and 3 (subgroup reduction)") {
  small_shapes(test::gpu());
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
                            std::pair{&test::gpu(), row_lanes()}}) {
      CAPTURE(cfg.row_lanes);
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
