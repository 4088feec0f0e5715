#include "tests/support/oracle.h"

#include <doctest/doctest.h>

#include <cmath>
#include <fstream>

namespace moevk::test {

std::vector<float> read_f32(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  std::vector<float> v(n);
  in.read(reinterpret_cast<char*>(v.data()), std::streamsize(n * sizeof(float)));
  REQUIRE_MESSAGE(size_t(in.gcount()) == n * sizeof(float), "short file " << path);
  return v;
}

std::vector<float> read_f32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  in.seekg(0, std::ios::end);
  const size_t n = static_cast<size_t>(in.tellg()) / sizeof(float);
  in.close();
  return read_f32(path, n);
}

nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    FAIL(path << ": invalid JSON: " << e.what());
  }
  return {};
}

std::string dir_of(const std::string& path) { return path.substr(0, path.rfind('/') + 1); }

double max_abs_diff(const float* a, const float* b, size_t n) {
  double m = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double d = std::fabs(double(a[i]) - double(b[i]));
    if (!(d <= m)) m = std::isnan(d) ? INFINITY : d;
  }
  return m;
}

int32_t argmax(const float* v, size_t n) {
  size_t best = 0;
  for (size_t i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return int32_t(best);
}

}  // namespace moevk::test
