// One check shared by every Engine backend's oracle test: for each file of the manifest, the prompt
// logits against llama.cpp's exact-fp32 logits, teacher-forced decode against llama.cpp's decode
// logits (the bars of ../shared/oracle/README.md), and the greedy ids.
#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <string>

#include <doctest/doctest.h>

#include "loader/gguf/gguf.h"
#include "runtime/model/engine.h"
#include "tests/support/oracle.h"
#include "tests/support/test_data.h"

namespace moevk::test {

// make(file, n_ctx) builds the engine under test; label names it in the messages.
inline void check_engine_on_oracle(
    const std::string& label,
    const std::function<std::unique_ptr<Engine>(const gguf::File&, uint32_t)>& make) {
  MOEVK_REQUIRE_SHARED(man_path, "oracle/manifest.json");
  const std::string dir = dir_of(man_path);
  const auto man = read_json(man_path);
  REQUIRE(man["models"].size() >= 25);
  for (const auto& e : man["models"]) {
    const std::string file = e["file"];
    CAPTURE(file);
    const OracleEntry o = load_oracle_entry(man, e, dir);
    const auto gf = gguf::File::open(dir + file);
    const size_t P = o.prompt.size(), G = o.greedy.size(), V = o.n_vocab;
    auto eng = make(gf, uint32_t(P + G));
    const std::vector<float> logits = eng->eval(o.prompt, 0);
    REQUIRE(logits.size() == P * V);
    const double d_prompt = max_abs_diff(logits.data(), o.f32ref.data(), P * V);
    std::vector<float> dec(G * V);
    for (size_t i = 0; i < G; ++i) {
      auto row = eng->eval(std::span(&o.greedy[i], 1), uint32_t(P + i));
      REQUIRE(row.size() == V);
      std::copy(row.begin(), row.end(), dec.begin() + i * V);
    }
    const double d_gen = max_abs_diff(dec.data(), o.gen.data(), G * V);
    MESSAGE(file << ": max|" << label << " - f32ref| = " << d_prompt << " (tol " << o.tol << "), max|"
                 << label << " decode - llama.cpp gen| = " << d_gen << " (tol " << o.gen_tol << ")");
    CHECK(d_prompt <= o.tol);
    CHECK(d_gen <= o.gen_tol);
    check_greedy(o, logits, dec);
  }
}

}  // namespace moevk::test
