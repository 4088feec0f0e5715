// Presets of `moevk synth --preset`: the shapes of the MoE models people run, each with the type
// mix of the GGUF file people download (see synth.h, synth_mix.cpp). The figures are the models'
// config.json on Hugging Face (the repository named above each one); the vocabulary is the
// embedding's row count (config vocab_size), which the synthetic tokenizer pads with unused tokens.
#include <fmt/format.h>

#include "loader/model/synth.h"

namespace moevk::synth {

namespace {

Options base(Arch arch, std::string_view preset, TypeMix mix) {
  Options o;
  o.arch = arch;
  o.mix = mix;
  o.name = fmt::format("moevk-synth-{}", preset);
  return o;
}

std::vector<Preset> make_presets() {
  std::vector<Preset> out;

  {  // Qwen/Qwen3-30B-A3B: hidden_size 2048, num_hidden_layers 48, num_attention_heads 32,
     // num_key_value_heads 4, head_dim 128, num_experts 128, num_experts_per_tok 8,
     // moe_intermediate_size 768, vocab_size 151936, max_position_embeddings 40960,
     // rope_theta 1e6, rms_norm_eps 1e-6. Files: Q4_K_M.
    Options o = base(Arch::Qwen3Moe, "qwen3-30b-a3b", TypeMix::Q4_K_M);
    o.n_layer = 48, o.n_embd = 2048, o.n_head = 32, o.n_head_kv = 4, o.head_dim = 128;
    o.n_expert = 128, o.n_expert_used = 8, o.n_ff_exp = 768;
    o.n_vocab = 151936, o.n_ctx = 40960, o.rope_freq_base = 1e6f, o.rms_eps = 1e-6f;
    out.push_back(
        {"qwen3-30b-a3b", "Qwen3-30B-A3B, Q4_K_M: 48 layers, 128 experts (top 8) of 768", o});
  }
  {  // openai/gpt-oss-20b: hidden_size 2880, num_hidden_layers 24, num_attention_heads 64,
     // num_key_value_heads 8, head_dim 64, num_local_experts 32, experts_per_token 4,
     // intermediate_size 2880, vocab_size 201088, max_position_embeddings 131072, rope_theta
     // 150000, rope_scaling yarn factor 32 over initial_context_length 4096, sliding_window 128
     // on every other layer (layer_types: sliding, full, ...), rms_norm_eps 1e-5. The released
     // GGUF (ggml-org/gpt-oss-20b-GGUF, 12.1 GB) keeps the experts MXFP4 as trained and stores
     // the other matrices (embedding, attention, output) as Q8_0: llama.cpp's MXFP4_MOE.
    Options o = base(Arch::GptOss, "gpt-oss-20b", TypeMix::MXFP4_MOE);
    o.n_layer = 24, o.n_embd = 2880, o.n_head = 64, o.n_head_kv = 8, o.head_dim = 64;
    o.n_expert = 32, o.n_expert_used = 4, o.n_ff_exp = 2880;
    o.n_vocab = 201088, o.n_ctx = 131072, o.rope_freq_base = 150000.0f, o.rms_eps = 1e-5f;
    o.sliding_window = 128;
    RopeScaling rs;
    rs.type = RopeScalingType::Yarn;
    rs.factor = 32.0f;
    rs.n_ctx_orig = 4096;
    rs.yarn_ext_factor = 1.0f;
    o.rope_scaling = rs;
    out.push_back(
        {"gpt-oss-20b", "gpt-oss-20b, MXFP4 experts + Q8_0: 24 layers, 32 experts (top 4)", o});
  }
  {  // mistralai/Mixtral-8x7B-v0.1: hidden_size 4096, num_hidden_layers 32, num_attention_heads
     // 32, num_key_value_heads 8 (head 128), num_local_experts 8, num_experts_per_tok 2,
     // intermediate_size 14336, vocab_size 32000, max_position_embeddings 32768, rope_theta 1e6,
     // rms_norm_eps 1e-5. Files: Q4_K_M (8 experts: attn_k/attn_v Q8_0, attn_output Q5_K).
    Options o = base(Arch::Llama, "mixtral-8x7b", TypeMix::Q4_K_M);
    o.n_layer = 32, o.n_embd = 4096, o.n_head = 32, o.n_head_kv = 8, o.head_dim = 128;
    o.n_expert = 8, o.n_expert_used = 2, o.n_ff_exp = 14336;
    o.n_vocab = 32000, o.n_ctx = 32768, o.rope_freq_base = 1e6f, o.rms_eps = 1e-5f;
    out.push_back(
        {"mixtral-8x7b", "Mixtral-8x7B, Q4_K_M: 32 layers, 8 experts (top 2) of 14336", o});
  }
  {  // allenai/OLMoE-1B-7B-0924: hidden_size 2048, num_hidden_layers 16, num_attention_heads 16,
     // num_key_value_heads 16 (head 128), num_experts 64, num_experts_per_tok 8,
     // intermediate_size 1024, vocab_size 50304, max_position_embeddings 4096, rope_theta 10000,
     // rms_norm_eps 1e-5. Files: Q4_K_M.
    Options o = base(Arch::Olmoe, "olmoe-1b-7b", TypeMix::Q4_K_M);
    o.n_layer = 16, o.n_embd = 2048, o.n_head = 16, o.n_head_kv = 16, o.head_dim = 128;
    o.n_expert = 64, o.n_expert_used = 8, o.n_ff_exp = 1024;
    o.n_vocab = 50304, o.n_ctx = 4096, o.rope_freq_base = 10000.0f, o.rms_eps = 1e-5f;
    out.push_back(
        {"olmoe-1b-7b", "OLMoE-1B-7B-0924, Q4_K_M: 16 layers, 64 experts (top 8) of 1024", o});
  }
  {  // deepseek-ai/DeepSeek-V2-Lite: hidden_size 2048, num_hidden_layers 27 (first_k_dense_replace
     // 1: layer 0 dense, intermediate_size 10944), num_attention_heads 16, q_lora_rank null,
     // kv_lora_rank 512, qk_nope_head_dim 128, qk_rope_head_dim 64, v_head_dim 128,
     // n_routed_experts 64, num_experts_per_tok 6, n_shared_experts 2, moe_intermediate_size
     // 1408, scoring_func softmax, norm_topk_prob false, routed_scaling_factor 1.0, vocab_size
     // 102400, max_position_embeddings 163840, rope_theta 10000, rope_scaling yarn factor 40 over
     // 4096 (mscale_all_dim 0.707: llama.cpp's yarn_log_multiplier 0.1 * 0.707), rms_norm_eps
     // 1e-6. Files: Q4_K_M (the 128- and 1408-wide rows fall back to Q5_0 / Q8_0).
    Options o = base(Arch::Deepseek2, "deepseek-v2-lite", TypeMix::Q4_K_M);
    o.n_layer = 27, o.n_embd = 2048, o.n_head = 16, o.head_dim = 128;  // rope part 64
    o.q_lora_rank = 0, o.kv_lora_rank = 512;
    o.n_expert = 64, o.n_expert_used = 6, o.n_expert_shared = 2, o.n_ff_exp = 1408;
    o.n_ff = 10944;
    o.n_vocab = 102400, o.n_ctx = 163840, o.rope_freq_base = 10000.0f, o.rms_eps = 1e-6f;
    RopeScaling rs;
    rs.type = RopeScalingType::Yarn;
    rs.factor = 40.0f;
    rs.n_ctx_orig = 4096;
    rs.yarn_ext_factor = 1.0f;
    rs.yarn_log_mul = 0.0707f;
    o.rope_scaling = rs;
    ModelDesc d;  // the architecture's routing (norm_min), then V2-Lite's softmax gating
    d.arch = Arch::Deepseek2;
    set_arch_structure(d);
    d.routing.gating = GatingFunc::Softmax;
    d.routing.selection_bias = false;
    d.routing.norm_topk = false;
    d.routing.weights_scale = 1.0f;
    o.routing = d.routing;
    out.push_back({"deepseek-v2-lite",
                   "DeepSeek-V2-Lite, Q4_K_M: 27 layers (1 dense), MLA, 64+2 experts", o});
  }
  {  // Qwen/Qwen1.5-MoE-A2.7B: hidden_size 2048, num_hidden_layers 24, num_attention_heads 16,
     // num_key_value_heads 16 (head 128), num_experts 60, num_experts_per_tok 4,
     // moe_intermediate_size 1408, shared_expert_intermediate_size 5632, vocab_size 151936,
     // max_position_embeddings 8192, rope_theta 1e6, rms_norm_eps 1e-6. Files: Q4_K_M.
    Options o = base(Arch::Qwen2Moe, "qwen1.5-moe-a2.7b", TypeMix::Q4_K_M);
    o.n_layer = 24, o.n_embd = 2048, o.n_head = 16, o.n_head_kv = 16, o.head_dim = 128;
    o.n_expert = 60, o.n_expert_used = 4, o.n_ff_exp = 1408, o.n_ff = 5632;
    o.n_vocab = 151936, o.n_ctx = 8192, o.rope_freq_base = 1e6f, o.rms_eps = 1e-6f;
    out.push_back({"qwen1.5-moe-a2.7b",
                   "Qwen1.5-MoE-A2.7B, Q4_K_M: 24 layers, 60 experts (top 4) + shared", o});
  }
  return out;
}

}  // namespace

const std::vector<Preset>& presets() {
  static const std::vector<Preset> kPresets = make_presets();
  return kPresets;
}

const Preset* find_preset(std::string_view name) {
  for (const Preset& p : presets())
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace moevk::synth
