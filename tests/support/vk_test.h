// Test harness for GPU ops (STYLE.md, "Tests"): a shared Context with the validation layer on (ctest sets
// MOEVK_VALIDATE=1), seeded random inputs, outputs poisoned with a NaN pattern plus a guard region, and
// comparisons with a stated tolerance.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "runtime/vk/buffer.h"
#include "runtime/vk/context.h"
#include "runtime/vk/recorder.h"

namespace moevk::test {

// The process-wide test device (created on first use; a missing device fails the test).
vk::Context& gpu();
// A second context with some optional features switched off (fallback paths). Cached per list.
vk::Context& gpu_without(const std::string& disabled_features);

constexpr uint32_t kPoison = 0x7FC0DEADu;  // a quiet NaN no op produces
constexpr uint32_t kGuardWords = 64;       // words after every output that must stay untouched

// A device buffer of n payload words plus a guard region, poisoned before the op runs.
class DeviceArray {
 public:
  DeviceArray(vk::Context& ctx, uint64_t n_bytes);
  vk::View view() const { return vk::View{buf_.get(), 0, n_bytes_}; }
  void upload(const void* src, uint64_t n);
  template <typename T>
  void upload(const std::vector<T>& v) { upload(v.data(), v.size() * sizeof(T)); }
  // Downloads the payload; CHECKs the guard is intact and (if check_written) no poison word is left.
  std::vector<float> read_f32(bool check_written = true);
  std::vector<int32_t> read_i32(bool check_written = true);
  std::vector<uint8_t> read_bytes();
  uint64_t bytes() const { return n_bytes_; }

 private:
  std::vector<uint32_t> read_words(bool check_written);
  vk::Context& ctx_;
  uint64_t n_bytes_;
  std::unique_ptr<vk::Buffer> buf_;
};

// Seeded random floats: uniform in [lo, hi).
std::vector<float> random_floats(uint64_t seed, size_t n, float lo = -1.0f, float hi = 1.0f);
// Floats drawn from {-0.5, 0, 0.5, 1, 1.5}: sums and products of few of them are exact in fp32.
std::vector<float> exact_floats(uint64_t seed, size_t n);

struct Tolerance {
  double abs;   // |g - r| <= abs + rel * |r| elementwise
  double rel;
  double aggregate;  // ||g - r|| / ||r|| <= aggregate
};
// CHECKs every element and the aggregate relative error; reports the first few mismatches.
void check_close(const std::vector<float>& got, const std::vector<float>& want, Tolerance tol);
void check_equal(const std::vector<float>& got, const std::vector<float>& want);

}  // namespace moevk::test
