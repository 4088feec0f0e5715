// GGUF v3 writer (layout: see loader/gguf/gguf.cpp).
#include "loader/gguf/gguf_writer.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace moevk::gguf {

Writer::Writer(uint32_t alignment) : alignment_(alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    fail("gguf writer: alignment {} is not a nonzero power of two", alignment);
  if (alignment != 32) add_u32("general.alignment", alignment);
}

template <typename T>
void Writer::put(const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  kv_bytes_.insert(kv_bytes_.end(), p, p + sizeof(T));
}

void Writer::put_string(std::string_view s) {
  put(uint64_t(s.size()));
  kv_bytes_.insert(kv_bytes_.end(), s.begin(), s.end());
}

void Writer::begin_kv(std::string_view key, ValueType type) {
  if (key.empty()) fail("gguf writer: empty key");
  if (std::find(keys_.begin(), keys_.end(), key) != keys_.end())
    fail("gguf writer: duplicate key '{}'", key);
  keys_.emplace_back(key);
  n_kv_++;
  put_string(key);
  put(uint32_t(type));
}

void Writer::begin_array(std::string_view key, ValueType elem, uint64_t count) {
  begin_kv(key, ValueType::ARRAY);
  put(uint32_t(elem));
  put(count);
}

void Writer::add_u8(std::string_view k, uint8_t v) {
  begin_kv(k, ValueType::UINT8);
  put(v);
}
void Writer::add_i8(std::string_view k, int8_t v) {
  begin_kv(k, ValueType::INT8);
  put(v);
}
void Writer::add_u16(std::string_view k, uint16_t v) {
  begin_kv(k, ValueType::UINT16);
  put(v);
}
void Writer::add_i16(std::string_view k, int16_t v) {
  begin_kv(k, ValueType::INT16);
  put(v);
}
void Writer::add_u32(std::string_view k, uint32_t v) {
  begin_kv(k, ValueType::UINT32);
  put(v);
}
void Writer::add_i32(std::string_view k, int32_t v) {
  begin_kv(k, ValueType::INT32);
  put(v);
}
void Writer::add_u64(std::string_view k, uint64_t v) {
  begin_kv(k, ValueType::UINT64);
  put(v);
}
void Writer::add_i64(std::string_view k, int64_t v) {
  begin_kv(k, ValueType::INT64);
  put(v);
}
void Writer::add_f32(std::string_view k, float v) {
  begin_kv(k, ValueType::FLOAT32);
  put(v);
}
void Writer::add_f64(std::string_view k, double v) {
  begin_kv(k, ValueType::FLOAT64);
  put(v);
}
void Writer::add_bool(std::string_view k, bool v) {
  begin_kv(k, ValueType::BOOL);
  put(uint8_t(v));
}
void Writer::add_string(std::string_view k, std::string_view v) {
  begin_kv(k, ValueType::STRING);
  put_string(v);
}

void Writer::add_array_u8(std::string_view k, std::span<const uint8_t> v) {
  begin_array(k, ValueType::UINT8, v.size());
  for (auto x : v) put(x);
}
void Writer::add_array_i32(std::string_view k, std::span<const int32_t> v) {
  begin_array(k, ValueType::INT32, v.size());
  for (auto x : v) put(x);
}
void Writer::add_array_u32(std::string_view k, std::span<const uint32_t> v) {
  begin_array(k, ValueType::UINT32, v.size());
  for (auto x : v) put(x);
}
void Writer::add_array_i64(std::string_view k, std::span<const int64_t> v) {
  begin_array(k, ValueType::INT64, v.size());
  for (auto x : v) put(x);
}
void Writer::add_array_f32(std::string_view k, std::span<const float> v) {
  begin_array(k, ValueType::FLOAT32, v.size());
  for (auto x : v) put(x);
}
void Writer::add_array_bool(std::string_view k, std::span<const bool> v) {
  begin_array(k, ValueType::BOOL, v.size());
  for (bool x : v) put(uint8_t(x));
}
void Writer::add_array_string(std::string_view k, std::span<const std::string> v) {
  begin_array(k, ValueType::STRING, v.size());
  for (const auto& s : v) put_string(s);
}
void Writer::add_array_string(std::string_view k, std::span<const std::string_view> v) {
  begin_array(k, ValueType::STRING, v.size());
  for (auto s : v) put_string(s);
}

namespace {

// Element count and byte size of a tensor, validated as the reader would.
uint64_t tensor_size(std::string_view name, GgmlType type, std::span<const uint64_t> dims) {
  if (dims.empty() || dims.size() > 4)
    fail("gguf writer: tensor '{}': {} dimensions (1..4 allowed)", name, dims.size());
  uint64_t rows = 1;
  for (size_t i = 0; i < dims.size(); i++) {
    if (dims[i] == 0) fail("gguf writer: tensor '{}': dimension {} is zero", name, i);
    if (i > 0 && __builtin_mul_overflow(rows, dims[i], &rows))
      fail("gguf writer: tensor '{}': size overflows", name);
  }
  auto rb = row_bytes(type, dims[0]);
  uint64_t total;
  if (!rb)
    fail("gguf writer: tensor '{}': row length {} is not a multiple of the {} block size", name,
         dims[0], traits(type).name);
  if (__builtin_mul_overflow(*rb, rows, &total))
    fail("gguf writer: tensor '{}': size overflows", name);
  return total;
}

}  // namespace

void Writer::add_tensor(std::string_view name, GgmlType type, std::span<const uint64_t> dims,
                        std::span<const uint8_t> bytes) {
  if (name.empty()) fail("gguf writer: empty tensor name");
  for (const Tensor& t : tensors_)
    if (t.name == name) fail("gguf writer: duplicate tensor '{}'", name);
  uint64_t size = tensor_size(name, type, dims);
  if (size != bytes.size())
    fail("gguf writer: tensor '{}': {} bytes given, {} {} needs {}", name, bytes.size(),
         traits(type).name, fmt::join(dims, "x"), size);
  uint64_t offset = (data_size_ + alignment_ - 1) / alignment_ * alignment_;
  tensors_.push_back(Tensor{
      std::string(name), type, {dims.begin(), dims.end()}, {bytes.begin(), bytes.end()}, offset});
  data_size_ = offset + size;
}

void Writer::add_tensor_quantized(std::string_view name, GgmlType type,
                                  std::span<const uint64_t> dims, std::span<const float> values) {
  uint64_t size = tensor_size(name, type, dims);
  uint64_t n = 1;
  for (uint64_t d : dims) n *= d;  // cannot overflow: the byte size did not
  if (values.size() != n)
    fail("gguf writer: tensor '{}': {} values given, shape needs {}", name, values.size(), n);
  std::vector<uint8_t> bytes(size);
  uint64_t rb = *row_bytes(type, dims[0]);
  for (uint64_t r = 0; r < n / dims[0]; r++)
    quantize_row(type, values.data() + r * dims[0], bytes.data() + r * rb, int64_t(dims[0]));
  add_tensor(name, type, dims, bytes);
}

std::vector<uint8_t> Writer::header() const {
  std::vector<uint8_t> out;
  auto put_raw = [&](const void* p, size_t n) {
    out.insert(out.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
  };
  auto put64 = [&](uint64_t v) { put_raw(&v, 8); };
  auto put32 = [&](uint32_t v) { put_raw(&v, 4); };
  put_raw("GGUF", 4);
  put32(3);
  put64(tensors_.size());
  put64(n_kv_);
  out.insert(out.end(), kv_bytes_.begin(), kv_bytes_.end());
  for (const Tensor& t : tensors_) {
    put64(t.name.size());
    put_raw(t.name.data(), t.name.size());
    put32(uint32_t(t.dims.size()));
    for (uint64_t d : t.dims) put64(d);
    put32(uint32_t(t.type));
    put64(t.offset);
  }
  out.resize((out.size() + alignment_ - 1) / alignment_ * alignment_, 0);
  return out;
}

std::vector<uint8_t> Writer::to_bytes() const {
  std::vector<uint8_t> out = header();
  size_t base = out.size();
  out.resize(base + data_size_, 0);
  for (const Tensor& t : tensors_)
    std::copy(t.bytes.begin(), t.bytes.end(), out.begin() + ptrdiff_t(base + t.offset));
  return out;
}

void Writer::write(const std::string& path) const {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) fail("{}: cannot create: {}", path, std::strerror(errno));
  std::vector<uint8_t> h = header();
  bool ok = std::fwrite(h.data(), 1, h.size(), f) == h.size();
  uint64_t pos = 0;
  static const uint8_t zeros[64] = {};
  for (const Tensor& t : tensors_) {
    while (ok && pos < t.offset) {
      size_t n = size_t(std::min<uint64_t>(sizeof(zeros), t.offset - pos));
      ok = std::fwrite(zeros, 1, n, f) == n;
      pos += n;
    }
    ok = ok && std::fwrite(t.bytes.data(), 1, t.bytes.size(), f) == t.bytes.size();
    pos += t.bytes.size();
  }
  int e = errno;
  if (std::fclose(f) != 0) ok = false;
  if (!ok) fail("{}: write failed: {}", path, std::strerror(e));
}

}  // namespace moevk::gguf
