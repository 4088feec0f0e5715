// Chat templates: the real templates of Qwen3, DeepSeek-V3, gpt-oss and Llama 3 (from the shared vocab
// GGUFs) must reproduce the reference Jinja renders byte for byte; plus unit tests of the Jinja engine.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "loader/template/chat_template.h"
#include "loader/gguf/gguf.h"
#include "loader/template/jinja.h"
#include "tests/support/test_data.h"

using moevk::ChatContext;
using moevk::ChatMessage;
using moevk::jinja::Value;

namespace {

std::string render(const std::string& tmpl, Value globals = Value::object()) {
  return moevk::jinja::Template(tmpl).render(globals);
}

std::string error_of(const std::string& tmpl, Value globals = Value::object()) {
  try {
    render(tmpl, globals);
  } catch (const moevk::Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::vector<ChatMessage> conversation() {
  return {{"system", "You are a helpful assistant."},
          {"user", "What is a mixture of experts?"},
          {"assistant", "A model that routes each token to a few expert networks."},
          {"user", "How many experts are active per token?"}};
}

}  // namespace

TEST_CASE("chat templates reproduce the reference renders") {
  MOEVK_REQUIRE_SHARED(renders_path, "vocab/chat_renders.json");
  std::ifstream in(renders_path);
  nlohmann::json renders = nlohmann::json::parse(in);
  REQUIRE(renders.size() >= 4);
  for (const std::string model : {"qwen3", "deepseek_v3", "gptoss", "llama3"}) {
    MOEVK_REQUIRE_SHARED(vocab, "vocab/vocab-" + model + ".gguf");
    auto file = moevk::gguf::File::open(vocab);
    auto tmpl = moevk::chat_template_of(file);
    REQUIRE(tmpl.has_value());
    ChatContext ctx = moevk::chat_context_of(file);
    ctx.date = "2026-11-22";  // the day the reference renders were made (gpt-oss prints it)
    REQUIRE(renders.contains(model));
    for (const auto& c : renders[model]) {
      std::vector<ChatMessage> msgs;
      for (const auto& m : c["messages"]) msgs.push_back({m["role"], m["content"]});
      bool agp = c["add_generation_prompt"];
      CAPTURE(model);
      CAPTURE(c["name"].get<std::string>());
      CAPTURE(agp);
      CHECK(moevk::render_chat_strict(*tmpl, msgs, agp, ctx) == c["rendered"].get<std::string>());
    }
  }
}

TEST_CASE("bos and eos token texts come from the vocabulary") {
  MOEVK_REQUIRE_SHARED(vocab, "vocab/vocab-llama3.gguf");
  ChatContext ctx = moevk::chat_context_of(moevk::gguf::File::open(vocab));
  CHECK(ctx.bos_token == "<|begin_of_text|>");
  CHECK(ctx.eos_token == "<|end_of_text|>");
}

// Mixtral-8x7B-Instruct's template as published (system prompt folded into the first [INST]).
static const char* kMixtral = R"({%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.first and system_message is defined %}
            {{- ' [INST] ' + system_message + '\n\n' + message['content'] + ' [/INST]' }}
        {%- else %}
            {{- ' [INST] ' + message['content'] + ' [/INST]' }}
        {%- endif %}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' + message['content'] + eos_token}}
    {%- else %}
        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}
    {%- endif %}
{%- endfor %}
)";

TEST_CASE("Mixtral template (expected text rendered by Python jinja2 with HF's settings)") {
  ChatContext ctx{"<s>", "</s>", "2026-11-22"};
  CHECK(moevk::render_chat_strict(kMixtral, conversation(), true, ctx) ==
        "<s> [INST] You are a helpful assistant.\n\nWhat is a mixture of experts? [/INST] A model that "
        "routes each token to a few expert networks.</s> [INST] How many experts are active per token? "
        "[/INST]");
  CHECK(moevk::render_chat_strict(kMixtral, {{"user", "Hello"}}, false, ctx) == "<s> [INST] Hello [/INST]");
  // Roles that do not alternate: the template's raise_exception is an error, never a ChatML fallback.
  CHECK_THROWS_AS(moevk::render_chat(kMixtral, {{"user", "a"}, {"user", "b"}}, true, ctx),
                  moevk::jinja::TemplateRaised);
}

TEST_CASE("unrenderable templates fall back to ChatML") {
  ChatContext ctx{"", "", "2026-11-22"};
  std::vector<ChatMessage> msgs = {{"user", "Hi"}};
  const std::string chatml = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
  CHECK(moevk::render_chat("", msgs, true, ctx) == chatml);
  CHECK(moevk::render_chat("{% if %}", msgs, true, ctx) == chatml);
  CHECK(moevk::render_chat("{{ messages | no_such_filter }}", msgs, true, ctx) == chatml);
  CHECK(moevk::render_chatml(msgs, false) == "<|im_start|>user\nHi<|im_end|>\n");
  CHECK_THROWS_AS(moevk::render_chat_strict("{% if %}", msgs, true, ctx), moevk::Error);
}

TEST_CASE("strftime_now uses the given date") {
  ChatContext ctx{"", "", "2024-07-26"};
  CHECK(moevk::render_chat_strict("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%A') }}", {}, false,
                                  ctx) == "26 Jul 2024|Friday");
  ctx.date = "2024-13-01";
  CHECK_THROWS_AS(moevk::render_chat_strict("x", {}, false, ctx), moevk::Error);
}

TEST_CASE("jinja: whitespace control as HF configures it") {
  // trim_blocks: a block tag eats the newline after it; lstrip_blocks: indentation before it goes.
  CHECK(render("{% if true %}\n  a\n{% endif %}\nb") == "  a\nb");
  CHECK(render("  {% if true %}x{% endif %}") == "x");
  CHECK(render("  {%+ if true %}x{% endif %}") == "  x");
  // Output tags are not trimmed.
  CHECK(render("{{ 'a' }}\n  {{ 'b' }}") == "a\n  b");
  // '-' strips all whitespace on its side, newlines included.
  CHECK(render("a  \n {{- 'b' -}} \n c") == "abc");
  CHECK(render("a\n{%- if true -%}\n  b  \n{%- endif %}") == "ab");
  // Comments behave like blocks and render nothing.
  CHECK(render("a\n  {# note #}\nb") == "a\nb");
  CHECK(render("a {#- x -#} b") == "ab");
  // One trailing newline is dropped (keep_trailing_newline=False).
  CHECK(render("x\n") == "x");
  CHECK(render("x\n\n") == "x\n");
}

TEST_CASE("jinja: loops") {
  CHECK(render("{% for x in [1, 2, 3] %}{{ loop.index }}{{ loop.index0 }}{{ x }}"
               "{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %},{% endfor %}") ==
        "101F,212,323L,");
  CHECK(render("{% for x in [] %}a{% else %}empty{% endfor %}") == "empty");
  CHECK(render("{% for x in [1,2,3,4] if x is even %}{{ x }}/{{ loop.length }} {% endfor %}") == "2/2 4/2 ");
  CHECK(render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}") == "a=1;b=2;");
  CHECK(render("{% for x in [1,2,3,4] %}{% if x == 2 %}{% continue %}{% endif %}"
               "{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}") == "13");
  CHECK(render("{% for x in 'ab' %}{{ loop.revindex }}{{ x }}{% endfor %}") == "2a1b");
  CHECK(render("{% for c in [1,2,3] %}{{ loop.cycle('x', 'y') }}{% endfor %}") == "xyx");
}

TEST_CASE("jinja: set, scoping and namespaces") {
  // A set inside a loop does not leak out of it; a namespace attribute does.
  CHECK(render("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}") == "1");
  CHECK(render("{% set ns = namespace(x=1) %}{% for i in [1] %}{% set ns.x = 2 %}{% endfor %}{{ ns.x }}") ==
        "2");
  CHECK(render("{% if true %}{% set y = 'in if' %}{% endif %}{{ y }}") == "in if");
  CHECK(render("{% set a, b = [1, 2] %}{{ b }}{{ a }}") == "21");
  CHECK(render("{% set block %}x{{ 1 + 1 }}{% endset %}[{{ block }}]") == "[x2]");
  CHECK(error_of("{% set s = 'x' %}{% set s.a = 1 %}").find("not a namespace") != std::string::npos);
}

TEST_CASE("jinja: macros") {
  CHECK(render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}"
               "{{ greet('A') }} {{ greet('B', punct='?') }} {{ greet(name='C') }}") == "Hi A! Hi B? Hi C!");
  CHECK(render("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}") ==
        "321");
  // Macro-local set does not leak into the template.
  CHECK(render("{% macro m() %}{% set z = 5 %}{{ z }}{% endmacro %}{{ m() }}[{{ z }}]") == "5[]");
}

TEST_CASE("jinja: expressions") {
  CHECK(render("{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }}") ==
        "7 3 -4 1 2 1024");
  CHECK(render("{{ 7 / 2 }} {{ 1.5 + 1 }} {{ 4 / 2 }}") == "3.5 2.5 2.0");
  CHECK(render("{{ 'a' ~ 1 ~ none }} {{ 'ab' * 2 }} {{ [1] + [2] }}") == "a1None abab [1, 2]");
  CHECK(render("{{ 'x' if false else 'y' }}{{ 'z' if false }}") == "y");
  CHECK(render("{{ 1 < 2 and 'b' >= 'a' }} {{ not 1 == 1 }} {{ 0 or 'd' }} {{ 1 != 1.0 }}") ==
        "True False d False");
  CHECK(render("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [3] }}") ==
        "True True True False");
  CHECK(render("{{ {'a': [1, 'x', none, true]} }}") == "{'a': [1, 'x', None, True]}");
  CHECK(render("{{ 'adjacent' ' strings' }}") == "adjacent strings");
  CHECK(render("{{ messages | length - 1 }}", Value::object().set("messages", Value(moevk::jinja::Array{1, 2}))) ==
        "1");
}

TEST_CASE("jinja: indexing, slicing and string methods") {
  CHECK(render("{% set l = [1, 2, 3, 4] %}{{ l[0] }}{{ l[-1] }}{{ l[1:3] }}{{ l[::-1] }}{{ l[:-1] }}") ==
        "14[2, 3][4, 3, 2, 1][1, 2, 3]");
  CHECK(render("{{ 'héllo'[1] }}{{ 'héllo'[1:3] }}{{ 'héllo' | length }}") == "éél5");
  CHECK(render("{{ '  x y  '.strip() }}|{{ '\\n\\nx'.lstrip('\\n') }}|{{ 'xaa'.rstrip('a') }}") == "x y|x|x");
  CHECK(render("{{ 'a</think>b'.split('</think>')[-1] }}{{ 'a b  c'.split() }}{{ 'a,b,c'.split(',', 1) }}") ==
        "b['a', 'b', 'c']['a', 'b,c']");
  CHECK(render("{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith('x') }}{{ 'aXa'.replace('a', 'b') }}") ==
        "TrueFalsebXb");
  CHECK(render("{{ 'Hi'.upper() }}{{ 'Hi'.lower() }}{{ 'hello world'.title() }}") == "HIhiHello World");
  CHECK(render("{{ {'a': 1}.get('b', 'none') }}{{ {'items': 1}['items'] }}") == "none1");
}

TEST_CASE("jinja: filters") {
  CHECK(render("{{ '  x  ' | trim }}|{{ [1, 2] | length }}|{{ 'ab' | upper }}|{{ 'AB' | lower }}") ==
        "x|2|AB|ab");
  CHECK(render("{{ {'b': 'é\"', 'a': [1, 2.5, none, true]} | tojson }}") ==
        "{\"b\": \"é\\\"\", \"a\": [1, 2.5, null, true]}");
  CHECK(render("{{ {'a': [1]} | tojson(indent=2) }}") == "{\n  \"a\": [\n    1\n  ]\n}");
  CHECK(render("{{ [3, 1] | first }}{{ [3, 1] | last }}{{ x | default('d') }}{{ '' | default('e', true) }}") ==
        "31de");
  CHECK(render("{{ ['a', 'b'] | join(', ') }}|{{ 12 | string ~ 'x' }}|{{ 'aa' | replace('a', 'b') }}") ==
        "a, b|12x|bb");
  const char* people = "{% set p = [{'n': 'a', 'k': 1}, {'n': 'b', 'k': 0}, {'n': 'c'}] %}";
  CHECK(render(std::string(people) + "{{ p | selectattr('k') | map(attribute='n') | join }}") == "a");
  CHECK(render(std::string(people) + "{{ p | rejectattr('k', 'defined') | map(attribute='n') | list }}") ==
        "['c']");
  CHECK(render(std::string(people) + "{{ p | selectattr('n', 'equalto', 'b') | list | length }}") == "1");
  CHECK(render("{% for k, v in {'x': 1} | items %}{{ k }}{{ v }}{% endfor %}{{ [2, 1] | sort }}") == "x1[1, 2]");
  // items() yields tuples, which print as Python tuples.
  CHECK(render("{{ {'a': 1}.items() | list }} {{ (1,) }} {{ () }}") == "[('a', 1)] (1,) ()");
}

TEST_CASE("jinja: tests") {
  Value g = Value::object();
  g.set("s", Value("x")).set("d", Value::object()).set("n", Value(nullptr));
  CHECK(render("{{ s is defined }}{{ u is defined }}{{ u is undefined }}{{ n is none }}{{ s is not none }}", g) ==
        "TrueFalseTrueTrueTrue");
  CHECK(render("{{ s is string }}{{ d is mapping }}{{ s is mapping }}{{ 3 is number }}{{ 3 is divisibleby 3 }}",
               g) == "TrueTrueFalseTrueTrue");
  CHECK(render("{{ false is false }}{{ 0 is false }}{{ [1] is iterable }}{{ 1 is iterable }}") ==
        "TrueFalseTrueFalse");
}

TEST_CASE("jinja: errors name the line and column") {
  CHECK(error_of("a\n{% if x %}") == "template line 2, column 11: unexpected end of template, expected 'endif'");
  CHECK(error_of("{{ 1 + }}") == "template line 1, column 8: unexpected '}}'");
  CHECK(error_of("x\n  {{ 'a' + 1 }}").find("template line 2, column 10: unsupported operand") == 0);
  CHECK(error_of("{{ x | nope }}").find("unknown filter 'nope'") != std::string::npos);
  CHECK(error_of("{{ u.a }}").find("undefined") != std::string::npos);
  CHECK(error_of("{% frobnicate %}").find("unknown or unsupported statement 'frobnicate'") != std::string::npos);
  CHECK(error_of("{{ 'abc }}").find("unterminated string") != std::string::npos);
  CHECK(error_of("{{ raise_exception('no') }}").find("'raise_exception' is not callable") != std::string::npos);
  CHECK(error_of("{{ 1 // 0 }}").find("division by zero") != std::string::npos);
}

TEST_CASE("messages as template values: DeepSeek-V3 tool calls (expected text from Python jinja2)") {
  MOEVK_REQUIRE_SHARED(vocab, "vocab/vocab-deepseek_v3.gguf");
  auto file = moevk::gguf::File::open(vocab);
  ChatContext ctx = moevk::chat_context_of(file);
  using moevk::jinja::Array;
  auto msg = [](const char* role, Value content) {
    Value m = Value::object();
    m.set("role", Value(role)).set("content", std::move(content));
    return m;
  };
  Value fn = Value::object();
  fn.set("name", Value("get_w")).set("arguments", Value("{\"city\": \"Paris\"}"));
  Value call = Value::object();
  call.set("type", Value("function")).set("function", fn);
  Value with_call = msg("assistant", Value(nullptr));
  with_call.set("tool_calls", Value(Array{call}));
  Value messages(Array{msg("user", Value("weather?")), with_call, msg("tool", Value("sunny")),
                       msg("assistant", Value("It is sunny."))});
  CHECK(moevk::render_chat(*moevk::chat_template_of(file), messages, true, ctx) ==
        "<｜begin▁of▁sentence｜><｜User｜>weather?<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function"
        "<｜tool▁sep｜>get_w\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜><｜tool▁outputs▁begin｜>"
        "<｜tool▁output▁begin｜>sunny<｜tool▁output▁end｜><｜tool▁outputs▁end｜>It is sunny.<｜end▁of▁sentence｜>"
        "<｜Assistant｜>");
}
