// The tokenizers against llama.cpp on strings written for this test, not llama.cpp's own vectors
// (issue 10 item 6): each vocabulary's control and user-defined tokens typed inside text, with
// special-token parsing off (they must stay text) and on, and punctuation runs next to spaces, tabs
// and line ends; and each vocabulary's end-of-generation ids. The expected ids are llama.cpp's (2026-09 release, the library npm's
// node-llama-cpp 3.22.1 ships), written by scripts/peer/tokenize-peer.mjs, which first replays
// llama.cpp's own vectors to show it calls the tokenizer the same way.
#include <doctest/doctest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "loader/tokenizer/tokenizer.h"
#include "tests/support/test_data.h"

using namespace moevk;

TEST_CASE("tokenizer: llama.cpp's ids on held-out strings (special-token text, punctuation runs)") {
  MOEVK_REQUIRE_SHARED(readme, "vocab/README.md");
  const std::string dir = readme.substr(0, readme.rfind('/'));
  std::ifstream in(std::string(MOEVK_SOURCE_DIR) + "/tests/loader/data/tokenizer_heldout.json");
  REQUIRE(in);
  const nlohmann::json all = nlohmann::json::parse(in);
  REQUIRE(all.size() == 9);
  size_t compared = 0;
  for (const auto& [file, data] : all.items()) {
    CAPTURE(file);
    const Tokenizer tok = Tokenizer::load(dir + "/" + file);
    CHECK(tok.vocab().eog_ids() == data["eog"].get<std::vector<TokenId>>());
    const auto& cases = data["cases"];
    REQUIRE(cases.size() >= 28);
    for (const auto& c : cases) {
      const std::string text = c["text"];
      const bool special = c["parse_special"];
      CAPTURE(text);
      CAPTURE(special);
      CHECK(tok.tokenize(text, false, special) == c["ids"].get<std::vector<TokenId>>());
      ++compared;
    }
  }
  CHECK(compared > 800);
}
