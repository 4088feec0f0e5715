// Chat template rendering on top of the Jinja engine (loader/jinja.h).
#include "loader/chat_template.h"

#include <cstdio>
#include <ctime>

#include "loader/error.h"
#include "loader/gguf.h"
#include "loader/jinja.h"

namespace moevk {

std::string today() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

namespace {

std::tm parse_date(const std::string& date) {
  int y = 0, m = 0, d = 0;
  char tail = 0;
  if (std::sscanf(date.c_str(), "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 || d < 1 ||
      d > 31)
    fail("bad date '{}': expected YYYY-MM-DD", date);
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = m - 1;
  tm.tm_mday = d;
  tm.tm_hour = 12;
  std::time_t t = timegm(&tm);  // normalises and fills tm_wday / tm_yday
  gmtime_r(&t, &tm);
  tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
  return tm;
}

jinja::Value to_values(const std::vector<ChatMessage>& msgs) {
  jinja::Array messages;
  for (const ChatMessage& m : msgs) {
    jinja::Value o = jinja::Value::object();
    o.set("role", jinja::Value(m.role)).set("content", jinja::Value(m.content));
    messages.push_back(o);
  }
  return jinja::Value(std::move(messages));
}

// role/content of template-value messages, for the ChatML fallback.
std::vector<ChatMessage> from_values(const jinja::Value& messages) {
  std::vector<ChatMessage> out;
  if (!messages.is_array()) return out;
  for (const jinja::Value& m : messages.as_array()) {
    if (!m.is_object()) continue;
    const jinja::Value* role = m.as_object().find("role");
    const jinja::Value* content = m.as_object().find("content");
    out.push_back({role ? role->str() : "", content && !content->is_none() ? content->str() : ""});
  }
  return out;
}

jinja::Value globals_for(const jinja::Value& messages, bool add_generation_prompt, const ChatContext& ctx) {
  using jinja::Value;
  std::tm date = parse_date(ctx.date.empty() ? today() : ctx.date);
  Value g = Value::object();
  g.set("messages", messages);
  g.set("add_generation_prompt", Value(add_generation_prompt));
  g.set("bos_token", Value(ctx.bos_token));
  g.set("eos_token", Value(ctx.eos_token));
  g.set("tools", Value(nullptr));
  g.set("raise_exception", Value::function([](std::vector<Value>& a, jinja::Kwargs&) -> Value {
    throw jinja::TemplateRaised("chat template raised an exception: " + (a.empty() ? "" : a[0].str()));
  }));
  g.set("strftime_now", Value::function([date](std::vector<Value>& a, jinja::Kwargs&) -> Value {
    if (a.empty() || !a[0].is_string()) fail("strftime_now expects a format string");
    char buf[256];
    size_t n = std::strftime(buf, sizeof buf, a[0].as_string().c_str(), &date);
    return Value(std::string(buf, n));
  }));
  return g;
}

}  // namespace

std::string render_chatml(const std::vector<ChatMessage>& msgs, bool add_generation_prompt) {
  std::string out;
  for (const ChatMessage& m : msgs) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  if (add_generation_prompt) out += "<|im_start|>assistant\n";
  return out;
}

std::string render_chat_strict(const std::string& tmpl, const std::vector<ChatMessage>& msgs,
                               bool add_generation_prompt, const ChatContext& ctx) {
  jinja::Template t(tmpl);
  return t.render(globals_for(to_values(msgs), add_generation_prompt, ctx));
}

std::string render_chat(const std::string& tmpl, const jinja::Value& messages, bool add_generation_prompt,
                        const ChatContext& ctx) {
  if (tmpl.empty()) {
    std::fprintf(stderr, "warning: the model has no chat template; using ChatML\n");
    return render_chatml(from_values(messages), add_generation_prompt);
  }
  try {
    jinja::Template t(tmpl);
    return t.render(globals_for(messages, add_generation_prompt, ctx));
  } catch (const jinja::TemplateRaised&) {
    throw;
  } catch (const Error& e) {
    std::fprintf(stderr, "warning: cannot render the chat template (%s); using ChatML\n", e.what());
    return render_chatml(from_values(messages), add_generation_prompt);
  }
}

std::string render_chat(const std::string& tmpl, const std::vector<ChatMessage>& msgs,
                        bool add_generation_prompt, const ChatContext& ctx) {
  return render_chat(tmpl, to_values(msgs), add_generation_prompt, ctx);
}

std::optional<std::string> chat_template_of(const gguf::File& f) {
  auto s = f.get_string("tokenizer.chat_template");
  if (!s) return std::nullopt;
  return std::string(*s);
}

ChatContext chat_context_of(const gguf::File& f) {
  ChatContext ctx;
  auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  auto text_of = [&](const char* key) -> std::string {
    auto id = f.get_uint(key);
    if (!id || !tokens) return "";
    if (*id >= tokens->size()) fail("{} = {} is out of range (vocabulary of {} tokens)", key, *id, tokens->size());
    return std::string((*tokens)[*id]);
  };
  ctx.bos_token = text_of("tokenizer.ggml.bos_token_id");
  ctx.eos_token = text_of("tokenizer.ggml.eos_token_id");
  return ctx;
}

}  // namespace moevk
