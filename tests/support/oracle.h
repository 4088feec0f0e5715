// Reading llama.cpp's oracle data (../shared/oracle): float32 files, JSON manifests and indexes,
// and the comparisons the oracle tests share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace moevk::test {

// The first n little-endian float32 values of a file; REQUIREs that the file holds them.
std::vector<float> read_f32(const std::string& path, size_t n);
// Every float32 value of a file (its size / 4); REQUIREs that it opens.
std::vector<float> read_f32(const std::string& path);
// A JSON file (manifest.json, a dumps index.json); REQUIREs that it opens and parses.
nlohmann::json read_json(const std::string& path);
// The folder of a file, with its trailing '/' ("" for a bare name).
std::string dir_of(const std::string& path);

// The models of a manifest (entry and the file's path) whose variant ("F16", "Q4_K_M", ...) is one
// of `variants`.
struct OracleModel {
  nlohmann::json entry;
  std::string path;
};
std::vector<OracleModel> oracle_models(const std::string& manifest_path,
                                       std::initializer_list<const char*> variants);

// max |a[i] - b[i]| in double; a NaN on either side makes it infinity.
double max_abs_diff(const float* a, const float* b, size_t n);
// Index of the largest value; ties go to the lowest index (llama.cpp's greedy choice).
int32_t argmax(const float* v, size_t n);

// One model of oracle/manifest.json: its ids, llama.cpp's logits and the bars of
// ../shared/oracle/README.md.
struct OracleEntry {
  std::string file;  // relative to the manifest's folder
  std::vector<int32_t> prompt, greedy;
  size_t n_vocab = 0;          // the entry's n_vocab, else the manifest's
  std::vector<float> f32ref;   // [prompt][n_vocab] exact-fp32 prompt logits
  std::vector<float> gen;      // [greedy][n_vocab] llama.cpp's own decode logits
  // max |ours - f32ref| <= tol = max(0.05, 1.5 x llama_dev), llama_dev being llama.cpp's own max
  // deviation from f32ref on this file (stats.vs_own_f32ref.max_abs).
  double llama_dev = 0, tol = 0;
  // There is no f32ref for the decode rows: |ours - gen| <= |ours - exact| + |exact - gen|, the first
  // term held to tol, the second llama.cpp's measured deviation of its decode rows from float64 math
  // (checks.numpy_fp64_reference.gen_max_abs_vs_llamacpp; llama_dev if absent). gen_tol = tol + that.
  double gen_dev = 0, gen_tol = 0;
  int greedy_robust_prefix = 0;  // leading greedy ids that are not near-ties
};
// Reads entry e of manifest man (in folder dir) and its logit files; REQUIREs the stated shapes.
OracleEntry load_oracle_entry(const nlohmann::json& man, const nlohmann::json& e,
                              const std::string& dir);
// Greedy ids: the argmax of the last prompt row, then of each decode row, over the robust prefix.
void check_greedy(const OracleEntry& o, const std::vector<float>& prompt_logits,
                  const std::vector<float>& decode_logits);

}  // namespace moevk::test
