// Reading llama.cpp's oracle data (../shared/oracle): float32 files, JSON manifests and indexes,
// and the comparisons the oracle tests share.
#pragma once

#include <cstddef>
#include <cstdint>
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

// max |a[i] - b[i]| in double; a NaN on either side makes it infinity.
double max_abs_diff(const float* a, const float* b, size_t n);
// Index of the largest value; ties go to the lowest index (llama.cpp's greedy choice).
int32_t argmax(const float* v, size_t n);

}  // namespace moevk::test
