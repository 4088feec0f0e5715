// moevk logits: evaluate a prompt (one batch) and then decode ids one at a time through the KV cache,
// writing every row of logits as float32 (the format of ../shared/oracle/logits/*.bin).
#include <charconv>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/command.h"
#include "loader/error.h"
#include "loader/gguf.h"
#include "loader/model.h"
#include "runtime/ref/forward.h"
#include "runtime/sched/size.h"

namespace moevk::cli {

namespace {

constexpr const char* kLogitsUsage = R"(usage: moevk logits -m MODEL.gguf --prompt-ids A,B,... [options]

Evaluates the prompt ids in one batch (positions 0..n-1), then each decode id alone at the next
position through the KV cache, and writes float32 little-endian logits, row-major
[n_prompt + n_decode][n_vocab]: one row after each token.

options:
  -m, --model FILE      the GGUF model
  --prompt-ids LIST     comma-separated token ids (at least one)
  --decode-ids LIST     comma-separated token ids fed one at a time after the prompt
  --out FILE            output file (required)
  --backend NAME        vulkan (default) or cpu (the reference forward pass)
  --gpu-mem SIZE        GPU memory budget for the vulkan backend (6G, 512M, ...)
  --ctx N               KV cache size (default: prompt + decode length)
  -h, --help            this text
)";

std::vector<int32_t> parse_ids(const std::string& opt, const std::string& s) {
  std::vector<int32_t> ids;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    const std::string tok = s.substr(i, j - i);
    int64_t v = 0;
    auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
    if (tok.empty() || ec != std::errc() || p != tok.data() + tok.size() || v < 0 ||
        v > INT32_MAX)
      fail("option {}: '{}' is not a token id (expected comma-separated non-negative integers)",
           opt, tok);
    ids.push_back(static_cast<int32_t>(v));
    i = j + 1;
  }
  return ids;
}

struct BackendOptions {
  std::optional<uint64_t> gpu_mem;
  uint32_t n_ctx = 0;
};

// What `moevk logits` needs of a backend: batches of ids at a start position -> logits rows.
class LogitsBackend {
 public:
  virtual ~LogitsBackend() = default;
  virtual std::vector<float> eval(std::span<const int32_t> ids, uint32_t start_pos) = 0;
};

class CpuBackend final : public LogitsBackend {
 public:
  CpuBackend(const gguf::File& f, const ModelDesc& d, const BackendOptions& o) : fwd_(f, d, o.n_ctx) {}
  std::vector<float> eval(std::span<const int32_t> ids, uint32_t start_pos) override {
    return fwd_.eval(ids, start_pos);
  }

 private:
  ref::Forward fwd_;
};

// Backends by name; the GPU forward pass registers here when it lands.
std::unique_ptr<LogitsBackend> make_backend(const std::string& name, const gguf::File& f,
                                            const ModelDesc& d, const BackendOptions& o) {
  if (name == "cpu") return std::make_unique<CpuBackend>(f, d, o);
  if (name == "vulkan")
    fail("--backend vulkan: the GPU forward pass is not yet available in this build; use "
         "--backend cpu");
  fail("unknown backend '{}' (expected vulkan or cpu)", name);
}

int cmd_logits(const std::vector<std::string>& args) {
  std::string model, out, backend = "vulkan";
  std::optional<std::vector<int32_t>> prompt;
  std::vector<int32_t> decode;
  BackendOptions opts;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) fail("option {} needs a value", a);
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      std::fputs(kLogitsUsage, stdout);
      return 0;
    } else if (a == "-m" || a == "--model") {
      model = value();
    } else if (a == "--prompt-ids") {
      prompt = parse_ids(a, value());
    } else if (a == "--decode-ids") {
      decode = parse_ids(a, value());
    } else if (a == "--out") {
      out = value();
    } else if (a == "--backend") {
      backend = value();
    } else if (a == "--gpu-mem") {
      opts.gpu_mem = sched::parse_size(value());
    } else if (a == "--ctx") {
      const std::string& v = value();
      uint32_t n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || p != v.data() + v.size() || n == 0)
        fail("option --ctx: expected a positive integer, got '{}'", v);
      opts.n_ctx = n;
    } else {
      fail("unknown option '{}' (see moevk logits --help)", a);
    }
  }
  if (model.empty()) fail("no model given (-m MODEL.gguf)");
  if (!prompt || prompt->empty()) fail("no prompt given (--prompt-ids A,B,...)");
  if (out.empty()) fail("no output file given (--out FILE)");

  const gguf::File file = gguf::File::open(model);
  const ModelDesc d = describe(file);
  const uint64_t n_tok = prompt->size() + decode.size();
  for (const auto* list : {&*prompt, &decode})
    for (size_t i = 0; i < list->size(); ++i)
      if (uint32_t((*list)[i]) >= d.n_vocab)
        fail("{} id {} (index {}) is outside the vocabulary [0, {})",
             list == &decode ? "--decode-ids" : "--prompt-ids", (*list)[i], i, d.n_vocab);
  if (opts.n_ctx == 0) {
    if (n_tok > UINT32_MAX) fail("too many tokens");
    opts.n_ctx = static_cast<uint32_t>(n_tok);
  } else if (n_tok > opts.n_ctx) {
    fail("--ctx {} is smaller than the {} prompt + decode tokens", opts.n_ctx, n_tok);
  }

  auto be = make_backend(backend, file, d, opts);
  std::vector<float> logits = be->eval(*prompt, 0);
  uint32_t pos = static_cast<uint32_t>(prompt->size());
  for (int32_t id : decode) {
    std::vector<float> row = be->eval(std::span(&id, 1), pos++);
    logits.insert(logits.end(), row.begin(), row.end());
  }
  if (logits.size() != n_tok * d.n_vocab)
    fail("internal error: {} logits for {} tokens x {} vocab", logits.size(), n_tok, d.n_vocab);

  FILE* fp = std::fopen(out.c_str(), "wb");
  if (!fp) fail("cannot open '{}' for writing", out);
  const size_t w = std::fwrite(logits.data(), sizeof(float), logits.size(), fp);
  const bool closed = std::fclose(fp) == 0;
  if (w != logits.size() || !closed) fail("writing '{}' failed", out);
  std::fprintf(stderr, "moevk logits: %llu rows x %u vocab written to %s (backend %s)\n",
               static_cast<unsigned long long>(n_tok), d.n_vocab, out.c_str(), backend.c_str());
  return 0;
}

}  // namespace

MOEVK_COMMAND("logits", "write the logits of a prompt and decoded ids (float32 rows)", cmd_logits);

}  // namespace moevk::cli
