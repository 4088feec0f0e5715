// moevk synth: write a small random-weight model of any supported architecture (loader/synth.h).
#include <charconv>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/command.h"
#include "loader/error.h"
#include "loader/gguf.h"
#include "loader/model.h"
#include "loader/synth.h"

namespace moevk::cli {

namespace {

constexpr const char* kSynthUsage = R"(usage: moevk synth --arch ARCH -o FILE.gguf [options]

Writes a small random-weight model with a byte-level BPE tokenizer and a ChatML chat template.
ARCH: qwen3moe, llama (Mixtral), olmoe, qwen2moe, deepseek2, gpt-oss.
An existing FILE is never replaced without --force; the file is written to a temporary name and
renamed, so an interrupted run leaves no partial model behind.

options (defaults in brackets):
  --seed S          random seed [1]
  --type T          type of the weight matrices: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
                    Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, MXFP4 [F16]; norms, biases and
                    routers stay F32; rows too short for T's block fall back to Q8_0 or F16
  --layers N        block count [2] (deepseek2: the first layer is dense when N > 1)
  --embd N          embedding length [256]
  --heads N         attention heads [4]
  --heads-kv N      key/value heads [2] (deepseek2's MLA always has 1)
  --head-dim N      head dimension [64]
  --experts N       experts per layer [8]
  --experts-used N  experts per token [2]
  --ff-exp N        one expert's FFN width [256]
  --ff N            dense FFN / qwen2moe shared expert width [512]
  --ctx N           context length [256]
  --merges N        BPE merges of the vocabulary [200]
  --name S          general.name [moevk-synth-ARCH]
  --force           replace FILE if it exists
  -h, --help        this text
)";

uint64_t parse_u64(const std::string& opt, const std::string& v) {
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size())
    fail("option {}: expected a non-negative integer, got '{}'", opt, v);
  return n;
}

uint32_t parse_dim(const std::string& opt, const std::string& v, uint32_t max) {
  const uint64_t n = parse_u64(opt, v);
  if (n == 0 || n > max) fail("option {}: {} is out of range 1..{}", opt, v, max);
  return static_cast<uint32_t>(n);
}

int cmd_synth(const std::vector<std::string>& args) {
  synth::Options o;
  std::string out;
  bool have_arch = false, force = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) fail("option {} needs a value", a);
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      std::fputs(kSynthUsage, stdout);
      return 0;
    } else if (a == "--arch") {
      const std::string& v = value();
      auto arch = arch_from_name(v == "mixtral" ? "llama" : v == "gptoss" ? "gpt-oss" : v);
      if (!arch)
        fail(
            "unknown architecture '{}' (--arch): qwen3moe, llama, olmoe, qwen2moe, deepseek2, "
            "gpt-oss",
            v);
      o.arch = *arch;
      have_arch = true;
    } else if (a == "-o" || a == "--output") {
      out = value();
    } else if (a == "--seed") {
      o.seed = parse_u64(a, value());
    } else if (a == "--type") {
      const std::string& v = value();
      auto t = type_from_name(v);
      const auto tt = t ? type_traits(static_cast<uint32_t>(*t)) : std::nullopt;
      if (!t || !tt || !tt->supported) fail("unknown or unsupported weight type '{}' (--type)", v);
      o.type = *t;
    } else if (a == "--layers") {
      o.n_layer = parse_dim(a, value(), 4096);
    } else if (a == "--embd") {
      o.n_embd = parse_dim(a, value(), 1u << 16);
    } else if (a == "--heads") {
      o.n_head = parse_dim(a, value(), 1024);
    } else if (a == "--heads-kv") {
      o.n_head_kv = parse_dim(a, value(), 1024);
    } else if (a == "--head-dim") {
      o.head_dim = parse_dim(a, value(), 4096);
    } else if (a == "--experts") {
      o.n_expert = parse_dim(a, value(), 4096);
    } else if (a == "--experts-used") {
      o.n_expert_used = parse_dim(a, value(), 4096);
    } else if (a == "--ff-exp") {
      o.n_ff_exp = parse_dim(a, value(), 1u << 18);
    } else if (a == "--ff") {
      o.n_ff = parse_dim(a, value(), 1u << 18);
    } else if (a == "--ctx") {
      o.n_ctx = parse_dim(a, value(), 1u << 24);
    } else if (a == "--merges") {
      o.n_merges = static_cast<uint32_t>(std::min<uint64_t>(parse_u64(a, value()), 100000));
    } else if (a == "--name") {
      o.name = value();
    } else if (a == "--force") {
      force = true;
    } else {
      std::fprintf(stderr, "moevk synth: unknown argument '%s'\n\n%s", a.c_str(), kSynthUsage);
      return 2;
    }
  }
  if (!have_arch || out.empty()) {
    std::fprintf(stderr, "moevk synth: --arch and -o are required\n\n%s", kSynthUsage);
    return 2;
  }
  synth::write_synth_file(o, out, force);

  // Read it back: what we wrote must load.
  const gguf::File f = gguf::File::open(out);
  const ModelDesc d = describe(f);
  std::printf(
      "wrote %s: %s, %u layers, n_embd %u, %u experts (top %u), vocab %u, %zu tensors, "
      "%llu bytes\n",
      out.c_str(), std::string(arch_name(d.arch)).c_str(), d.n_layer, d.n_embd, d.n_expert,
      d.n_expert_used, d.n_vocab, f.tensors().size(),
      static_cast<unsigned long long>(f.file_size()));
  return 0;
}

}  // namespace

MOEVK_COMMAND("synth", "write a small random-weight model of any supported architecture",
              cmd_synth);

}  // namespace moevk::cli
