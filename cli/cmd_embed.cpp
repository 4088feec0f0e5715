// moevk embed: one chat turn through the public C API (runtime/include/moevk.hpp), exactly as an
// embedding application makes it: a runtime under a VRAM cap, a model, a session, generation in
// calls of a bounded time or token count. The other commands use the engine directly.
#include <chrono>
#include <cstdio>
#include <string>

#include "cli/args.h"
#include "cli/command.h"
#include "runtime/include/moevk.hpp"

namespace moevk::cli {

namespace {

constexpr const char* kEmbedUsage =
    R"(usage: moevk embed -m MODEL.gguf -p TEXT [options]

One chat turn through the public C API (libmoevk, moevk.h): what an application embedding moevk does.
The reply is printed as it comes; with --budget-us or --budget-tokens it is generated in calls of
that budget, each call's tokens and time on stderr.

options:
  -m, --model FILE       the GGUF model
  -p, --prompt TEXT      the user's message
  -sys, --system TEXT    a system message
  -n, --n-predict N      most tokens (default 64)
  -c, --ctx-size N       context positions (default: the model's, at most 4096)
  --gpu-mem SIZE         the VRAM cap (e.g. 512M; default: free VRAM minus a margin)
  --budget-us N          microseconds per call (at least 100)
  --budget-tokens N      tokens per call
  --temp T, --seed N     sampling (defaults 0.8, 1234)
  -h, --help             this text
)";

int cmd_embed(const std::vector<std::string>& argv) {
  Args args;
  args.option({"-h", "--help"}, false).option({"-m", "--model"}).option({"-p", "--prompt"});
  args.option({"-sys", "--system"}).option({"-n", "--n-predict"}).option({"-c", "--ctx-size"});
  args.option({"--gpu-mem"}).option({"--budget-us"}).option({"--budget-tokens"});
  args.option({"--temp"}).option({"--seed"});
  if (!args.parse(argv, "embed", kEmbedUsage)) return 2;
  if (args.has("--help")) {
    std::printf("%s\n%s", kEmbedUsage, kExitStatusHelp);
    return 0;
  }
  const std::string model_path = args.require("--model");
  const std::string prompt = args.require("--prompt");
  const int n_predict = static_cast<int>(args.get_int("--n-predict", 64, -1, 1 << 24));
  const uint32_t n_ctx = static_cast<uint32_t>(args.get_int("--ctx-size", 0, 0, 1 << 20));
  const uint64_t budget_us =
      static_cast<uint64_t>(args.get_int("--budget-us", 0, 0, int64_t(1) << 40));
  if (budget_us != 0 && budget_us < uint64_t{MOEVK_MIN_BUDGET_US})
    usage_error("option --budget-us: {} is out of range [{}, {}] (0 or absent: no time limit)", budget_us,
                uint64_t{MOEVK_MIN_BUDGET_US}, int64_t(1) << 40);
  const uint32_t budget_tokens =
      static_cast<uint32_t>(args.get_int("--budget-tokens", 0, 0, 1 << 24));
  const bool budgeted = budget_us || budget_tokens;

  try {
    moevk_runtime_params rp;
    moevk_runtime_params_init(&rp);
    rp.vram_cap_bytes = args.get_size("--gpu-mem", 0);
    embed::Runtime rt(&rp);
    moevk_model_params mp = embed::Model::defaults();
    mp.n_ctx = n_ctx;
    embed::Model model(rt, model_path, mp);
    moevk_session_params sp = embed::Session::defaults();
    sp.seed = static_cast<uint64_t>(args.get_int("--seed", 1234, 0, INT64_MAX));
    if (args.has("--temp")) sp.temperature = static_cast<float>(args.get_float("--temp", 0.0, 0.0, 100.0));
    embed::Session session(model, sp);
    std::vector<embed::ChatMessage> msgs;
    if (auto s = args.get("--system")) msgs.push_back({"system", *s});
    msgs.push_back({"user", prompt});
    session.start(model.chat_tokens(msgs), n_predict);
    const auto print = [](int32_t, const std::string& text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      return std::fflush(stdout) == 0 && !std::ferror(stdout);  // false stops; main() reports it
    };
    for (int call = 0;; ++call) {
      const moevk_generate_result r = session.generate(print, budget_tokens, budget_us);
      if (budgeted)
        std::fprintf(stderr, "\n[call %d: %u token(s) in %llu us]\n", call, r.n_tokens,
                     static_cast<unsigned long long>(r.microseconds));
      if (r.stop != MOEVK_STOP_NONE) break;
    }
    std::printf("\n");
    const moevk_session_stats st = session.stats();
    const moevk_runtime_info ri = rt.info();
    std::fprintf(
        stderr,
        "moevk embed: %llu prompt tokens in %.3f s, %llu generated in %.3f s; VRAM %llu bytes "
        "(peak %llu, cap %llu)\n",
        static_cast<unsigned long long>(st.prompt_tokens), st.prompt_seconds,
        static_cast<unsigned long long>(st.generated_tokens), st.generate_seconds,
        static_cast<unsigned long long>(ri.vram_allocated_bytes),
        static_cast<unsigned long long>(ri.vram_peak_bytes),
        static_cast<unsigned long long>(ri.vram_cap_bytes));
  } catch (const embed::Error& e) {
    std::fprintf(stderr, "moevk embed: %s\n", printable(e.what(), size_t{64} << 10, true).c_str());
    return 1;
  }
  return 0;
}

}  // namespace

MOEVK_COMMAND("embed", "one chat turn through the public C API (what an embedding app does)",
              cmd_embed);

}  // namespace moevk::cli
