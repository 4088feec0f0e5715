// Portable kernels: activation quantisation and the dot product of every supported weight type.
// Each quant block is unpacked into int8 values with integer sub-block scales (and mins), then
// multiplied with the int8 activations in integer arithmetic; one float multiply per block.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "loader/error.h"
#include "loader/quants/quants_internal.h"
#include "runtime/cpu/kernels.h"

namespace moevk::cpu {

namespace {

using namespace quant;

float h2f(uint16_t h) { return fp16_to_fp32(h); }

int32_t idot(const int8_t* a, const int8_t* b, int n) {
  int32_t s = 0;
  for (int i = 0; i < n; ++i) s += int32_t(a[i]) * int32_t(b[i]);
  return s;
}

// ---- 32-element formats: w = dw * q + mw ----------------------------------------------------
struct Unpacked32 {
  int8_t q[32];
  float d, m;
};

void unpack(const BlockQ8_0& b, Unpacked32& u) {
  std::memcpy(u.q, b.qs, 32);
  u.d = h2f(b.d), u.m = 0;
}
void unpack(const BlockQ4_0& b, Unpacked32& u) {
  for (int j = 0; j < 16; ++j)
    u.q[j] = int8_t((b.qs[j] & 0xf) - 8), u.q[j + 16] = int8_t((b.qs[j] >> 4) - 8);
  u.d = h2f(b.d), u.m = 0;
}
void unpack(const BlockQ4_1& b, Unpacked32& u) {
  for (int j = 0; j < 16; ++j) u.q[j] = int8_t(b.qs[j] & 0xf), u.q[j + 16] = int8_t(b.qs[j] >> 4);
  u.d = h2f(b.d), u.m = h2f(b.m);
}
template <typename B>
void unpack5(const B& b, Unpacked32& u, int offset) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  for (int j = 0; j < 16; ++j) {
    u.q[j] = int8_t(((b.qs[j] & 0xf) | (((qh >> j) & 1) << 4)) - offset);
    u.q[j + 16] = int8_t(((b.qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - offset);
  }
}
void unpack(const BlockQ5_0& b, Unpacked32& u) { unpack5(b, u, 16), u.d = h2f(b.d), u.m = 0; }
void unpack(const BlockQ5_1& b, Unpacked32& u) { unpack5(b, u, 0), u.d = h2f(b.d), u.m = h2f(b.m); }
void unpack(const BlockIQ4_NL& b, Unpacked32& u) {
  for (int j = 0; j < 16; ++j)
    u.q[j] = kIQ4Values[b.qs[j] & 0xf], u.q[j + 16] = kIQ4Values[b.qs[j] >> 4];
  u.d = h2f(b.d), u.m = 0;
}
void unpack(const BlockMXFP4& b, Unpacked32& u) {
  for (int j = 0; j < 16; ++j)
    u.q[j] = kMXFP4Values[b.qs[j] & 0xf], u.q[j + 16] = kMXFP4Values[b.qs[j] >> 4];
  u.d = e8m0_to_fp32_half(b.e), u.m = 0;
}

template <typename B>
float dot32(const void* w, const void* a, int64_t n) {
  const B* b = static_cast<const B*>(w);
  const BlockQ8_32* q = static_cast<const BlockQ8_32*>(a);
  float sum = 0;
  Unpacked32 u;
  for (int64_t i = 0; i < n / 32; ++i) {
    unpack(b[i], u);
    sum += u.d * q[i].d * float(idot(u.q, q[i].q, 32)) + u.m * q[i].s;
  }
  return sum;
}

// ---- 256-element formats: w = d * sc[i] * q - dmin * m[i] over 16 sub-blocks of 16 --------------
struct Unpacked256 {
  int8_t q[256];
  int32_t sc[16], m[16];
  float d, dmin;
};

void scale_min_k4(int j, const uint8_t* q, int32_t& sc, int32_t& m) {
  if (j < 4) {
    sc = q[j] & 63, m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Q2_K: for each half c of 128 and shift pair j, 32 values from bytes qs[32c..32c+31].
void unpack(const BlockQ2_K& b, Unpacked256& u) {
  for (int c = 0; c < 2; ++c)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 32; ++l)
        u.q[128 * c + 32 * j + l] = int8_t((b.qs[32 * c + l] >> (2 * j)) & 3);
  for (int i = 0; i < 16; ++i) u.sc[i] = b.scales[i] & 0xf, u.m[i] = b.scales[i] >> 4;
  u.d = h2f(b.d), u.dmin = h2f(b.dmin);
}
void unpack(const BlockQ3_K& b, Unpacked256& u) {
  for (int c = 0; c < 2; ++c)
    for (int j = 0; j < 4; ++j) {
      const int hbit = 4 * c + j;
      for (int l = 0; l < 32; ++l) {
        const int q = (b.qs[32 * c + l] >> (2 * j)) & 3;
        u.q[128 * c + 32 * j + l] = int8_t(q - (((b.hmask[l] >> hbit) & 1) ? 0 : 4));
      }
    }
  for (int j = 0; j < 16; ++j) {
    const int lo = (b.scales[j % 8] >> (4 * (j / 8))) & 0xf;
    const int hi = (b.scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    u.sc[j] = (lo | (hi << 4)) - 32, u.m[j] = 0;
  }
  u.d = h2f(b.d), u.dmin = 0;
}
void unpack(const BlockQ4_K& b, Unpacked256& u) {
  for (int j = 0; j < 4; ++j)
    for (int l = 0; l < 32; ++l) {
      u.q[64 * j + l] = int8_t(b.qs[32 * j + l] & 0xf);
      u.q[64 * j + 32 + l] = int8_t(b.qs[32 * j + l] >> 4);
    }
  for (int j = 0; j < 8; ++j) {
    scale_min_k4(j, b.scales, u.sc[2 * j], u.m[2 * j]);
    u.sc[2 * j + 1] = u.sc[2 * j], u.m[2 * j + 1] = u.m[2 * j];
  }
  u.d = h2f(b.d), u.dmin = h2f(b.dmin);
}
void unpack(const BlockQ5_K& b, Unpacked256& u) {
  for (int j = 0; j < 4; ++j)
    for (int l = 0; l < 32; ++l) {
      const int h = b.qh[l] >> (2 * j);
      u.q[64 * j + l] = int8_t((b.qs[32 * j + l] & 0xf) | ((h & 1) << 4));
      u.q[64 * j + 32 + l] = int8_t((b.qs[32 * j + l] >> 4) | ((h & 2) << 3));
    }
  for (int j = 0; j < 8; ++j) {
    scale_min_k4(j, b.scales, u.sc[2 * j], u.m[2 * j]);
    u.sc[2 * j + 1] = u.sc[2 * j], u.m[2 * j + 1] = u.m[2 * j];
  }
  u.d = h2f(b.d), u.dmin = h2f(b.dmin);
}
void unpack(const BlockQ6_K& b, Unpacked256& u) {
  for (int c = 0; c < 2; ++c)
    for (int l = 0; l < 32; ++l) {
      const uint8_t l0 = b.ql[64 * c + l], l1 = b.ql[64 * c + 32 + l], h = b.qh[32 * c + l];
      int8_t* q = u.q + 128 * c + l;
      q[0] = int8_t(((l0 & 0xf) | ((h & 3) << 4)) - 32);
      q[32] = int8_t(((l1 & 0xf) | (((h >> 2) & 3) << 4)) - 32);
      q[64] = int8_t(((l0 >> 4) | (((h >> 4) & 3) << 4)) - 32);
      q[96] = int8_t(((l1 >> 4) | (((h >> 6) & 3) << 4)) - 32);
    }
  for (int i = 0; i < 16; ++i) u.sc[i] = b.scales[i], u.m[i] = 0;
  u.d = h2f(b.d), u.dmin = 0;
}
void unpack(const BlockIQ4_XS& b, Unpacked256& u) {
  for (int ib = 0; ib < 8; ++ib) {
    const int ls =
        ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf) | (((b.scales_h >> (2 * ib)) & 3) << 4);
    u.sc[2 * ib] = u.sc[2 * ib + 1] = ls - 32;
    u.m[2 * ib] = u.m[2 * ib + 1] = 0;
    for (int j = 0; j < 16; ++j) {
      u.q[32 * ib + j] = kIQ4Values[b.qs[16 * ib + j] & 0xf];
      u.q[32 * ib + 16 + j] = kIQ4Values[b.qs[16 * ib + j] >> 4];
    }
  }
  u.d = h2f(b.d), u.dmin = 0;
}

template <typename B>
float dot256(const void* w, const void* a, int64_t n) {
  const B* b = static_cast<const B*>(w);
  const BlockQ8_256* q = static_cast<const BlockQ8_256*>(a);
  float sum = 0;
  Unpacked256 u;
  for (int64_t i = 0; i < n / 256; ++i) {
    unpack(b[i], u);
    int32_t si = 0, sm = 0;
    for (int j = 0; j < 16; ++j) {
      si += u.sc[j] * idot(u.q + 16 * j, q[i].q + 16 * j, 16);
      sm += u.m[j] * q[i].bsums[j];
    }
    sum += q[i].d * (u.d * float(si) - u.dmin * float(sm));
  }
  return sum;
}

// ---- float formats ------------------------------------------------------------------------------
float dot_f32(const void* w, const void* a, int64_t n) {
  const float* x = static_cast<const float*>(w);
  const float* y = static_cast<const float*>(a);
  float s[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) s[k] += x[i + k] * y[i + k];
  for (; i < n; ++i) s[0] += x[i] * y[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}
template <float (*Cvt)(uint16_t)>
float dot_half(const void* w, const void* a, int64_t n) {
  const uint16_t* x = static_cast<const uint16_t*>(w);
  const float* y = static_cast<const float*>(a);
  float s[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) s[k] += Cvt(x[i + k]) * y[i + k];
  for (; i < n; ++i) s[0] += Cvt(x[i]) * y[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

KernelTable make_portable() {
  KernelTable k;
  auto set = [&](GgmlType t, DotFn f) { k.dot[static_cast<uint32_t>(t)] = f; };
  set(GgmlType::F32, dot_f32);
  set(GgmlType::F16, dot_half<fp16_to_fp32>);
  set(GgmlType::BF16, dot_half<bf16_to_fp32>);
  set(GgmlType::Q8_0, dot32<BlockQ8_0>);
  set(GgmlType::Q4_0, dot32<BlockQ4_0>);
  set(GgmlType::Q4_1, dot32<BlockQ4_1>);
  set(GgmlType::Q5_0, dot32<BlockQ5_0>);
  set(GgmlType::Q5_1, dot32<BlockQ5_1>);
  set(GgmlType::IQ4_NL, dot32<BlockIQ4_NL>);
  set(GgmlType::MXFP4, dot32<BlockMXFP4>);
  set(GgmlType::Q2_K, dot256<BlockQ2_K>);
  set(GgmlType::Q3_K, dot256<BlockQ3_K>);
  set(GgmlType::Q4_K, dot256<BlockQ4_K>);
  set(GgmlType::Q5_K, dot256<BlockQ5_K>);
  set(GgmlType::Q6_K, dot256<BlockQ6_K>);
  set(GgmlType::IQ4_XS, dot256<BlockIQ4_XS>);
  return k;
}

}  // namespace

const KernelTable& portable_kernels() {
  static const KernelTable k = make_portable();
  return k;
}

ActFormat act_format(GgmlType t) {
  switch (t) {
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::BF16:
      return ActFormat::F32;
    case GgmlType::Q2_K:
    case GgmlType::Q3_K:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K:
    case GgmlType::IQ4_XS:
      return ActFormat::Q8_256;
    default:
      return ActFormat::Q8_32;
  }
}

size_t act_row_bytes(GgmlType t, int64_t n) {
  switch (act_format(t)) {
    case ActFormat::F32:
      return size_t(n) * 4;
    case ActFormat::Q8_32:
      return size_t(n / 32) * sizeof(BlockQ8_32);
    case ActFormat::Q8_256:
      return size_t(n / 256) * sizeof(BlockQ8_256);
  }
  return 0;
}

namespace {
// q = round(x / d) with d = max|x| / 127 over n values; returns d.
// A block holding a NaN or an infinity gets d = NaN and q = 0, so every product with it is NaN (as
// the reference's would be) and no out-of-range float reaches an int8 conversion.
float quantize_block(const float* x, int8_t* q, int n) {
  float amax = 0;
  bool finite = true;
  for (int i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    finite &= a <= std::numeric_limits<float>::max();  // false for NaN and inf
    amax = std::max(amax, a);
  }
  if (!finite) {
    std::fill(q, q + n, int8_t(0));
    return std::numeric_limits<float>::quiet_NaN();
  }
  const float d = amax / 127.0f, id = amax > 0 ? 127.0f / amax : 0.0f;
  for (int i = 0; i < n; ++i) q[i] = int8_t(std::nearbyint(x[i] * id));
  return d;
}
}  // namespace

void quantize_act(GgmlType t, const float* x, void* dst, int64_t n) {
  switch (act_format(t)) {
    case ActFormat::F32:
      std::memcpy(dst, x, size_t(n) * 4);
      return;
    case ActFormat::Q8_32: {
      MOEVK_ASSERT(n % 32 == 0, "quantize_act: n not a multiple of 32");
      BlockQ8_32* b = static_cast<BlockQ8_32*>(dst);
      for (int64_t i = 0; i < n / 32; ++i, x += 32) {
        b[i].d = quantize_block(x, b[i].q, 32);
        int32_t s = 0;
        for (int j = 0; j < 32; ++j) s += b[i].q[j];
        b[i].s = b[i].d * float(s);
      }
      return;
    }
    case ActFormat::Q8_256: {
      MOEVK_ASSERT(n % 256 == 0, "quantize_act: n not a multiple of 256");
      BlockQ8_256* b = static_cast<BlockQ8_256*>(dst);
      for (int64_t i = 0; i < n / 256; ++i, x += 256) {
        b[i].d = quantize_block(x, b[i].q, 256);
        for (int j = 0; j < 16; ++j) {
          int32_t s = 0;
          for (int k = 0; k < 16; ++k) s += b[i].q[16 * j + k];
          b[i].bsums[j] = int16_t(s);
        }
      }
      return;
    }
  }
}

}  // namespace moevk::cpu
