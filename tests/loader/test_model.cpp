// Model descriptions: hyper-parameters of the oracle files, expected_tensors() == the files' tensor
// lists, and describe()'s errors on inconsistent metadata and tensors.
#include <doctest/doctest.h>

#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "loader/error.h"
#include "loader/gguf/gguf.h"
#include "loader/gguf/gguf_writer.h"
#include "loader/model/model.h"
#include "tests/support/test_data.h"

using namespace moevk;

TEST_CASE("model: arch names round trip") {
  for (Arch a :
       {Arch::Qwen3Moe, Arch::Llama, Arch::Olmoe, Arch::Qwen2Moe, Arch::Deepseek2, Arch::GptOss})
    CHECK(arch_from_name(arch_name(a)) == a);
  CHECK(!arch_from_name("gpt2"));
  CHECK(layer_tensor_name(3, "ffn_up_exps.weight") == "blk.3.ffn_up_exps.weight");
}

TEST_CASE("model: every oracle file is described and holds exactly the expected tensors") {
  MOEVK_REQUIRE_SHARED(man_path, "oracle/manifest.json");
  const std::string dir = man_path.substr(0, man_path.rfind('/') + 1);
  std::ifstream in(man_path);
  const auto man = nlohmann::json::parse(in);
  for (const auto& e : man["models"]) {
    const std::string file = e["file"];
    CAPTURE(file);
    const auto f = gguf::File::open(dir + file);
    const ModelDesc d = describe(f);
    const auto& hp = e["hparams"];
    CHECK(arch_name(d.arch) == std::string(e["arch"]));
    CHECK(d.n_embd == uint32_t(hp["n_embd"]));
    CHECK(d.n_layer == uint32_t(hp["n_layer"]));
    CHECK(d.n_head == uint32_t(hp["n_head"]));
    CHECK(d.n_expert == uint32_t(hp["n_expert"]));
    CHECK(d.n_expert_used == uint32_t(hp["n_expert_used"]));
    CHECK(d.n_vocab == 1024);
    CHECK(!d.tied_output);
    std::set<std::string> expected, actual;
    for (const auto& s : expected_tensors(d)) expected.insert(s.name);
    for (const auto& t : f.tensors()) actual.insert(t.name);
    CHECK(expected == actual);
    // Per-expert slabs tile the expert tensors.
    for (uint32_t il = 0; il < d.n_layer; ++il) {
      if (!d.is_moe_layer(il)) continue;
      for (ExpertMat m : {ExpertMat::Gate, ExpertMat::Up, ExpertMat::Down}) {
        const ExpertSlab s = expert_slab(f, d, il, m);
        CHECK(s.bytes * d.n_expert == s.tensor->n_bytes);
        CHECK(expert_matrix_bytes(d, il, m, s.type) == s.bytes);
      }
      CHECK(expert_bytes(f, d, il) > 0);
    }
    CHECK(!describe_summary(d).empty());

    switch (d.arch) {
      case Arch::Deepseek2:
        CHECK(d.n_layer_dense_lead == 1);
        CHECK(!d.is_moe_layer(0));
        CHECK(d.is_moe_layer(1));
        CHECK(d.routing.gating == GatingFunc::Sigmoid);
        CHECK(d.routing.selection_bias);
        CHECK(d.routing.norm_topk);
        CHECK(d.routing.weights_scale == 2.5f);
        CHECK(d.n_ff_shexp == 256);
        CHECK(d.kv_lora_rank == 256);
        CHECK(d.n_embd_head_k_mla == 96);
        CHECK(d.n_rot == 32);
        CHECK(d.rope_type == RopeType::Normal);
        break;
      case Arch::GptOss:
        CHECK(d.sliding_window == 16);
        CHECK(d.is_swa_layer(0));
        CHECK(!d.is_swa_layer(1));
        CHECK(d.rope_scaling.type == RopeScalingType::Yarn);
        CHECK(d.rope_scaling.factor == 4.0f);
        CHECK(d.rope_scaling.n_ctx_orig == 64);
        CHECK(d.routing.gating == GatingFunc::SoftmaxSelected);
        CHECK(d.act == FfnAct::SwigluClamped);
        CHECK(d.attn_sinks);
        break;
      case Arch::Qwen2Moe:
        CHECK(d.routing.shared_gate);
        CHECK(d.n_ff_shexp == 512);
        CHECK(!d.routing.norm_topk);
        break;
      case Arch::Llama:
        CHECK(d.n_ff_exp == 512);  // Mixtral: feed_forward_length is the expert width
        CHECK(d.routing.norm_topk);
        CHECK(d.rope_type == RopeType::Normal);
        break;
      case Arch::Qwen3Moe:
        CHECK(d.qk_norm == QkNorm::PerHead);
        CHECK(d.q_dim() == 512);
        break;
      case Arch::Olmoe:
        CHECK(d.qk_norm == QkNorm::Full);
        CHECK(!d.routing.norm_topk);
        break;
    }
  }
}

namespace {

// A tiny qwen3moe file built key by key, so each test can break one thing.
struct Mini {
  std::map<std::string, uint32_t> u = {
      {"block_count", 1},          {"embedding_length", 32},           {"context_length", 64},
      {"attention.head_count", 2}, {"attention.head_count_kv", 1},     {"expert_count", 4},
      {"expert_used_count", 2},    {"expert_feed_forward_length", 32}, {"vocab_size", 16},
  };
  std::map<std::string, float> f = {{"attention.layer_norm_rms_epsilon", 1e-6f}};
  std::set<std::string> drop;                            // tensors left out
  std::map<std::string, std::vector<uint64_t>> reshape;  // tensors with other dims
  std::map<std::string, uint32_t> retype;                // tensors stored as another type id
  std::vector<std::string> extra;                        // additional F32 [4] tensors

  std::vector<uint8_t> bytes() const {
    auto keys = [&](gguf::Writer& w) {
      w.add_string("general.architecture", "qwen3moe");
      for (const auto& [k, v] : u) w.add_u32("qwen3moe." + k, v);
      for (const auto& [k, v] : f) w.add_f32("qwen3moe." + k, v);
    };
    gguf::Writer probe;
    keys(probe);
    ModelDesc d;
    try {
      d = read_hparams(gguf::File::from_memory(probe.to_bytes()));
    } catch (const Error&) {
      return probe.to_bytes();  // metadata errors need no tensors
    }
    gguf::Writer w;
    keys(w);
    for (const auto& s : expected_tensors(d)) {
      if (drop.count(s.name)) continue;
      std::vector<uint64_t> dims(s.ne.begin(), s.ne.begin() + s.n_dims);
      if (auto it = reshape.find(s.name); it != reshape.end()) dims = it->second;
      uint64_t n = 1;
      for (auto v : dims) n *= v;
      if (auto it = retype.find(s.name); it != retype.end()) {
        std::vector<uint8_t> raw(n * 4, 0);  // a 4-byte, block-1 type (I32)
        w.add_tensor(s.name, static_cast<GgmlType>(it->second), dims, raw);
      } else {
        std::vector<float> v(n, 0.5f);
        w.add_tensor_quantized(s.name, GgmlType::F32, dims, v);
      }
    }
    for (const auto& name : extra) {
      std::vector<float> v(4, 0.0f);
      w.add_tensor_f32(name, {4}, v);
    }
    return w.to_bytes();
  }
};

std::string error_of(const Mini& m) {
  try {
    describe(gguf::File::from_memory(m.bytes()));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

void check_error(const Mini& m, const std::string& needle) {
  const std::string err = error_of(m);
  CAPTURE(err);
  CHECK(err.find(needle) != std::string::npos);
}

}  // namespace

TEST_CASE("model: describe accepts the mini model") {
  Mini m;
  const ModelDesc d = describe(gguf::File::from_memory(m.bytes()));
  CHECK(d.n_embd_head_k == 16);  // embedding_length / head_count
  CHECK(d.n_rot == 16);
  CHECK(d.rope_freq_base == 10000.0f);
  CHECK(d.n_ff_exp == 32);
  CHECK(error_of(m).empty());
}

TEST_CASE("model: hyper-parameter errors name the key") {
  {
    Mini m;
    m.u["expert_used_count"] = 5;
    check_error(m, "qwen3moe.expert_used_count");
  }
  {
    Mini m;
    m.u["attention.head_count"] = 0;
    check_error(m, "qwen3moe.attention.head_count");
  }
  {
    Mini m;
    m.u["attention.head_count_kv"] = 3;  // 2 heads not a multiple of 3
    check_error(m, "head_count_kv");
  }
  {
    Mini m;
    m.u.erase("block_count");
    check_error(m, "missing key 'qwen3moe.block_count'");
  }
  {
    Mini m;
    m.u["block_count"] = 0;
    check_error(m, "qwen3moe.block_count");
  }
  {
    Mini m;
    m.u["expert_count"] = 0;
    check_error(m, "qwen3moe.expert_count");
  }
  {
    Mini m;
    m.u["rope.dimension_count"] = 18;  // larger than the head dimension 16
    check_error(m, "rope.dimension_count");
  }
  {
    Mini m;
    m.u["attention.key_length"] = 0;
    check_error(m, "attention.key_length");
  }
  {
    Mini m;
    m.f.erase("attention.layer_norm_rms_epsilon");
    check_error(m, "layer_norm_rms_epsilon");
  }
}

TEST_CASE("model: tensor errors name the tensor") {
  {
    Mini m;
    m.drop.insert("blk.0.ffn_up_exps.weight");
    check_error(m, "missing tensor 'blk.0.ffn_up_exps.weight'");
  }
  {
    Mini m;
    m.reshape["blk.0.attn_q.weight"] = {32, 31};
    check_error(m, "tensor 'blk.0.attn_q.weight' has shape [32, 31], expected [32, 32]");
  }
  {
    Mini m;
    m.reshape["blk.0.ffn_gate_exps.weight"] = {32, 32, 3};  // 3 experts, 4 declared
    check_error(m, "blk.0.ffn_gate_exps.weight");
  }
  {
    Mini m;
    m.retype["blk.0.attn_k.weight"] = 26;  // I32
    check_error(m, "tensor 'blk.0.attn_k.weight' has unsupported type");
  }
  {
    Mini m;
    m.reshape["token_embd.weight"] = {32, 15};  // vocab_size says 16
    check_error(m, "tensor 'token_embd.weight' has shape [32, 15], expected [32, 16]");
  }
  {
    Mini m;  // a file with more layers than block_count says
    m.extra.push_back("blk.1.attn_norm.weight");
    check_error(m, "blk.1.attn_norm.weight");
  }
  {
    Mini m;  // block_count says 2 but the file has one layer of tensors
    Mini two = m;
    two.u["block_count"] = 2;
    // build the tensors of a 1-layer model with the metadata of a 2-layer one
    gguf::Writer w;
    w.add_string("general.architecture", "qwen3moe");
    for (const auto& [k, v] : two.u) w.add_u32("qwen3moe." + k, v);
    for (const auto& [k, v] : two.f) w.add_f32("qwen3moe." + k, v);
    const ModelDesc d1 = read_hparams(gguf::File::from_memory(m.bytes()));
    for (const auto& s : expected_tensors(d1)) {
      uint64_t n = s.ne[0] * s.ne[1] * s.ne[2] * s.ne[3];
      std::vector<float> v(n, 0.0f);
      w.add_tensor_quantized(s.name, GgmlType::F32,
                             std::vector<uint64_t>(s.ne.begin(), s.ne.begin() + s.n_dims), v);
    }
    std::string err;
    try {
      describe(gguf::File::from_memory(w.to_bytes()));
    } catch (const Error& e) {
      err = e.what();
    }
    CAPTURE(err);
    CHECK(err.find("missing tensor 'blk.1.attn_norm.weight'") != std::string::npos);
    CHECK(err.find("block_count 2") != std::string::npos);
  }
  {
    Mini m;  // no output.weight: tied to the embeddings, not an error
    m.drop.insert("output.weight");
    const ModelDesc d = describe(gguf::File::from_memory(m.bytes()));
    CHECK(d.tied_output);
  }
}

TEST_CASE("model: expected tensors of a deepseek2 description") {
  ModelDesc d;
  d.arch = Arch::Deepseek2;
  d.n_layer = 2;
  d.n_embd = 64;
  d.n_vocab = 100;
  d.n_head = 2;
  d.n_head_kv = 1;
  d.n_rot = 16;
  d.kv_lora_rank = 32;
  d.q_lora_rank = 0;
  d.n_embd_head_k_mla = 48;
  d.n_embd_head_v_mla = 32;
  d.n_ff = 128;
  d.n_ff_exp = 64;
  d.n_expert = 4;
  d.n_expert_used = 2;
  d.n_expert_shared = 2;
  d.n_ff_shexp = 128;
  d.n_layer_dense_lead = 1;
  d.routing.selection_bias = true;
  std::map<std::string, TensorSpec> by;
  for (auto& s : expected_tensors(d)) by[s.name] = s;
  CHECK(by.count("blk.0.ffn_gate.weight"));
  CHECK(!by.count("blk.0.ffn_gate_inp.weight"));
  CHECK(by.count("blk.0.attn_q.weight"));  // no q_lora
  CHECK(!by.count("blk.0.attn_q_a.weight"));
  CHECK(by["blk.1.attn_k_b.weight"].ne == std::array<uint64_t, 4>{32, 32, 2, 1});
  CHECK(by["blk.1.attn_v_b.weight"].ne == std::array<uint64_t, 4>{32, 32, 2, 1});
  CHECK(by["blk.1.attn_kv_a_mqa.weight"].ne == std::array<uint64_t, 4>{64, 48, 1, 1});
  CHECK(by["blk.1.ffn_down_exps.weight"].ne == std::array<uint64_t, 4>{64, 64, 4, 1});
  CHECK(by["blk.1.ffn_down_exps.weight"].expert);
  CHECK(by["blk.1.ffn_gate_shexp.weight"].ne == std::array<uint64_t, 4>{64, 128, 1, 1});
  CHECK(by["blk.1.exp_probs_b.bias"].must_be_f32());
  CHECK(!by["output.weight"].required);
}
