// Type table, fp16/bf16 conversions, the legacy 32-element formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0),
// and the dispatch of dequantize_row / quantize_row / random_blocks. K-quants: quants_k.cpp;
// IQ4_NL, IQ4_XS, MXFP4: quants_iq.cpp.
#include "loader/quants/quants.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstring>

#include "loader/error.h"
#include "loader/quants/quants_internal.h"

namespace moevk {

namespace {

// Every ggml type id up to MXFP4 with its name and block geometry; ids ggml removed are absent.
struct TypeRow {
  uint32_t id;
  TypeTraits traits;
};
constexpr TypeRow kTypes[] = {
    {0, {"F32", 1, 4, true}},          {1, {"F16", 1, 2, true}},
    {2, {"Q4_0", 32, 18, true}},       {3, {"Q4_1", 32, 20, true}},
    {6, {"Q5_0", 32, 22, true}},       {7, {"Q5_1", 32, 24, true}},
    {8, {"Q8_0", 32, 34, true}},       {9, {"Q8_1", 32, 36, false}},
    {10, {"Q2_K", 256, 84, true}},     {11, {"Q3_K", 256, 110, true}},
    {12, {"Q4_K", 256, 144, true}},    {13, {"Q5_K", 256, 176, true}},
    {14, {"Q6_K", 256, 210, true}},    {15, {"Q8_K", 256, 292, false}},
    {16, {"IQ2_XXS", 256, 66, false}}, {17, {"IQ2_XS", 256, 74, false}},
    {18, {"IQ3_XXS", 256, 98, false}}, {19, {"IQ1_S", 256, 50, false}},
    {20, {"IQ4_NL", 32, 18, true}},    {21, {"IQ3_S", 256, 110, false}},
    {22, {"IQ2_S", 256, 82, false}},   {23, {"IQ4_XS", 256, 136, true}},
    {24, {"I8", 1, 1, false}},         {25, {"I16", 1, 2, false}},
    {26, {"I32", 1, 4, false}},        {27, {"I64", 1, 8, false}},
    {28, {"F64", 1, 8, false}},        {29, {"IQ1_M", 256, 56, false}},
    {30, {"BF16", 1, 2, true}},        {34, {"TQ1_0", 256, 54, false}},
    {35, {"TQ2_0", 256, 66, false}},   {39, {"MXFP4", 32, 17, true}},
};

const TypeTraits* find_traits(uint32_t id) {
  for (const TypeRow& r : kTypes)
    if (r.id == id) return &r.traits;
  return nullptr;
}

uint32_t f2u(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float u2f(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace

std::optional<TypeTraits> type_traits(uint32_t id) {
  const TypeTraits* t = find_traits(id);
  if (!t) return std::nullopt;
  return *t;
}

const TypeTraits& traits(GgmlType t) {
  const TypeTraits* tr = find_traits(uint32_t(t));
  MOEVK_ASSERT(tr != nullptr, "unknown ggml type");
  return *tr;
}

std::optional<GgmlType> type_from_name(std::string_view name) {
  for (const TypeRow& r : kTypes) {
    std::string_view n = r.traits.name;
    if (n.size() != name.size()) continue;
    bool eq = true;
    for (size_t i = 0; i < n.size() && eq; i++)
      eq = std::toupper(static_cast<unsigned char>(name[i])) == n[i];
    if (eq) return static_cast<GgmlType>(r.id);
  }
  return std::nullopt;
}

std::optional<uint64_t> row_bytes(GgmlType t, uint64_t n) {
  const TypeTraits* tr = find_traits(uint32_t(t));
  if (!tr || n % tr->block_size != 0) return std::nullopt;
  uint64_t out;
  if (__builtin_mul_overflow(n / tr->block_size, uint64_t(tr->type_size), &out))
    return std::nullopt;
  return out;
}

float fp16_to_fp32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0) {
    float v = float(mant) * 0x1p-24f;  // zero or subnormal: exact
    return sign ? -v : v;
  }
  if (exp == 31) return u2f(sign | 0x7f800000u | (mant << 13));
  return u2f(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t fp32_to_fp16(float f) {
  uint32_t u = f2u(f);
  uint16_t sign = uint16_t((u >> 16) & 0x8000);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return sign | 0x7e00;   // NaN -> quiet NaN
  if (a >= 0x47800000u) return sign | 0x7c00;  // >= 65536 (or inf): inf
  if (a < 0x38800000u) {                       // below the smallest normal half (2^-14)
    // Adding 0.5 (ulp 2^-24, the subnormal half step) lets the FPU round to nearest even.
    float r = u2f(a) + 0.5f;
    return sign | uint16_t(f2u(r) - f2u(0.5f));
  }
  uint32_t odd = (a >> 13) & 1;
  a += 0xc8000fffu + odd;  // rebias exponent (-112 << 23) and round to nearest even
  return sign | uint16_t(a >> 13);
}

float bf16_to_fp32(uint16_t h) { return u2f(uint32_t(h) << 16); }

uint16_t fp32_to_bf16(float f) {
  uint32_t u = f2u(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
}

namespace quant {

const int8_t kIQ4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                               1,    13,   25,  38,  53,  69,  89,  113};
const int8_t kMXFP4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

float e8m0_to_fp32_half(uint8_t e) {
  // 2^(e-127) / 2 = 2^(e-128); e = 0 and 1 give subnormal floats.
  uint32_t bits = e < 2 ? (0x00200000u << e) : (uint32_t(e - 1) << 23);
  return u2f(bits);
}

int nearest_level(const int8_t* table, float x) {
  int best = 0;
  float best_err = INFINITY;
  for (int i = 0; i < 16; i++) {
    float err = std::fabs(x - float(table[i]));
    if (err < best_err) best_err = err, best = i;
  }
  return best;
}

namespace {

float h2f(uint16_t h) { return fp16_to_fp32(h); }

// Scale for a symmetric signed format: the value of largest magnitude maps to `lowest` (e.g. -8),
// as ggml does, so the full negative range is used. Returns the fp16-rounded scale.
uint16_t signed_scale(const float* x, int n, float lowest) {
  float amax = 0, vmax = 0;
  for (int i = 0; i < n; i++)
    if (std::fabs(x[i]) > amax) amax = std::fabs(x[i]), vmax = x[i];
  return fp32_to_fp16(vmax / lowest);
}


void dequant_q4_0(const BlockQ4_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK) {
    float d = h2f(b[i].d);
    for (int j = 0; j < QK / 2; j++) {
      y[j] = float((b[i].qs[j] & 0xf) - 8) * d;
      y[j + QK / 2] = float((b[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequant_q4_1(const BlockQ4_1* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK) {
    float d = h2f(b[i].d), m = h2f(b[i].m);
    for (int j = 0; j < QK / 2; j++) {
      y[j] = float(b[i].qs[j] & 0xf) * d + m;
      y[j + QK / 2] = float(b[i].qs[j] >> 4) * d + m;
    }
  }
}

void dequant_q5_0(const BlockQ5_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK) {
    float d = h2f(b[i].d);
    uint32_t qh;
    std::memcpy(&qh, b[i].qh, 4);
    for (int j = 0; j < QK / 2; j++) {
      int x0 = (b[i].qs[j] & 0xf) | (((qh >> j) & 1) << 4);
      int x1 = (b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      y[j] = float(x0 - 16) * d;
      y[j + QK / 2] = float(x1 - 16) * d;
    }
  }
}

void dequant_q5_1(const BlockQ5_1* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK) {
    float d = h2f(b[i].d), m = h2f(b[i].m);
    uint32_t qh;
    std::memcpy(&qh, b[i].qh, 4);
    for (int j = 0; j < QK / 2; j++) {
      int x0 = (b[i].qs[j] & 0xf) | (((qh >> j) & 1) << 4);
      int x1 = (b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      y[j] = float(x0) * d + m;
      y[j + QK / 2] = float(x1) * d + m;
    }
  }
}

void dequant_q8_0(const BlockQ8_0* b, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, y += QK) {
    float d = h2f(b[i].d);
    for (int j = 0; j < QK; j++) y[j] = float(b[i].qs[j]) * d;
  }
}

void quant_q4_0(const float* x, BlockQ4_0* b, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK) {
    b[i].d = signed_scale(x, QK, -8.0f);
    float d = h2f(b[i].d), id = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK / 2; j++) {
      int q0 = round_clamped(x[j] * id, -8, 7) + 8,
          q1 = round_clamped(x[j + QK / 2] * id, -8, 7) + 8;
      b[i].qs[j] = uint8_t(q0 | (q1 << 4));
    }
  }
}

void quant_q5_0(const float* x, BlockQ5_0* b, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK) {
    b[i].d = signed_scale(x, QK, -16.0f);
    float d = h2f(b[i].d), id = d != 0 ? 1.0f / d : 0.0f;
    uint32_t qh = 0;
    for (int j = 0; j < QK / 2; j++) {
      int q0 = round_clamped(x[j] * id, -16, 15) + 16;
      int q1 = round_clamped(x[j + QK / 2] * id, -16, 15) + 16;
      b[i].qs[j] = uint8_t((q0 & 0xf) | ((q1 & 0xf) << 4));
      qh |= uint32_t(q0 >> 4) << j;
      qh |= uint32_t(q1 >> 4) << (j + 16);
    }
    std::memcpy(b[i].qh, &qh, 4);
  }
}

// Affine formats (Q4_1, Q5_1): x ~ q * d + m with q in [0, levels].
template <typename Block>
void quant_affine(const float* x, Block* b, int64_t nb, int levels) {
  for (int64_t i = 0; i < nb; i++, x += QK) {
    float lo = *std::min_element(x, x + QK), hi = *std::max_element(x, x + QK);
    b[i].d = fp32_to_fp16((hi - lo) / float(levels));
    b[i].m = fp32_to_fp16(lo);
    float d = h2f(b[i].d), m = h2f(b[i].m), id = d != 0 ? 1.0f / d : 0.0f;
    uint32_t qh = 0;
    for (int j = 0; j < QK / 2; j++) {
      int q0 = round_clamped((x[j] - m) * id, 0, levels);
      int q1 = round_clamped((x[j + QK / 2] - m) * id, 0, levels);
      b[i].qs[j] = uint8_t((q0 & 0xf) | ((q1 & 0xf) << 4));
      qh |= uint32_t(q0 >> 4) << j;
      qh |= uint32_t(q1 >> 4) << (j + 16);
    }
    if constexpr (requires { b[i].qh; }) std::memcpy(b[i].qh, &qh, 4);
  }
}

void quant_q8_0(const float* x, BlockQ8_0* b, int64_t nb) {
  for (int64_t i = 0; i < nb; i++, x += QK) {
    float amax = 0;
    for (int j = 0; j < QK; j++) amax = std::max(amax, std::fabs(x[j]));
    b[i].d = fp32_to_fp16(amax / 127.0f);
    float d = h2f(b[i].d), id = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK; j++) b[i].qs[j] = int8_t(round_clamped(x[j] * id, -127, 127));
  }
}

}  // namespace
}  // namespace quant

void dequantize_row(GgmlType t, const void* src, float* dst, int64_t n) {
  using namespace quant;
  const TypeTraits& tr = traits(t);
  MOEVK_ASSERT(n >= 0 && n % tr.block_size == 0, "n is not a multiple of the block size");
  int64_t nb = n / tr.block_size;
  switch (t) {
    case GgmlType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case GgmlType::F16: {
      const auto* h = static_cast<const uint8_t*>(src);
      for (int64_t i = 0; i < n; i++) {
        uint16_t v;
        std::memcpy(&v, h + 2 * i, 2);
        dst[i] = fp16_to_fp32(v);
      }
      return;
    }
    case GgmlType::BF16: {
      const auto* h = static_cast<const uint8_t*>(src);
      for (int64_t i = 0; i < n; i++) {
        uint16_t v;
        std::memcpy(&v, h + 2 * i, 2);
        dst[i] = bf16_to_fp32(v);
      }
      return;
    }
    case GgmlType::Q4_0: return dequant_q4_0(static_cast<const BlockQ4_0*>(src), dst, nb);
    case GgmlType::Q4_1: return dequant_q4_1(static_cast<const BlockQ4_1*>(src), dst, nb);
    case GgmlType::Q5_0: return dequant_q5_0(static_cast<const BlockQ5_0*>(src), dst, nb);
    case GgmlType::Q5_1: return dequant_q5_1(static_cast<const BlockQ5_1*>(src), dst, nb);
    case GgmlType::Q8_0: return dequant_q8_0(static_cast<const BlockQ8_0*>(src), dst, nb);
    case GgmlType::Q2_K: return dequant_q2_k(static_cast<const BlockQ2_K*>(src), dst, nb);
    case GgmlType::Q3_K: return dequant_q3_k(static_cast<const BlockQ3_K*>(src), dst, nb);
    case GgmlType::Q4_K: return dequant_q4_k(static_cast<const BlockQ4_K*>(src), dst, nb);
    case GgmlType::Q5_K: return dequant_q5_k(static_cast<const BlockQ5_K*>(src), dst, nb);
    case GgmlType::Q6_K: return dequant_q6_k(static_cast<const BlockQ6_K*>(src), dst, nb);
    case GgmlType::IQ4_NL: return dequant_iq4_nl(static_cast<const BlockIQ4_NL*>(src), dst, nb);
    case GgmlType::IQ4_XS: return dequant_iq4_xs(static_cast<const BlockIQ4_XS*>(src), dst, nb);
    case GgmlType::MXFP4: return dequant_mxfp4(static_cast<const BlockMXFP4*>(src), dst, nb);
    default: break;
  }
  fail("dequantize_row: type {} is not supported", tr.name);
}

void quantize_row(GgmlType t, const float* src, void* dst, int64_t n) {
  using namespace quant;
  const TypeTraits& tr = traits(t);
  MOEVK_ASSERT(n >= 0 && n % tr.block_size == 0, "n is not a multiple of the block size");
  int64_t nb = n / tr.block_size;
  switch (t) {
    case GgmlType::F32: std::memcpy(dst, src, size_t(n) * 4); return;
    case GgmlType::F16:
    case GgmlType::BF16: {
      auto* h = static_cast<uint8_t*>(dst);
      for (int64_t i = 0; i < n; i++) {
        uint16_t v = t == GgmlType::F16 ? fp32_to_fp16(src[i]) : fp32_to_bf16(src[i]);
        std::memcpy(h + 2 * i, &v, 2);
      }
      return;
    }
    case GgmlType::Q4_0: return quant_q4_0(src, static_cast<BlockQ4_0*>(dst), nb);
    case GgmlType::Q4_1: return quant_affine(src, static_cast<BlockQ4_1*>(dst), nb, 15);
    case GgmlType::Q5_0: return quant_q5_0(src, static_cast<BlockQ5_0*>(dst), nb);
    case GgmlType::Q5_1: return quant_affine(src, static_cast<BlockQ5_1*>(dst), nb, 31);
    case GgmlType::Q8_0: return quant_q8_0(src, static_cast<BlockQ8_0*>(dst), nb);
    case GgmlType::Q2_K: return quant_q2_k(src, static_cast<BlockQ2_K*>(dst), nb);
    case GgmlType::Q3_K: return quant_q3_k(src, static_cast<BlockQ3_K*>(dst), nb);
    case GgmlType::Q4_K: return quant_q4_k(src, static_cast<BlockQ4_K*>(dst), nb);
    case GgmlType::Q5_K: return quant_q5_k(src, static_cast<BlockQ5_K*>(dst), nb);
    case GgmlType::Q6_K: return quant_q6_k(src, static_cast<BlockQ6_K*>(dst), nb);
    case GgmlType::IQ4_NL: return quant_iq4_nl(src, static_cast<BlockIQ4_NL*>(dst), nb);
    case GgmlType::IQ4_XS: return quant_iq4_xs(src, static_cast<BlockIQ4_XS*>(dst), nb);
    case GgmlType::MXFP4: return quant_mxfp4(src, static_cast<BlockMXFP4*>(dst), nb);
    default: break;
  }
  fail("quantize_row: type {} is not supported", tr.name);
}

namespace {

struct SplitMix {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform() { return float(next() >> 40) * 0x1p-24f; }  // [0, 1)
  // A sane f16 scale: magnitude in [1e-3, 2e-2], random sign when `sign`.
  uint16_t scale(bool sign) {
    float m = 1e-3f + 1.9e-2f * uniform();
    return fp32_to_fp16(sign && (next() & 1) ? -m : m);
  }
};

template <typename Block, typename Fix>
void random_typed(SplitMix& r, void* dst, int64_t nb, Fix fix) {
  auto* b = static_cast<Block*>(dst);
  for (int64_t i = 0; i < nb; i++) {
    auto* bytes = reinterpret_cast<uint8_t*>(&b[i]);
    for (size_t k = 0; k < sizeof(Block); k++) bytes[k] = uint8_t(r.next());
    fix(b[i]);
  }
}

}  // namespace

void random_blocks(GgmlType t, uint64_t seed, void* dst, int64_t n) {
  using namespace quant;
  const TypeTraits& tr = traits(t);
  MOEVK_ASSERT(tr.supported, "random_blocks: unsupported type");
  MOEVK_ASSERT(n >= 0 && n % tr.block_size == 0, "n is not a multiple of the block size");
  SplitMix r{seed * 0x2545f4914f6cdd1dull + uint64_t(t)};
  int64_t nb = n / tr.block_size;
  auto* out = static_cast<uint8_t*>(dst);
  switch (t) {
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; i++) {
        float v = 2.0f * r.uniform() - 1.0f;
        if (t == GgmlType::F32) {
          std::memcpy(out + 4 * i, &v, 4);
        } else {
          uint16_t h = t == GgmlType::F16 ? fp32_to_fp16(v) : fp32_to_bf16(v);
          std::memcpy(out + 2 * i, &h, 2);
        }
      }
      return;
    case GgmlType::Q4_0:
      return random_typed<BlockQ4_0>(r, dst, nb, [&](auto& b) { b.d = r.scale(true); });
    case GgmlType::Q5_0:
      return random_typed<BlockQ5_0>(r, dst, nb, [&](auto& b) { b.d = r.scale(true); });
    case GgmlType::Q8_0:
      return random_typed<BlockQ8_0>(r, dst, nb, [&](auto& b) { b.d = r.scale(true); });
    case GgmlType::IQ4_NL:
      return random_typed<BlockIQ4_NL>(r, dst, nb, [&](auto& b) { b.d = r.scale(true); });
    case GgmlType::IQ4_XS:
      return random_typed<BlockIQ4_XS>(r, dst, nb, [&](auto& b) { b.d = r.scale(true); });
    case GgmlType::Q3_K:
      return random_typed<BlockQ3_K>(r, dst, nb, [&](auto& b) { b.d = r.scale(true); });
    case GgmlType::Q6_K:
      return random_typed<BlockQ6_K>(r, dst, nb, [&](auto& b) { b.d = r.scale(true); });
    case GgmlType::Q4_1:
      return random_typed<BlockQ4_1>(r, dst, nb, [&](auto& b) {
        b.d = r.scale(true);
        b.m = r.scale(true);
      });
    case GgmlType::Q5_1:
      return random_typed<BlockQ5_1>(r, dst, nb, [&](auto& b) {
        b.d = r.scale(true);
        b.m = r.scale(true);
      });
    case GgmlType::Q2_K:
      return random_typed<BlockQ2_K>(r, dst, nb, [&](auto& b) {
        b.d = r.scale(false);
        b.dmin = r.scale(false);
      });
    case GgmlType::Q4_K:
      return random_typed<BlockQ4_K>(r, dst, nb, [&](auto& b) {
        b.d = r.scale(false);
        b.dmin = r.scale(false);
      });
    case GgmlType::Q5_K:
      return random_typed<BlockQ5_K>(r, dst, nb, [&](auto& b) {
        b.d = r.scale(false);
        b.dmin = r.scale(false);
      });
    case GgmlType::MXFP4:
      return random_typed<BlockMXFP4>(r, dst, nb,
                                      [&](auto& b) { b.e = uint8_t(120 + r.next() % 9); });
    default: break;
  }
  fail("random_blocks: type {} is not supported", tr.name);
}

}  // namespace moevk
