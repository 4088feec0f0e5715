// Hostile GGUF corpus for the reader tests and the fuzzer's seeds: a raw byte-level builder that
// can write anything (wrong counts, unknown types, bad offsets), and a list of named malformed
// files, each with a fragment the error message must contain.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace moevk::test {

struct RawGguf {
  uint32_t magic = 0x46554747;  // "GGUF"
  uint32_t version = 3;
  int64_t n_tensors = -1;  // -1: the real count
  int64_t n_kv = -1;
  uint64_t n_tensors_raw = 0, n_kv_raw = 0;  // used when the matching field above is -2
  struct Tensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type;
    uint64_t offset;
  };
  std::vector<std::vector<uint8_t>> kvs;  // serialised key-values
  std::vector<Tensor> tensors;
  uint64_t alignment = 32;  // padding after the header
  uint64_t data_size = 0;   // bytes of tensor data appended (a byte pattern)

  // Key-value helpers.
  void kv_raw(const std::string& key, uint32_t type, const std::vector<uint8_t>& payload);
  void kv_u32(const std::string& key, uint32_t v);
  void kv_string(const std::string& key, const std::string& v);
  void kv_array(const std::string& key, uint32_t elem_type, uint64_t count,
                const std::vector<uint8_t>& payload);

  std::vector<uint8_t> bytes() const;
};

// A small valid file: every scalar value type, arrays, and three tensors (F32, Q8_0, Q4_K).
RawGguf valid_raw();

struct HostileCase {
  std::string name;
  std::vector<uint8_t> bytes;
  std::string expect;  // fragment of the error message
};
std::vector<HostileCase> hostile_corpus();

}  // namespace moevk::test
