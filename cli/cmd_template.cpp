// moevk template -m MODEL --messages FILE.json: prints the prompt the model's chat template renders.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/args.h"
#include "cli/command.h"
#include "loader/template/chat_template.h"
#include "loader/error.h"
#include "loader/gguf/gguf.h"
#include "loader/model/validate.h"
#include "loader/template/jinja.h"

namespace moevk::cli {

namespace {

constexpr const char* kTemplateUsage = R"(usage: moevk template -m MODEL.gguf --messages FILE.json [options]

Renders the model's chat template (GGUF key tokenizer.chat_template) for a conversation and prints
the prompt text exactly, with no trailing newline added. bos_token and eos_token are the texts of the
model's BOS and EOS tokens. A model without a template, or with one that cannot be rendered, gets
ChatML (with a warning on stderr).

FILE.json: a list of {"role": ..., "content": ...} objects, e.g.
  [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]
Other fields (tool_calls, reasoning_content, thinking...) are passed to the template as they are.

options:
  -m, --model MODEL.gguf      the model (only its metadata is read)
  --messages FILE.json        the conversation
  --add-generation-prompt     end with the header of the assistant's reply
  --date YYYY-MM-DD           the date strftime_now() sees (default: today)
  --chat-template-file F      use the Jinja template in F instead of the model's
  -h, --help                  this text
)";

jinja::Value to_value(const nlohmann::ordered_json& j) {
  using jinja::Value;
  if (j.is_null()) return Value(nullptr);
  if (j.is_boolean()) return Value(j.get<bool>());
  if (j.is_number_integer()) return Value(j.get<int64_t>());
  if (j.is_number()) return Value(j.get<double>());
  if (j.is_string()) return Value(j.get<std::string>());
  if (j.is_array()) {
    jinja::Array a;
    for (const auto& x : j) a.push_back(to_value(x));
    return Value(std::move(a));
  }
  Value o = Value::object();
  for (const auto& [k, v] : j.items()) o.set(k, to_value(v));
  return o;
}

constexpr int kMaxJsonDepth = 64;  // lists/objects inside each other in a messages file

// Fails when brackets nest deeper than kMaxJsonDepth outside strings (checked before parsing: the
// parsed value and its conversion recurse once per level).
void check_json_depth(const std::string& text, const std::string& path) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth)
        fail("{}: at byte {}: JSON nested deeper than {} levels", path, i, kMaxJsonDepth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

// The messages file as template values (key order kept, like Python's json.load).
jinja::Value read_messages(const std::string& path) {
  nlohmann::ordered_json j;
  const std::string text = read_file(path, "messages file");
  check_json_depth(text, path);
  try {
    j = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail("{}: invalid JSON: {}", path, e.what());
  }
  if (!j.is_array()) fail("{}: expected a JSON list of messages", path);
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& m = j[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      fail("{}: message {} must be an object with a string 'role'", path, i);
    if (!m.contains("content") || !(m["content"].is_string() || m["content"].is_null()))
      fail("{}: message {} needs a 'content' string (or null)", path, i);
  }
  return to_value(j);
}

int cmd_template(const std::vector<std::string>& argv) {
  Args args;
  args.option({"-h", "--help"}, false).option({"-m", "--model"}).option({"--messages"});
  args.option({"--add-generation-prompt"}, false).option({"--date"}).option({"--chat-template-file"});
  if (!args.parse(argv, "template", kTemplateUsage)) return 2;
  if (args.has("--help")) {
    std::printf("%s\n%s", kTemplateUsage, kExitStatusHelp);
    return 0;
  }
  const std::string model = args.get("--model").value_or("");
  const std::string messages = args.get("--messages").value_or("");
  const std::string date = args.get("--date").value_or("");
  const std::string template_file = args.get("--chat-template-file").value_or("");
  const bool add_generation_prompt = args.has("--add-generation-prompt");
  if (model.empty() || messages.empty()) {
    std::fprintf(stderr, "moevk template: -m MODEL and --messages FILE are required\n\n%s", kTemplateUsage);
    return 2;
  }
  if (!date.empty()) {
    try {
      check_date(date);
    } catch (const Error& e) {
      usage_error("option --date: {}", e.what());
    }
  }
  gguf::File file = gguf::File::open(model);
  validate(file);  // a model or a vocabulary-only file: only the metadata is used
  ChatContext ctx = chat_context_of(file);
  ctx.date = date;
  std::string tmpl;
  if (!template_file.empty()) {
    tmpl = read_file(template_file, "chat template file");
  } else if (auto t = chat_template_of(file)) {
    tmpl = *t;
  }
  std::string prompt = render_chat(tmpl, read_messages(messages), add_generation_prompt, ctx);
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  return 0;
}

}  // namespace

MOEVK_COMMAND("template", "print the prompt a model's chat template renders for a conversation",
              cmd_template);

}  // namespace moevk::cli
