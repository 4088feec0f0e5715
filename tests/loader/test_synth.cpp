// Synthesised models: every architecture round-trips through the GGUF reader and describe().
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <tuple>

#include "loader/template/chat_template.h"
#include "loader/error.h"
#include "loader/gguf/gguf.h"
#include "loader/model/model.h"
#include "loader/model/synth.h"
#include "loader/tokenizer/tokenizer.h"
#include "runtime/sched/memory_plan.h"

using namespace moevk;

namespace {

constexpr Arch kArchs[] = {Arch::Qwen3Moe, Arch::Llama,     Arch::Olmoe,
                           Arch::Qwen2Moe, Arch::Deepseek2, Arch::GptOss};

synth::Options small(Arch a, GgmlType t) {
  synth::Options o;
  o.arch = a;
  o.type = t;
  o.seed = 7;
  return o;
}

// Header + tensor data + padding == file size; every tensor aligned, inside the file, no overlaps.
void check_layout(const gguf::File& f) {
  std::vector<const gguf::TensorInfo*> ts;
  for (const auto& t : f.tensors()) ts.push_back(&t);
  std::sort(ts.begin(), ts.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  uint64_t end = 0, data = 0, pad = 0;
  for (const auto* t : ts) {
    CAPTURE(t->name);
    CHECK(t->offset % f.alignment() == 0);
    REQUIRE(t->offset >= end);
    pad += t->offset - end;
    end = t->offset + t->n_bytes;
    data += t->n_bytes;
    CHECK(pad < f.alignment() * ts.size());
  }
  REQUIRE(f.data_offset() + end <= f.file_size());
  pad += f.file_size() - f.data_offset() - end;
  CHECK(f.data_offset() % f.alignment() == 0);
  CHECK(f.data_offset() + data + pad == f.file_size());
}

}  // namespace

TEST_CASE(
    "synth: every architecture loads through describe() with the hyper-parameters asked for") {
  for (Arch a : kArchs) {
    for (GgmlType t :
         {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_K}) {
      CAPTURE(arch_name(a));
      CAPTURE(traits(t).name);
      const synth::Options o = small(a, t);
      const gguf::File f = gguf::File::from_memory(synth::synth_gguf(o));
      const ModelDesc d = describe(f);
      const ModelDesc want = synth::make_desc(o);
      CHECK(d.arch == a);
      CHECK(d.n_layer == want.n_layer);
      CHECK(d.n_embd == want.n_embd);
      CHECK(d.n_vocab == synth::make_vocab(o).tokens.size());
      CHECK(d.n_head == want.n_head);
      CHECK(d.n_head_kv == want.n_head_kv);
      CHECK(d.n_embd_head_k == want.n_embd_head_k);
      CHECK(d.n_embd_head_v == want.n_embd_head_v);
      CHECK(d.n_rot == want.n_rot);
      CHECK(d.n_expert == o.n_expert);
      CHECK(d.n_expert_used == o.n_expert_used);
      CHECK(d.n_ff_exp == o.n_ff_exp);
      CHECK(d.n_ff_shexp == want.n_ff_shexp);
      CHECK(d.n_layer_dense_lead == want.n_layer_dense_lead);
      CHECK(d.kv_lora_rank == want.kv_lora_rank);
      CHECK(d.n_embd_head_k_mla == want.n_embd_head_k_mla);
      CHECK(d.sliding_window == want.sliding_window);
      CHECK(d.rope_scaling.type == want.rope_scaling.type);
      CHECK(d.routing.gating == want.routing.gating);
      CHECK(d.routing.norm_topk == want.routing.norm_topk);
      CHECK(d.routing.weights_scale == want.routing.weights_scale);
      CHECK(d.qk_norm == want.qk_norm);
      CHECK(!d.tied_output);
      CHECK(f.tensors().size() == expected_tensors(d).size());
      check_layout(f);

      // Types: matrices as asked (or the documented fallback), everything else F32.
      for (const TensorSpec& s : expected_tensors(d)) {
        CAPTURE(s.name);
        const gguf::TensorInfo* ti = f.find_tensor(s.name);
        REQUIRE(ti != nullptr);
        CHECK(ti->type == synth::storage_type(s, t));
        if (s.must_be_f32()) CHECK(ti->type == GgmlType::F32);
        if (s.expert && s.kind == TensorKind::Matrix) CHECK(ti->type == t);
      }

      // The memory plan splits the tensor data exactly into non-expert and expert bytes.
      const sched::MemoryPlan p = sched::plan_memory(sched::plan_input_from_file(f), {});
      uint64_t data = 0;
      for (const auto& ti : f.tensors()) data += ti.n_bytes;
      CHECK(p.non_expert_bytes + p.expert_total_bytes == data);
      CHECK(p.moe_layers.size() == d.n_layer - d.n_layer_dense_lead);
      CHECK(p.total_experts == uint64_t{o.n_expert} * p.moe_layers.size());
      // A slot holds the expert's matrices; its biases (gpt-oss) stay with the resident weights.
      for (const auto& l : p.moe_layers) {
        CHECK(l.expert_bytes == expert_bytes(f, d, l.layer));
        CHECK(l.slot.bytes >= l.expert_bytes);
      }
    }
  }
}

TEST_CASE("synth: deepseek2's 64-wide MLA rows fall back from K-quants to Q8_0") {
  const gguf::File f =
      gguf::File::from_memory(synth::synth_gguf(small(Arch::Deepseek2, GgmlType::Q4_K)));
  const gguf::TensorInfo* kb = f.find_tensor("blk.0.attn_k_b.weight");
  REQUIRE(kb != nullptr);
  CHECK(kb->ne[0] == 64);
  CHECK(kb->type == GgmlType::Q8_0);
  CHECK(f.find_tensor("blk.1.ffn_up_exps.weight")->type == GgmlType::Q4_K);
  CHECK(f.find_tensor("blk.0.ffn_up.weight")->type == GgmlType::Q4_K);  // the dense lead layer
}

TEST_CASE("synth: the same seed gives the same bytes, another seed other weights") {
  synth::Options o = small(Arch::Qwen3Moe, GgmlType::Q4_K);
  const auto a = synth::synth_gguf(o);
  CHECK(a == synth::synth_gguf(o));
  o.seed = 8;
  const auto b = synth::synth_gguf(o);
  REQUIRE(a.size() == b.size());  // same shapes and metadata
  CHECK(a != b);
}

TEST_CASE("synth: weight values have the documented scale") {
  const gguf::File f =
      gguf::File::from_memory(synth::synth_gguf(small(Arch::GptOss, GgmlType::F32)));
  auto stats = [&](const char* name) {
    const gguf::TensorInfo* t = f.find_tensor(name);
    REQUIRE(t != nullptr);
    REQUIRE(t->type == GgmlType::F32);
    std::vector<float> v(t->n_elements);
    std::memcpy(v.data(), f.tensor_data(*t).data(), v.size() * 4);
    double s = 0, s2 = 0;
    for (float x : v) s += x, s2 += double(x) * x;
    const double mean = s / v.size();
    return std::pair{mean, std::sqrt(s2 / v.size() - mean * mean)};
  };
  auto [m, sd] = stats("blk.0.ffn_down_exps.weight");  // rows of n_ff_exp = 256
  CHECK(std::abs(m) < 0.01);
  CHECK(sd == doctest::Approx(1.0 / 16).epsilon(0.02));
  std::tie(m, sd) = stats("token_embd.weight");
  CHECK(sd == doctest::Approx(1.0).epsilon(0.02));
  std::tie(m, sd) = stats("blk.1.attn_norm.weight");
  CHECK(m == doctest::Approx(1.0).epsilon(0.02));
  CHECK(sd == doctest::Approx(0.05).epsilon(0.2));
}

TEST_CASE("synth: the vocabulary is a valid byte-level BPE vocabulary with ChatML") {
  const synth::Options o = small(Arch::Qwen2Moe, GgmlType::F16);
  const synth::Vocab v = synth::make_vocab(o);
  REQUIRE(v.tokens.size() == v.token_types.size());
  CHECK(v.tokens.size() > 256 + 50);  // some merges were learned
  const std::set<std::string> unique(v.tokens.begin(), v.tokens.end());
  CHECK(unique.size() == v.tokens.size());
  CHECK(v.tokens[' '] == "\xC4\xA0");  // GPT-2's 'Ġ' for the space byte
  CHECK(v.tokens['a'] == "a");
  for (const std::string& m : v.merges) {
    CAPTURE(m);
    const size_t sp = m.find(' ');
    REQUIRE(sp != std::string::npos);
    CHECK(unique.count(m.substr(0, sp)) == 1);
    CHECK(unique.count(m.substr(sp + 1)) == 1);
    CHECK(unique.count(m.substr(0, sp) + m.substr(sp + 1)) == 1);
  }
  CHECK(v.tokens[v.bos] == "<|endoftext|>");
  CHECK(v.tokens[v.im_start] == "<|im_start|>");
  CHECK(v.tokens[v.im_end] == "<|im_end|>");
  CHECK(v.token_types[v.im_end] == 3);
  CHECK(v.token_types['a'] == 1);
  CHECK(v.pre == "qwen2");
  CHECK(v.chat_template.find("<|im_start|>") != std::string::npos);

  const gguf::File f = gguf::File::from_memory(synth::synth_gguf(o));
  CHECK(f.get_string("tokenizer.ggml.model") == "gpt2");
  CHECK(f.get_string("tokenizer.ggml.pre") == "qwen2");
  CHECK(f.get_string("tokenizer.chat_template") == v.chat_template);
  CHECK(f.get_uint("tokenizer.ggml.eos_token_id") == v.eos);
  const auto toks = f.get_string_array("tokenizer.ggml.tokens");
  REQUIRE(toks);
  CHECK(toks->size() == v.tokens.size());
  CHECK(f.get_string_array("tokenizer.ggml.merges")->size() == v.merges.size());
}

TEST_CASE("synth: write_synth_file never replaces a file unless asked, and leaves no temp file") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("moevk_synth_test_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "m.gguf").string();
  { std::ofstream(path) << "user data"; }
  const synth::Options o = small(Arch::Olmoe, GgmlType::Q8_0);
  CHECK_THROWS_WITH_AS(synth::write_synth_file(o, path, false), doctest::Contains("already exists"),
                       Error);
  {
    std::ifstream in(path);
    std::string s;
    std::getline(in, s);
    CHECK(s == "user data");
  }
  synth::write_synth_file(o, path, true);
  const gguf::File f = gguf::File::open(path);
  CHECK(describe(f).arch == Arch::Olmoe);
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
  // A folder that does not exist: a clear error, nothing created.
  CHECK_THROWS_AS(synth::write_synth_file(o, (dir / "no" / "m.gguf").string(), false), Error);
  fs::remove_all(dir);
}

TEST_CASE("synth: the tokenizer and chat template load and round-trip text") {
  for (Arch a : {Arch::Qwen3Moe, Arch::GptOss}) {
    CAPTURE(arch_name(a));
    const synth::Options o = small(a, GgmlType::Q8_0);
    const synth::Vocab v = synth::make_vocab(o);
    const gguf::File f = gguf::File::from_memory(synth::synth_gguf(o));
    const Tokenizer tok = Tokenizer::from_gguf(f);
    const std::string text = "The router chooses the experts. Hello, world! 123 \xC3\xA9t\xC3\xA9";
    const std::vector<TokenId> ids = tok.tokenize(text, false, false);
    CHECK(ids.size() < text.size());  // merges were applied
    CHECK(tok.detokenize(ids) == text);
    for (TokenId id : ids) CHECK(id < static_cast<TokenId>(v.tokens.size()));

    const std::string chat = render_chat_strict(
        *chat_template_of(f), {{"system", "Be brief."}, {"user", "Hi"}}, true, chat_context_of(f));
    CHECK(chat ==
          "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
          "<|im_start|>assistant\n");
    const std::vector<TokenId> chat_ids = tok.tokenize(chat, false, true);
    CHECK(chat_ids.front() == static_cast<TokenId>(v.im_start));
    CHECK(std::count(chat_ids.begin(), chat_ids.end(), static_cast<TokenId>(v.im_end)) == 2);
  }
}

TEST_CASE("synth: the bytes do not depend on the thread count; streaming to a file writes them") {
  // F32 token_embd of 8192 x 256 is 8 MiB: two 4 MiB chunks of one tensor.
  synth::Options o = small(Arch::Qwen3Moe, GgmlType::F32);
  o.n_vocab = 8192;
  o.n_threads = 1;
  const auto one = synth::synth_gguf(o);
  o.n_threads = 3;
  CHECK(synth::synth_gguf(o) == one);
  o.n_threads = 0;  // all cores
  CHECK(synth::synth_gguf(o) == one);

  o = small(Arch::Deepseek2, GgmlType::Q4_K);  // Q4_K, Q8_0 fallback and F32 tensors
  o.n_threads = 1;
  const auto q1 = synth::synth_gguf(o);
  o.n_threads = 3;
  CHECK(synth::synth_gguf(o) == q1);

  namespace fs = std::filesystem;
  const fs::path path =
      fs::temp_directory_path() / ("moevk_synth_stream_" + std::to_string(getpid()) + ".gguf");
  uint64_t last = 0, total = 0;
  size_t calls = 0;
  synth::write_synth_file(o, path.string(), true, [&](uint64_t done, uint64_t all) {
    CHECK(done > last);
    last = done, total = all, ++calls;
  });
  CHECK(calls > 1);
  CHECK(last == q1.size());
  CHECK(total == q1.size());
  std::ifstream in(path, std::ios::binary);
  const std::vector<uint8_t> file((std::istreambuf_iterator<char>(in)),
                                  std::istreambuf_iterator<char>());
  CHECK(file == q1);
  fs::remove(path);
}

TEST_CASE("synth: an exception from the sink stops the generation and propagates") {
  synth::Options o = small(Arch::Olmoe, GgmlType::Q8_0);
  o.n_threads = 3;
  uint64_t seen = 0;
  CHECK_THROWS_WITH_AS(synth::stream_gguf(o,
                                          [&](std::span<const uint8_t> b) {
                                            seen += b.size();
                                            if (seen > 100000) fail("disk full");
                                          }),
                       "disk full", Error);
}

TEST_CASE("synth: values depend on the seed, name and index only, not on the type") {
  // The same approximately normal values, stored as F32 and quantised to Q8_0.
  const gguf::File f32 =
      gguf::File::from_memory(synth::synth_gguf(small(Arch::Llama, GgmlType::F32)));
  const gguf::File q8 =
      gguf::File::from_memory(synth::synth_gguf(small(Arch::Llama, GgmlType::Q8_0)));
  for (const char* name : {"blk.1.ffn_gate_exps.weight", "token_embd.weight"}) {
    CAPTURE(name);
    const gguf::TensorInfo* a = f32.find_tensor(name);
    const gguf::TensorInfo* b = q8.find_tensor(name);
    REQUIRE(a != nullptr);
    REQUIRE(b != nullptr);
    REQUIRE(b->type == GgmlType::Q8_0);
    std::vector<float> x(a->n_elements), y(b->n_elements);
    std::memcpy(x.data(), f32.tensor_data(*a).data(), x.size() * 4);
    dequantize_row(GgmlType::Q8_0, q8.tensor_data(*b).data(), y.data(), int64_t(y.size()));
    double max_abs = 0, max_err = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      max_abs = std::max(max_abs, double(std::abs(x[i])));
      max_err = std::max(max_err, double(std::abs(x[i] - y[i])));
    }
    // Q8_0: error <= half a step of max|block| / 127; Irwin-Hall values stay within 3.47 sd.
    const double sd = std::string(name) == "token_embd.weight" ? 1.0 : 1.0 / 16;
    CHECK(max_abs <= 3.47 * sd);
    CHECK(max_abs > 2.5 * sd);  // not a narrower distribution
    CHECK(max_err <= max_abs / 127 * 0.51);
  }
}

TEST_CASE("synth: --vocab pads the vocabulary with unused tokens; the tokenizer ignores them") {
  synth::Options o = small(Arch::Qwen3Moe, GgmlType::Q8_0);
  const synth::Vocab base = synth::make_vocab(o);
  const gguf::File f0 = gguf::File::from_memory(synth::synth_gguf(o));
  o.n_vocab = 1000;
  const synth::Vocab v = synth::make_vocab(o);
  REQUIRE(v.tokens.size() == 1000);
  REQUIRE(v.token_types.size() == 1000);
  CHECK(std::equal(base.tokens.begin(), base.tokens.end(), v.tokens.begin()));
  CHECK(v.merges == base.merges);
  CHECK(std::set<std::string>(v.tokens.begin(), v.tokens.end()).size() == 1000);
  for (size_t id = base.tokens.size(); id < v.tokens.size(); ++id) {
    CAPTURE(id);
    CHECK(v.token_types[id] == 5);
    CHECK(v.tokens[id] == "[PAD" + std::to_string(id) + "]");
  }

  const gguf::File f = gguf::File::from_memory(synth::synth_gguf(o));
  const ModelDesc d = describe(f);
  CHECK(d.n_vocab == 1000);
  CHECK(f.get_uint("qwen3moe.vocab_size") == 1000);
  CHECK(f.find_tensor("token_embd.weight")->ne[1] == 1000);
  CHECK(f.find_tensor("output.weight")->ne[1] == 1000);
  // The shared weights are the same; only the vocabulary-sized tensors grew.
  CHECK(std::memcmp(f.tensor_data(*f.find_tensor("blk.1.ffn_up_exps.weight")).data(),
                    f0.tensor_data(*f0.find_tensor("blk.1.ffn_up_exps.weight")).data(),
                    f0.find_tensor("blk.1.ffn_up_exps.weight")->n_bytes) == 0);

  const Tokenizer tok = Tokenizer::from_gguf(f);
  const Tokenizer tok0 = Tokenizer::from_gguf(f0);
  for (const std::string& text :
       {std::string("The router chooses the experts. [PAD500] <|im_end|> \xC3\xA9t\xC3\xA9"),
        std::string("[PAD") + std::to_string(base.tokens.size()) + "]"}) {
    CAPTURE(text);
    for (bool special : {false, true}) {
      const std::vector<TokenId> ids = tok.tokenize(text, false, special);
      CHECK(ids == tok0.tokenize(text, false, special));
      for (TokenId id : ids) CHECK(id < static_cast<TokenId>(base.tokens.size()));
      CHECK(tok.detokenize(ids, special) == text);
    }
  }
  const TokenId pad = static_cast<TokenId>(base.tokens.size()) + 5;
  CHECK(tok.detokenize({pad}, false).empty());
  CHECK(tok.detokenize({pad, TokenId('a')}, true) == "a");
  CHECK(!tok.vocab().is_special(pad));

  o.n_vocab = static_cast<uint32_t>(base.tokens.size()) - 1;
  CHECK_THROWS_WITH_AS(synth::make_vocab(o), doctest::Contains("smaller than"), Error);
}
