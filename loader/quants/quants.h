// Quant block formats shared by the CPU dequantisers here and the GLSL in shaders/common/.
// Layouts are ggml's (GGUF stores ggml blocks verbatim); block sizes and byte sizes per type below.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace moevk {

// Numeric ids are the on-disk GGUF/ggml type ids.
enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ4_NL = 20,
  IQ4_XS = 23,
  BF16 = 30,
  MXFP4 = 39,
};

struct TypeTraits {
  std::string_view name;  // "Q4_K", as ggml spells it
  uint32_t block_size;    // elements per block (1 for F32/F16/BF16)
  uint32_t type_size;     // bytes per block
  bool supported;         // moevk can dequantise it (CPU and GPU)
};

// Traits of a type id read from a file; nullopt for ids ggml does not define or moevk cannot size.
std::optional<TypeTraits> type_traits(uint32_t id);
// Traits of a known type (asserts it is known).
const TypeTraits& traits(GgmlType t);
std::optional<GgmlType> type_from_name(std::string_view name);  // "q4_k" / "Q4_K" / "f16"

// Bytes of a row of n elements; nullopt when n is not a multiple of the block size or overflows.
std::optional<uint64_t> row_bytes(GgmlType t, uint64_t n);

float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);  // round to nearest even
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

// Dequantises n elements (a multiple of the block size) from src blocks into dst.
void dequantize_row(GgmlType t, const void* src, float* dst, int64_t n);
// Quantises n floats into blocks of type t (simple, deterministic quantisers: for synthesised models
// and tests, not tuned for quality). dst holds row_bytes(t, n) bytes.
void quantize_row(GgmlType t, const float* src, void* dst, int64_t n);

// Writes n elements (a multiple of the block size) of random but VALID blocks of a supported type t:
// every quant bit pattern is random, scales are sane finite values (f16 scales of magnitude
// ~1e-3..2e-2, E8M0 exponents near 2^0), so the dequantised values are finite and of order 1.
// Deterministic in seed. dst holds row_bytes(t, n) bytes.
void random_blocks(GgmlType t, uint64_t seed, void* dst, int64_t n);

}  // namespace moevk
