// libFuzzer target: any byte string -> gguf::File::from_memory. A malformed file must end in
// moevk::Error; a file that opens must keep every accessor safe (run under ASan + UBSan).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "loader/gguf/gguf.h"

using namespace moevk;

namespace {

volatile uint64_t g_sink;  // keeps the reads below from being optimised away

void touch(const gguf::File& f) {
  uint64_t acc = f.version() + f.file_size() + f.data_offset() + f.alignment() + f.path().size();
  for (const auto& kv : f.metadata()) {
    const gguf::Value* v = f.find(kv.key);
    acc += v->count + uint64_t(v->type);
    // Every getter on every key: either a value or a typed-mismatch moevk::Error.
    try {
      acc += f.get_uint(kv.key).value_or(0);
    } catch (const Error&) {
    }
    try {
      acc += uint64_t(f.get_int(kv.key).value_or(0));
    } catch (const Error&) {
    }
    try {
      acc += uint64_t(f.get_float(kv.key).value_or(0) != 0);
    } catch (const Error&) {
    }
    try {
      acc += f.get_bool(kv.key).value_or(false);
    } catch (const Error&) {
    }
    try {
      acc += f.get_string(kv.key).value_or("").size();
    } catch (const Error&) {
    }
    try {
      auto arr = f.get_string_array(kv.key);  // keep the optional alive over the loop
      for (auto s : *arr) acc += s.size() ? uint8_t(s[0]) : 0;
    } catch (const Error&) {
    }
    try {
      acc += f.get_float_array(kv.key)->size();
    } catch (const Error&) {
    }
    try {
      acc += f.get_int_array(kv.key)->size();
    } catch (const Error&) {
    }
  }
  for (const auto& t : f.tensors()) {
    if (f.find_tensor(t.name) != &t) __builtin_trap();
    auto d = f.tensor_data(t);
    if (d.size() != t.n_bytes) __builtin_trap();
    if (!d.empty()) acc += d[0] + d[d.size() - 1];
    // Dequantise the first row of small tensors (random bits in the blocks are fine).
    const TypeTraits& tr = traits(t.type);
    if (tr.supported && t.ne[0] <= 4096) {
      std::vector<float> row(t.ne[0]);
      dequantize_row(t.type, d.data(), row.data(), int64_t(t.ne[0]));
      acc += uint64_t(row[0] != 0);
    }
  }
  g_sink = acc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    gguf::File f = gguf::File::from_memory(std::vector<uint8_t>(data, data + size));
    touch(f);
  } catch (const Error&) {
  }
  return 0;
}
