// --ignore-eos (SamplerParams::ignore_eos): the end-of-generation tokens are never drawn. A synthesised
// model with its output head zeroed gives equal logits for every token, so a seeded draw at
// temperature 1 hits one of the vocabulary's end-of-generation tokens (2 of 459) within a few hundred
// tokens; with the flag the same draw runs to -n.
#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <unistd.h>

#include "loader/gguf/gguf.h"
#include "loader/model/synth.h"
#include "loader/tokenizer/tokenizer.h"
#include "runtime/model/engine.h"
#include "runtime/model/session.h"

using namespace moevk;

TEST_CASE("sampling: --ignore-eos never draws an end-of-generation token, and generation runs to -n") {
  synth::Options so;
  std::vector<uint8_t> bytes = synth::synth_gguf(so);
  const std::string path = "/tmp/moevk-test-eos-" + std::to_string(getpid()) + ".gguf";
  auto write = [&] {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  };
  write();
  {
    const auto f = gguf::File::open(path);
    const gguf::TensorInfo* t = f.find_tensor("output.weight");
    if (!t) t = f.find_tensor("token_embd.weight");  // a tied head
    REQUIRE(t != nullptr);
    std::memset(bytes.data() + f.data_offset() + t->offset, 0, t->n_bytes);  // zero blocks: zero weights
  }
  write();
  const auto f = gguf::File::open(path);
  const Tokenizer tok = Tokenizer::from_gguf(f);
  REQUIRE(!tok.vocab().eog_ids().empty());
  EngineOptions o;
  o.backend = Backend::Cpu;
  o.n_ctx = 1600;
  o.progress = false;
  auto eng = make_engine(f, o);
  const int n = 1500;
  for (bool ignore : {false, true}) {
    CAPTURE(ignore);
    SamplerParams sp;
    sp.temperature = 1;
    sp.top_k = 0;
    sp.top_p = 1;
    sp.min_p = 0;
    sp.seed = 7;
    sp.ignore_eos = ignore;
    Session s(*eng, tok, sp);
    std::vector<int32_t> drawn;
    s.start(tok.tokenize("hello", true, false), n);
    while (!s.done()) s.step([&](int32_t id, const std::string&) { drawn.push_back(id); });
    const GenerationStats& st = s.stats();
    if (ignore) {
      CHECK(st.stop == StopReason::Length);
      CHECK(st.generated_tokens == uint64_t(n));
      for (int32_t id : drawn) CHECK_FALSE(tok.vocab().is_eog(id));
    } else {
      CHECK(st.stop == StopReason::EndOfGeneration);  // the draw does reach one without the flag
      CHECK(st.generated_tokens < uint64_t(n));
    }
  }
  std::remove(path.c_str());
}
