// moevk run: generate text from a prompt, streamed to stdout; speed and memory on stderr.
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/command.h"
#include "cli/common.h"
#include "loader/model/validate.h"
#include "loader/tokenizer/tokenizer.h"

namespace moevk::cli {

namespace {

constexpr const char* kUsage =
    "usage: moevk run -m MODEL.gguf -p TEXT [options]\n\n"
    "Generates text after the prompt and streams it to stdout; prints prompt and generation speed and\n"
    "memory use to stderr at the end.\n\n"
    "options:\n"
    "  -m, --model FILE      the GGUF model\n"
    "  -p, --prompt TEXT     the prompt (a BOS token is added where the model asks for one)\n"
    "  -f, --file FILE       read the prompt from a file instead\n"
    "  -n, --n-predict N     tokens to generate (default 128; -1 = until the context is full)\n"
    "  --stats               per decoded token: dispatches, barriers, round trips, weight bytes\n";

std::atomic<bool> g_stop{false};
void on_sigint(int) { g_stop = true; }

}  // namespace

static int cmd_run(const std::vector<std::string>& argv) {
  Args args;
  args.option({"-m", "--model"}).option({"-p", "--prompt"}).option({"-f", "--file"});
  args.option({"-n", "--n-predict"}).option({"--stats"}, false).option({"-h", "--help"}, false);
  engine_options(args);
  sampler_options(args);
  args.parse(argv);
  if (args.has("--help")) {
    std::printf("%s%s%s\n%s", kUsage, kEngineHelp, kSamplerHelp, kExitStatusHelp);
    return 0;
  }
  const std::string model = args.require("--model");
  args.exclusive({"--prompt", "--file"});
  std::string prompt;
  if (auto f = args.get("--file")) {
    prompt = read_file(*f, "prompt file");
  } else {
    prompt = args.require("--prompt");
  }
  const int n_predict = static_cast<int>(args.get_int("--n-predict", 128, -1, 1 << 24));
  const SamplerParams sp = sampler_params_from(args);
  const EngineOptions eo = engine_options_from(args);

  gguf::File file = gguf::File::open(model);
  validate(file, /*need_weights=*/true, "moevk run");
  auto [tokenizer, engine] = load_model(file, eo);
  std::vector<int32_t> ids = tokenizer.tokenize(prompt, /*add_special=*/true, /*parse_special=*/true);
  if (ids.empty()) fail("the prompt tokenizes to nothing");
  // Checked before the prompt is printed: a refused prompt prints nothing to stdout.
  if (ids.size() >= engine->n_ctx())
    fail("the prompt has {} tokens but the context holds {} (raise -c/--ctx-size)", ids.size(), engine->n_ctx());

  Session session(*engine, tokenizer, sp);
  engine->set_profiling(eo.profile);
  std::signal(SIGINT, on_sigint);
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  std::fflush(stdout);
  GenerationStats st = session.generate(
      ids, n_predict,
      [](const std::string& piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        if (std::fflush(stdout) != 0 || std::ferror(stdout)) g_stop = true;  // main() reports it
      },
      &g_stop);
  std::signal(SIGINT, SIG_DFL);
  std::fputs("\n", stdout);
  if (st.stop == StopReason::ContextFull)
    std::fprintf(stderr, "moevk run: stopped at the context limit (%u tokens); raise it with -c\n",
                 engine->n_ctx());
  print_generation_stats(st, *engine, args.has("--stats"));
  if (eo.profile)
    print_profile(stderr, "the prompt and the generated tokens", *engine, st.prompt_tokens + st.generated_tokens, 0);
  return 0;
}

MOEVK_COMMAND("run", "generate text from a prompt", cmd_run);

}  // namespace moevk::cli
