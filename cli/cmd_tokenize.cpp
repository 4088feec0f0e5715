// moevk tokenize -m MODEL (-p TEXT | --text-file FILE): token ids of a text, as llama.cpp makes
// them.
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "cli/args.h"
#include "cli/command.h"
#include "loader/error.h"
#include "loader/gguf/gguf.h"
#include "loader/model/validate.h"
#include "loader/tokenizer/tokenizer.h"

namespace moevk::cli {

namespace {

constexpr const char* kTokenizeUsage =
    R"(usage: moevk tokenize -m MODEL.gguf (-p TEXT | --text-file FILE) [options]

Prints the token ids of the text, separated by spaces, on one line. Only the tokenizer metadata of
the GGUF file is read, so vocabulary-only files work.

options:
  -m, --model FILE     GGUF file with tokenizer.ggml.* metadata
  -p, --prompt TEXT    the text to tokenize
  --text-file FILE     read the text from FILE (bytes as they are, no newline stripped)
  --add-special        add BOS/EOS where the vocabulary asks for them (default: no)
  --parse-special      turn control-token text such as <|im_start|> into that token
                       (default: treated as plain text)
  --cases              split the text on "\n__ggml_vocab_test__\n" (llama.cpp's vocabulary test
                       .inp format; a final empty part after the last separator is dropped) and
                       print one line per case, each id preceded by a space (the .out format)
  -h, --help           this text
)";

int cmd_tokenize(const std::vector<std::string>& argv) {
  Args args;
  args.option({"-h", "--help"}, false).option({"-m", "--model"}).option({"-p", "--prompt"});
  args.option({"--text-file"}).option({"--add-special"}, false).option({"--parse-special"}, false);
  args.option({"--cases"}, false);
  if (!args.parse(argv, "tokenize", kTokenizeUsage)) return 2;
  if (args.has("--help")) {
    std::printf("%s\n%s", kTokenizeUsage, kExitStatusHelp);
    return 0;
  }
  args.exclusive({"--prompt", "--text-file"});
  const std::string model = args.get("--model").value_or("");
  const bool have_text = args.has("--prompt") || args.has("--text-file");
  if (model.empty() || !have_text) {
    std::fputs(kTokenizeUsage, stderr);
    return 2;
  }
  const std::string text =
      args.has("--prompt") ? args.require("--prompt") : read_file(args.require("--text-file"), "text file");
  const bool add_special = args.has("--add-special"), parse_special = args.has("--parse-special"),
             cases = args.has("--cases");
  const gguf::File file = gguf::File::open(model);
  validate(file);  // a model or a vocabulary-only file: only the tokenizer is used
  const Tokenizer tok = Tokenizer::from_gguf(file);

  std::string out;
  if (!cases) {
    const std::vector<TokenId> ids = tok.tokenize(text, add_special, parse_special);
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i) out += ' ';
      out += fmt::format("{}", ids[i]);
    }
    out += '\n';
  } else {
    static constexpr std::string_view kSep = "\n__ggml_vocab_test__\n";
    std::vector<std::string_view> parts;
    std::string_view rest = text;
    for (size_t p; (p = rest.find(kSep)) != std::string_view::npos;
         rest.remove_prefix(p + kSep.size()))
      parts.push_back(rest.substr(0, p));
    if (!rest.empty()) parts.push_back(rest);
    for (std::string_view c : parts) {
      for (TokenId id : tok.tokenize(c, add_special, parse_special)) out += fmt::format(" {}", id);
      out += '\n';
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

MOEVK_COMMAND("tokenize", "token ids of a text (llama.cpp-compatible tokenizers)", cmd_tokenize);

}  // namespace moevk::cli
