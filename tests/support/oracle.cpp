#include "tests/support/oracle.h"

#include <doctest/doctest.h>

#include <algorithm>
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

std::vector<OracleModel> oracle_models(const std::string& manifest_path,
                                       std::initializer_list<const char*> variants) {
  const auto man = read_json(manifest_path);
  std::vector<OracleModel> out;
  for (const auto& e : man["models"])
    for (const char* v : variants)
      if (e["variant"] == v) out.push_back({e, dir_of(manifest_path) + std::string(e["file"])});
  REQUIRE_MESSAGE(!out.empty(), manifest_path << " lists none of the requested variants");
  return out;
}

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

OracleEntry load_oracle_entry(const nlohmann::json& man, const nlohmann::json& e,
                              const std::string& dir) {
  OracleEntry o;
  o.file = e["file"];
  o.prompt = e["prompt_ids"].get<std::vector<int32_t>>();
  o.greedy = e["greedy_ids"].get<std::vector<int32_t>>();
  o.n_vocab = e.contains("n_vocab") ? size_t(e["n_vocab"]) : size_t(man["n_vocab"]);
  const size_t P = o.prompt.size(), G = o.greedy.size(), V = o.n_vocab;
  REQUIRE(std::vector<size_t>{P, V} == e["logits_shape"].get<std::vector<size_t>>());
  REQUIRE(std::vector<size_t>{G, V} == e["gen_logits_shape"].get<std::vector<size_t>>());
  o.f32ref = read_f32(dir + std::string(e["f32ref_logits_file"]), P * V);
  o.gen = read_f32(dir + std::string(e["gen_logits_file"]), G * V);
  o.llama_dev = e["stats"]["vs_own_f32ref"]["max_abs"];
  o.tol = std::max(0.05, 1.5 * o.llama_dev);
  o.gen_dev = o.llama_dev;
  if (e.contains("checks") && e["checks"].contains("numpy_fp64_reference") &&
      e["checks"]["numpy_fp64_reference"].contains("gen_max_abs_vs_llamacpp"))
    o.gen_dev = e["checks"]["numpy_fp64_reference"]["gen_max_abs_vs_llamacpp"];
  o.gen_tol = o.tol + o.gen_dev;
  o.greedy_robust_prefix = e["greedy_robust_prefix"];
  return o;
}

void check_greedy(const OracleEntry& o, const std::vector<float>& prompt_logits,
                  const std::vector<float>& decode_logits) {
  const size_t P = o.prompt.size(), V = o.n_vocab;
  REQUIRE(prompt_logits.size() == P * V);
  REQUIRE(decode_logits.size() == o.greedy.size() * V);
  REQUIRE(size_t(o.greedy_robust_prefix) <= o.greedy.size() + 1);
  for (int i = 0; i < o.greedy_robust_prefix; ++i) {
    const float* row =
        i == 0 ? prompt_logits.data() + (P - 1) * V : decode_logits.data() + size_t(i - 1) * V;
    CAPTURE(i);
    CHECK(argmax(row, V) == o.greedy[size_t(i)]);
  }
}

}  // namespace moevk::test
