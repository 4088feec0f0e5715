// Weights that hold NaN (issue 10, attack pass): generation stops with a clear error instead of
// sampling token 0 from NaN logits, on the Vulkan and the CPU backends. The model is a synthesised
// one with its first router filled with NaN.
#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <limits>

#include "loader/error.h"
#include "loader/gguf/gguf.h"
#include "loader/model/synth.h"
#include "loader/tokenizer/tokenizer.h"
#include "runtime/model/engine.h"
#include "runtime/model/session.h"

using namespace moevk;

TEST_CASE("hostile weights: a NaN router ends generation with an error naming NaN, on every backend") {
  synth::Options so;
  std::vector<uint8_t> bytes = synth::synth_gguf(so);
  const std::string path = "/tmp/moevk-test-nan-" + std::to_string(getpid()) + ".gguf";
  auto write = [&] {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  };
  write();
  {
    const auto f = gguf::File::open(path);
    const gguf::TensorInfo* t = f.find_tensor("blk.0.ffn_gate_inp.weight");
    REQUIRE(t != nullptr);
    REQUIRE(t->type == GgmlType::F32);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (uint64_t i = 0; i < t->n_bytes / 4; ++i)
      std::memcpy(bytes.data() + f.data_offset() + t->offset + i * 4, &nan, 4);
  }
  write();
  const auto f = gguf::File::open(path);
  const Tokenizer tok = Tokenizer::from_gguf(f);
  for (Backend b : {Backend::Vulkan, Backend::Cpu}) {
    CAPTURE(int(b));
    EngineOptions o;
    o.backend = b;
    o.n_ctx = 32;
    o.progress = false;
    auto eng = make_engine(f, o);
    SamplerParams sp;
    sp.temperature = 0;
    Session s(*eng, tok, sp);
    CHECK_THROWS_WITH_AS(s.generate(tok.tokenize("hello", true, false), 4, [](const std::string&) {}),
                         doctest::Contains("NaN logits"), moevk::Error);
  }
  std::remove(path.c_str());
}
