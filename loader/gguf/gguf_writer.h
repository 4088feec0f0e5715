// GGUF v3 writer: metadata key-values and tensors in, a file (or bytes) out. Used by tests and by
// `moevk synth`. Keys and tensors keep insertion order; duplicates are refused (moevk::Error).
//
//   gguf::Writer w;
//   w.add_string("general.architecture", "qwen3moe");
//   w.add_u32("qwen3moe.block_count", 2);
//   w.add_array_string("tokenizer.ggml.tokens", tokens);
//   w.add_tensor_f32("output_norm.weight", {64}, values);                  // stored as F32
//   w.add_tensor_quantized("blk.0.ffn_up_exps.weight", GgmlType::Q4_K, {256, 128, 8}, floats);
//   w.write("model.gguf");
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loader/gguf/gguf.h"
#include "loader/quants/quants.h"

namespace moevk::gguf {

class Writer {
 public:
  // alignment: power of two; a value other than 32 (the default) is written as general.alignment.
  explicit Writer(uint32_t alignment = 32);

  void add_u8(std::string_view key, uint8_t v);
  void add_i8(std::string_view key, int8_t v);
  void add_u16(std::string_view key, uint16_t v);
  void add_i16(std::string_view key, int16_t v);
  void add_u32(std::string_view key, uint32_t v);
  void add_i32(std::string_view key, int32_t v);
  void add_u64(std::string_view key, uint64_t v);
  void add_i64(std::string_view key, int64_t v);
  void add_f32(std::string_view key, float v);
  void add_f64(std::string_view key, double v);
  void add_bool(std::string_view key, bool v);
  void add_string(std::string_view key, std::string_view v);

  void add_array_u8(std::string_view key, std::span<const uint8_t> v);
  void add_array_i32(std::string_view key, std::span<const int32_t> v);
  void add_array_u32(std::string_view key, std::span<const uint32_t> v);
  void add_array_i64(std::string_view key, std::span<const int64_t> v);
  void add_array_f32(std::string_view key, std::span<const float> v);
  void add_array_bool(std::string_view key, std::span<const bool> v);
  void add_array_string(std::string_view key, std::span<const std::string> v);
  void add_array_string(std::string_view key, std::span<const std::string_view> v);

  // A tensor from raw blocks: dims in ggml order (dims[0] = row length), 1..4 of them; bytes must
  // be exactly the tensor's size for `type`.
  void add_tensor(std::string_view name, GgmlType type, std::span<const uint64_t> dims,
                  std::span<const uint8_t> bytes);
  void add_tensor(std::string_view name, GgmlType type, std::initializer_list<uint64_t> dims,
                  std::span<const uint8_t> bytes) {
    add_tensor(name, type, std::span<const uint64_t>(dims.begin(), dims.size()), bytes);
  }
  // A tensor from floats, quantised row by row to `type` (F32 stores them as they are).
  void add_tensor_quantized(std::string_view name, GgmlType type, std::span<const uint64_t> dims,
                            std::span<const float> values);
  void add_tensor_quantized(std::string_view name, GgmlType type,
                            std::initializer_list<uint64_t> dims, std::span<const float> values) {
    add_tensor_quantized(name, type, std::span<const uint64_t>(dims.begin(), dims.size()), values);
  }
  void add_tensor_f32(std::string_view name, std::initializer_list<uint64_t> dims,
                      std::span<const float> values) {
    add_tensor_quantized(name, GgmlType::F32, dims, values);
  }

  size_t n_tensors() const { return tensors_.size(); }
  size_t n_kv() const { return n_kv_; }

  std::vector<uint8_t> to_bytes() const;
  void write(const std::string& path) const;  // moevk::Error when the file cannot be written

 private:
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<uint64_t> dims;
    std::vector<uint8_t> bytes;
    uint64_t offset;  // in the data section
  };
  void begin_kv(std::string_view key, ValueType type);
  void begin_array(std::string_view key, ValueType elem, uint64_t count);
  template <typename T>
  void put(const T& v);
  void put_string(std::string_view s);
  std::vector<uint8_t> header() const;  // everything before the data section, padding included

  uint32_t alignment_;
  std::vector<uint8_t> kv_bytes_;  // serialised key-values
  size_t n_kv_ = 0;
  std::vector<std::string> keys_;
  std::vector<Tensor> tensors_;
  uint64_t data_size_ = 0;
};

}  // namespace moevk::gguf
