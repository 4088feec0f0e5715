// The Jinja engine under hostile templates: deep nesting, integer overflow, huge values and endless
// loops are clear moevk::Errors (naming the limit), never a stack overflow, a signal, a wrapped integer
// or memory and time without bound.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "loader/template/chat_template.h"
#include "loader/gguf/gguf.h"
#include "loader/template/jinja.h"
#include "tests/support/test_data.h"

namespace {

std::string render(const std::string& tmpl) { return moevk::jinja::Template(tmpl).render(moevk::jinja::Value::object()); }

std::string error_of(const std::string& tmpl) {
  try {
    render(tmpl);
  } catch (const moevk::Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

TEST_CASE("jinja: deep nesting is an error, not a stack overflow") {
  const size_t n = 100000;
  CHECK(error_of("{{ " + repeat("(", n) + "1" + repeat(")", n) + " }}").find("nested deeper") != std::string::npos);
  CHECK(error_of("{{ " + repeat("[", n) + repeat("]", n) + " }}").find("nested deeper") != std::string::npos);
  CHECK(error_of("{{ " + repeat("not ", n) + "1 }}").find("nested deeper") != std::string::npos);
  CHECK(error_of("{{ " + repeat("-", n) + "1 }}").find("nested deeper") != std::string::npos);
  CHECK(error_of("{{ 1" + repeat(" + 1", n) + " }}").find("nested deeper") != std::string::npos);
  CHECK(error_of("{{ x" + repeat(".a", n) + " }}").find("nested deeper") != std::string::npos);
  CHECK(error_of("{{ x" + repeat("[0]", n) + " }}").find("nested deeper") != std::string::npos);
  CHECK(error_of("{{ x" + repeat("()", n) + " }}").find("nested deeper") != std::string::npos);
  CHECK(error_of("{{ 'a'" + repeat(" | trim", n) + " }}").find("nested deeper") != std::string::npos);
  CHECK(error_of("{{ 1" + repeat(" if 1 else 2", n / 2) + " }}").find("nested deeper") != std::string::npos);
  const size_t blocks = 20000;  // deep, within the source size limit
  CHECK(error_of(repeat("{% if true %}", blocks) + repeat("{% endif %}", blocks)).find("nested deeper") !=
        std::string::npos);
  CHECK(error_of(repeat("{% for x in [1] %}", blocks) + repeat("{% endfor %}", blocks)).find("nested deeper") !=
        std::string::npos);
  // A huge source is refused before it is parsed (a 60 MB one took 30 s and 7 GB to parse).
  CHECK(error_of(repeat("{{1}}", 12000000)).find("larger than the limit (1048576 bytes)") != std::string::npos);
  CHECK(render(repeat("{{1}}", 200000)).size() == 200000);
  // Within the limit, chains still work.
  CHECK(render("{{ 1" + repeat(" + 1", 150) + " }}") == "151");
  // A macro that calls itself forever, and nesting inside lists under the limit many times over.
  CHECK(error_of("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}").find("deep") != std::string::npos);
  std::string inner = "1" + repeat(" + 1", 150);
  std::string nested = inner;
  for (int i = 0; i < 150; ++i) nested = "[" + nested + "][0]" + " + 1";
  CHECK(error_of("{{ " + nested + " }}").find("nested deeper") != std::string::npos);
}

TEST_CASE("jinja: integer arithmetic is checked") {
  const std::string min = "(-9223372036854775807 - 1)";
  CHECK(render("{{ " + min + " }}") == "-9223372036854775808");
  CHECK(error_of("{{ " + min + " // -1 }}").find("overflow") != std::string::npos);
  CHECK(render("{{ " + min + " % -1 }}") == "0");
  CHECK(render("{{ 7 % -1 }}{{ -7 // -1 }}{{ -7 // 2 }}{{ -7 % 3 }}{{ 7 % -3 }}") == "07-42-2");
  CHECK(error_of("{{ -" + min + " }}").find("overflow") != std::string::npos);
  CHECK(error_of("{{ 9223372036854775807 + 1 }}").find("overflow") != std::string::npos);
  CHECK(error_of("{{ " + min + " - 1 }}").find("overflow") != std::string::npos);
  CHECK(error_of("{{ 3037000500 * 3037000500 }}").find("overflow") != std::string::npos);
  CHECK(render("{{ 2 ** 62 }}") == "4611686018427387904");
  CHECK(error_of("{{ 2 ** 63 }}").find("overflow") != std::string::npos);
  CHECK(render("{{ 1 ** 1000000000000000000 }}{{ (-1) ** 1000000000000000001 }}") == "1-1");
  CHECK(error_of("{{ " + min + " | abs }}").find("overflow") != std::string::npos);
  CHECK(error_of("{{ [9223372036854775807, 1] | sum }}").find("overflow") != std::string::npos);
  CHECK(render("{{ " + min + " is divisibleby(-1) }}") == "True");
  CHECK(error_of("{{ 1e300 | int }}").find("does not fit") != std::string::npos);
  CHECK(render("{{ range(9223372036854775806, 9223372036854775807, 5) | list }}") == "[9223372036854775806]");
  CHECK(render("{{ [1, 2, 3][::9223372036854775807] }}") == "[1]");
}

TEST_CASE("jinja: values, output and work are bounded") {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  CHECK(error_of("{{ 'a' * 100000000000 }}").find("'*' would make") != std::string::npos);
  CHECK(error_of("{{ [1, 2] * 100000000000 }}").find("'*' would make") != std::string::npos);
  CHECK(error_of("{{ ['" + std::string(1 << 20, 'x') + "'] * 1000 }}").find("bytes") != std::string::npos);
  CHECK(error_of("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}"
                 "{% endfor %}")
            .find("larger than the limit") != std::string::npos);
  CHECK(error_of("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
                 "{% endfor %}")
            .find("larger than") != std::string::npos);
  CHECK(error_of("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}"
                 "{% endfor %}")
            .find("larger than the limit") != std::string::npos);
  CHECK(error_of("{% for i in range(100) %}{{ 'x' * 1000000 }}{% endfor %}").find("output is larger") !=
        std::string::npos);
  CHECK(error_of("{{ 'ab' | indent(1000000000000) }}").find("indent width") != std::string::npos);
  CHECK(error_of("{{ ('x' * 1000000).replace('', 'yyyyyyyyyyyyyyyyyyyy') }}").find("larger than the limit") !=
        std::string::npos);
  // Endless work: nested loops, and a macro that calls itself twice.
  CHECK(error_of("{% for i in range(1000000) %}{% for j in range(1000000) %}{% endfor %}{% endfor %}")
            .find("takes too long") != std::string::npos);
  CHECK(error_of("{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}")
            .find("takes too long") != std::string::npos);
  // Quadratic growth: each step copies the whole list or string, which counts as work.
  CHECK(error_of("{% set ns = namespace(l=[]) %}{% for i in range(1000000) %}{% set ns.l = ns.l + [i] %}"
                 "{% endfor %}")
            .find("takes too long") != std::string::npos);
  // A list that contains itself.
  CHECK(error_of("{% set a = [] %}{{ a.append(a) }}{{ a }}").find("containing itself") != std::string::npos);
  CHECK(error_of("{% set a = [] %}{{ a.append(a) }}{{ a | tojson }}").find("containing itself") !=
        std::string::npos);
  CHECK(error_of("{% set a = [] %}{% set b = [a] %}{{ a.append(b) }}").find("containing itself") !=
        std::string::npos);
  CHECK(error_of("{% set ns = namespace(l=[]) %}{% set ns.x = [ns] %}").find("containing itself") !=
        std::string::npos);
  // Deep but finite nesting: repr, tojson and == stop at their depth limit.
  CHECK(error_of("{% set ns = namespace(l=[]) %}{% for i in range(100) %}{% set ns.l = [ns.l] %}{% endfor %}"
                 "{{ ns.l }}")
            .find("nested deeper") != std::string::npos);
  CHECK(error_of("{% set ns = namespace(l=[]) %}{% for i in range(100) %}{% set ns.l = [ns.l] %}{% endfor %}"
                 "{{ ns.l == ns.l }}")
            .find("nested deeper") != std::string::npos);
  const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
  MESSAGE("hostile templates took " << seconds << " s");
  CHECK(seconds < 300);  // no hang: a few seconds here, ~100 s under ASan on a loaded 2-core machine
}

// Sanitizers make every step 10-50x slower; the bound is for the release build.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr double kSlowdown = 50;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr double kSlowdown = 50;
#else
constexpr double kSlowdown = 1;
#endif
#else
constexpr double kSlowdown = 1;
#endif

TEST_CASE("jinja: the work inside filters, methods and operators counts against the budget") {
  using clock = std::chrono::steady_clock;
  // Each loop repeats one call that touches a large value; before the budget counted that work
  // (only evaluations and loop iterations), each of these ran for 10 s to hours.
  const std::string big = "{% set s = 'a' * 16000000 %}{% set t = 'a' * 16000000 %}";
  const std::string list = "{% set l = range(1000000) | list %}";
  const std::string loop = "{% for i in range(1000000) %}";
  const std::vector<std::string> hostile = {
      big + loop + "{% set x = s.replace('a', 'b') %}{% endfor %}",
      big + loop + "{% set x = s.count('a') %}{% endfor %}",
      big + loop + "{% set x = s.count('aaaaaaaa') %}{% endfor %}",
      big + loop + "{% set x = s | tojson %}{% endfor %}",
      big + loop + "{% set x = s == t %}{% endfor %}",
      big + loop + "{% set x = s < t %}{% endfor %}",
      big + loop + "{% set x = 'b' in s %}{% endfor %}",
      big + loop + "{% if s %}{% endif %}{% endfor %}",
      big + loop + "{% set x = s | length %}{% endfor %}",
      big + loop + "{% set x = s[i] %}{% endfor %}",
      big + loop + "{% set x = s.split('b') %}{% endfor %}",
      big + loop + "{% set x = s.upper() %}{% endfor %}",
      big + loop + "{% set x = s | trim %}{% endfor %}",
      big + loop + "{% set x = s.startswith(t) %}{% endfor %}",
      big + loop + "{% set x = s | e %}{% endfor %}",
      big + loop + "{% set x = s.find('b') %}{% endfor %}",
      "{% set s = 'ab ' * 300000 %}" + loop + "{% set x = s.split() %}{% endfor %}",
      "{% set s = 'a' * 1000000 %}" + loop + "{% set x = s | list %}{% endfor %}",
      "{% set s = 'a' * 1000000 %}" + loop + "{% set x = s[::-1] %}{% endfor %}",
      "{% set s = 'a' * 1000000 %}" + loop + "{% set x = s.replace('', '') %}{% endfor %}",
      list + loop + "{% set x = l == l %}{% endfor %}",
      list + loop + "{% set x = -1 in l %}{% endfor %}",
      list + loop + "{% set x = l | unique %}{% endfor %}",
      list + loop + "{% set x = l | sort %}{% endfor %}",
      list + loop + "{% set x = l | tojson %}{% endfor %}",
      list + loop + "{% set x = l | string %}{% endfor %}",
      list + loop + "{% set x = l | join(',') %}{% endfor %}",
      list + loop + "{% set x = l | max %}{% endfor %}",
      list + loop + "{% set x = l | sum %}{% endfor %}",
      list + loop + "{% set x = l | select('odd') | list %}{% endfor %}",
      list + loop + "{% set x = l | map('string') | list %}{% endfor %}",
      list + loop + "{% set x = l[::-1] %}{% endfor %}",
      list + loop + "{% set x = l.count(-1) %}{% endfor %}",
      list + loop + "{% set x = l | first %}{% endfor %}",
      list + loop + "{% for y in l %}{% endfor %}{% endfor %}",
      big + "{% set d = {'a': s} %}" + loop + "{% set x = dict(d) %}{% endfor %}",
      big + "{% set d = {'a': s} %}" + loop + "{% set x = namespace(d) %}{% endfor %}",
      "{% set ns = namespace(l=[1]) %}{% for i in range(1000) %}{% set ns.l = [ns.l] %}{% endfor %}"
      "{% set L = [ns.l] * 100000 %}" + loop + "{% set x = L | sort(attribute='0.' * 1000 + '0') %}{% endfor %}",
      list + "{% set a = [] %}" + loop + "{{ a.append(l) }}{% endfor %}",
      list + "{% set ns = namespace(x=0) %}" + loop + "{% set ns.x = [l] %}{% endfor %}",
      "{{ range(1000000) | unique | list | unique | list | unique | length }}",
      "{{ ('' * 1000000000000000000) | length }}{{ ([] * 1000000000000000000) | length }}" + loop +
          "{% set x = [[1]] * 1000000 %}{% endfor %}",
  };
  for (const std::string& tmpl : hostile) {
    CAPTURE(tmpl);
    const auto t0 = clock::now();
    const std::string err = error_of(tmpl);
    const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
    MESSAGE(seconds << " s: ..." << tmpl.substr(tmpl.size() > 60 ? tmpl.size() - 60 : 0) << ": " << err.substr(0, 90));
    CHECK(err.find("takes too long (more than 4000000 steps of work") != std::string::npos);
    // About a second on a quiet 2-core machine, 2.6-4.5 s while two builds ran beside it; an
    // uncharged step would take hours, so the bar only has to tell those apart.
    CHECK(seconds < 15 * kSlowdown);
  }
  // A list that keeps copies of a large string stops at the list size limit, not at memory's end.
  CHECK(error_of("{% set s = 'a' * 16000000 %}{% set l = [] %}{% for i in range(1000) %}{{ l.append(s) }}{% endfor %}")
            .find("larger than the limit") != std::string::npos);
  // unique is linear: a million items are no work for it.
  CHECK(render("{{ range(300000) | unique | length }}") == "300000");
  CHECK(render("{{ [1, 1.0, true, 'a', 'A', 'a', none, none, [1], [1], 2.5, 2.5] | unique | list }}") ==
        "[1, 'a', 'A', None, [1], 2.5]");
  CHECK(render("{{ [3, 1, 2, 1] | min }}{{ [3, 1, 3, 2] | max }}{{ ['b', 'a'] | min }}") == "13a");
}

TEST_CASE("jinja: error messages carry no escape sequences or megabytes from the template") {
  // raise_exception's text and values quoted in errors come from the model: printed to a terminal,
  // ESC [2J would clear it, and 16 MB would flood it.
  const std::vector<moevk::ChatMessage> msgs = {{"user", "\x1b[2J\xc2\x9b" "31m\xff" + std::string(100000, 'x')}};
  std::string err;
  try {
    moevk::render_chat_strict("{{ raise_exception(messages[0]['content']) }}", msgs, false, {});
  } catch (const moevk::jinja::TemplateRaised& e) {
    err = e.what();
  }
  CHECK(err.find("raised an exception: \\x1b[2J\\xc2\\x9b31m\\xff") != std::string::npos);
  CHECK(err.find("(100010 bytes in all)") != std::string::npos);
  CHECK(err.size() < 1200);
  CHECK(err.find('\x1b') == std::string::npos);
  err = error_of("{% set a, b = [[" + repeat("'" + std::string(1000, 'y') + "', ", 1000) + "1]] %}");
  CHECK(err.find("cannot unpack") != std::string::npos);
  CHECK(err.size() < 1200);
  // Valid UTF-8 stays as it is.
  CHECK(moevk::printable("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x99\x82\n") == "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x99\x82\\n");
  // strftime_now: long formats work, huge ones are refused.
  moevk::ChatContext ctx;
  ctx.date = "2026-11-22";
  CHECK(moevk::render_chat_strict("{{ strftime_now('%Y' * 1000) | length }}", {}, false, ctx) == "4000");
  CHECK_THROWS_WITH_AS(moevk::render_chat_strict("{{ strftime_now('%Y' * 5000) }}", {}, false, ctx),
                       doctest::Contains("longer than 4096"), moevk::Error);
}

TEST_CASE("jinja limits: the real templates render a long conversation well within them") {
  std::vector<moevk::ChatMessage> msgs = {{"system", "Be brief."}};
  for (int i = 0; i < 1000; ++i) {
    msgs.push_back({"user", "Question " + std::to_string(i) + ": " + std::string(200, 'q')});
    msgs.push_back({"assistant", "Answer " + std::to_string(i) + ": " + std::string(200, 'a')});
  }
  msgs.push_back({"user", "Last question"});
  for (const std::string model : {"qwen3", "deepseek_v3", "gptoss", "llama3"}) {
    CAPTURE(model);
    MOEVK_REQUIRE_SHARED(vocab, "vocab/vocab-" + model + ".gguf");
    auto file = moevk::gguf::File::open(vocab);
    moevk::ChatContext ctx = moevk::chat_context_of(file);
    ctx.date = "2026-11-22";
    const std::string out = moevk::render_chat_strict(*moevk::chat_template_of(file), msgs, true, ctx);
    CHECK(out.find("Question 999") != std::string::npos);
  }
}
