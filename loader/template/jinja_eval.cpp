// Jinja interpreter: evaluates the statement tree against a chain of scopes. Scoping follows jinja2:
// each for-loop iteration and each macro call opens a scope (assignments there do not leak out),
// `if` does not; namespace() objects are shared, so `set ns.attr = ...` is visible everywhere.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "loader/template/jinja_ast.h"

namespace moevk::jinja {
namespace {

struct Scope {
  std::unordered_map<std::string, Value> vars;
  Scope* parent = nullptr;
};

bool positioned(const Error& e) { return std::string_view(e.what()).starts_with("template line"); }

[[noreturn]] void overflow(const char* op) {
  fail("integer overflow in '{}' (integers are 64-bit here)", op);
}

// Python's a // b and a % b for b != 0; INT64_MIN // -1 does not fit.
int64_t floor_div(int64_t a, int64_t b) {
  if (b == -1) {
    if (a == INT64_MIN) overflow("//");
    return -a;
  }
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
int64_t floor_mod(int64_t a, int64_t b) {
  if (b == -1) return 0;
  int64_t r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}

int64_t checked_pow(int64_t base, int64_t exp) {
  int64_t p = 1;
  while (exp > 0) {
    if ((exp & 1) && __builtin_mul_overflow(p, base, &p)) overflow("**");
    exp >>= 1;
    if (exp > 0 && __builtin_mul_overflow(base, base, &base)) overflow("**");
  }
  return p;
}

// A value about to be copied, charged for the copy (a string's bytes are copied with it).
const Value& copied(const Value& v) {
  charge(1);
  if (v.is_string()) charge_copy(v.as_string().size());
  return v;
}

class Interp {
 public:
  explicit Interp(const Value& globals) {
    root_.vars["namespace"] = Value::function([](std::vector<Value>& a, Kwargs& kw) {
      Value ns = Value::object();
      ns.as_object().is_namespace = true;
      if (!a.empty() && a[0].is_object())
        for (auto& [k, v] : a[0].as_object().items) ns.set(k, copied(v));
      for (auto& [k, v] : kw) ns.set(k, v);
      return ns;
    });
    root_.vars["dict"] = Value::function([](std::vector<Value>& a, Kwargs& kw) {
      Value d = Value::object();
      if (!a.empty() && a[0].is_object())
        for (auto& [k, v] : a[0].as_object().items) d.set(k, copied(v));
      for (auto& [k, v] : kw) d.set(k, v);
      return d;
    });
    root_.vars["range"] = Value::function([](std::vector<Value>& a, Kwargs&) {
      for (const Value& v : a)
        if (!v.is_int()) fail("range expects integers");
      int64_t start = a.size() >= 2 ? a[0].as_int() : 0;
      int64_t stop = a.size() == 1 ? a[0].as_int() : a.size() >= 2 ? a[1].as_int() : 0;
      int64_t step = a.size() >= 3 ? a[2].as_int() : 1;
      if (step == 0) fail("range step cannot be zero");
      Array out;
      for (int64_t i = start; step > 0 ? i < stop : i > stop;) {
        if (out.size() >= kMaxItems) fail("range has more than {} items", kMaxItems);
        charge(1);
        out.emplace_back(i);
        if (__builtin_add_overflow(i, step, &i)) break;
      }
      return Value(std::move(out));
    });
    if (globals.is_object())
      for (auto& [k, v] : globals.as_object().items) root_.vars[k] = v;
  }

  std::string run(const Body& body) {
    WorkMeter meter;  // the budget of this render (kMaxSteps)
    std::string out;
    exec(body, &root_, out);
    return out;
  }

 private:
  enum class Flow { Normal, Break, Continue };
  Scope root_;
  int depth_ = 0;        // macro calls in progress
  int eval_depth_ = 0;   // nested exec/eval calls

  // Charges one step of work and counts one level of nesting for its lifetime.
  struct Nest {
    Interp& in;
    explicit Nest(Interp& interp) : in(interp) {
      charge(1);
      if (++in.eval_depth_ > kMaxEvalDepth) fail("the template nests deeper than {} levels", kMaxEvalDepth);
    }
    ~Nest() { --in.eval_depth_; }
  };

  static void append(std::string& out, const std::string& s) {
    if (out.size() + s.size() > kMaxStringBytes)
      fail("the template's output is larger than {} bytes", kMaxStringBytes);
    charge_copy(s.size());
    out += s;
  }

  static Value lookup(const std::string& name, Scope* s) {
    for (; s; s = s->parent) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return it->second;
    }
    return Value();
  }

  Flow exec(const Body& body, Scope* scope, std::string& out) {
    Nest nest(*this);
    for (const StmtPtr& s : body) {
      Flow f = exec_one(*s, scope, out);
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

  Flow exec_one(const Stmt& s, Scope* scope, std::string& out) {
    switch (s.kind) {
      case Stmt::Text: append(out, s.text); return Flow::Normal;
      case Stmt::Output: append(out, eval(*s.exprs[0], scope).str()); return Flow::Normal;
      case Stmt::If:
        for (size_t k = 0; k < s.exprs.size(); ++k)
          if (eval(*s.exprs[k], scope).truthy()) return exec(s.bodies[k], scope, out);
        if (s.bodies.size() > s.exprs.size()) return exec(s.bodies.back(), scope, out);
        return Flow::Normal;
      case Stmt::For: exec_for(s, scope, out); return Flow::Normal;
      case Stmt::Set: {
        Value v = eval(*s.exprs[0], scope);
        if (!s.attr.empty()) {
          Value ns = lookup(s.names[0], scope);
          if (!ns.is_object() || !ns.as_object().is_namespace)
            fail_at(s.line, s.col, fmt::format("cannot assign attribute on '{}': not a namespace", s.names[0]));
          if (holds(v, &ns.as_object()))
            fail_at(s.line, s.col, fmt::format("assigning '{}' would make a namespace containing itself", s.attr));
          ns.set(s.attr, std::move(v));
        } else {
          assign(s, s.names, std::move(v), scope);
        }
        return Flow::Normal;
      }
      case Stmt::SetBlock: {
        std::string captured;
        exec(s.bodies[0], scope, captured);
        scope->vars[s.names[0]] = Value(std::move(captured));
        return Flow::Normal;
      }
      case Stmt::Macro: scope->vars[s.text] = make_macro(s); return Flow::Normal;
      case Stmt::Break: return Flow::Break;
      case Stmt::Continue: return Flow::Continue;
    }
    return Flow::Normal;
  }

  void assign(const Stmt& s, const std::vector<std::string>& names, Value v, Scope* scope) {
    if (names.size() == 1) {
      scope->vars[names[0]] = std::move(v);
      return;
    }
    if (!v.is_array() || v.as_array().size() != names.size())
      fail_at(s.line, s.col, fmt::format("cannot unpack {} into {} names", v.repr(), names.size()));
    for (size_t k = 0; k < names.size(); ++k) scope->vars[names[k]] = v.as_array()[k];
  }

  void exec_for(const Stmt& s, Scope* scope, std::string& out) {
    Value seq = eval(*s.exprs[0], scope);
    Array items;
    switch (seq.type()) {
      case Value::Type::Undefined: break;
      case Value::Type::Array:
        charge(seq.as_array().size());
        items = seq.as_array();
        break;
      case Value::Type::Object:
        charge(seq.as_object().items.size());
        for (auto& [k, v] : seq.as_object().items) items.emplace_back(k);
        break;
      case Value::Type::String: {
        std::u32string u = utf8_decode(seq.as_string());
        check_items(u.size());
        charge(u.size());
        for (char32_t c : u) items.emplace_back(utf8_encode(std::u32string(1, c)));
        break;
      }
      default: fail_at(s.line, s.col, fmt::format("cannot loop over a {}", seq.type_name()));
    }
    if (s.exprs[1]) {  // {% for x in xs if cond %}
      Array kept;
      for (Value& item : items) {
        charge(1);
        Scope tmp{{}, scope};
        assign(s, s.names, item, &tmp);
        if (eval(*s.exprs[1], &tmp).truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    size_t n = items.size();
    for (size_t i = 0; i < n; ++i) {
      charge(4);  // an iteration builds its loop object: a few steps of work
      Scope iter{{}, scope};
      assign(s, s.names, items[i], &iter);
      Value loop = Value::object();
      loop.set("index", Value(int64_t(i + 1)));
      loop.set("index0", Value(int64_t(i)));
      loop.set("revindex", Value(int64_t(n - i)));
      loop.set("revindex0", Value(int64_t(n - i - 1)));
      loop.set("first", Value(i == 0));
      loop.set("last", Value(i + 1 == n));
      loop.set("length", Value(int64_t(n)));
      if (i > 0) loop.set("previtem", items[i - 1]);
      if (i + 1 < n) loop.set("nextitem", items[i + 1]);
      loop.set("cycle", Value::function([i](std::vector<Value>& a, Kwargs&) {
        if (a.empty()) fail("loop.cycle needs arguments");
        return a[i % a.size()];
      }));
      iter.vars["loop"] = std::move(loop);
      if (exec(s.bodies[0], &iter, out) == Flow::Break) break;
    }
    if (n == 0 && s.bodies.size() > 1) {
      Scope other{{}, scope};
      exec(s.bodies[1], &other, out);
    }
  }

  Value make_macro(const Stmt& s) {
    return Value::function([this, &s](std::vector<Value>& args, Kwargs& kwargs) {
      if (++depth_ > 200) fail_at(s.line, s.col, "macro recursion too deep");
      Scope local{{}, &root_};
      for (size_t k = 0; k < s.names.size(); ++k) {
        Value v;
        if (k < args.size()) {
          v = args[k];
        } else {
          bool found = false;
          for (auto& [name, kv] : kwargs)
            if (name == s.names[k]) {
              v = kv;
              found = true;
            }
          if (!found && s.exprs[k]) v = eval(*s.exprs[k], &local);
        }
        local.vars[s.names[k]] = v;
      }
      std::string out;
      try {
        exec(s.bodies[0], &local, out);
      } catch (...) {
        --depth_;
        throw;
      }
      --depth_;
      return Value(std::move(out));
    });
  }

  Value eval(const Expr& e, Scope* scope) {
    try {
      Nest nest(*this);
      Value v = eval_node(e, scope);
      if (v.is_string()) {
        check_string_size(v.as_string().size());
        charge_copy(v.as_string().size());  // strings are values: looking one up copies it
      }
      if (v.is_array()) check_items(v.as_array().size());
      if (v.is_object()) check_items(v.as_object().items.size());
      return v;
    } catch (const TemplateRaised&) {
      throw;
    } catch (const Error& err) {
      if (positioned(err)) throw;
      fail_at(e.line, e.col, err.what());
    }
  }

  void eval_call_args(const Expr& e, size_t first, Scope* scope, std::vector<Value>& args, Kwargs& kw) {
    for (size_t k = first; k < e.args.size(); ++k) args.push_back(eval(*e.args[k], scope));
    for (auto& [name, x] : e.kwargs) kw.emplace_back(name, eval(*x, scope));
  }

  Value eval_node(const Expr& e, Scope* scope) {
    switch (e.kind) {
      case Expr::Literal: return e.literal;
      case Expr::Name: return lookup(e.name, scope);
      case Expr::Attr: return get_attr(eval(*e.args[0], scope), e.name);
      case Expr::Item: return get_item(eval(*e.args[0], scope), eval(*e.args[1], scope));
      case Expr::Slice: {
        Value parts[3];
        for (int k = 0; k < 3; ++k)
          if (e.args[size_t(k) + 1]) parts[k] = eval(*e.args[size_t(k) + 1], scope);
        return slice(eval(*e.args[0], scope), parts[0], parts[1], parts[2]);
      }
      case Expr::Call: {
        Value fn = eval(*e.args[0], scope);
        if (!fn.is_function()) {
          std::string what = e.args[0]->kind == Expr::Name || e.args[0]->kind == Expr::Attr
                                 ? "'" + e.args[0]->name + "'" : "value";
          fail("{} is not callable ({})", what, fn.is_undefined() ? "undefined" : fn.type_name());
        }
        std::vector<Value> args;
        Kwargs kw;
        eval_call_args(e, 1, scope, args, kw);
        return fn.as_function()(args, kw);
      }
      case Expr::Filter: {
        Value in = eval(*e.args[0], scope);
        std::vector<Value> args;
        Kwargs kw;
        eval_call_args(e, 1, scope, args, kw);
        bool found = false;
        Value r = apply_filter(e.name, in, args, kw, found);
        if (!found) fail("unknown filter '{}'", e.name);
        return r;
      }
      case Expr::Test: {
        Value in = eval(*e.args[0], scope);
        std::vector<Value> args;
        Kwargs kw;
        eval_call_args(e, 1, scope, args, kw);
        bool found = false;
        bool r = apply_test(e.name, in, args, found);
        if (!found) fail("unknown test '{}'", e.name);
        return Value(r != e.negated);
      }
      case Expr::Unary: {
        Value v = eval(*e.args[0], scope);
        if (e.name == "not") return Value(!v.truthy());
        if (v.is_float()) return Value(e.name == "-" ? -v.as_float() : v.as_float());
        if (v.is_int() || v.is_bool()) {
          if (e.name == "-" && v.as_int() == INT64_MIN) overflow("-");
          return Value(e.name == "-" ? -v.as_int() : v.as_int());
        }
        fail("bad operand type for unary {}: {}", e.name, v.type_name());
      }
      case Expr::Binary: return eval_binary(e, scope);
      case Expr::Cond:
        if (eval(*e.args[0], scope).truthy()) return eval(*e.args[1], scope);
        return e.args[2] ? eval(*e.args[2], scope) : Value();
      case Expr::List: {
        Array a;
        for (auto& x : e.args) a.push_back(eval(*x, scope));
        return e.name == "tuple" ? Value::tuple(std::move(a)) : Value(std::move(a));
      }
      case Expr::Dict: {
        Value d = Value::object();
        for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
          Value key = eval(*e.args[k], scope);
          if (!key.is_string()) fail("dict keys must be strings, got {}", key.type_name());
          d.set(key.as_string(), eval(*e.args[k + 1], scope));
        }
        return d;
      }
    }
    return Value();
  }

  static bool contains(const Value& container, const Value& x) {
    switch (container.type()) {
      case Value::Type::String:
        if (!x.is_string()) fail("'in <string>' requires a string as left operand, not {}", x.type_name());
        charge_copy(container.as_string().size());
        return container.as_string().find(x.as_string()) != std::string::npos;
      case Value::Type::Array:
        for (const Value& v : container.as_array())
          if (v == x) return true;
        return false;
      case Value::Type::Object: return x.is_string() && container.as_object().find(x.as_string()) != nullptr;
      case Value::Type::Undefined: return false;
      default: fail("argument of type {} is not iterable", container.type_name());
    }
  }

  Value eval_binary(const Expr& e, Scope* scope) {
    const std::string& op = e.name;
    Value l = eval(*e.args[0], scope);
    if (op == "and") return l.truthy() ? eval(*e.args[1], scope) : l;
    if (op == "or") return l.truthy() ? l : eval(*e.args[1], scope);
    Value r = eval(*e.args[1], scope);
    if (op == "~") {
      std::string a = l.str(), b = r.str();
      check_string_size(a.size() + b.size());
      charge_copy(2 * (a.size() + b.size()));
      return Value(a + b);
    }
    if (op == "==") return Value(l == r);
    if (op == "!=") return Value(!(l == r));
    if (op == "in") return Value(contains(r, l));
    if (op == "not in") return Value(!contains(r, l));
    bool num = (l.is_number() || l.is_bool()) && (r.is_number() || r.is_bool());
    if (op == "<" || op == "<=" || op == ">" || op == ">=") {
      int c;
      if (num) {
        c = l.as_float() < r.as_float() ? -1 : l.as_float() > r.as_float() ? 1 : 0;
      } else if (l.is_string() && r.is_string()) {
        charge_copy(std::min(l.as_string().size(), r.as_string().size()));
        c = l.as_string().compare(r.as_string());
      } else {
        fail("'{}' not supported between {} and {}", op, l.type_name(), r.type_name());
      }
      return Value(op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0);
    }
    if (op == "+") {
      if (l.is_string() && r.is_string()) {
        check_string_size(l.as_string().size() + r.as_string().size());
        charge_copy(l.as_string().size() + r.as_string().size());
        return Value(l.as_string() + r.as_string());
      }
      if (l.is_array() && r.is_array()) {
        check_items(l.as_array().size() + r.as_array().size());
        check_list_bytes(list_bytes(l.as_array()), list_bytes(r.as_array()), 1);
        charge(l.as_array().size() + r.as_array().size());
        Array a = l.as_array();
        a.insert(a.end(), r.as_array().begin(), r.as_array().end());
        return Value(std::move(a));
      }
    }
    if (op == "*" && ((l.is_string() || l.is_array()) && r.is_int())) {
      const size_t n = r.as_int() > 0 ? size_t(r.as_int()) : 0;
      const size_t unit = l.is_string() ? l.as_string().size() : l.as_array().size();
      if (unit != 0 && n > (l.is_string() ? kMaxStringBytes : kMaxItems) / unit)
        fail("'*' would make a {} of {} x {} {}", l.type_name(), r.as_int(), unit,
             l.is_string() ? "bytes" : "items");
      if (l.is_array()) check_list_bytes(list_bytes(l.as_array()), 0, n);
      const size_t times = unit == 0 ? 0 : n;  // '' * 10**18 is '' at once, not 10**18 appends
      charge(l.is_string() ? times * unit / kCopyBytesPerStep : times * unit);
      if (l.is_string()) {
        std::string s;
        s.reserve(times * unit);
        for (size_t k = 0; k < times; ++k) s += l.as_string();
        return Value(s);
      }
      Array a;
      for (size_t k = 0; k < times; ++k) a.insert(a.end(), l.as_array().begin(), l.as_array().end());
      return Value(std::move(a));
    }
    if (!num)
      fail("unsupported operand types for {}: {} and {}", op, l.type_name(), r.type_name());
    bool flt = l.is_float() || r.is_float();
    if (op == "/") {
      if (r.as_float() == 0) fail("division by zero");
      return Value(l.as_float() / r.as_float());
    }
    if (op == "**") {
      if (!flt && r.as_int() >= 0) return Value(checked_pow(l.as_int(), r.as_int()));
      return Value(std::pow(l.as_float(), r.as_float()));
    }
    if (flt) {
      double a = l.as_float(), b = r.as_float();
      if (op == "+") return Value(a + b);
      if (op == "-") return Value(a - b);
      if (op == "*") return Value(a * b);
      if (b == 0) fail("division by zero");
      if (op == "//") return Value(std::floor(a / b));
      if (op == "%") return Value(a - b * std::floor(a / b));
    } else {
      int64_t a = l.as_int(), b = r.as_int(), c = 0;
      if (op == "+" || op == "-" || op == "*") {
        const bool wrapped = op == "+"   ? __builtin_add_overflow(a, b, &c)
                             : op == "-" ? __builtin_sub_overflow(a, b, &c)
                                         : __builtin_mul_overflow(a, b, &c);
        if (wrapped) overflow(op.c_str());
        return Value(c);
      }
      if (b == 0) fail("division by zero");
      if (op == "//") return Value(floor_div(a, b));
      if (op == "%") return Value(floor_mod(a, b));
    }
    fail("unknown operator '{}'", op);
  }
};

}  // namespace

void check_string_size(size_t n) {
  if (n > kMaxStringBytes) fail("a string of {} bytes is larger than the limit ({} bytes)", n, kMaxStringBytes);
}
size_t list_bytes(const Array& a) {
  size_t n = 0;
  for (const Value& v : a) n += sizeof(Value) + (v.is_string() ? v.as_string().size() : 0);
  return n;
}
void check_list_bytes(size_t a, size_t b, size_t times) {
  const size_t total = a + b;
  if (times > 1 && total != 0 && times > kMaxListBytes / total)
    fail("'*' would make a list of more than {} bytes", kMaxListBytes);
  if (total * std::max<size_t>(times, 1) > kMaxListBytes)
    fail("a list of {} bytes is larger than the limit ({} bytes)", total * std::max<size_t>(times, 1), kMaxListBytes);
}
void check_items(size_t n) {
  if (n > kMaxItems) fail("a list of {} items is larger than the limit ({} items)", n, kMaxItems);
}

static const std::string& checked_source(const std::string& source) {
  // Parsing costs time and memory per byte (a million-statement template is gigabytes of tree).
  if (source.size() > kMaxSourceBytes)
    fail("the template is {} bytes, larger than the limit ({} bytes)", source.size(), kMaxSourceBytes);
  return source;
}

Template::Template(std::string source) : body_(parse(lex(checked_source(source)))) {}
Template::~Template() = default;
Template::Template(Template&&) noexcept = default;
Template& Template::operator=(Template&&) noexcept = default;

std::string Template::render(const Value& globals) const { return Interp(globals).run(body_); }

}  // namespace moevk::jinja
