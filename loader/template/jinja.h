// A Jinja2-subset template engine for chat templates. It renders templates the way HF transformers
// does (jinja2 with trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False, loopcontrols,
// HF's tojson), which is what the real Qwen3 / DeepSeek-V3 / gpt-oss / Llama 3 / Mixtral templates need.
//
// Supported: {{ }}, {% %}, {# #}, whitespace control (- and +), if/elif/else, for (loop.*, else,
// inline `if` filter, tuple unpacking), break/continue, set (names, namespace attributes, block set),
// macros with default arguments, Python-like values (None, bool, int, float, str, list, dict),
// the usual operators, filters, tests, and str/dict/list methods. Not supported: template inheritance,
// include/import, call blocks, raw blocks, autoescaping.
//
// Errors (syntax or runtime) are moevk::Error whose message names the line and column in the template.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loader/error.h"

namespace moevk::jinja {

class Value;
using Array = std::vector<Value>;
using Kwargs = std::vector<std::pair<std::string, Value>>;
// A callable value (global function, bound method, macro). args are positional, kwargs by name.
using Function = std::function<Value(std::vector<Value>& args, Kwargs& kwargs)>;

struct Object {
  std::vector<std::pair<std::string, Value>> items;  // insertion order, like a Python dict
  bool is_namespace = false;                          // namespace(): attributes may be assigned
  const Value* find(std::string_view key) const;
  Value* find(std::string_view key);
  void set(const std::string& key, Value v);
};

// A dynamically typed template value. Lists and dicts are shared by reference (Python semantics).
class Value {
 public:
  enum class Type { Undefined, None, Bool, Int, Float, String, Array, Object, Function };

  Value() = default;  // undefined
  Value(std::nullptr_t) : type_(Type::None) {}
  Value(bool b) : type_(Type::Bool), i_(b) {}
  Value(int v) : type_(Type::Int), i_(v) {}
  Value(int64_t v) : type_(Type::Int), i_(v) {}
  Value(double v) : type_(Type::Float), f_(v) {}
  Value(const char* s) : type_(Type::String), s_(s) {}
  Value(std::string s) : type_(Type::String), s_(std::move(s)) {}
  Value(std::string_view s) : type_(Type::String), s_(s) {}
  Value(Array a) : type_(Type::Array), arr_(std::make_shared<Array>(std::move(a))) {}
  static Value tuple(Array a) {
    Value v(std::move(a));
    v.tuple_ = true;
    return v;
  }
  static Value object() { return Value(std::make_shared<Object>()); }
  static Value function(Function f) { return Value(std::make_shared<Function>(std::move(f))); }
  explicit Value(std::shared_ptr<Object> o) : type_(Type::Object), obj_(std::move(o)) {}
  explicit Value(std::shared_ptr<Function> f) : type_(Type::Function), fn_(std::move(f)) {}

  Type type() const { return type_; }
  bool is_undefined() const { return type_ == Type::Undefined; }
  bool is_none() const { return type_ == Type::None; }
  bool is_bool() const { return type_ == Type::Bool; }
  bool is_int() const { return type_ == Type::Int; }
  bool is_float() const { return type_ == Type::Float; }
  bool is_number() const { return type_ == Type::Int || type_ == Type::Float; }
  bool is_string() const { return type_ == Type::String; }
  bool is_array() const { return type_ == Type::Array; }
  bool is_object() const { return type_ == Type::Object; }
  bool is_function() const { return type_ == Type::Function; }
  bool is_tuple() const { return tuple_; }  // an array that prints as a Python tuple

  bool as_bool() const { return i_ != 0; }
  int64_t as_int() const { return i_; }
  double as_float() const { return type_ == Type::Float ? f_ : double(i_); }
  const std::string& as_string() const { return s_; }
  Array& as_array() const { return *arr_; }
  Object& as_object() const { return *obj_; }
  Function& as_function() const { return *fn_; }

  bool truthy() const;                 // Python bool()
  std::string str() const;             // Python str() (what {{ }} prints); undefined -> ""
  std::string repr() const;            // Python repr()
  std::string type_name() const;
  // Python json.dumps(v, ensure_ascii=False, indent=indent, sort_keys=sort_keys); indent < 0: none.
  std::string to_json(int indent = -1, bool sort_keys = false) const;
  bool operator==(const Value& o) const;  // Python ==

  // Object convenience: set a key (the value must be an object).
  Value& set(const std::string& key, Value v) {
    obj_->set(key, std::move(v));
    return *this;
  }

 private:
  Type type_ = Type::Undefined;
  bool tuple_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::string s_;
  std::shared_ptr<Array> arr_;
  std::shared_ptr<Object> obj_;
  std::shared_ptr<Function> fn_;
};

struct Stmt;  // parsed template (jinja_ast.h)

class Template {
 public:
  // Parses; moevk::Error "template line L, column C: ..." on a syntax error.
  explicit Template(std::string source);
  ~Template();
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // Renders with the given global variables (an object value). Runtime errors are moevk::Error
  // naming the line and column.
  std::string render(const Value& globals) const;

 private:
  std::vector<std::unique_ptr<Stmt>> body_;
};

// Template errors and raise_exception's text pass through moevk::printable() (loader/error.h).
// Thrown by the template's raise_exception(msg): the template itself rejected its input.
class TemplateRaised : public Error {
 public:
  explicit TemplateRaised(const std::string& what) : Error(what) {}
};

}  // namespace moevk::jinja
