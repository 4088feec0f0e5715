#include "tests/support/vk_test.h"

#include <map>

namespace moevk::test {

vk::Context& gpu() {
  static std::unique_ptr<vk::Context> ctx = [] {
    vk::DeviceOptions o = vk::DeviceOptions::from_env();
    o.validate = true;  // tests always run under the validation layer; any message fails the run
    return std::make_unique<vk::Context>(o);
  }();
  return *ctx;
}

vk::Context& gpu_without(const std::string& disabled) {
  static std::map<std::string, std::unique_ptr<vk::Context>> cache;
  auto& c = cache[disabled];
  if (!c) {
    vk::DeviceOptions o = vk::DeviceOptions::from_env();
    o.disable(disabled);
    o.validate = true;
    c = std::make_unique<vk::Context>(o);
  }
  return *c;
}

DeviceArray::DeviceArray(vk::Context& ctx, uint64_t n_bytes)
    : ctx_(ctx), n_bytes_(n_bytes) {
  uint64_t total = ((n_bytes + 3) / 4 + kGuardWords) * 4;
  buf_ = std::make_unique<vk::Buffer>(ctx, total, vk::MemoryKind::Device, "test array");
  std::vector<uint32_t> poison(total / 4, kPoison);
  vk::upload(ctx, vk::View{buf_.get(), 0, total}, poison.data(), total);
}

void DeviceArray::upload(const void* src, uint64_t n) {
  REQUIRE(n <= n_bytes_);
  vk::upload(ctx_, vk::View{buf_.get(), 0, n}, src, n);
}

std::vector<uint32_t> DeviceArray::read_words(bool check_written) {
  uint64_t total = buf_->size();
  std::vector<uint32_t> all(total / 4);
  vk::download(ctx_, vk::View{buf_.get(), 0, total}, all.data(), total);
  uint64_t n_words = (n_bytes_ + 3) / 4;
  int bad_guard = 0;
  for (uint64_t i = n_words; i < all.size(); ++i) bad_guard += all[i] != kPoison;
  CHECK_MESSAGE(bad_guard == 0, "guard region after the output was written (" << bad_guard << " words)");
  if (check_written) {
    uint64_t unwritten = 0, first = 0;
    for (uint64_t i = 0; i < n_words; ++i)
      if (all[i] == kPoison && unwritten++ == 0) first = i;
    CHECK_MESSAGE(unwritten == 0, unwritten << " output words never written (first at " << first << ")");
  }
  all.resize(n_words);
  return all;
}

std::vector<float> DeviceArray::read_f32(bool check_written) {
  auto w = read_words(check_written);
  std::vector<float> out(n_bytes_ / 4);
  std::memcpy(out.data(), w.data(), out.size() * 4);
  return out;
}

std::vector<int32_t> DeviceArray::read_i32(bool check_written) {
  auto w = read_words(check_written);
  std::vector<int32_t> out(n_bytes_ / 4);
  std::memcpy(out.data(), w.data(), out.size() * 4);
  return out;
}

std::vector<uint8_t> DeviceArray::read_bytes() {
  auto w = read_words(false);
  std::vector<uint8_t> out(n_bytes_);
  std::memcpy(out.data(), w.data(), n_bytes_);
  return out;
}

std::vector<float> random_floats(uint64_t seed, size_t n, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<float> exact_floats(uint64_t seed, size_t n) {
  static const float kValues[] = {-0.5f, 0.0f, 0.5f, 1.0f, 1.5f};
  std::mt19937_64 rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = kValues[rng() % 5];
  return v;
}

void check_close(const std::vector<float>& got, const std::vector<float>& want, Tolerance tol) {
  REQUIRE(got.size() == want.size());
  double err2 = 0, ref2 = 0;
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double g = got[i], r = want[i];
    double d = std::fabs(g - r);
    err2 += d * d;
    ref2 += r * r;
    if (!(d <= tol.abs + tol.rel * std::fabs(r))) {
      if (bad < 5) MESSAGE("mismatch at " << i << ": got " << g << " want " << r);
      ++bad;
    }
  }
  CHECK_MESSAGE(bad == 0, bad << " of " << got.size() << " elements outside tolerance");
  double agg = ref2 > 0 ? std::sqrt(err2 / ref2) : std::sqrt(err2);
  CHECK_MESSAGE(agg <= tol.aggregate, "aggregate relative error " << agg << " > " << tol.aggregate);
}

void check_equal(const std::vector<float>& got, const std::vector<float>& want) {
  REQUIRE(got.size() == want.size());
  size_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(got[i] == want[i])) {
      if (bad < 5) MESSAGE("differs at " << i << ": got " << got[i] << " want " << want[i]);
      ++bad;
    }
  CHECK_MESSAGE(bad == 0, bad << " of " << got.size() << " elements differ");
}

}  // namespace moevk::test
