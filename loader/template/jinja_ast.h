// Internal to the Jinja engine: tokens, syntax tree, and the lexer/parser/builtin entry points.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "loader/template/jinja.h"

namespace moevk::jinja {

// Limits that keep a hostile template from exhausting the stack, memory or time; past one, parsing
// or rendering is a moevk::Error naming the limit.
inline constexpr size_t kMaxSourceBytes = size_t{1} << 20;  // template source (real ones: < 64 KiB)
inline constexpr int kMaxNesting = 200;                 // parser: nested blocks and brackets; tree height
inline constexpr int kMaxEvalDepth = 500;               // evaluator: nested evaluation, macro calls included
inline constexpr size_t kMaxStringBytes = size_t{16} << 20;  // a string value, and the rendered output
inline constexpr size_t kMaxItems = size_t{1} << 20;        // items in a list or dict value
inline constexpr size_t kMaxListBytes = size_t{128} << 20;  // a list's items and their strings, made by + or *
inline constexpr int kMaxValueDepth = 64;               // lists/dicts inside each other for repr, tojson, ==
inline constexpr uint64_t kMaxSteps = 4'000'000;        // the work budget of one render (below)

// The work budget of one render, in steps: an evaluation and a loop iteration are a step each, and
// the filters, methods and operators charge for the work inside them: a step per item they copy,
// visit or compare, per kScanBytesPerStep bytes they walk a character at a time (UTF-8 decoding,
// escaping, case changes) and per kCopyBytesPerStep bytes they copy, compare or search in bulk. So a
// render stops after about the same CPU time (a second or two) whatever the template spends it on,
// with a moevk::Error naming the limit.
inline constexpr uint64_t kScanBytesPerStep = 64;
inline constexpr uint64_t kCopyBytesPerStep = 256;  // so a render copies at most ~1 GiB

// Charges `steps` to the render running on this thread; nothing when none is (values made and
// printed by the caller outside a render are its own work).
void charge(uint64_t steps);
inline void charge_scan(uint64_t bytes) { charge(bytes / kScanBytesPerStep); }
inline void charge_copy(uint64_t bytes) { charge(bytes / kCopyBytesPerStep); }

// The budget of one render: installed on this thread for its lifetime (the previous one, if any, is
// restored after it).
class WorkMeter {
 public:
  WorkMeter();
  ~WorkMeter();
  WorkMeter(const WorkMeter&) = delete;
  WorkMeter& operator=(const WorkMeter&) = delete;
  uint64_t steps() const { return steps_; }

 private:
  friend void charge(uint64_t steps);
  uint64_t steps_ = 0;
  WorkMeter* outer_;
};

// moevk::Error unless a string or list of `n` bytes/items is within the limits.
void check_string_size(size_t n);
void check_items(size_t n);
// True when `v` is, or holds through lists and dicts, the list or dict stored at `target`. append and
// namespace assignment refuse such a value: a list containing itself would leak (shared ownership in a
// cycle) and recurse without end. Charges a step per value it looks at.
bool holds(const Value& v, const void* target);

// Bytes a list holds directly (its values and their strings); moevk::Error when (a + b) * times is too big.
size_t list_bytes(const Array& a);
void check_list_bytes(size_t a, size_t b, size_t times);

struct Token {
  enum Kind { Text, VarOpen, VarClose, BlockOpen, BlockClose, Name, String, Int, Float, Op, End };
  Kind kind;
  std::string text;  // Text content, name, operator, decoded string literal, number spelling
  int line, col;
};

// Tokenizes with HF's whitespace rules (trim_blocks, lstrip_blocks, no trailing newline).
std::vector<Token> lex(const std::string& source);

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum Kind {
    Literal,   // literal
    Name,      // name
    Attr,      // args[0].name
    Item,      // args[0][args[1]]
    Slice,     // args[0][args[1]:args[2]:args[3]] (null parts are absent)
    Call,      // args[0](args[1..], kwargs)
    Filter,    // args[0] | name(args[1..], kwargs)
    Test,      // args[0] is [not] name(args[1..])
    Unary,     // name in {"-", "+", "not"} applied to args[0]
    Binary,    // args[0] name args[1]: + - * / // % ** ~ == != < <= > >= in "not in" and or
    Cond,      // args[1] if args[0] else args[2] (args[2] may be null)
    List,      // [args...] (also tuples)
    Dict,      // {kwargs-like pairs: keys in args at even, values at odd positions}
  };
  Kind kind;
  int line = 0, col = 0;
  int height = 1;  // 1 + the tallest child (set by the parser, at most kMaxNesting)
  std::string name;
  Value literal;
  bool negated = false;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  enum Kind {
    Text,      // text
    Output,    // {{ exprs[0] }}
    If,        // exprs[i] -> bodies[i]; bodies.size() == exprs.size() + 1 when there is an else
    For,       // for names in exprs[0] [if exprs[1]]: bodies[0], else bodies[1]
    Set,       // set names[0] (or names[0].attr, or names... tuple) = exprs[0]
    SetBlock,  // set names[0] %} bodies[0] {% endset
    Macro,     // macro text(names..., defaults in exprs (null = required)) bodies[0]
    Break,
    Continue,
  };
  Kind kind;
  int line = 0, col = 0;
  std::string text;
  std::string attr;
  std::vector<std::string> names;
  std::vector<ExprPtr> exprs;
  std::vector<Body> bodies;
};

Body parse(const std::vector<Token>& tokens);

// "template line L, column C: message"
[[noreturn]] void fail_at(int line, int col, const std::string& message);

// Builtins (jinja_builtins.cpp). Each throws moevk::Error with a bare message; the caller adds the
// position. `found` is false for an unknown name.
Value apply_filter(const std::string& name, Value& input, std::vector<Value>& args, Kwargs& kwargs,
                   bool& found);
bool apply_test(const std::string& name, const Value& input, std::vector<Value>& args, bool& found);
// obj.name for strings, dicts and lists: a bound method or a dict entry; undefined when absent.
Value get_attr(const Value& obj, const std::string& name);
// obj[key] with Python indexing (negative indexes, dict keys); undefined when absent.
Value get_item(const Value& obj, const Value& key);
Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step);

// UTF-8 helpers (Python strings index by code point).
std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view s);

}  // namespace moevk::jinja
