// Chat prompts: renders a model's Jinja chat template (GGUF key tokenizer.chat_template) for a list
// of messages, as HF transformers' apply_chat_template does. Unknown or unrenderable templates fall
// back to ChatML with a warning on stderr.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace moevk {

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

// The ChatML rendering used as the fallback.
std::string render_chatml(const std::vector<ChatMessage>& msgs, bool add_generation_prompt);

// Today's date as YYYY-MM-DD (local time).
std::string today();

// From GGUF metadata: tokenizer.chat_template (nullopt when absent) and the texts of the BOS and EOS
// tokens (tokenizer.ggml.tokens[tokenizer.ggml.{bos,eos}_token_id]; "" when absent).
std::optional<std::string> chat_template_of(const gguf::File& f);
ChatContext chat_context_of(const gguf::File& f);

}  // namespace moevk
