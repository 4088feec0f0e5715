// libFuzzer target: a chat template and a conversation from one byte string. Input: the template
// source, then a 0 byte, then message contents separated by 1 bytes (roles: system first when the
// contents start with a 2 byte, then user and assistant in turn). A hostile template must end in a
// moevk::Error (or the ChatML fallback), never a crash, a hang or memory without bound; a template that
// renders must give markup ranges inside the text, sorted and disjoint (run under ASan + UBSan).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "loader/template/chat_template.h"
#include "loader/template/jinja.h"

using namespace moevk;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  const size_t split = in.find('\0');
  const std::string tmpl = in.substr(0, split);
  std::vector<ChatMessage> msgs;
  if (split != std::string::npos) {
    std::string rest = in.substr(split + 1);
    bool system = !rest.empty() && rest[0] == '\x02';
    if (system) rest.erase(0, 1);
    size_t start = 0;
    for (size_t i = 0; i <= rest.size() && msgs.size() < 64; ++i) {
      if (i < rest.size() && rest[i] != '\x01') continue;
      const char* role = system && msgs.empty() ? "system" : (msgs.size() - (system ? 1 : 0)) % 2 ? "assistant" : "user";
      msgs.push_back({role, rest.substr(start, i - start)});
      start = i + 1;
    }
  }
  ChatContext ctx;
  ctx.bos_token = "<s>";
  ctx.eos_token = "</s>";
  ctx.date = "2026-11-22";
  try {  // the engine alone, no fallback
    jinja::Value globals = jinja::Value::object();
    jinja::Array list;
    for (const ChatMessage& m : msgs) {
      jinja::Value o = jinja::Value::object();
      o.set("role", jinja::Value(m.role)).set("content", jinja::Value(m.content));
      list.push_back(o);
    }
    globals.set("messages", jinja::Value(std::move(list))).set("add_generation_prompt", jinja::Value(true));
    (void)jinja::Template(tmpl).render(globals);
  } catch (const Error&) {
  }
  try {  // the chat path: render, marker render, alignment
    MarkedPrompt p = render_chat_marked(tmpl, msgs, true, ctx);
    size_t end = 0;
    for (const TextRange& r : p.markup) {
      if (r.begin < end || r.end < r.begin || r.end > p.text.size()) __builtin_trap();
      end = r.end;
    }
  } catch (const Error&) {
  }
  return 0;
}
