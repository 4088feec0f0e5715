// Tokenizers against llama.cpp's own vectors (../shared/vocab), detokenisation round trips,
// streaming UTF-8 decoding and metadata errors.
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "loader/error.h"
#include "loader/gguf/gguf.h"
#include "loader/gguf/gguf_writer.h"
#include "loader/tokenizer/tokenizer.h"
#include "loader/tokenizer/tokenizer_regex.h"
#include "loader/tokenizer/unicode.h"
#include "tests/support/test_data.h"

using namespace moevk;

namespace {

const char* const kVocabs[] = {
    "ggml-vocab-llama-spm.gguf",
    "ggml-vocab-phi-3.gguf",
    "ggml-vocab-gpt-2.gguf",
    "ggml-vocab-deepseek-llm.gguf",
    "ggml-vocab-deepseek-coder.gguf",
    "vocab-qwen3.gguf",
    "vocab-deepseek_v3.gguf",
    "vocab-gptoss.gguf",
    "vocab-llama3.gguf",
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The .inp cases: each followed by "\n__ggml_vocab_test__\n".
std::vector<std::string> read_cases(const std::string& path) {
  const std::string text = slurp(path);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> cases;
  size_t pos = 0;
  for (size_t p; (p = text.find(sep, pos)) != std::string::npos; pos = p + sep.size())
    cases.push_back(text.substr(pos, p - pos));
  REQUIRE(pos == text.size());
  return cases;
}

std::vector<std::vector<TokenId>> read_expected(const std::string& path) {
  std::istringstream in(slurp(path));
  std::vector<std::vector<TokenId>> out;
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::vector<TokenId> ids;
    for (TokenId id; ls >> id;) ids.push_back(id);
    out.push_back(std::move(ids));
  }
  return out;
}

std::string vocab_path(const std::string& dir, const char* name) { return dir + "/" + name; }

}  // namespace

TEST_CASE("tokenizer: llama.cpp vectors for every shared vocabulary") {
  MOEVK_REQUIRE_SHARED(readme, "vocab/README.md");
  const std::string dir = readme.substr(0, readme.rfind('/'));
  for (const char* name : kVocabs) {
    CAPTURE(name);
    const Tokenizer tok = Tokenizer::load(vocab_path(dir, name));
    const auto cases = read_cases(vocab_path(dir, name) + ".inp");
    const auto expected = read_expected(vocab_path(dir, name) + ".out");
    REQUIRE(cases.size() == expected.size());
    REQUIRE(cases.size() > 10);
    for (size_t i = 0; i < cases.size(); ++i) {
      CAPTURE(i);
      CAPTURE(cases[i]);
      CHECK(tok.tokenize(cases[i], false, false) == expected[i]);
    }
  }
}

TEST_CASE("tokenizer: detokenize gives back the text") {
  MOEVK_REQUIRE_SHARED(readme, "vocab/README.md");
  const std::string dir = readme.substr(0, readme.rfind('/'));
  for (const char* name : kVocabs) {
    CAPTURE(name);
    const Tokenizer tok = Tokenizer::load(vocab_path(dir, name));
    for (const std::string& c : read_cases(vocab_path(dir, name) + ".inp")) {
      CAPTURE(c);
      // SPM adds a space prefix that detokenize removes; both families keep every byte.
      CHECK(tok.detokenize(tok.tokenize(c, false, false)) == c);
    }
  }
}

TEST_CASE("tokenizer: special tokens, BOS/EOS and end-of-generation ids") {
  MOEVK_REQUIRE_SHARED(qwen, "vocab/vocab-qwen3.gguf");
  const Tokenizer tok = Tokenizer::load(qwen);
  const Vocab& v = tok.vocab();
  const TokenId im_start = v.find("<|im_start|>"), im_end = v.find("<|im_end|>");
  REQUIRE(im_start != kNoToken);
  REQUIRE(im_end != kNoToken);
  CHECK(v.is_control(im_start));
  CHECK(v.is_eog(im_end));
  CHECK(v.is_eog(v.eos()));
  CHECK_FALSE(v.is_eog(im_start));
  CHECK_FALSE(v.add_bos());
  // parse_special turns the text into the token; without it the text is plain text.
  const auto parsed = tok.tokenize("<|im_start|>user", false, true);
  REQUIRE(parsed.size() >= 2);
  CHECK(parsed[0] == im_start);
  const auto plain = tok.tokenize("<|im_start|>user", false, false);
  CHECK(std::find(plain.begin(), plain.end(), im_start) == plain.end());
  CHECK(tok.token_to_piece(im_start) == "");
  CHECK(tok.token_to_piece(im_start, true) == "<|im_start|>");

  MOEVK_REQUIRE_SHARED(spm, "vocab/ggml-vocab-llama-spm.gguf");
  const Tokenizer llama = Tokenizer::load(spm);
  const auto with_bos = llama.tokenize("Hello", true, false);
  REQUIRE(!with_bos.empty());
  CHECK(with_bos[0] == 1);
  CHECK(llama.tokenize("", true, false) == std::vector<TokenId>{1});
  CHECK(llama.tokenize("", false, false).empty());
  CHECK(llama.tokenize("</s>", false, true) == std::vector<TokenId>{2});

  MOEVK_REQUIRE_SHARED(oss, "vocab/vocab-gptoss.gguf");
  const Tokenizer gptoss = Tokenizer::load(oss);
  CHECK(gptoss.vocab().is_eog(gptoss.vocab().find("<|return|>")));
  CHECK(gptoss.vocab().is_eog(gptoss.vocab().find("<|call|>")));
  CHECK_FALSE(gptoss.vocab().is_eog(gptoss.vocab().find("<|end|>")));
}

TEST_CASE("tokenizer: streaming decoder holds back split UTF-8 sequences") {
  MOEVK_REQUIRE_SHARED(qwen, "vocab/vocab-qwen3.gguf");
  MOEVK_REQUIRE_SHARED(spm, "vocab/ggml-vocab-llama-spm.gguf");
  const Tokenizer bpe = Tokenizer::load(qwen);
  const Tokenizer llama = Tokenizer::load(spm);
  // "é€" = C3 A9 E2 82 AC, one byte per token.
  const uint8_t bytes[] = {0xC3, 0xA9, 0xE2, 0x82, 0xAC};
  for (const Tokenizer* t : {&bpe, &llama}) {
    std::vector<TokenId> ids;
    for (uint8_t b : bytes) {
      std::string byte_char;  // byte-level BPE: the printable stand-in of the byte
      unicode::append_utf8(byte_char, unicode::byte_to_cp(b));
      const TokenId id = t->vocab().type() == VocabType::kSpm ? t->vocab().byte_token(b)
                                                              : t->vocab().find(byte_char);
      REQUIRE(id != kNoToken);
      ids.push_back(id);
    }
    StreamDecoder dec(*t);
    CHECK(dec.push(ids[0]) == "");
    CHECK(dec.pending());
    CHECK(dec.push(ids[1]) == "\xC3\xA9");
    CHECK(dec.push(ids[2]) == "");
    CHECK(dec.push(ids[3]) == "");
    CHECK(dec.push(ids[4]) == "\xE2\x82\xAC");
    CHECK_FALSE(dec.pending());
    // A dangling lead byte comes out on flush.
    CHECK(dec.push(ids[2]) == "");
    CHECK(dec.flush() == "\xE2");
  }
  // Whole texts: the concatenated stream equals detokenize.
  const std::string text = "naïve café 你好 🌍 done";
  const auto ids = bpe.tokenize(text, false, false);
  StreamDecoder dec(bpe);
  std::string streamed;
  for (TokenId id : ids) {
    const std::string part = dec.push(id);
    CHECK(unicode::complete_utf8_prefix(part) == part.size());
    streamed += part;
  }
  streamed += dec.flush();
  CHECK(streamed == text);
}

TEST_CASE("tokenizer: regex engine semantics") {
  const auto split = [](const std::string& pattern, const std::string& text) {
    std::vector<tok::Regex> res;
    res.emplace_back(pattern);
    const auto cps = unicode::decode_utf8(text);
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t len : tok::regex_split(cps, res)) {
      out.push_back(unicode::encode_utf8(
          std::vector<uint32_t>(cps.begin() + start, cps.begin() + start + len)));
      start += len;
    }
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(split("\\s+(?!\\S)|\\s+", "a   b") == V{"a", "  ", " ", "b"});
  CHECK(split("\\p{N}{1,3}", "12345") == V{"123", "45"});
  CHECK(split("\\s*[\\r\\n]+", "x \n \n  y") == V{"x", " \n \n", "  y"});
  CHECK(split(" ?\\p{L}+", "héllo wörld") == V{"héllo", " wörld"});
  CHECK(split("[^a-z]+", "abcDEF") == V{"abc", "DEF"});
  // A pattern that starts with a run (\s+$, a+b): a start inside a run that failed is skipped,
  // which must not lose a later match.
  CHECK(split("\\s+$", "a  b  ") == V{"a  b", "  "});
  CHECK(split("\\s+$", "   ") == V{"   "});
  CHECK(split("a+b", "aaac aab") == V{"aaac ", "aab"});
  CHECK(split("a{2,}b", "ab aab") == V{"ab ", "aab"});
  CHECK(split("\\s+x", "  y  x") == V{"  y", "  x"});
  CHECK_THROWS_AS(tok::Regex("(a"), Error);
  CHECK_THROWS_AS(tok::Regex("\\p{Lu}"), Error);
}

TEST_CASE("tokenizer: metadata errors name the key") {
  const auto open = [](const gguf::Writer& w) { return gguf::File::from_memory(w.to_bytes()); };
  const std::vector<std::string> toks = {"a", "b", "ab"};
  {
    gguf::Writer w;
    w.add_array_string("tokenizer.ggml.tokens", std::span<const std::string>(toks));
    CHECK_THROWS_WITH_AS(Vocab::from_gguf(open(w)), doctest::Contains("tokenizer.ggml.model"),
                         Error);
  }
  {
    gguf::Writer w;
    w.add_string("tokenizer.ggml.model", "llama");
    CHECK_THROWS_WITH_AS(Vocab::from_gguf(open(w)), doctest::Contains("tokenizer.ggml.tokens"),
                         Error);
  }
  {
    gguf::Writer w;
    w.add_string("tokenizer.ggml.model", "gpt2");
    w.add_array_string("tokenizer.ggml.tokens", std::span<const std::string>(toks));
    CHECK_THROWS_WITH_AS(Vocab::from_gguf(open(w)), doctest::Contains("tokenizer.ggml.merges"),
                         Error);
  }
  {
    gguf::Writer w;
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_array_string("tokenizer.ggml.tokens", std::span<const std::string>(toks));
    const float scores[] = {0.0f, 1.0f};
    w.add_array_f32("tokenizer.ggml.scores", scores);
    CHECK_THROWS_WITH_AS(Vocab::from_gguf(open(w)), doctest::Contains("tokenizer.ggml.scores"),
                         Error);
  }
  {
    gguf::Writer w;
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_array_string("tokenizer.ggml.tokens", std::span<const std::string>(toks));
    w.add_u32("tokenizer.ggml.eos_token_id", 7);
    CHECK_THROWS_WITH_AS(Vocab::from_gguf(open(w)),
                         doctest::Contains("tokenizer.ggml.eos_token_id"), Error);
  }
  {
    gguf::Writer w;
    w.add_string("tokenizer.ggml.model", "bert");
    w.add_array_string("tokenizer.ggml.tokens", std::span<const std::string>(toks));
    CHECK_THROWS_WITH_AS(Vocab::from_gguf(open(w)), doctest::Contains("tokenizer.ggml.model"),
                         Error);
  }
  {
    // A tiny SPM vocabulary: merges by score, unknown characters fall back to <unk>.
    gguf::Writer w;
    const std::vector<std::string> t = {"<unk>",
                                        "<s>",
                                        "</s>",
                                        "\xE2\x96\x81",
                                        "a",
                                        "b",
                                        "ab",
                                        "\xE2\x96\x81"
                                        "ab"};
    const float scores[] = {0, 0, 0, -1, -2, -2, -1, -0.5f};
    const int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 1};
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_array_string("tokenizer.ggml.tokens", std::span<const std::string>(t));
    w.add_array_f32("tokenizer.ggml.scores", scores);
    w.add_array_i32("tokenizer.ggml.token_type", types);
    const Tokenizer tok(Vocab::from_gguf(open(w)));
    CHECK(tok.tokenize("ab", false, false) == std::vector<TokenId>{7});
    CHECK(tok.tokenize("ab ab", true, false) == std::vector<TokenId>{1, 7, 7});
    CHECK(tok.tokenize("ba", false, false) == std::vector<TokenId>{3, 5, 4});
    CHECK(tok.tokenize("c", false, false) == std::vector<TokenId>{3, 0});
    CHECK(tok.detokenize({7, 7}) == "ab ab");
  }
}

TEST_CASE("tokenizer: long runs of whitespace stay linear") {
  // 100,000 spaces before a digit: \s+$ (deepseek-llm) used to retry every start of the run.
  const std::string spaces(100000, ' ');
  {
    std::vector<tok::Regex> res;
    res.emplace_back("\\s+$");
    CHECK(tok::regex_split(unicode::decode_utf8(spaces + "1"), res) ==
          std::vector<size_t>{spaces.size() + 1});
    CHECK(tok::regex_split(unicode::decode_utf8("1" + spaces), res) ==
          std::vector<size_t>{1, spaces.size()});
  }
  MOEVK_REQUIRE_SHARED(path, "vocab/ggml-vocab-deepseek-llm.gguf");
  const Tokenizer tok = Tokenizer::load(path);
  // BPE merges a run of spaces into 128-space tokens from the left, so the long text gives what
  // short ones give: 781 x (128 spaces), then 32 spaces, then the digit.
  const auto run128 = tok.tokenize(std::string(128, ' ') + "1", false, false);
  const auto tail = tok.tokenize(std::string(32, ' ') + "1", false, false);
  REQUIRE(run128.size() == 2);
  std::vector<TokenId> expected(781, run128[0]);
  expected.insert(expected.end(), tail.begin(), tail.end());
  const auto got = tok.tokenize(spaces + "1", false, false);
  CHECK(got == expected);
  CHECK(tok.detokenize(got) == spaces + "1");
  for (const char* end : {"", "x", "\xF0\x9F\x8C\x8D", "\t1"}) {
    CAPTURE(end);
    CHECK(tok.detokenize(tok.tokenize(spaces + end, false, false)) == spaces + end);
  }
}

TEST_CASE("tokenizer: BPE merges through a side that is not a token") {
  // "a b" makes "ab", which is not in the vocabulary; "ab c" still applies, as it does when merges
  // are looked up by text.
  const auto open = [](const gguf::Writer& w) { return gguf::File::from_memory(w.to_bytes()); };
  gguf::Writer w;
  const std::vector<std::string> tokens = {"a", "b", "c", "abc", "bc"};
  const std::vector<std::string> merges = {"a b", "ab c", "b c"};
  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string("tokenizer.ggml.pre", "gpt-2");
  w.add_array_string("tokenizer.ggml.tokens", std::span<const std::string>(tokens));
  w.add_array_string("tokenizer.ggml.merges", std::span<const std::string>(merges));
  const Tokenizer tok(Vocab::from_gguf(open(w)));
  const Vocab& v = tok.vocab();
  CHECK(v.n_vocab() == 5);
  CHECK(v.find("ab") == kNoToken);
  CHECK(v.bpe_symbol("ab") >= v.n_vocab());
  CHECK(v.bpe_rank(v.find("a"), v.find("b")) == 0);
  CHECK(v.bpe_rank(v.bpe_symbol("ab"), v.find("c")) == 1);
  CHECK(v.bpe_rank(v.find("c"), v.find("a")) == -1);
  CHECK(tok.tokenize("abc", false, false) == std::vector<TokenId>{3});
  CHECK(tok.tokenize("bc", false, false) == std::vector<TokenId>{4});
  // "ab" alone ends as a symbol that is no token: each byte's own token instead.
  CHECK(tok.tokenize("ab", false, false) == std::vector<TokenId>{0, 1});
}
