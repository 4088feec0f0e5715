// GGUF v2/v3 reader over a memory-mapped (or in-memory) file. Every count, length, offset, alignment,
// type and dimension is validated at open(); errors are moevk::Error naming the key or tensor and the
// byte offset. After open() succeeds, every accessor is safe on any file.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loader/error.h"
#include "loader/quants/quants.h"

namespace moevk::gguf {

enum class ValueType : uint32_t {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};
std::string_view value_type_name(ValueType t);

struct Value {
  ValueType type;       // ARRAY for arrays
  ValueType elem_type;  // element type of an array (== type for scalars)
  uint64_t count;       // array length; 1 for scalars
  uint64_t offset;      // file offset of the payload (for arrays: of the first element)
};

struct KeyValue {
  std::string key;
  Value value;
};

struct TensorInfo {
  std::string name;
  uint32_t n_dims;
  std::array<uint64_t, 4> ne;  // ggml order: ne[0] is the fastest (row length); unused dims are 1
  GgmlType type;
  uint64_t offset;     // relative to the start of the tensor data section
  uint64_t n_elements;
  uint64_t n_bytes;
};

class File {
 public:
  static File open(const std::string& path);                // mmap
  static File from_memory(std::vector<uint8_t> bytes);      // for tests and the fuzzer

  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  ~File();

  uint32_t version() const;
  uint64_t file_size() const;
  uint64_t data_offset() const;  // absolute offset of the tensor data section
  uint64_t alignment() const;
  const std::string& path() const;

  const std::vector<KeyValue>& metadata() const;
  const Value* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }

  // Typed getters: nullopt when the key is absent; moevk::Error when present with a type that cannot
  // represent the request (a string asked for as a number, a negative value asked for as unsigned...).
  std::optional<uint64_t> get_uint(std::string_view key) const;  // any integer type, >= 0
  std::optional<int64_t> get_int(std::string_view key) const;    // any integer type
  std::optional<double> get_float(std::string_view key) const;   // float or integer types
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::string_view> get_string(std::string_view key) const;
  // Arrays (nullopt when absent; error when not an array of a compatible element type).
  std::optional<std::vector<std::string_view>> get_string_array(std::string_view key) const;
  std::optional<std::vector<double>> get_float_array(std::string_view key) const;
  std::optional<std::vector<int64_t>> get_int_array(std::string_view key) const;

  // Required variants: error "missing key 'X'" when absent.
  uint64_t require_uint(std::string_view key) const;
  double require_float(std::string_view key) const;
  std::string_view require_string(std::string_view key) const;

  const std::vector<TensorInfo>& tensors() const;
  const TensorInfo* find_tensor(std::string_view name) const;
  // The bytes of a tensor (validated to lie inside the file at open()).
  std::span<const uint8_t> tensor_data(const TensorInfo& t) const;
  std::span<const uint8_t> bytes() const;  // the whole file

 private:
  struct Impl;
  explicit File(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace moevk::gguf
