// moevk logits: evaluate a prompt (one batch) and then decode ids one at a time through the KV cache,
// writing every row of logits as float32 (the format of ../shared/oracle/logits/*.bin).
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/args.h"
#include "runtime/model/output_file.h"
#include "cli/common.h"
#include "cli/command.h"
#include "loader/error.h"
#include "loader/gguf/gguf.h"
#include "loader/model/model.h"
#include "loader/model/validate.h"
#include "runtime/model/engine.h"
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
  --backend NAME        vulkan (default), cpu (SIMD kernels) or ref (the reference forward pass)
  --gpu-mem SIZE        GPU memory budget for the vulkan backend (6G, 512M, ...); below the
                        resident size experts stream from host memory
  --cache-policy NAME   expert cache policy when streaming: lfu (default) or lru
  --trace FILE          write every token's expert ids per MoE layer to FILE
  --prefetch MODE       streaming: predict the next layer's experts and copy them ahead:
                        auto (prompt batches, default), on (decode too), off
  --cpu-experts MODE    streaming on a discrete GPU: compute missing experts on the CPU while
                        the GPU computes the rest: auto (default), on, off
  --device N            Vulkan device index (see `moevk devices`; default: the best one)
  --ctx N               KV cache size (default: prompt + decode length)
  --stats               per decoded token: dispatches, barriers, round trips, weight bytes
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
      usage_error("option {}: '{}' is not a token id (expected comma-separated non-negative integers)",
           opt, tok);
    ids.push_back(static_cast<int32_t>(v));
    i = j + 1;
  }
  return ids;
}

int cmd_logits(const std::vector<std::string>& argv) {
  Args args;
  args.option({"-h", "--help"}, false).option({"-m", "--model"}).option({"--prompt-ids"});
  args.option({"--decode-ids"}).option({"--out"}).option({"--backend"}).option({"--gpu-mem"});
  args.option({"--stats"}, false).option({"--ctx"}).option({"--device"});
  args.option({"--cache-policy"}).option({"--trace"}).option({"--prefetch"}).option({"--cpu-experts"});
  if (!args.parse(argv, "logits", kLogitsUsage)) return 2;
  if (args.has("--help")) {
    std::printf("%s\n%s", kLogitsUsage, kExitStatusHelp);
    return 0;
  }
  const std::string model = args.require("--model");
  const std::string out = args.require("--out");
  args.require("--prompt-ids");
  const std::string backend = args.get("--backend").value_or("vulkan");
  const bool stats = args.has("--stats");
  std::optional<std::vector<int32_t>> prompt;
  if (auto v = args.get("--prompt-ids")) prompt = parse_ids("--prompt-ids", *v);
  std::vector<int32_t> decode;
  if (auto v = args.get("--decode-ids")) decode = parse_ids("--decode-ids", *v);
  EngineOptions opts;
  opts.backend = backend_from_name(backend);
  opts.gpu_mem = args.get_size("--gpu-mem", 0);
  opts.device = static_cast<int>(args.get_int("--device", -1, 0, 1024));
  opts.cache_policy = args.get("--cache-policy").value_or("lfu");
  opts.trace_path = args.get("--trace").value_or("");
  opts.prefetch = args.get("--prefetch").value_or("auto");
  opts.cpu_experts = args.get("--cpu-experts").value_or("auto");
  if (auto v = args.get("--ctx")) {
    uint32_t n = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc() || p != v->data() + v->size() || n == 0)
      usage_error("option --ctx: expected a positive integer, got '{}'", *v);
    opts.n_ctx = n;
  }
  const gguf::File file = gguf::File::open(model);
  validate(file, /*need_weights=*/true, "moevk logits");
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

  std::unique_ptr<Engine> be = make_engine(file, opts);
  std::vector<float> logits = be->eval(*prompt, 0);
  EvalStats all = be->last_stats();  // prompt and decode: the expert cache's figures
  uint32_t pos = static_cast<uint32_t>(prompt->size());
  EvalStats total;
  for (int32_t id : decode) {
    std::vector<float> row = be->eval(std::span(&id, 1), pos++);
    logits.insert(logits.end(), row.begin(), row.end());
    total += be->last_stats();
    all += be->last_stats();
  }
  if (stats) print_memory_and_streaming(*be, all);
  if (stats && total.tokens) {
    const double n = static_cast<double>(total.tokens);
    std::fprintf(stderr,
                 "per decoded token (%llu tokens, %s): %.1f compute dispatches, %.1f barriers, %.1f "
                 "host-device round trips, %s of weights read\n",
                 static_cast<unsigned long long>(total.tokens), be->backend_name().c_str(),
                 total.dispatches / n, total.barriers / n, total.submits / n,
                 sched::format_size(static_cast<uint64_t>(total.weight_bytes / n)).c_str());
  }
  if (logits.size() != n_tok * d.n_vocab)
    fail("internal error: {} logits for {} tokens x {} vocab", logits.size(), n_tok, d.n_vocab);

  FILE* fp = open_output_file(out, "the --out file", model);
  const size_t w = std::fwrite(logits.data(), sizeof(float), logits.size(), fp);
  const int write_errno = errno;
  const bool closed = std::fclose(fp) == 0;
  if (w != logits.size() || !closed) {
    const int e = w != logits.size() ? write_errno : errno;
    std::error_code ec;  // no partial logits file (but never remove a device such as /dev/full)
    if (std::filesystem::is_regular_file(out, ec)) std::filesystem::remove(out, ec);
    fail("cannot write '{}': {}", out, std::strerror(e != 0 ? e : EIO));
  }
  std::fprintf(stderr, "moevk logits: %llu rows x %u vocab written to %s (backend %s)\n",
               static_cast<unsigned long long>(n_tok), d.n_vocab, out.c_str(), backend.c_str());
  return 0;
}

}  // namespace

MOEVK_COMMAND("logits", "write the logits of a prompt and decoded ids (float32 rows)", cmd_logits);

}  // namespace moevk::cli
