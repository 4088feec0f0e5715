// moevk chat: an interactive chat in the terminal with the model's own chat template. The history
// stays in the KV cache (only the new turn is evaluated); Ctrl-C stops a reply, /exit or Ctrl-D quits.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/command.h"
#include "cli/common.h"
#include "loader/model/validate.h"
#include "loader/template/chat_template.h"
#include "loader/tokenizer/tokenizer.h"

namespace moevk::cli {

namespace {

constexpr const char* kUsage =
    "usage: moevk chat -m MODEL.gguf [options]\n\n"
    "Chats with the model using its chat template (tokenizer.chat_template). Type a message and press\n"
    "Enter. Ctrl-C stops the reply being written; /exit (or Ctrl-D) quits; /reset starts over.\n\n"
    "options:\n"
    "  -m, --model FILE            the GGUF model\n"
    "  -sys, --system TEXT         system prompt\n"
    "  -n, --n-predict N           most tokens per reply (default -1: until the model stops)\n"
    "  --chat-template-file FILE   use this Jinja template instead of the model's\n"
    "  --stats                     print speed after every reply\n";

std::atomic<bool> g_generating{false};
std::atomic<bool> g_stop{false};

void on_sigint(int) {
  if (g_generating) {
    g_stop = true;  // stop the reply, keep the chat
    return;
  }
  const char msg[] = "\n";
  ssize_t r = write(1, msg, 1);
  (void)r;
  _exit(0);
}

}  // namespace

static int cmd_chat(const std::vector<std::string>& argv) {
  Args args;
  args.option({"-m", "--model"}).option({"-sys", "--system"}).option({"-n", "--n-predict"});
  args.option({"--chat-template-file"}).option({"--stats"}, false).option({"-h", "--help"}, false);
  engine_options(args);
  sampler_options(args);
  args.parse(argv);
  if (args.has("--help")) {
    std::printf("%s%s%s\n%s", kUsage, kEngineHelp, kSamplerHelp, kExitStatusHelp);
    return 0;
  }
  const std::string model = args.require("--model");
  const int n_predict = static_cast<int>(args.get_int("--n-predict", -1, -1, 1 << 24));
  const SamplerParams sp = sampler_params_from(args);
  const EngineOptions eo = engine_options_from(args);

  gguf::File file = gguf::File::open(model);
  validate(file, /*need_weights=*/true, "moevk chat");
  std::string tmpl;
  if (auto f = args.get("--chat-template-file")) {
    tmpl = read_file(*f, "chat template file");
  } else {
    tmpl = chat_template_of(file).value_or("");
    if (tmpl.empty()) std::fprintf(stderr, "moevk chat: the model has no chat template; using ChatML\n");
  }
  const ChatContext cc = chat_context_of(file);
  auto [tokenizer, engine] = load_model(file, eo);
  Session session(*engine, tokenizer, sp);

  std::vector<ChatMessage> messages;
  if (auto sys = args.get("--system")) messages.push_back({"system", *sys});
  const size_t n_fixed = messages.size();
  std::signal(SIGINT, on_sigint);
  std::fprintf(stderr, "moevk chat: %s on %s. /exit quits, Ctrl-C stops a reply.\n", model.c_str(),
               engine->backend_name().c_str());
  std::string line;
  while (true) {
    std::fputs("> ", stdout);
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) break;  // main() reports it
    // A line of input, bounded (stdin may be /dev/zero or an endless stream).
    line.clear();
    int c = 0;
    while ((c = std::cin.get()) != std::char_traits<char>::eof() && c != '\n') {
      if (line.size() >= kMaxInputFileBytes)
        fail("an input line is longer than {} MiB; not reading further", kMaxInputFileBytes >> 20);
      line.push_back(char(c));
    }
    if (c == std::char_traits<char>::eof() && line.empty()) break;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      messages.resize(n_fixed);
      session.reset();
      continue;
    }
    if (line.empty()) continue;
    messages.push_back({"user", line});
    std::vector<int32_t> ids;
    try {
      // Only the template's own markup may become control tokens, never the text of a message.
      ids = tokenize_chat(tokenizer, tmpl, messages, /*add_generation_prompt=*/true, cc);
      if (ids.size() >= engine->n_ctx())
        fail("the conversation ({} tokens) no longer fits the context ({}); /reset to start over",
             ids.size(), engine->n_ctx());
    } catch (const Error& e) {
      std::fprintf(stderr, "moevk chat: %s\n", printable(e.what(), size_t{64} << 10, true).c_str());
      messages.pop_back();
      continue;
    }
    std::string reply;
    g_stop = false;
    g_generating = true;
    GenerationStats st = session.generate(
        ids, n_predict,
        [&](const std::string& piece) {
          reply += piece;
          std::fwrite(piece.data(), 1, piece.size(), stdout);
          if (std::fflush(stdout) != 0 || std::ferror(stdout)) g_stop = true;
        },
        &g_stop);
    g_generating = false;
    if (std::ferror(stdout)) break;  // stdout is gone (a closed pipe, a full disk): main() reports it
    std::fputs("\n", stdout);
    if (st.stop == StopReason::Interrupted) std::fprintf(stderr, "[reply stopped]\n");
    if (st.stop == StopReason::ContextFull) std::fprintf(stderr, "[context full: /reset to start over]\n");
    if (args.has("--stats")) print_generation_stats(st, *engine, true);
    if (eo.profile) {
      print_profile(stderr, "this reply (its prompt and tokens)", *engine, st.prompt_tokens + st.generated_tokens, 0);
      engine->reset_profile();
    }
    messages.push_back({"assistant", reply});
  }
  return 0;
}

MOEVK_COMMAND("chat", "interactive chat with the model's chat template", cmd_chat);

}  // namespace moevk::cli
