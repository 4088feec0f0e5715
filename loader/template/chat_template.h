// Chat prompts: renders a model's Jinja chat template (GGUF key tokenizer.chat_template) for a list
// of messages, as HF transformers' apply_chat_template does. Unknown or unrenderable templates fall
// back to ChatML with a warning on stderr.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "loader/text_range.h"

namespace moevk {

class Tokenizer;
namespace gguf {
class File;
}
namespace jinja {
class Value;
}

struct ChatMessage {
  std::string role;     // "system", "user", "assistant", "tool", "developer"
  std::string content;
};

struct ChatContext {
  std::string bos_token;  // text of the BOS token ("" when the model has none)
  std::string eos_token;
  std::string date;       // YYYY-MM-DD for strftime_now(); empty: today (local time)
};

// Renders `tmpl` (Jinja) for `msgs`. Template variables: messages, add_generation_prompt, bos_token,
// eos_token, tools (none), plus raise_exception(msg) and strftime_now(fmt).
// An empty template, a syntax error or an unsupported construct falls back to ChatML with a warning;
// a template's own raise_exception(...) is a moevk::Error (the template rejects the conversation).
std::string render_chat(const std::string& tmpl, const std::vector<ChatMessage>& msgs,
                        bool add_generation_prompt, const ChatContext& ctx);

// Like render_chat but never falls back: template errors are moevk::Error (line and column).
std::string render_chat_strict(const std::string& tmpl, const std::vector<ChatMessage>& msgs,
                               bool add_generation_prompt, const ChatContext& ctx);

// Messages given as template values: a list of dicts with any fields the template reads (role,
// content, tool_calls, reasoning_content, thinking...). Same fallback rules as render_chat.
std::string render_chat(const std::string& tmpl, const jinja::Value& messages, bool add_generation_prompt,
                        const ChatContext& ctx);

// A rendered prompt with the byte ranges the template wrote itself (its markup, never message
// contents), sorted and disjoint: Tokenizer::tokenize_marked lets only these become special tokens.
struct MarkedPrompt {
  std::string text;
  std::vector<TextRange> markup;
};

// render_chat (same text, same fallback) plus the markup ranges. The template is rendered a second time
// with each content replaced by a unique marker; the marker render's literal text is the markup, aligned
// with the real render (a template may trim or split a content: the rendered part must be a substring
// of it). When the two cannot be aligned (a template that branches on a content's text), the marker
// render is used with the contents put back verbatim.
MarkedPrompt render_chat_marked(const std::string& tmpl, const std::vector<ChatMessage>& msgs,
                                bool add_generation_prompt, const ChatContext& ctx);

// The prompt token ids for a conversation (what `moevk chat` evaluates): render_chat_marked, then
// Tokenizer::tokenize_marked, so text a user types never becomes a special token.
std::vector<int32_t> tokenize_chat(const Tokenizer& tokenizer, const std::string& tmpl,
                                   const std::vector<ChatMessage>& msgs, bool add_generation_prompt,
                                   const ChatContext& ctx);

// The ChatML rendering used as the fallback.
std::string render_chatml(const std::vector<ChatMessage>& msgs, bool add_generation_prompt);

// Today's date as YYYY-MM-DD (local time).
std::string today();

// moevk::Error naming the date and the field out of range unless `date` is a calendar date
// YYYY-MM-DD (2026-02-29 and 2026-13-01 are not). A ChatContext's date must pass it.
void check_date(const std::string& date);

// From GGUF metadata: tokenizer.chat_template (nullopt when absent) and the texts of the BOS and EOS
// tokens (tokenizer.ggml.tokens[tokenizer.ggml.{bos,eos}_token_id]; "" when absent).
std::optional<std::string> chat_template_of(const gguf::File& f);
ChatContext chat_context_of(const gguf::File& f);

}  // namespace moevk
