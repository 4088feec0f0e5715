// matvec_id.comp (the expert matvec: ids on the GPU, slot table, slot pool) and the grouped prefill
// path (moe_route.comp + matmul.comp's matmul_id) against ref::matvec_id, for every weight type, with
// subgroup and shared-memory reductions.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <numeric>
#include <random>

#include "runtime/ops/matmul.h"
#include "runtime/ops/matvec_id.h"
#include "runtime/ref/matvec.h"
#include "tests/ops/test_matvec_util.h"

using namespace moevk;
using test::DeviceArray;

namespace {

enum class Table {
  Permutation,  // every expert resident, slot = a non-identity permutation of the expert id
  Streaming,    // only the selected experts have slots (in an order of their own) plus a stale slot
};

struct Case {
  GgmlType type;
  uint32_t n_expert, n_used, n_rows, n_cols, n_tok;
  bool x_per_expert, bias;
  Table table;
  ops::MatvecConfig cfg = {};
};

// n_used distinct experts per token.
std::vector<int32_t> random_ids(std::mt19937_64& rng, uint32_t n_expert, uint32_t n_used,
                                uint32_t n_tok) {
  std::vector<int32_t> ids, all(n_expert);
  for (uint32_t t = 0; t < n_tok; ++t) {
    std::iota(all.begin(), all.end(), 0);
    std::shuffle(all.begin(), all.end(), rng);
    ids.insert(ids.end(), all.begin(), all.begin() + n_used);
  }
  return ids;
}

constexpr uint32_t kNone = 0xFFFFFFFFu;  // a slot index meaning "no slot"

// The device slot table of slot indices: the address of slot i of the pool (stride bytes apart), 0
// for kNone.
std::vector<uint64_t> address_table(const std::vector<uint32_t>& slots, const vk::View& pool,
                                    uint64_t stride) {
  std::vector<uint64_t> out(slots.size(), ops::kNoSlot);
  for (size_t e = 0; e < slots.size(); ++e)
    if (slots[e] != kNone) out[e] = pool.address() + slots[e] * stride;
  return out;
}

// The slot table (slot indices) and the number of slots the pool needs.
std::vector<uint32_t> make_table(std::mt19937_64& rng, Table kind, uint32_t n_expert,
                                 const std::vector<int32_t>& ids, uint32_t& n_slots) {
  std::vector<uint32_t> slots(n_expert, kNone);
  if (kind == Table::Permutation) {
    std::iota(slots.begin(), slots.end(), 0u);
    std::shuffle(slots.begin(), slots.end(), rng);
    if (n_expert > 1 && slots[0] == 0) std::swap(slots[0], slots[1]);  // never the identity
    n_slots = n_expert;
    return slots;
  }
  std::vector<int32_t> used(ids);
  std::sort(used.begin(), used.end());
  used.erase(std::unique(used.begin(), used.end()), used.end());
  std::shuffle(used.begin(), used.end(), rng);
  n_slots = uint32_t(used.size()) + 1;  // slot 0 stays stale: it holds an expert no id selects
  for (uint32_t k = 0; k < used.size(); ++k) slots[used[k]] = k + 1;
  return slots;
}

// What moe_route must write: offsets [n_expert + 2], then the pairs of each expert in order (ids
// out of range last).
std::vector<int32_t> expected_route(const std::vector<int32_t>& ids, uint32_t n_expert) {
  std::vector<int32_t> offsets(n_expert + 2, 0), entries;
  for (uint32_t g = 0; g <= n_expert; ++g) {
    offsets[g] = int32_t(entries.size());
    for (uint32_t s = 0; s < ids.size(); ++s) {
      const bool valid = ids[s] >= 0 && uint32_t(ids[s]) < n_expert;
      if (valid ? uint32_t(ids[s]) == g : g == n_expert) entries.push_back(int32_t(s));
    }
  }
  offsets[n_expert + 1] = int32_t(entries.size());
  offsets.insert(offsets.end(), entries.begin(), entries.end());
  return offsets;
}

// The grouped path on the same arguments: moe_route, then matmul_id; checks the route exactly and
// returns y (all_written: every word of it, no poison left).
std::vector<float> run_grouped(vk::Context& ctx, const ops::MatvecIdArgs& args,
                               const std::vector<int32_t>& ids, const ops::MatvecConfig& cfg = {},
                               bool all_written = true) {
  const uint32_t n_expert = args.experts.n_expert, n_sel = args.n_tok * args.n_used;
  DeviceArray route(ctx, ops::moe_route_bytes(n_expert, n_sel)),
      dy(ctx, uint64_t(n_sel) * args.experts.n_rows * 4);
  ops::MatvecIdArgs a = args;
  a.y = dy.view();
  vk::Recorder rec(ctx);
  ops::moe_route(ctx, rec, a.ids, n_sel, n_expert, route.view());
  rec.barrier();
  ops::matmul_id(ctx, rec, a, route.view(), cfg);
  rec.submit_and_wait();
  CHECK(route.read_i32() == expected_route(ids, n_expert));
  return dy.read_f32(all_written);
}

void run_case(vk::Context& ctx, const Case& c, uint64_t seed) {
  CAPTURE(traits(c.type).name);
  CAPTURE(c.n_expert);
  CAPTURE(c.n_used);
  CAPTURE(c.n_rows);
  CAPTURE(c.n_cols);
  CAPTURE(c.n_tok);
  CAPTURE(c.x_per_expert);
  CAPTURE(int(c.table));
  CAPTURE(c.cfg.row_lanes);
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  auto w = test::random_weights(c.type, uint64_t(c.n_expert) * c.n_rows, c.n_cols, seed);
  const uint64_t expert_bytes = w.row_bytes * c.n_rows;
  const uint64_t stride = (expert_bytes + 255) / 256 * 256 + 256;  // != the matrix size on purpose
  auto ids = random_ids(rng, c.n_expert, c.n_used, c.n_tok);
  uint32_t n_slots = 0;
  auto slots = make_table(rng, c.table, c.n_expert, ids, n_slots);

  std::vector<uint8_t> pool(n_slots * stride, 0xA5);
  for (uint32_t e = 0; e < c.n_expert; ++e)
    if (slots[e] != kNone)
      std::memcpy(pool.data() + slots[e] * stride, w.bytes.data() + e * expert_bytes, expert_bytes);
  if (c.table == Table::Streaming) {  // the stale slot: a valid but unselected expert
    auto stale = test::random_weights(c.type, c.n_rows, c.n_cols, seed + 99);
    std::memcpy(pool.data(), stale.bytes.data(), expert_bytes);
  }
  const uint64_t n_sel = uint64_t(c.n_tok) * c.n_used;
  auto x = test::random_floats(seed + 1, (c.x_per_expert ? n_sel : c.n_tok) * c.n_cols);
  auto bias = test::random_floats(seed + 2, uint64_t(c.n_expert) * c.n_rows);

  DeviceArray dpool(ctx, pool.size()), dslots(ctx, slots.size() * 8), dids(ctx, ids.size() * 4),
      dx(ctx, x.size() * 4), db(ctx, bias.size() * 4), dy(ctx, n_sel * c.n_rows * 4);
  dpool.upload(pool);
  dslots.upload(address_table(slots, dpool.view(), stride));
  dids.upload(ids);
  dx.upload(x);
  db.upload(bias);
  ops::MatvecIdArgs a;
  a.experts = {dslots.view(), 0, stride, c.n_expert, c.type, c.n_rows, c.n_cols};
  a.ids = dids.view();
  a.x = dx.view();
  a.x_per_expert = c.x_per_expert;
  a.y = dy.view();
  if (c.bias) a.bias = db.view();
  a.n_used = c.n_used;
  a.n_tok = c.n_tok;
  // The integer-dot path reads x quantised on the device (x itself unwritten: NaN).
  const bool idot = ops::uses_int_dot(ctx, c.cfg, c.type, c.n_cols);
  CAPTURE(idot);
  test::QuantizedX qx;
  DeviceArray dnan(ctx, dx.bytes());
  if (idot) {
    qx = test::quantize_on_device(ctx, x, dx.view(), c.n_cols, c.n_tok, c.x_per_expert ? c.n_used : 1);
    a.xq = qx.q->view();
    a.x = dnan.view();
  }
  vk::Recorder rec(ctx);
  ops::matvec_id(ctx, rec, a, c.cfg);
  rec.submit_and_wait();
  auto reference = [&](const std::vector<float>& xs) {
    std::vector<float> want(n_sel * c.n_rows);
    ref::matvec_id(w.matrix(), c.n_rows, ids, c.n_used, c.n_tok, xs, c.x_per_expert,
                   c.bias ? std::span<const float>(bias) : std::span<const float>(), want);
    return want;
  };
  const auto want = reference(x);
  const auto tol = test::matvec_tolerance(c.n_cols, test::weight_rms(w));
  test::check_close(dy.read_f32(), idot ? reference(qx.x) : want, tol);
  if (ops::matmul_supports(c.type, c.n_cols)) {
    INFO("grouped: moe_route + matmul_id");
    a.x = dx.view();
    test::check_close(run_grouped(ctx, a, ids, c.cfg), want, tol);
  }
}

void every_type(vk::Context& ctx, const ops::MatvecConfig& cfg = {}) {
  uint64_t seed = 2000;
  for (GgmlType t : test::kMatvecTypes) {
    const uint32_t qk = std::max(traits(t).block_size, cfg.row_lanes ? 32u : 8u);
    // 128 experts top-8 (qwen3moe/olmoe-like routing), one block per row; gate/up: shared x.
    run_case(ctx, {t, 128, 8, 67, qk, 1, false, false, Table::Permutation, cfg}, seed++);
    // 32 top-4, three blocks, two tokens, down: one x per selected expert, per-expert bias
    // (gpt-oss).
    run_case(ctx, {t, 32, 4, 33, 3 * qk, 2, true, true, Table::Streaming, cfg}, seed++);
    // 8 top-2 (mixtral-like), streamed, shared x; and resident with per-expert x over three tokens.
    run_case(ctx, {t, 8, 2, 257, 2 * qk, 1, false, false, Table::Streaming, cfg}, seed++);
    run_case(ctx, {t, 8, 2, 7, qk, 3, true, false, Table::Permutation, cfg}, seed++);
    // A prefill batch: 70 tokens (tiles of 32 tokens and 64 rows with tails), 16 top-4.
    run_case(ctx, {t, 16, 4, 67, 2 * qk, 70, false, true, Table::Permutation, cfg}, seed++);
    run_case(ctx, {t, 16, 4, 65, qk, 37, true, false, Table::Streaming, cfg}, seed++);
  }
}

// y of the four pairs of the no-slot case: pairs 1 and 3 NaN, the others W_id x.
void check_nan_rows(const std::vector<float>& y, const test::HostWeights& w,
                    const std::vector<int32_t>& ids, const std::vector<float>& x, uint32_t n_rows) {
  std::vector<float> want(n_rows);
  for (uint32_t i = 0; i < 4; ++i) {
    CAPTURE(i);
    std::vector<float> got(y.begin() + i * n_rows, y.begin() + (i + 1) * n_rows);
    if (i == 1 || i == 3) {
      for (float v : got) CHECK(std::isnan(v));
      continue;
    }
    ref::matvec(w.matrix().rows(uint64_t(ids[i]) * n_rows, n_rows), x, want);
    test::check_close(got, want, test::matvec_tolerance(x.size(), test::weight_rms(w)));
  }
}

}  // namespace

TEST_CASE(
    "matvec_id: every type, 128 top-8 / 32 top-4 / 8 top-2, resident and streamed (subgroup)") {
  every_type(test::gpu());
}

// The row-lane kernels (matvec_id_rows.comp, matmul_id_rows.comp; CPU devices).
static ops::MatvecConfig row_lanes() {
  ops::MatvecConfig c = ops::matvec_config_for(test::gpu().features());
  REQUIRE(c.row_lanes);  // lavapipe (a CPU device with subgroup ballot) takes them by default
  return c;
}

TEST_CASE("matvec_id rows: every type, the same cases on the row lanes (and grouped on them)") {
  every_type(test::gpu(), row_lanes());
  run_case(test::gpu(), {GgmlType::Q4_K, 128, 8, 768, 2048, 64, false, false, Table::Permutation, row_lanes()},
           3104);
  run_case(test::gpu(), {GgmlType::Q6_K, 16, 4, 2048, 768, 1, true, false, Table::Streaming, row_lanes()}, 3101);
}

// The GPU paths (MatvecConfig::storage16, int_dot): 16-bit weight loads for every type (grouped
// matmul_id too), integer dot products for the quantised types, and both.
TEST_CASE("matvec_id: every type, 16-bit storage (and grouped)") {
  every_type(test::gpu(), test::gpu_path(true, false));
}

TEST_CASE("matvec_id: every type, integer dot, with and without 16-bit storage") {
  every_type(test::gpu(), test::gpu_path(false, true));
  every_type(test::gpu(), test::gpu_path(true, true));
  run_case(test::gpu(), {GgmlType::Q4_K, 128, 8, 768, 2048, 1, false, false, Table::Permutation,
                         test::gpu_path(true, true)}, 3200);
  run_case(test::gpu(), {GgmlType::MXFP4, 32, 4, 2880, 2880, 1, true, true, Table::Streaming,
                         test::gpu_path(true, true)}, 3201);
}

TEST_CASE("matvec_id: every type, shared-memory reduction (no subgroup ops)") {
  every_type(test::gpu_without("subgroup"));
}

TEST_CASE("matvec_id: model-like shapes (qwen3moe expert 768x2048 / 2048x768, gpt-oss 2880x2880)") {
  run_case(test::gpu(), {GgmlType::Q4_K, 16, 4, 768, 2048, 1, false, false, Table::Permutation},
           3000);
  run_case(test::gpu(), {GgmlType::Q6_K, 16, 4, 2048, 768, 1, true, false, Table::Streaming}, 3001);
  run_case(test::gpu_without("subgroup"),
           {GgmlType::MXFP4, 4, 2, 2880, 2880, 1, false, true, Table::Streaming}, 3002);
  run_case(test::gpu(),
           {GgmlType::Q8_0, 8, 2, 300, 2880, 2, true, true, Table::Permutation, {128, 4}}, 3003);
  run_case(test::gpu(),  // the config the engine uses on CPU devices (ops::matvec_config_for)
           {GgmlType::Q4_K, 8, 2, 259, 512, 3, true, false, Table::Streaming, {32, 8}}, 3006);
  // Prefill of 64 tokens through 128 experts top-8 (groups of ~4 tokens) and through 8 top-2
  // (groups of ~16, one expert may take most of the batch).
  run_case(test::gpu(), {GgmlType::Q4_K, 128, 8, 768, 2048, 64, false, false, Table::Permutation},
           3004);
  run_case(test::gpu(), {GgmlType::Q6_K, 8, 2, 2048, 768, 64, true, false, Table::Streaming}, 3005);
}

TEST_CASE("matvec_id: an expert without a slot gives NaN rows, the others stay correct") {
  vk::Context& ctx = test::gpu();
  const uint32_t n_expert = 4, n_rows = 9, n_cols = 64;
  auto w = test::random_weights(GgmlType::Q8_0, n_expert * n_rows, n_cols, 4000);
  const uint64_t eb = w.row_bytes * n_rows;
  std::vector<uint32_t> slots = {1, kNone, 0, kNone};
  std::vector<int32_t> ids = {2, 1, 0, 7};  // expert 1 has no slot; 7 is out of range
  std::vector<uint8_t> pool(2 * eb);
  std::memcpy(pool.data(), w.bytes.data() + 2 * eb, eb);
  std::memcpy(pool.data() + eb, w.bytes.data(), eb);
  auto x = test::random_floats(4001, n_cols);
  DeviceArray dpool(ctx, pool.size()), dslots(ctx, 32), dids(ctx, 16), dx(ctx, n_cols * 4),
      dy(ctx, 4 * n_rows * 4);
  dpool.upload(pool);
  dslots.upload(address_table(slots, dpool.view(), eb));
  dids.upload(ids);
  dx.upload(x);
  ops::MatvecIdArgs a;
  a.experts = {dslots.view(), 0, eb, n_expert, GgmlType::Q8_0, n_rows, n_cols};
  a.ids = dids.view();
  a.x = dx.view();
  a.y = dy.view();
  a.n_used = 4;
  vk::Recorder rec(ctx);
  ops::matvec_id(ctx, rec, a);
  rec.submit_and_wait();
  check_nan_rows(dy.read_f32(), w, ids, x, n_rows);
  INFO("grouped: moe_route + matmul_id");
  check_nan_rows(run_grouped(ctx, a, ids), w, ids, x, n_rows);
}

TEST_CASE("matvec_id_glu: gate, up and the activation in one dispatch (silu and clamped)") {
  uint64_t seed = 5000;
  for (auto [ctx, cfg] : {std::pair{&test::gpu(), ops::MatvecConfig{}},
                          std::pair{&test::gpu_without("subgroup"), ops::MatvecConfig{}},
                          std::pair{&test::gpu(), row_lanes()},
                          std::pair{&test::gpu(), test::gpu_path(true, true)}})
    for (GgmlType t : test::kMatvecTypes)
      for (ops::Glu act : {ops::Glu::Swiglu, ops::Glu::SwigluClamped}) {
        const uint32_t n_expert = 8, n_used = 2, n_rows = 67, n_tok = act == ops::Glu::Swiglu ? 1 : 3;
        const uint32_t n_cols = 2 * std::max(traits(t).block_size, cfg.row_lanes ? 32u : 8u);
        const float alpha = 1.702f, limit = 0.3f;  // a limit the products reach: both clamps act
        CAPTURE(cfg.row_lanes);
        CAPTURE(traits(t).name);
        CAPTURE(int(act));
        CAPTURE(seed);
        std::mt19937_64 rng(seed);
        auto wg = test::random_weights(t, uint64_t(n_expert) * n_rows, n_cols, seed);
        auto wu = test::random_weights(t, uint64_t(n_expert) * n_rows, n_cols, seed + 1);
        // One slot holds an expert's gate then its up matrix (as the engine lays slots out).
        const uint64_t eb = wg.row_bytes * n_rows, up_off = (eb + 255) / 256 * 256,
                       stride = 2 * up_off;
        auto ids = random_ids(rng, n_expert, n_used, n_tok);
        uint32_t n_slots = 0;
        auto slots = make_table(rng, Table::Permutation, n_expert, ids, n_slots);
        std::vector<uint8_t> pool(n_slots * stride);
        for (uint32_t e = 0; e < n_expert; ++e) {
          std::memcpy(pool.data() + slots[e] * stride, wg.bytes.data() + e * eb, eb);
          std::memcpy(pool.data() + slots[e] * stride + up_off, wu.bytes.data() + e * eb, eb);
        }
        auto x = test::random_floats(seed + 2, size_t(n_tok) * n_cols);
        auto bg = test::random_floats(seed + 3, size_t(n_expert) * n_rows);
        auto bu = test::random_floats(seed + 4, size_t(n_expert) * n_rows);
        seed += 5;
        const size_t n_out = size_t(n_tok) * n_used * n_rows;
        DeviceArray dpool(*ctx, pool.size()), dslots(*ctx, slots.size() * 8),
            dids(*ctx, ids.size() * 4), dx(*ctx, x.size() * 4), dbg(*ctx, bg.size() * 4),
            dbu(*ctx, bu.size() * 4), dy(*ctx, n_out * 4);
        dpool.upload(pool);
        dslots.upload(address_table(slots, dpool.view(), stride));
        dids.upload(ids);
        dx.upload(x);
        dbg.upload(bg);
        dbu.upload(bu);
        ops::MatvecIdArgs a;
        a.experts = {dslots.view(), 0, stride, n_expert, t, n_rows, n_cols};
        a.ids = dids.view();
        a.x = dx.view();
        a.y = dy.view();
        a.bias = dbg.view();
        a.n_used = n_used;
        a.n_tok = n_tok;
        ops::GluArgs g{{dslots.view(), up_off, stride, n_expert, t, n_rows, n_cols},
                       dbu.view(), act, alpha, limit};
        const bool idot = ops::uses_int_dot(*ctx, cfg, t, n_cols);
        CAPTURE(idot);
        test::QuantizedX qx;
        DeviceArray dnan(*ctx, dx.bytes());
        if (idot) {  // x quantised on the device; x itself unwritten (NaN)
          qx = test::quantize_on_device(*ctx, x, dx.view(), n_cols, n_tok);
          a.xq = qx.q->view();
          a.x = dnan.view();
          x = qx.x;
        }
        vk::Recorder rec(*ctx);
        ops::matvec_id_glu(*ctx, rec, a, g, cfg);
        rec.submit_and_wait();
        std::vector<float> gate(n_out), up(n_out), want(n_out);
        ref::matvec_id(wg.matrix(), n_rows, ids, n_used, n_tok, x, false, bg, gate);
        ref::matvec_id(wu.matrix(), n_rows, ids, n_used, n_tok, x, false, bu, up);
        if (act == ops::Glu::Swiglu)
          ref::swiglu(gate, up, want);
        else
          ref::swiglu_clamped(gate, up, alpha, limit, want);
        // The activation's slope is at most ~1.1 and |up| (clamped: |up| + 1) scales the gate's
        // error: the matvec tolerance of a product, times a few.
        auto tol = test::matvec_tolerance(n_cols, test::weight_rms(wg));
        tol.abs *= 4;
        test::check_close(dy.read_f32(), want, tol);
      }
}

// The hybrid path's contract: a table entry of kCpuSlot marks an expert the CPU computes; every
// expert kernel leaves the rows of its pairs exactly as they were (here: the poison) and computes
// the others.
TEST_CASE("matvec_id, matvec_id_glu, matmul_id: a kCpuSlot expert's rows stay untouched") {
  vk::Context& ctx = test::gpu();
  const uint32_t n_expert = 6, n_used = 2, n_tok = 9, n_rows = 13, n_cols = 64;
  std::mt19937_64 rng(4100);
  auto ids = random_ids(rng, n_expert, n_used, n_tok);
  ids[0] = 3;  // expert 3 is used by token 0 at least (the CPU's)
  if (ids[1] == 3) ids[1] = 4;
  auto w = test::random_weights(GgmlType::Q4_0, uint64_t(n_expert) * n_rows, n_cols, 4101);
  const uint64_t eb = w.row_bytes * n_rows, stride = (2 * eb + 255) / 256 * 256;  // gate, then up
  auto wu = test::random_weights(GgmlType::Q4_0, uint64_t(n_expert) * n_rows, n_cols, 4102);
  std::vector<uint8_t> pool(n_expert * stride);
  for (uint32_t e = 0; e < n_expert; ++e) {
    std::memcpy(pool.data() + e * stride, w.bytes.data() + e * eb, eb);
    std::memcpy(pool.data() + e * stride + eb, wu.bytes.data() + e * eb, eb);
  }
  auto x = test::random_floats(4103, size_t(n_tok) * n_cols);
  DeviceArray dpool(ctx, pool.size()), dslots(ctx, n_expert * 8), dids(ctx, ids.size() * 4),
      dx(ctx, x.size() * 4);
  dpool.upload(pool);
  std::vector<uint64_t> table(n_expert);
  for (uint32_t e = 0; e < n_expert; ++e) table[e] = dpool.view().address() + e * stride;
  table[3] = ops::kCpuSlot;
  dslots.upload(table);
  dids.upload(ids);
  dx.upload(x);
  ops::MatvecIdArgs a;
  a.experts = {dslots.view(), 0, stride, n_expert, GgmlType::Q4_0, n_rows, n_cols};
  a.ids = dids.view();
  a.x = dx.view();
  a.x_tok_stride = n_cols;
  a.n_used = n_used;
  a.n_tok = n_tok;
  // y of pair s: the poison for expert 3, else gate (and, with glu, silu(gate) * up) of x[t]; the
  // glu's error: the matvec tolerance times a few (as in the glu test above).
  auto tol = test::matvec_tolerance(n_cols, test::weight_rms(w)), glu_tol = tol;
  glu_tol.abs *= 4;
  auto check = [&](const std::vector<float>& y, bool glu) {
    uint32_t skipped = 0;
    std::vector<float> g(n_rows), u(n_rows);
    for (uint32_t s = 0; s < n_tok * n_used; ++s) {
      CAPTURE(s);
      const std::vector<float> got(y.begin() + uint64_t(s) * n_rows, y.begin() + uint64_t(s + 1) * n_rows);
      if (ids[s] == 3) {
        ++skipped;
        for (float v : got) CHECK(std::bit_cast<uint32_t>(v) == test::kPoison);
        continue;
      }
      const std::span<const float> xt(x.data() + uint64_t(s / n_used) * n_cols, n_cols);
      ref::matvec(w.matrix().rows(uint64_t(ids[s]) * n_rows, n_rows), xt, g);
      if (glu) {
        ref::matvec(wu.matrix().rows(uint64_t(ids[s]) * n_rows, n_rows), xt, u);
        ref::swiglu(g, u, g);
      }
      test::check_close(got, g, glu ? glu_tol : tol);
    }
    CHECK(skipped >= 1);
  };
  for (const ops::MatvecConfig& cfg : {ops::MatvecConfig{}, row_lanes()}) {
    CAPTURE(cfg.row_lanes);
    {
      DeviceArray dy(ctx, uint64_t(n_tok) * n_used * n_rows * 4);
      a.y = dy.view();
      vk::Recorder rec(ctx);
      ops::matvec_id(ctx, rec, a, cfg);
      rec.submit_and_wait();
      check(dy.read_f32(false), false);
    }
    {
      INFO("matvec_id_glu");
      DeviceArray dy(ctx, uint64_t(n_tok) * n_used * n_rows * 4);
      a.y = dy.view();
      ops::GluArgs g{{dslots.view(), eb, stride, n_expert, GgmlType::Q4_0, n_rows, n_cols}, {}, ops::Glu::Swiglu};
      vk::Recorder rec(ctx);
      ops::matvec_id_glu(ctx, rec, a, g, cfg);
      rec.submit_and_wait();
      check(dy.read_f32(false), true);
    }
    {
      INFO("grouped: moe_route + matmul_id");
      check(run_grouped(ctx, a, ids, cfg, false), false);
    }
  }
}

// MLA's per-head products: x is each head's first n_cols floats of a wider per-token row (q_nope
// inside q: x_tok_stride, x_expert_stride, x_per_expert off), the "experts" are the heads. On the
// float path and the integer-dot path (which quantises each head's slice into a packed vector).
TEST_CASE("matvec_id: per-head slices of a wider row (MLA's x strides), float and integer dot") {
  vk::Context& ctx = test::gpu();
  const uint32_t H = 6, dk = 80, n_cols = 64, n_rows = 37, n_tok = 3;
  uint64_t seed = 4200;
  for (const ops::MatvecConfig& cfg : {ops::MatvecConfig{}, test::gpu_path(false, true)})
    for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::F16}) {
      CAPTURE(traits(t).name);
      CAPTURE(cfg.int_dot);
      auto w = test::random_weights(t, uint64_t(H) * n_rows, n_cols, seed);
      const uint64_t eb = w.row_bytes * n_rows;
      auto x = test::random_floats(seed + 1, size_t(n_tok) * H * dk);
      seed += 2;
      std::vector<int32_t> ids(n_tok * H);
      for (uint32_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i % H);
      std::vector<float> slices;  // [n_tok][H][n_cols]: what each pair multiplies
      for (uint32_t s = 0; s < n_tok * H; ++s)
        slices.insert(slices.end(), x.begin() + s * dk, x.begin() + s * dk + n_cols);
      DeviceArray dpool(ctx, w.bytes.size()), dslots(ctx, H * 8), dids(ctx, ids.size() * 4),
          dx(ctx, x.size() * 4), dy(ctx, uint64_t(n_tok) * H * n_rows * 4);
      dpool.upload(w.bytes);
      std::vector<uint64_t> table(H);
      for (uint32_t e = 0; e < H; ++e) table[e] = dpool.view().address() + e * eb;
      dslots.upload(table);
      dids.upload(ids);
      dx.upload(x);
      ops::MatvecIdArgs a;
      a.experts = {dslots.view(), 0, eb, H, t, n_rows, n_cols};
      a.ids = dids.view();
      a.x = dx.view();
      a.x_tok_stride = H * dk;
      a.x_expert_stride = dk;
      a.y = dy.view();
      a.n_used = H;
      a.n_tok = n_tok;
      CHECK(a.x_vectors_per_tok() == H);
      const bool idot = ops::uses_int_dot(ctx, cfg, t, n_cols);
      CHECK(idot == (cfg.int_dot && t != GgmlType::F16));
      std::unique_ptr<DeviceArray> dq;
      if (idot) {  // the engine's quantisation of the strided slices (VkEngine::with_xq)
        dq = std::make_unique<DeviceArray>(ctx, uint64_t(n_tok) * H * ops::q8_words(n_cols) * 4);
        vk::Recorder rq(ctx);
        ops::quantize_q8(ctx, rq, {a.x, dq->view(), n_cols, n_tok, H, H * dk, dk});
        rq.submit_and_wait();
        a.xq = dq->view();
        const auto got = dq->read_i32();
        slices = ref::dequantize_q8(std::vector<uint32_t>(got.begin(), got.end()), n_cols);
      }
      vk::Recorder rec(ctx);
      ops::matvec_id(ctx, rec, a, cfg);
      rec.submit_and_wait();
      std::vector<float> want(uint64_t(n_tok) * H * n_rows);
      ref::matvec_id(w.matrix(), n_rows, ids, H, n_tok, slices, true, {}, want);
      test::check_close(dy.read_f32(), want, test::matvec_tolerance(n_cols, test::weight_rms(w)));
    }
}
