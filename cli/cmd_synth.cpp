// moevk synth: write a random-weight model of any supported architecture (loader/model/synth.h).
#include <fmt/format.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "cli/args.h"
#include "cli/command.h"
#include "loader/error.h"
#include "loader/gguf/gguf.h"
#include "loader/model/model.h"
#include "loader/model/synth.h"

namespace moevk::cli {

namespace {

constexpr const char* kSynthUsage = R"(usage: moevk synth --arch ARCH -o FILE.gguf [options]
       moevk synth --preset NAME [--layers N] [--vocab N] [--type T] -o FILE.gguf [options]
       moevk synth --list-presets

Writes a random-weight model with a byte-level BPE tokenizer and a ChatML chat template: small
ones for tests, or full-size ones to benchmark shapes that have no public file.
ARCH: qwen3moe, llama (Mixtral), olmoe, qwen2moe, deepseek2, gpt-oss.
A preset (below) is a real model: its shape, real vocabulary size and the per-tensor types of its
usual GGUF file (llama.cpp's Q4_K_M; gpt-oss: MXFP4 experts, Q8_0 elsewhere). --layers N keeps
its first N layers; --vocab, --ctx and the other options replace the preset's values; --type T
stores every weight matrix as T; --arch and the shape options (--embd .. --ff) are usage errors.
An existing FILE is never replaced without --force; the file is written to a temporary name and
renamed, so a failed or interrupted (Ctrl-C) run leaves no partial model behind. The weights are
made by --threads threads and streamed to the file; the bytes depend only on the options, not on
the thread count. Runs longer than 2 s report progress (bytes and rate) on stderr.

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
  --merges N        BPE merges of the vocabulary [200] (the built-in text runs out of pairs
                    after about 140: the vocabulary has 256 + merges + 3 special tokens)
  --vocab N         total vocabulary size: pads the vocabulary with unused "[PAD<id>]" tokens
                    (never produced by the tokenizer; they detokenize to nothing) so token_embd
                    and output have N rows (Qwen3-30B-A3B: 151936) [no padding]
  --threads N       threads that make the weights, 1..256 [all cores]
  --name S          general.name [moevk-synth-ARCH]
  --routing-skew S  routing locality, 0..8 [0: none]: a shared component of the token embeddings
                    and the routers makes each layer favour a few experts, roughly Zipf with
                    exponent S. Measured (docs/performance.md, "Real routing"): lru hit rate
                    with a quarter of the experts cached 35% at S 0, 72% at S 1, 91% at S 2
  --preset NAME     a real model's shape and type mix (below)
  --list-presets    the presets with their shapes, one per line
  --force           replace FILE if it exists
  -h, --help        this text
)";

// The options that fix a model's shape: usage errors next to --preset.
constexpr const char* kShapeOptions[] = {"--embd",    "--heads",        "--heads-kv", "--head-dim",
                                         "--experts", "--experts-used", "--ff-exp",   "--ff"};

std::string preset_names() {
  std::string s;
  for (const synth::Preset& p : synth::presets())
    s += (s.empty() ? "" : ", ") + std::string(p.name);
  return s;
}

// "presets:" and one line per preset, for --help.
std::string presets_help() {
  std::string s = "presets (--preset NAME):\n";
  for (const synth::Preset& p : synth::presets())
    s += fmt::format("  {:<18}{}\n", p.name, p.summary);
  return s;
}

// --list-presets: one line per preset with what it writes at full depth.
void list_presets() {
  for (const synth::Preset& p : synth::presets()) {
    const synth::Options& o = p.options;
    std::printf(
        "%-18s %-9s %-9s %2u layers, n_embd %u, %u heads (%u kv), %u experts (top %u), "
        "n_ff_exp %u, vocab %u, ctx %u\n",
        std::string(p.name).c_str(), std::string(arch_name(o.arch)).c_str(),
        std::string(synth::mix_name(o.mix)).c_str(), o.n_layer, o.n_embd, o.n_head,
        o.arch == Arch::Deepseek2 ? 1 : o.n_head_kv, o.n_expert, o.n_expert_used, o.n_ff_exp,
        o.n_vocab, o.n_ctx);
  }
}

uint64_t parse_u64(const std::string& opt, const std::string& v) {
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size())
    usage_error("option {}: expected a non-negative integer, got '{}'", opt, v);
  return n;
}

uint32_t parse_dim(const std::string& opt, const std::string& v, uint32_t max) {
  const uint64_t n = parse_u64(opt, v);
  if (n == 0 || n > max) usage_error("option {}: {} is out of range [1, {}]", opt, v, max);
  return static_cast<uint32_t>(n);
}

// A shape the options make that is no valid model is a usage error naming the option behind the
// hyper-parameter key the check names ("... (qwen3moe.expert_used_count)").
void check_shape(const synth::Options& o) {
  static constexpr std::pair<std::string_view, std::string_view> kOptionOfKey[] = {
      {".block_count)", "--layers"},        {".embedding_length)", "--embd"},
      {".head_count)", "--heads"},          {".head_count_kv)", "--heads-kv"},
      {".key_length)", "--head-dim"},       {".value_length)", "--head-dim"},
      {".dimension_count)", "--head-dim"},  {".expert_count)", "--experts"},
      {".expert_used_count)", "--experts-used"}, {".expert_feed_forward_length)", "--ff-exp"},
      {".feed_forward_length)", "--ff"},    {".context_length)", "--ctx"},
      {".vocab_size)", "--vocab"},          {"vocabulary of", "--vocab"}};
  try {
    synth::make_desc(o);
  } catch (const Error& e) {
    const std::string_view what = e.what();
    for (const auto& [key, option] : kOptionOfKey)
      if (what.find(key) != std::string_view::npos) usage_error("option {}: {}", option, what);
    usage_error("the shape options make no valid model: {}", what);
  }
}

volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_interrupt(int) { g_interrupted = 1; }

// Progress on stderr once a run has lasted 2 s: a line rewritten every second on a terminal, a new
// line every 10 s otherwise; a final line when anything was printed. Throws after SIGINT/SIGTERM,
// so that write_synth_file removes its temporary file (a full-size one is many GB).
synth::Progress progress_printer() {
  using Clock = std::chrono::steady_clock;
  const bool tty = isatty(STDERR_FILENO) != 0;
  return [tty, start = Clock::now(), last = Clock::time_point{}, printed = false](
             uint64_t done, uint64_t total) mutable {
    if (g_interrupted) {
      if (printed && tty) std::fputs("\n", stderr);
      fail("interrupted; the partial file was removed");
    }
    const auto now = Clock::now();
    const bool end = done == total;
    const bool due =
        now - start >= std::chrono::seconds(2) && now - last >= std::chrono::seconds(tty ? 1 : 10);
    if (end ? !printed : !due) return;
    const double s = std::chrono::duration<double>(now - start).count();
    constexpr double kMiB = 1024.0 * 1024.0;
    std::fprintf(stderr, "%ssynth: %.0f of %.0f MiB (%.0f%%), %.0f MiB/s, %.0f s%s",
                 tty ? "\r" : "", done / kMiB, total / kMiB, 100.0 * done / total, done / kMiB / s,
                 s, tty && !end ? "" : "\n");
    std::fflush(stderr);
    printed = true;
    last = now;
  };
}

int cmd_synth(const std::vector<std::string>& argv) {
  Args args;
  args.option({"-h", "--help"}, false).option({"--arch"}).option({"-o", "--output"});
  args.option({"--seed"}).option({"--type"}).option({"--layers"}).option({"--embd"});
  args.option({"--heads"}).option({"--heads-kv"}).option({"--head-dim"}).option({"--experts"});
  args.option({"--experts-used"}).option({"--ff-exp"}).option({"--ff"}).option({"--ctx"});
  args.option({"--merges"}).option({"--vocab"}).option({"--threads"}).option({"--name"});
  args.option({"--force"}, false).option({"--routing-skew"});
  args.option({"--preset"}).option({"--list-presets"}, false);
  if (!args.parse(argv, "synth", kSynthUsage)) return 2;
  if (args.has("--help")) {
    std::printf("%s\n%s\n%s", kSynthUsage, presets_help().c_str(), kExitStatusHelp);
    return 0;
  }
  if (args.has("--list-presets")) {
    list_presets();
    return 0;
  }
  const std::string out = args.get("--output").value_or("");
  if ((!args.has("--arch") && !args.has("--preset")) || out.empty()) {
    std::fprintf(stderr, "moevk synth: --arch (or --preset) and -o are required\n\n%s",
                 kSynthUsage);
    return 2;
  }
  synth::Options o;
  uint32_t max_layers = 4096;
  if (auto name = args.get("--preset")) {
    args.exclusive({"--preset", "--arch"});
    for (const char* opt : kShapeOptions)
      if (args.has(opt))
        usage_error("option {} cannot be used with --preset (a preset fixes the shape; use --arch)",
                    opt);
    const synth::Preset* p = synth::find_preset(*name);
    if (!p) usage_error("unknown preset '{}' (--preset): {}", *name, preset_names());
    o = p->options;
    max_layers = o.n_layer;
  } else {
    const std::string v = args.require("--arch");
    auto arch = arch_from_name(v == "mixtral" ? "llama" : v == "gptoss" ? "gpt-oss" : v);
    if (!arch)
      usage_error(
          "unknown architecture '{}' (--arch): qwen3moe, llama, olmoe, qwen2moe, deepseek2, "
          "gpt-oss",
          v);
    o.arch = *arch;
  }
  if (auto v = args.get("--type")) {
    auto t = type_from_name(*v);
    const auto tt = t ? type_traits(static_cast<uint32_t>(*t)) : std::nullopt;
    if (!t || !tt || !tt->supported) usage_error("unknown or unsupported weight type '{}' (--type)", *v);
    o.type = *t;
    o.mix = synth::TypeMix::Uniform;  // one type for every weight matrix, over a preset's mix
  }
  if (auto v = args.get("--seed")) o.seed = parse_u64("--seed", *v);
  // A shape option, when given, replaces the synth::Options default.
  auto dim = [&](const char* opt, uint32_t& field, uint32_t max) {
    if (auto v = args.get(opt)) field = parse_dim(opt, *v, max);
  };
  dim("--layers", o.n_layer, max_layers);
  dim("--embd", o.n_embd, 1u << 16);
  dim("--heads", o.n_head, 1024);
  dim("--heads-kv", o.n_head_kv, 1024);
  dim("--head-dim", o.head_dim, 4096);
  dim("--experts", o.n_expert, 4096);
  dim("--experts-used", o.n_expert_used, 4096);
  dim("--ff-exp", o.n_ff_exp, 1u << 18);
  dim("--ff", o.n_ff, 1u << 18);
  dim("--ctx", o.n_ctx, 1u << 24);
  if (auto v = args.get("--merges"))
    o.n_merges = static_cast<uint32_t>(std::min<uint64_t>(parse_u64("--merges", *v), 100000));
  dim("--vocab", o.n_vocab, 1u << 24);
  dim("--threads", o.n_threads, 256);
  if (auto v = args.get("--name")) o.name = *v;
  o.routing_skew = args.get_float("--routing-skew", 0.0, 0.0, 8.0);
  const bool force = args.has("--force");
  check_shape(o);
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  try {
    synth::write_synth_file(o, out, force, progress_printer());
  } catch (...) {
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    throw;
  }
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);

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

MOEVK_COMMAND("synth", "write a random-weight model of any supported architecture", cmd_synth);

}  // namespace moevk::cli
