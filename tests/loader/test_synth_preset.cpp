// Synth presets and type mixes: the mixes give every tensor of llama.cpp's own Q4_K_M and MXFP4_MOE
// oracle files the type llama.cpp gave it; each preset has its model's shape; every preset cut to
// one layer (and a small vocabulary) round-trips through describe().
#include <doctest/doctest.h>

#include <map>
#include <string>

#include "loader/gguf/gguf.h"
#include "loader/model/model.h"
#include "loader/model/synth.h"
#include "tests/support/test_data.h"

using namespace moevk;

namespace {

// Tensor count per type of the preset's model at o's depth.
std::map<GgmlType, int> type_counts(const synth::Options& o) {
  const ModelDesc d = synth::make_desc(o);
  std::map<GgmlType, int> n;
  for (const TensorSpec& s : expected_tensors(d)) ++n[synth::mix_type(s, d, o)];
  return n;
}

synth::Options preset(std::string_view name) {
  const synth::Preset* p = synth::find_preset(name);
  REQUIRE(p != nullptr);
  return p->options;
}

}  // namespace

TEST_CASE(
    "synth mix: every tensor of llama.cpp's Q4_K_M and MXFP4_MOE oracle files gets its type") {
  MOEVK_REQUIRE_SHARED(dir, "oracle/models");
  const std::pair<const char*, synth::TypeMix> files[] = {
      {"qwen3moe-Q4_K_M", synth::TypeMix::Q4_K_M},
      {"mixtral-Q4_K_M", synth::TypeMix::Q4_K_M},
      {"olmoe-Q4_K_M", synth::TypeMix::Q4_K_M},
      {"qwen2moe-Q4_K_M", synth::TypeMix::Q4_K_M},
      {"deepseek2-Q4_K_M", synth::TypeMix::Q4_K_M},
      {"gptoss-MXFP4_MOE", synth::TypeMix::MXFP4_MOE}};
  for (const auto& [stem, mix] : files) {
    CAPTURE(stem);
    const gguf::File f = gguf::File::open(dir + "/" + stem + ".gguf");
    const ModelDesc d = describe(f);
    synth::Options o;
    o.mix = mix;
    int n = 0;
    for (const TensorSpec& s : expected_tensors(d)) {
      const gguf::TensorInfo* ti = f.find_tensor(s.name);
      if (!ti) continue;  // optional tensors the file does not have
      CAPTURE(s.name);
      CHECK(traits(synth::mix_type(s, d, o)).name == traits(ti->type).name);
      ++n;
    }
    CHECK(n == static_cast<int>(f.tensors().size()));
  }
}

TEST_CASE("synth presets: the real models' shapes") {
  CHECK(synth::presets().size() == 6);
  CHECK(synth::find_preset("no-such-model") == nullptr);
  for (const synth::Preset& p : synth::presets()) {
    CAPTURE(p.name);
    CHECK(!p.summary.empty());
    const ModelDesc d = synth::make_desc(p.options);  // validates
    CHECK(d.n_vocab == p.options.n_vocab);            // the real vocabulary size
    CHECK(d.name == "moevk-synth-" + std::string(p.name));
  }
  {
    const ModelDesc d = synth::make_desc(preset("qwen3-30b-a3b"));
    CHECK(d.arch == Arch::Qwen3Moe);
    CHECK(d.n_layer == 48);
    CHECK(d.n_embd == 2048);
    CHECK(d.n_head == 32);
    CHECK(d.n_head_kv == 4);
    CHECK(d.n_embd_head_k == 128);
    CHECK(d.n_expert == 128);
    CHECK(d.n_expert_used == 8);
    CHECK(d.n_ff_exp == 768);
    CHECK(d.n_vocab == 151936);
    CHECK(d.n_ctx_train == 40960);
    CHECK(d.rope_freq_base == 1e6f);
  }
  {
    const ModelDesc d = synth::make_desc(preset("gpt-oss-20b"));
    CHECK(d.arch == Arch::GptOss);
    CHECK(d.n_layer == 24);
    CHECK(d.n_embd == 2880);
    CHECK(d.n_head == 64);
    CHECK(d.n_head_kv == 8);
    CHECK(d.n_embd_head_k == 64);
    CHECK(d.n_expert == 32);
    CHECK(d.n_expert_used == 4);
    CHECK(d.n_ff_exp == 2880);
    CHECK(d.n_vocab == 201088);
    CHECK(d.sliding_window == 128);
    CHECK(d.is_swa_layer(0));
    CHECK(!d.is_swa_layer(1));
    CHECK(d.rope_scaling.type == RopeScalingType::Yarn);
    CHECK(d.rope_scaling.factor == 32.0f);
    CHECK(d.rope_scaling.n_ctx_orig == 4096);
    CHECK(d.rms_eps == 1e-5f);
  }
  {
    const ModelDesc d = synth::make_desc(preset("mixtral-8x7b"));
    CHECK(d.arch == Arch::Llama);
    CHECK(d.n_embd == 4096);
    CHECK(d.n_head_kv == 8);
    CHECK(d.n_expert == 8);
    CHECK(d.n_expert_used == 2);
    CHECK(d.n_ff_exp == 14336);
    CHECK(d.n_vocab == 32000);
  }
  {
    const ModelDesc d = synth::make_desc(preset("olmoe-1b-7b"));
    CHECK(d.arch == Arch::Olmoe);
    CHECK(d.n_layer == 16);
    CHECK(d.n_expert == 64);
    CHECK(d.n_expert_used == 8);
    CHECK(d.n_ff_exp == 1024);
    CHECK(d.n_vocab == 50304);
  }
  {
    const ModelDesc d = synth::make_desc(preset("deepseek-v2-lite"));
    CHECK(d.arch == Arch::Deepseek2);
    CHECK(d.n_layer == 27);
    CHECK(d.n_layer_dense_lead == 1);
    CHECK(d.n_ff == 10944);
    CHECK(d.n_head == 16);
    CHECK(d.q_lora_rank == 0);
    CHECK(d.kv_lora_rank == 512);
    CHECK(d.n_rot == 64);
    CHECK(d.mla_nope() == 128);
    CHECK(d.n_embd_head_v_mla == 128);
    CHECK(d.n_expert == 64);
    CHECK(d.n_expert_used == 6);
    CHECK(d.n_expert_shared == 2);
    CHECK(d.n_ff_shexp == 2 * 1408);
    CHECK(d.routing.gating == GatingFunc::Softmax);
    CHECK(!d.routing.selection_bias);
    CHECK(!d.routing.norm_topk);
    CHECK(d.routing.weights_scale == 1.0f);
    CHECK(d.rope_scaling.factor == 40.0f);
    CHECK(d.n_vocab == 102400);
  }
  {
    const ModelDesc d = synth::make_desc(preset("qwen1.5-moe-a2.7b"));
    CHECK(d.arch == Arch::Qwen2Moe);
    CHECK(d.n_expert == 60);
    CHECK(d.n_expert_used == 4);
    CHECK(d.n_ff_exp == 1408);
    CHECK(d.n_ff_shexp == 5632);
    CHECK(d.n_vocab == 151936);
  }
}

TEST_CASE("synth presets: llama.cpp's type mix at full depth and cut") {
  using T = GgmlType;
  {  // 48 layers: attn_v and ffn_down_exps take Q6_K in 24 layers (6 + 6 + 12 between), the head
     // too
    const auto n = type_counts(preset("qwen3-30b-a3b"));
    CHECK(n.at(T::Q6_K) == 24 + 24 + 1);
    CHECK(n.at(T::Q4_K) == 1 + 5 * 48 + 24 + 24);
    CHECK(n.size() == 3);  // and F32
  }
  {  // 8 experts: attn_k, attn_v Q8_0, attn_output Q5_K; ffn_down_exps Q6_K in 16 of 32 layers
    const auto n = type_counts(preset("mixtral-8x7b"));
    CHECK(n.at(T::Q8_0) == 64);
    CHECK(n.at(T::Q5_K) == 32);
    CHECK(n.at(T::Q6_K) == 16 + 1);
  }
  {
    const auto n = type_counts(preset("gpt-oss-20b"));
    CHECK(n.at(T::MXFP4) == 3 * 24);
    CHECK(n.at(T::Q8_0) == 2 + 4 * 24);
    CHECK(n.size() == 3);
  }
  {  // 1408-wide expert rows and 128-wide attn_k_b rows fall back from K-quants
    const synth::Options o = preset("deepseek-v2-lite");
    const ModelDesc d = synth::make_desc(o);
    for (const TensorSpec& s : expected_tensors(d)) {
      CAPTURE(s.name);
      CHECK(row_bytes(synth::mix_type(s, d, o), s.ne[0]).has_value());
    }
    auto type_of = [&](const std::string& name) {
      for (const TensorSpec& s : expected_tensors(d))
        if (s.name == name) return synth::mix_type(s, d, o);
      FAIL("no tensor " << name);
      return T::F32;
    };
    CHECK(type_of("blk.0.ffn_down.weight") == T::Q8_0);        // Q6_K, 10944-wide rows
    CHECK(type_of("blk.1.ffn_down_exps.weight") == T::Q8_0);   // Q6_K layer
    CHECK(type_of("blk.3.ffn_down_exps.weight") == T::Q5_0);   // Q4_K layer
    CHECK(type_of("blk.1.ffn_down_shexp.weight") == T::Q6_K);  // 2816-wide rows fit
    CHECK(type_of("blk.4.attn_k_b.weight") == T::Q5_0);
    CHECK(type_of("blk.4.attn_q.weight") == T::Q4_K);
  }
  {  // --layers 1: the one layer is a first, last-eighth layer: Q6_K
    synth::Options o = preset("olmoe-1b-7b");
    o.n_layer = 1;
    const auto n = type_counts(o);
    CHECK(n.at(T::Q6_K) == 3);  // attn_v, ffn_down_exps, output
  }
  {  // --type forces one type over the mix
    synth::Options o = preset("qwen3-30b-a3b");
    o.mix = synth::TypeMix::Uniform;
    o.type = T::Q4_K;
    const auto n = type_counts(o);
    CHECK(n.size() == 2);
    CHECK(n.at(T::Q4_K) == 2 + 7 * 48);
  }
}

TEST_CASE("synth presets: the peer comparison file is a preset command line") {
  // `--preset qwen3-30b-a3b --layers 2 --vocab 50257 --ctx 4096 --type Q4_K` against the flag list
  // of docs/performance.md: the same tensors, shapes and types; only the rope base and the name
  // differ (the preset has the real model's 1e6).
  synth::Options p = preset("qwen3-30b-a3b");
  p.n_layer = 2, p.n_vocab = 50257, p.n_ctx = 4096, p.mix = synth::TypeMix::Uniform;
  p.type = GgmlType::Q4_K;
  synth::Options f;
  f.arch = Arch::Qwen3Moe, f.type = GgmlType::Q4_K, f.n_layer = 2, f.n_embd = 2048, f.n_head = 32;
  f.n_head_kv = 4, f.head_dim = 128, f.n_expert = 128, f.n_expert_used = 8, f.n_ff_exp = 768;
  f.n_ctx = 4096, f.n_vocab = 50257;
  const ModelDesc dp = synth::make_desc(p), df = synth::make_desc(f);
  const auto tp = expected_tensors(dp), tf = expected_tensors(df);
  REQUIRE(tp.size() == tf.size());
  for (size_t i = 0; i < tp.size(); ++i) {
    CAPTURE(tp[i].name);
    CHECK(tp[i].name == tf[i].name);
    CHECK(tp[i].ne == tf[i].ne);
    CHECK(synth::mix_type(tp[i], dp, p) == synth::mix_type(tf[i], df, f));
  }
  CHECK(dp.n_ctx_train == df.n_ctx_train);
  CHECK(dp.rms_eps == df.rms_eps);
}

TEST_CASE("synth presets: each one's hyper-parameters and types round-trip through a file") {
  // One layer, a small vocabulary, and only as many experts as are used, 256 wide, so that the
  // files stay small (mixtral's real layer alone is 0.8 GB; the CLI test writes the real ones).
  for (const synth::Preset& p : synth::presets()) {
    CAPTURE(p.name);
    synth::Options o = p.options;
    o.n_layer = 1, o.n_vocab = 1000, o.n_expert = o.n_expert_used, o.n_ff_exp = 256;
    const gguf::File f = gguf::File::from_memory(synth::synth_gguf(o));
    const ModelDesc d = describe(f);
    const ModelDesc want = synth::make_desc(o);
    CHECK(d.name == want.name);
    CHECK(d.n_embd == want.n_embd);
    CHECK(d.n_head == want.n_head);
    CHECK(d.n_head_kv == want.n_head_kv);
    CHECK(d.n_embd_head_k == want.n_embd_head_k);
    CHECK(d.n_rot == want.n_rot);
    CHECK(d.n_ctx_train == want.n_ctx_train);
    CHECK(d.rope_freq_base == want.rope_freq_base);
    CHECK(d.rms_eps == want.rms_eps);
    CHECK(d.rope_scaling.type == want.rope_scaling.type);
    CHECK(d.rope_scaling.factor == want.rope_scaling.factor);
    CHECK(d.rope_scaling.n_ctx_orig == want.rope_scaling.n_ctx_orig);
    CHECK(d.rope_scaling.yarn_log_mul == want.rope_scaling.yarn_log_mul);
    CHECK(d.sliding_window == want.sliding_window);
    CHECK(d.q_lora_rank == want.q_lora_rank);
    CHECK(d.kv_lora_rank == want.kv_lora_rank);
    CHECK(d.n_expert_shared == want.n_expert_shared);
    CHECK(d.n_ff_shexp == want.n_ff_shexp);
    CHECK(d.routing.gating == want.routing.gating);
    CHECK(d.routing.selection_bias == want.routing.selection_bias);
    CHECK(d.routing.norm_topk == want.routing.norm_topk);
    CHECK(d.routing.weights_scale == want.routing.weights_scale);
    for (const TensorSpec& s : expected_tensors(d)) {
      CAPTURE(s.name);
      CHECK(f.find_tensor(s.name)->type == synth::mix_type(s, want, o));
    }
  }
}
