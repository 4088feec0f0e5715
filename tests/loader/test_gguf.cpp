// GGUF reader and writer: valid files parse with every value readable; every malformed file in the
// hostile corpus (and every truncation of a valid file) throws moevk::Error with a message naming
// what is wrong and where; every shared oracle/vocab file opens.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include "loader/gguf/gguf.h"
#include "loader/gguf/gguf_writer.h"
#include "tests/loader/hostile_gguf.h"
#include "tests/support/test_data.h"

using namespace moevk;
using moevk::gguf::File;

namespace {

// Opens bytes and returns the error message ("" when it parsed).
std::string open_error(std::vector<uint8_t> bytes) {
  try {
    File::from_memory(std::move(bytes));
  } catch (const moevk::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("gguf: valid raw file parses and every accessor returns the written values") {
  auto bytes = test::valid_raw().bytes();
  File f = File::from_memory(bytes);
  CHECK(f.version() == 3);
  CHECK(f.alignment() == 32);
  CHECK(f.file_size() == bytes.size());
  CHECK(f.metadata().size() == 16);
  CHECK(*f.get_string("general.architecture") == "test");
  CHECK(*f.get_uint("v.u8") == 200);
  CHECK(*f.get_int("v.i8") == -100);
  CHECK(*f.get_uint("v.u16") == 60000);
  CHECK(*f.get_int("v.i16") == -30000);
  CHECK(f.require_uint("v.u32") == 4000000000u);
  CHECK(*f.get_int("v.i32") == -7);
  CHECK(*f.get_float("v.f32") == 1.5);
  CHECK(*f.get_bool("v.bool") == true);
  CHECK(*f.get_uint("v.u64") == std::numeric_limits<uint64_t>::max());
  CHECK(*f.get_int("v.i64") == -(int64_t(1) << 40));
  CHECK(f.require_float("v.f64") == 0.25);
  CHECK(*f.get_float("v.i32") == -7.0);
  auto strs = *f.get_string_array("v.strs");
  REQUIRE(strs.size() == 3);
  CHECK(strs[0] == "a");
  CHECK(strs[1] == "");
  CHECK(strs[2] == "hello");
  CHECK(*f.get_int_array("v.i32s") == std::vector<int64_t>{1, -2, 3});
  CHECK(*f.get_float_array("v.f32s") == std::vector<double>{0.5, -1.0});
  CHECK(*f.get_float_array("v.i32s") == std::vector<double>{1, -2, 3});
  CHECK(f.get_int_array("v.empty")->empty());
  CHECK(!f.get_uint("missing").has_value());
  CHECK(!f.has("missing"));
  CHECK(f.find("v.strs")->count == 3);
  CHECK(f.find("v.strs")->elem_type == gguf::ValueType::STRING);

  // Type mismatches are errors naming the key.
  CHECK_THROWS_WITH_AS(f.get_uint("v.i8"), doctest::Contains("v.i8"), moevk::Error);  // negative
  CHECK_THROWS_AS(f.get_int("v.u64"), moevk::Error);                                  // > INT64_MAX
  CHECK_THROWS_AS(f.get_uint("general.architecture"), moevk::Error);
  CHECK_THROWS_AS(f.get_string("v.u32"), moevk::Error);
  CHECK_THROWS_AS(f.get_bool("v.u8"), moevk::Error);
  CHECK_THROWS_AS(f.get_string_array("v.i32s"), moevk::Error);
  CHECK_THROWS_AS(f.get_int_array("v.f32s"), moevk::Error);
  CHECK_THROWS_AS(f.get_float_array("v.strs"), moevk::Error);
  CHECK_THROWS_WITH_AS(f.require_uint("nope"), doctest::Contains("missing key 'nope'"),
                       moevk::Error);
  CHECK_THROWS_AS(f.require_string("nope"), moevk::Error);

  REQUIRE(f.tensors().size() == 3);
  const auto* t = f.find_tensor("blk.0.ffn_up_exps.weight");
  REQUIRE(t != nullptr);
  CHECK(t->type == GgmlType::Q4_K);
  CHECK(t->n_dims == 3);
  CHECK(t->ne == std::array<uint64_t, 4>{256, 1, 1, 1});
  CHECK(t->n_bytes == 144);
  CHECK(t->offset == 160);
  const auto* t0 = f.find_tensor("t.f32");
  REQUIRE(t0 != nullptr);
  CHECK(t0->n_elements == 16);
  CHECK(t0->n_bytes == 64);
  auto d = f.tensor_data(*t);
  CHECK(d.size() == 144);
  CHECK(d.data() == f.bytes().data() + f.data_offset() + 160);
  CHECK(d[0] == uint8_t(160 * 7 + 3));  // RawGguf's data byte pattern
  CHECK(f.find_tensor("nope") == nullptr);
}

TEST_CASE("gguf: version 2 and a 64-byte alignment parse") {
  auto g = test::valid_raw();
  g.version = 2;
  CHECK(File::from_memory(g.bytes()).version() == 2);
  g = test::valid_raw();
  g.kv_u32("general.alignment", 64);
  g.alignment = 64;
  g.tensors[1].offset = 64;
  g.tensors[2].offset = 192;
  g.data_size = 192 + 144;
  File f = File::from_memory(g.bytes());
  CHECK(f.alignment() == 64);
  CHECK(f.data_offset() % 64 == 0);
}

TEST_CASE("gguf: every hostile file throws moevk::Error naming the problem and the byte offset") {
  auto corpus = test::hostile_corpus();
  CHECK(corpus.size() >= 35);
  for (auto& hc : corpus) {
    CAPTURE(hc.name);
    std::string msg = open_error(hc.bytes);
    CAPTURE(msg);
    CHECK(!msg.empty());
    CHECK(msg.find(hc.expect) != std::string::npos);
    CHECK(msg.find("byte") != std::string::npos);
    CHECK_THROWS_AS(File::from_memory(hc.bytes), moevk::Error);
  }
}

TEST_CASE("gguf: truncation at every header byte and at sampled data bytes throws") {
  auto bytes = test::valid_raw().bytes();
  File f = File::from_memory(bytes);
  uint64_t data_off = f.data_offset();
  int n_checked = 0;
  for (uint64_t cut = 0; cut < bytes.size(); cut += (cut < data_off ? 1 : 7)) {
    CAPTURE(cut);
    std::vector<uint8_t> b(bytes.begin(), bytes.begin() + ptrdiff_t(cut));
    std::string msg = open_error(b);
    CHECK(!msg.empty());
    n_checked++;
  }
  CHECK(n_checked > int(data_off));
}

TEST_CASE("gguf: every single-byte corruption of the header is rejected or parses; none crashes") {
  // Not every flipped byte makes the file invalid (a changed string byte is still a string); the
  // point is that nothing crashes, hangs or allocates absurdly, and accessors stay safe
  // (ASan/UBSan).
  auto bytes = test::valid_raw().bytes();
  uint64_t data_off = File::from_memory(bytes).data_offset();
  int rejected = 0;
  for (uint64_t i = 0; i < data_off; i++) {
    for (uint8_t x : {uint8_t(0xff), uint8_t(0x80), uint8_t(0x01)}) {
      auto b = bytes;
      b[i] ^= x;
      try {
        File g = File::from_memory(b);
        for (const auto& kv : g.metadata()) (void)g.find(kv.key);
        for (const auto& t : g.tensors()) CHECK(g.tensor_data(t).size() == t.n_bytes);
      } catch (const moevk::Error&) {
        rejected++;
      }
    }
  }
  CHECK(rejected > 0);
}

TEST_CASE("gguf writer: round trip of metadata and tensors, to bytes and to a file") {
  gguf::Writer w;
  w.add_string("general.architecture", "qwen3moe");
  w.add_u32("qwen3moe.block_count", 2);
  w.add_f32("qwen3moe.rope.freq_base", 10000.0f);
  w.add_bool("flag", true);
  w.add_i64("neg", -5);
  w.add_u8("u8", 7);
  w.add_f64("f64", 0.125);
  std::vector<std::string> toks = {"<s>", "a", "bc"};
  w.add_array_string("tokenizer.ggml.tokens", toks);
  std::vector<float> scores = {0.0f, -1.0f, -2.5f};
  w.add_array_f32("tokenizer.ggml.scores", scores);
  std::vector<int32_t> types = {3, 1, 1};
  w.add_array_i32("tokenizer.ggml.token_type", types);
  std::vector<float> vals(256 * 3);
  for (size_t i = 0; i < vals.size(); i++) vals[i] = float(int(i % 17) - 8) * 0.25f;
  w.add_tensor_f32("norm.weight", {256, 3}, vals);
  w.add_tensor_quantized("q.weight", GgmlType::Q8_0, {256, 3}, vals);
  std::vector<uint8_t> raw(row_bytes(GgmlType::Q4_K, 512).value());
  random_blocks(GgmlType::Q4_K, 1, raw.data(), 512);
  w.add_tensor("k.weight", GgmlType::Q4_K, {512}, raw);
  CHECK_THROWS_AS(w.add_u32("flag", 1), moevk::Error);
  CHECK_THROWS_AS(w.add_tensor("k.weight", GgmlType::Q4_K, {512}, raw), moevk::Error);
  CHECK_THROWS_AS(w.add_tensor("k2", GgmlType::Q4_K, {256}, raw), moevk::Error);  // size mismatch
  CHECK_THROWS_AS(w.add_tensor("k3", GgmlType::Q4_K, {100}, raw), moevk::Error);  // block multiple

  auto check = [&](const File& f) {
    CHECK(f.require_string("general.architecture") == "qwen3moe");
    CHECK(f.require_uint("qwen3moe.block_count") == 2);
    CHECK(f.require_float("qwen3moe.rope.freq_base") == 10000.0);
    CHECK(*f.get_bool("flag"));
    CHECK(*f.get_int("neg") == -5);
    CHECK(*f.get_float("f64") == 0.125);
    CHECK(f.get_string_array("tokenizer.ggml.tokens")->at(2) == "bc");
    CHECK(f.get_float_array("tokenizer.ggml.scores")->at(2) == -2.5);
    CHECK(f.get_int_array("tokenizer.ggml.token_type")->at(0) == 3);
    REQUIRE(f.tensors().size() == 3);
    const auto* n = f.find_tensor("norm.weight");
    REQUIRE(n);
    auto nd = f.tensor_data(*n);
    CHECK(std::memcmp(nd.data(), vals.data(), vals.size() * 4) == 0);
    const auto* q = f.find_tensor("q.weight");
    REQUIRE(q);
    std::vector<float> out(vals.size());
    dequantize_row(q->type, f.tensor_data(*q).data(), out.data(), int64_t(out.size()));
    // Q8_0 step is 2/127 here: every value within half a step (plus fp16 rounding of d).
    for (size_t i = 0; i < vals.size(); i++) CHECK(std::fabs(out[i] - vals[i]) <= 0.009f);
    const auto* k = f.find_tensor("k.weight");
    REQUIRE(k);
    CHECK(std::equal(raw.begin(), raw.end(), f.tensor_data(*k).begin()));
    for (const auto& t : f.tensors()) CHECK(t.offset % f.alignment() == 0);
  };
  auto bytes = w.to_bytes();
  check(File::from_memory(bytes));
  std::string path = test::binary_dir() + "/test_gguf_writer.gguf";
  w.write(path);
  check(File::open(path));
  std::filesystem::remove(path);

  gguf::Writer w64(64);
  w64.add_tensor_f32("a", {4}, std::vector<float>{1, 2, 3, 4});
  w64.add_tensor_f32("b", {4}, std::vector<float>{5, 6, 7, 8});
  File f64 = File::from_memory(w64.to_bytes());
  CHECK(f64.alignment() == 64);
  CHECK(f64.find_tensor("b")->offset == 64);
  CHECK_THROWS_AS(gguf::Writer(24), moevk::Error);
}

TEST_CASE("gguf: File::open errors name the path") {
  CHECK_THROWS_WITH_AS(File::open("/nonexistent/x.gguf"), doctest::Contains("/nonexistent/x.gguf"),
                       moevk::Error);
  CHECK_THROWS_AS(File::open("/"), moevk::Error);
}

TEST_CASE("gguf: every oracle model opens, every tensor lies in the file") {
  MOEVK_REQUIRE_SHARED(dir, "oracle/models");
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".gguf") continue;
    CAPTURE(e.path().string());
    File f = File::open(e.path().string());
    CHECK(f.version() == 3);
    CHECK(f.get_string("general.architecture").has_value());
    CHECK(!f.tensors().empty());
    for (const auto& t : f.tensors()) {
      CHECK(traits(t.type).supported);
      CHECK(f.tensor_data(t).size() == t.n_bytes);
    }
    n++;
  }
  CHECK(n == 25);
}

TEST_CASE("gguf: every vocab file opens with its token list") {
  MOEVK_REQUIRE_SHARED(dir, "vocab");
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".gguf") continue;
    CAPTURE(e.path().string());
    File f = File::open(e.path().string());
    auto toks = f.get_string_array("tokenizer.ggml.tokens");
    REQUIRE(toks.has_value());
    CHECK(toks->size() > 1000);
    n++;
  }
  CHECK(n >= 9);
}
