// Chat template rendering on top of the Jinja engine (loader/template/jinja.h).
#include "loader/template/chat_template.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <string_view>

#include "loader/error.h"
#include "loader/gguf/gguf.h"
#include "loader/template/jinja.h"
#include "loader/tokenizer/tokenizer.h"

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
  const bool digits = date.size() == 10 && date[4] == '-' && date[7] == '-' &&
                      std::all_of(date.begin(), date.end(), [](char c) { return c == '-' || std::isdigit(uint8_t(c)); });
  if (!digits || std::sscanf(date.c_str(), "%4d-%2d-%2d", &y, &m, &d) != 3)
    fail("bad date '{}': expected YYYY-MM-DD", date);
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  static constexpr int kDays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1) fail("bad date '{}': year {} is not in [1, 9999]", date, y);
  if (m < 1 || m > 12) fail("bad date '{}': month {} is not in [1, 12]", date, m);
  const int days = kDays[m - 1] + (m == 2 && leap ? 1 : 0);
  if (d < 1 || d > days) fail("bad date '{}': day {} is not in [1, {}] for that month", date, d, days);
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
    throw jinja::TemplateRaised("chat template raised an exception: " + printable(a.empty() ? "" : a[0].str()));
  }));
  g.set("strftime_now", Value::function([date](std::vector<Value>& a, jinja::Kwargs&) -> Value {
    if (a.empty() || !a[0].is_string()) fail("strftime_now expects a format string");
    const std::string& format = a[0].as_string();
    if (format.size() > 4096) fail("strftime_now: a format of {} bytes is longer than 4096", format.size());
    std::string buf(64 + 64 * format.size(), '\0');  // a conversion writes at most ~40 characters
    const size_t n = std::strftime(buf.data(), buf.size(), format.c_str(), &date);
    buf.resize(n);
    return Value(std::move(buf));
  }));
  return g;
}

}  // namespace

void check_date(const std::string& date) { parse_date(date); }

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
  const jinja::Value globals = globals_for(messages, add_generation_prompt, ctx);  // a bad date is no fallback
  try {
    jinja::Template t(tmpl);
    return t.render(globals);
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

namespace {

// Appends template markup to a marked prompt, merging with a range that ends where it starts.
void add_markup(MarkedPrompt& p, std::string_view s) {
  const size_t b = p.text.size();
  p.text += s;
  if (s.empty()) return;
  if (!p.markup.empty() && p.markup.back().end == b)
    p.markup.back().end = p.text.size();
  else
    p.markup.push_back({b, p.text.size()});
}

MarkedPrompt chatml_marked(const std::vector<ChatMessage>& msgs, bool add_generation_prompt) {
  MarkedPrompt p;
  for (const ChatMessage& m : msgs) {
    add_markup(p, "<|im_start|>" + m.role + "\n");
    p.text += m.content;
    add_markup(p, "<|im_end|>\n");
  }
  if (add_generation_prompt) add_markup(p, "<|im_start|>assistant\n");
  return p;
}

// The marker render split at its markers: literal[0], slot[0], literal[1], ..., literal[n] where
// slot[j] is the index of the message whose content stood there.
struct MarkerSplit {
  std::vector<std::string_view> literal;
  std::vector<size_t> slot;
};

// Finds the text spans the real render's contents occupy between the marker render's literals:
// each literal must appear verbatim, each content span must be a substring of its content (a template
// may trim or split it), the exact content is tried first, then longer spans before shorter ones.
class Aligner {
 public:
  Aligner(std::string_view text, const MarkerSplit& split, const std::vector<ChatMessage>& msgs)
      : text_(text), split_(split), msgs_(msgs), at_(split.literal.size()) {}

  // Literal start offsets in text, or empty when there is no alignment (or the search gives up).
  std::vector<size_t> run() { return from(0, 0) ? at_ : std::vector<size_t>{}; }

 private:
  bool from(size_t j, size_t pos) {
    const std::string_view lit = split_.literal[j];
    if (budget_ == 0 || text_.compare(pos, lit.size(), lit) != 0) return false;
    at_[j] = pos;
    const size_t p = pos + lit.size();
    if (j + 1 == split_.literal.size()) return p == text_.size();
    const std::string_view content = msgs_[split_.slot[j]].content;
    const bool exact = text_.compare(p, content.size(), content) == 0;
    if (exact && from(j + 1, p + content.size())) return true;
    const std::string_view next = split_.literal[j + 1];
    const size_t hi = std::min(text_.size(), p + content.size());
    for (size_t e = hi + 1; e-- > p;) {
      if (budget_ == 0) return false;
      --budget_;
      if ((exact && e == p + content.size()) || text_.compare(e, next.size(), next) != 0) continue;
      const size_t cost = (e - p) / 256;  // the substring search below
      if (budget_ < cost) return budget_ = 0, false;
      budget_ -= cost;
      if (content.find(text_.substr(p, e - p)) == std::string_view::npos) continue;
      if (from(j + 1, e)) return true;
    }
    return false;
  }

  std::string_view text_;
  const MarkerSplit& split_;
  const std::vector<ChatMessage>& msgs_;
  std::vector<size_t> at_;
  size_t budget_ = size_t{1} << 22;  // positions tried (and bytes searched / 256), all slots together
};

}  // namespace

MarkedPrompt render_chat_marked(const std::string& tmpl, const std::vector<ChatMessage>& msgs,
                                bool add_generation_prompt, const ChatContext& ctx) {
  if (tmpl.empty()) {
    std::fprintf(stderr, "warning: the model has no chat template; using ChatML\n");
    return chatml_marked(msgs, add_generation_prompt);
  }
  // A marker prefix that appears nowhere in the inputs.
  std::string prefix;
  for (unsigned nonce = 0;; ++nonce) {
    prefix = "\x1fmoevk" + std::to_string(nonce) + ":";
    auto in = [&](const std::string& s) { return s.find(prefix) != std::string::npos; };
    bool clash = in(tmpl) || in(ctx.bos_token) || in(ctx.eos_token);
    for (const ChatMessage& m : msgs) clash = clash || in(m.content) || in(m.role);
    if (!clash) break;
  }
  std::vector<ChatMessage> marked_msgs = msgs;
  for (size_t i = 0; i < marked_msgs.size(); ++i) marked_msgs[i].content = prefix + std::to_string(i) + "\x1f";

  MarkedPrompt out;
  std::string marked;
  try {
    jinja::Template t(tmpl);
    out.text = t.render(globals_for(to_values(msgs), add_generation_prompt, ctx));
    marked = t.render(globals_for(to_values(marked_msgs), add_generation_prompt, ctx));
  } catch (const jinja::TemplateRaised&) {
    if (!out.text.empty()) fail("cannot tell the chat template's markup from the message contents");
    throw;
  } catch (const Error& e) {
    if (!out.text.empty()) fail("cannot tell the chat template's markup from the message contents ({})", e.what());
    std::fprintf(stderr, "warning: cannot render the chat template (%s); using ChatML\n", e.what());
    return chatml_marked(msgs, add_generation_prompt);
  }

  MarkerSplit split;
  const std::string_view m(marked);
  const std::string stem = prefix.substr(1);  // a marker cut by the template leaves this behind
  for (size_t pos = 0;;) {
    const size_t at = m.find(prefix, pos);
    const std::string_view lit = m.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos);
    if (lit.find(stem) != std::string_view::npos)
      fail("cannot tell the chat template's markup from the message contents (it cuts them)");
    split.literal.push_back(lit);
    if (at == std::string_view::npos) break;
    size_t q = at + prefix.size(), index = 0;
    const size_t digits = q;
    while (q < m.size() && m[q] >= '0' && m[q] <= '9' && q - digits < 9) index = index * 10 + size_t(m[q++] - '0');
    if (q == digits || q >= m.size() || m[q] != '\x1f' || index >= msgs.size())
      fail("cannot tell the chat template's markup from the message contents (it changes them)");
    split.slot.push_back(index);
    pos = q + 1;
  }

  std::vector<size_t> at = Aligner(out.text, split, msgs).run();
  if (at.empty()) {
    // The template branches on a content's text: use the marker render with the contents verbatim.
    MarkedPrompt p;
    for (size_t j = 0; j < split.literal.size(); ++j) {
      add_markup(p, split.literal[j]);
      if (j < split.slot.size()) p.text += msgs[split.slot[j]].content;
    }
    return p;
  }
  for (size_t j = 0; j < at.size(); ++j) {
    const size_t b = at[j], e = b + split.literal[j].size();
    if (b == e) continue;
    if (!out.markup.empty() && out.markup.back().end == b)
      out.markup.back().end = e;
    else
      out.markup.push_back({b, e});
  }
  return out;
}

std::vector<int32_t> tokenize_chat(const Tokenizer& tokenizer, const std::string& tmpl,
                                   const std::vector<ChatMessage>& msgs, bool add_generation_prompt,
                                   const ChatContext& ctx) {
  MarkedPrompt p = render_chat_marked(tmpl, msgs, add_generation_prompt, ctx);
  return tokenizer.tokenize_marked(p.text, p.markup, /*add_special=*/false);
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
