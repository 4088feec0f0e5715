// Quant formats: every dequantiser equals the reference implementation bit for bit on the oracle
// tensors; quantize -> dequantize round trips within a stated per-type tolerance; random_blocks
// gives finite values; fp16/bf16 conversions are exact on edge cases.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>

#include "loader/gguf/gguf.h"
#include "loader/quants/quants.h"
#include "tests/support/test_data.h"

using namespace moevk;

namespace {

constexpr GgmlType kSupported[] = {
    GgmlType::F32,  GgmlType::F16,    GgmlType::BF16,   GgmlType::Q8_0,
    GgmlType::Q4_0, GgmlType::Q4_1,   GgmlType::Q5_0,   GgmlType::Q5_1,
    GgmlType::Q2_K, GgmlType::Q3_K,   GgmlType::Q4_K,   GgmlType::Q5_K,
    GgmlType::Q6_K, GgmlType::IQ4_NL, GgmlType::IQ4_XS, GgmlType::MXFP4};

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string json_field(const std::string& obj, const std::string& key) {
  std::smatch m;
  std::regex re("\"" + key + "\"\\s*:\\s*\"?([^\",\\]]*)\"?");
  if (!std::regex_search(obj, m, re)) return "";
  return m[1];
}

}  // namespace

TEST_CASE("quants: every dequantiser matches the oracle bit for bit") {
  MOEVK_REQUIRE_SHARED(index_path, "oracle/dequant/index.json");
  std::string root = index_path.substr(0, index_path.rfind("/dequant/")) + "/";
  std::string text = read_text(index_path);
  int n_entries = 0;
  size_t pos = 0;
  while ((pos = text.find('{', pos)) != std::string::npos) {
    size_t end = text.find('}', pos);
    REQUIRE(end != std::string::npos);
    std::string obj = text.substr(pos, end - pos);
    pos = end;
    std::string type = json_field(obj, "type"), file = json_field(obj, "file");
    std::string tensor = json_field(obj, "tensor"), values = json_field(obj, "values_file");
    int64_t n = std::stoll(json_field(obj, "n_values"));
    CAPTURE(type);
    CAPTURE(tensor);
    gguf::File f = gguf::File::open(root + file);
    const gguf::TensorInfo* t = f.find_tensor(tensor);
    REQUIRE(t != nullptr);
    CHECK(traits(t->type).name == type);
    REQUIRE(t->n_elements >= uint64_t(n));
    std::vector<float> ref(static_cast<size_t>(n)), got(static_cast<size_t>(n), NAN);
    std::ifstream in(root + values, std::ios::binary);
    in.read(reinterpret_cast<char*>(ref.data()), n * 4);
    REQUIRE(in.gcount() == n * 4);
    dequantize_row(t->type, f.tensor_data(*t).data(), got.data(), n);
    int64_t mismatches = 0, first = -1;
    for (int64_t i = 0; i < n; i++)
      if (bits(got[size_t(i)]) != bits(ref[size_t(i)])) mismatches++, first = first < 0 ? i : first;
    CAPTURE(first);
    CHECK(mismatches == 0);
    n_entries++;
  }
  CHECK(n_entries == 11);
}

TEST_CASE("quants: type table, names and row sizes") {
  CHECK(traits(GgmlType::Q4_K).block_size == 256);
  CHECK(traits(GgmlType::Q4_K).type_size == 144);
  CHECK(traits(GgmlType::MXFP4).type_size == 17);
  CHECK(traits(GgmlType::IQ4_XS).type_size == 136);
  for (GgmlType t : kSupported) {
    CAPTURE(traits(t).name);
    CHECK(traits(t).supported);
    CHECK(type_from_name(traits(t).name) == t);
    CHECK(type_traits(uint32_t(t)).has_value());
  }
  CHECK(type_from_name("q4_k") == GgmlType::Q4_K);
  CHECK(type_from_name("mxfp4") == GgmlType::MXFP4);
  CHECK(!type_from_name("q4_kk").has_value());
  CHECK(!type_traits(4).has_value());  // removed Q4_2
  CHECK(!type_traits(1000).has_value());
  CHECK(type_traits(9).has_value());  // Q8_1: sized but not supported
  CHECK(!type_traits(9)->supported);
  CHECK(row_bytes(GgmlType::Q4_K, 512) == 288u);
  CHECK(!row_bytes(GgmlType::Q4_K, 100).has_value());
  CHECK(row_bytes(GgmlType::F16, 3) == 6u);
  CHECK(!row_bytes(GgmlType::F32, uint64_t(1) << 63).has_value());  // overflow
}

TEST_CASE("quants: fp16 and bf16 conversions on exact cases") {
  CHECK(fp16_to_fp32(0x3c00) == 1.0f);
  CHECK(fp16_to_fp32(0xc000) == -2.0f);
  CHECK(fp16_to_fp32(0x7bff) == 65504.0f);
  CHECK(fp16_to_fp32(0x0001) == 0x1p-24f);  // smallest subnormal
  CHECK(fp16_to_fp32(0x0400) == 0x1p-14f);  // smallest normal
  CHECK(fp16_to_fp32(0x03ff) == 1023 * 0x1p-24f);
  CHECK(bits(fp16_to_fp32(0x8000)) == 0x80000000u);
  CHECK(std::isinf(fp16_to_fp32(0x7c00)));
  CHECK(std::isnan(fp16_to_fp32(0x7e00)));
  CHECK(fp32_to_fp16(1.0f) == 0x3c00);
  CHECK(fp32_to_fp16(-0.0f) == 0x8000);
  CHECK(fp32_to_fp16(65504.0f) == 0x7bff);
  CHECK(fp32_to_fp16(65519.0f) == 0x7bff);  // rounds down
  CHECK(fp32_to_fp16(65520.0f) == 0x7c00);  // rounds to inf
  CHECK(fp32_to_fp16(1e10f) == 0x7c00);
  CHECK(fp32_to_fp16(-INFINITY) == 0xfc00);
  CHECK((fp32_to_fp16(NAN) & 0x7c00) == 0x7c00);
  CHECK((fp32_to_fp16(NAN) & 0x3ff) != 0);
  CHECK(fp32_to_fp16(0x1p-24f) == 0x0001);
  CHECK(fp32_to_fp16(0x1p-25f) == 0x0000);           // tie -> even (0)
  CHECK(fp32_to_fp16(0x1.8p-24f) == 0x0002);         // tie -> even (2)
  CHECK(fp32_to_fp16(1.0f + 0x1p-11f) == 0x3c00);    // tie -> even
  CHECK(fp32_to_fp16(1.0f + 0x1.8p-10f) == 0x3c02);  // tie -> even (up)
  CHECK(fp32_to_fp16(0x1p-14f) == 0x0400);
  CHECK(fp32_to_fp16(0x1.ff8p-15f) == 0x03ff);
  CHECK(fp32_to_fp16(0x1.ffcp-15f) == 0x0400);  // tie between 1023 and 1024 subnormal steps -> even
  // Every half converts to float and back unchanged (NaNs stay NaN).
  for (uint32_t h = 0; h < 65536; h++) {
    float f = fp16_to_fp32(uint16_t(h));
    if (std::isnan(f)) continue;
    if (fp32_to_fp16(f) != h) {
      CAPTURE(h);
      CHECK(fp32_to_fp16(f) == h);
      break;
    }
  }
  CHECK(bf16_to_fp32(0x3f80) == 1.0f);
  CHECK(bf16_to_fp32(0xc040) == -3.0f);
  CHECK(fp32_to_bf16(1.0f) == 0x3f80);
  CHECK(fp32_to_bf16(1.0f + 0x1p-8f) == 0x3f80);    // tie -> even
  CHECK(fp32_to_bf16(1.0f + 0x1.8p-7f) == 0x3f82);  // tie -> even (up)
  CHECK(fp32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81);
  CHECK(std::isnan(bf16_to_fp32(fp32_to_bf16(NAN))));
  CHECK(fp32_to_bf16(INFINITY) == 0x7f80);
}

// Relative RMS error bound per type for uniform [-1, 1) inputs: about 1.5x what these quantisers
// reach (measured: Q8_0 0.004, Q6_K 0.016, 5-bit 0.031, 4-bit 0.064-0.071, MXFP4 0.12, Q3_K 0.15,
// Q2_K 0.31; for a uniform input the error is about step / sqrt(12) relative to the RMS 1/sqrt(3)).
double round_trip_bound(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return 0;
    case GgmlType::F16: return 1e-3;
    case GgmlType::BF16: return 4e-3;
    case GgmlType::Q8_0: return 0.006;
    case GgmlType::Q6_K: return 0.025;
    case GgmlType::Q5_0:
    case GgmlType::Q5_1:
    case GgmlType::Q5_K: return 0.05;
    case GgmlType::Q4_0:
    case GgmlType::Q4_1:
    case GgmlType::Q4_K: return 0.1;
    case GgmlType::IQ4_NL:
    case GgmlType::IQ4_XS: return 0.11;
    case GgmlType::MXFP4: return 0.18;
    case GgmlType::Q3_K: return 0.22;
    case GgmlType::Q2_K: return 0.45;
    default: return 0;
  }
}

TEST_CASE("quants: quantize -> dequantize round trip within the stated tolerance") {
  const uint64_t seed = 1234;
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const int64_t n = 256 * 16;
  std::vector<float> x(n);
  for (auto& v : x) v = u(rng);
  // Some blocks with a different magnitude and an all-zero block.
  for (int64_t i = 256; i < 512; i++) x[size_t(i)] *= 0.01f;
  for (int64_t i = 512; i < 768; i++) x[size_t(i)] = 0;
  for (int64_t i = 768; i < 1024; i++)
    x[size_t(i)] = std::fabs(x[size_t(i)]) + 2.0f;  // all positive
  for (GgmlType t : kSupported) {
    CAPTURE(traits(t).name);
    std::vector<uint8_t> q(*row_bytes(t, n) + 16, 0xAB);
    quantize_row(t, x.data(), q.data(), n);
    for (int i = 0; i < 16; i++) CHECK(q[*row_bytes(t, n) + size_t(i)] == 0xAB);  // no overrun
    std::vector<float> y(size_t(n), NAN);
    dequantize_row(t, q.data(), y.data(), n);
    // Error relative to each 256-element chunk's RMS (chunks differ in scale by design).
    double worst = 0;
    for (int64_t c = 0; c < n; c += 256) {
      double err = 0, ref = 0;
      for (int64_t i = c; i < c + 256; i++) {
        REQUIRE(std::isfinite(y[size_t(i)]));
        err += double(y[size_t(i)] - x[size_t(i)]) * double(y[size_t(i)] - x[size_t(i)]);
        ref += double(x[size_t(i)]) * double(x[size_t(i)]);
      }
      if (ref == 0) {
        CHECK(err == 0);  // zeros stay zeros
        continue;
      }
      worst = std::max(worst, std::sqrt(err / ref));
    }
    CAPTURE(worst);
    CHECK(worst <= round_trip_bound(t));
  }
}

TEST_CASE("quants: exactly representable inputs survive the round trip unchanged") {
  // Q8_0 with a power-of-two step: x = k / 64 for |k| <= 127 -> d = 127/64/127 = 1/64 exactly.
  std::vector<float> x(64);
  for (int i = 0; i < 64; i++) x[size_t(i)] = float((i * 37) % 255 - 127) / 64.0f;
  x[0] = 127.0f / 64.0f, x[32] = -127.0f / 64.0f;
  std::vector<uint8_t> q(*row_bytes(GgmlType::Q8_0, 64));
  quantize_row(GgmlType::Q8_0, x.data(), q.data(), 64);
  std::vector<float> y(64);
  dequantize_row(GgmlType::Q8_0, q.data(), y.data(), 64);
  CHECK(y == x);
  // MXFP4: values from the E2M1 grid times 2^-3.
  const float grid[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  std::vector<float> m(32);
  for (int i = 0; i < 32; i++) m[size_t(i)] = (i % 2 ? -1.0f : 1.0f) * grid[(i * 5) % 8] * 0.125f;
  m[3] = -6 * 0.125f;
  std::vector<uint8_t> mq(17);
  quantize_row(GgmlType::MXFP4, m.data(), mq.data(), 32);
  std::vector<float> my(32);
  dequantize_row(GgmlType::MXFP4, mq.data(), my.data(), 32);
  CHECK(my == m);
  // F16 / BF16 of values with few mantissa bits.
  std::vector<float> h = {0.5f, -1.25f, 3.0f, 1024.0f};
  for (GgmlType t : {GgmlType::F16, GgmlType::BF16}) {
    std::vector<uint8_t> hq(8);
    std::vector<float> hy(4);
    quantize_row(t, h.data(), hq.data(), 4);
    dequantize_row(t, hq.data(), hy.data(), 4);
    CHECK(hy == h);
  }
}

TEST_CASE("quants: random_blocks are valid: finite, bounded, deterministic, not constant") {
  for (GgmlType t : kSupported) {
    CAPTURE(traits(t).name);
    const int64_t n = 1024;
    std::vector<uint8_t> a(*row_bytes(t, n)), b(a.size()), c(a.size());
    random_blocks(t, 7, a.data(), n);
    random_blocks(t, 7, b.data(), n);
    random_blocks(t, 8, c.data(), n);
    CHECK(a == b);
    CHECK(a != c);
    std::vector<float> y(static_cast<size_t>(n));
    dequantize_row(t, a.data(), y.data(), n);
    float amax = 0;
    int distinct_from_first = 0;
    for (float v : y) {
      REQUIRE(std::isfinite(v));
      amax = std::max(amax, std::fabs(v));
      distinct_from_first += v != y[0];
    }
    CHECK(amax <= 64.0f);
    CHECK(amax > 0.0f);
    CHECK(distinct_from_first > n / 2);
  }
}

TEST_CASE("quants: non-finite and extreme inputs quantise without undefined behaviour") {
  // Under scripts/sanitize.sh (UBSan) this catches out-of-range float -> int conversions.
  std::vector<float> x(256 * 2);
  for (size_t i = 0; i < x.size(); i++) x[i] = float(int(i % 7) - 3);
  x[3] = INFINITY, x[40] = -INFINITY, x[77] = NAN, x[300] = 3e38f, x[301] = -3e38f, x[400] = 1e-40f;
  for (GgmlType t : kSupported) {
    CAPTURE(traits(t).name);
    std::vector<uint8_t> q(*row_bytes(t, int64_t(x.size())));
    quantize_row(t, x.data(), q.data(), int64_t(x.size()));
    std::vector<float> y(x.size());
    dequantize_row(t, q.data(), y.data(), int64_t(y.size()));
    CHECK(y.size() == x.size());
  }
}
